-- Login sessions (bearer tokens). Not changes: they are not in the log. Only the SHA-256 of a
-- token is kept.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    username TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX sessions_by_principal ON sessions (principal_id);
