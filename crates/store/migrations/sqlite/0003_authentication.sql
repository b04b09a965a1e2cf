-- Sessions learn which second factor verified them and from where they were opened, and when
-- they were last used (the idle timeout). Sessions of the old shape are ended: everyone logs in
-- again once after this migration.
DROP TABLE sessions;
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    username TEXT NOT NULL,
    second_factor TEXT NOT NULL,
    source TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL
);
CREATE INDEX sessions_by_principal ON sessions (principal_id);

-- Failed logins, per account ('user:ORG/NAME') and per source address ('ip:ADDR'): shared by
-- every replica, so that back-off holds across them.
CREATE TABLE login_failures (
    failure_key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    blocked_until_ms INTEGER NOT NULL
);
