-- The installation's write lock and revision counter: one row. A writer's transaction starts by
-- updating it, which takes the lock (DESIGN §2.1).
CREATE TABLE head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO head (id, revision) VALUES (1, 0);

-- The change log: one row per accepted change, its effects as JSON. Never holds a secret.
CREATE TABLE changes (
    revision BIGINT PRIMARY KEY,
    time_ms BIGINT NOT NULL,
    org_id TEXT,
    actor TEXT NOT NULL,
    request_id TEXT NOT NULL,
    command TEXT NOT NULL,
    effects TEXT NOT NULL
);
CREATE INDEX changes_by_org ON changes (org_id, revision);

-- The state: every object as its JSON value, with the revision that last wrote it (its ETag).
-- Instance-level objects have org_id ''. Keys compare byte by byte (COLLATE "C") whatever the
-- database's locale: loading reads them in key ranges.
CREATE TABLE objects (
    org_id TEXT COLLATE "C" NOT NULL,
    object_key TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    revision BIGINT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (org_id, object_key)
);

-- Secrets (password hashes, later TOTP seeds and key hashes): only here, never in the log.
CREATE TABLE credentials (
    org_id TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    secret TEXT NOT NULL,
    PRIMARY KEY (principal_id, kind)
);
CREATE INDEX credentials_by_org ON credentials (org_id);

-- The audit log: one hash chain per organisation and one for the instance ('instance').
CREATE TABLE audit (
    chain TEXT NOT NULL,
    seq BIGINT NOT NULL,
    time_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    revision BIGINT,
    event TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL,
    mac BYTEA NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_by_time ON audit (chain, time_ms);
