-- Known devices (DESIGN §5): the browsers each user has logged in from, as the SHA-256 of their
-- long-lived device cookie. A login from a browser without one of its user's cookies is a new
-- device. Not changes: they are not in the log.
CREATE TABLE devices (
    principal_id TEXT NOT NULL,
    device_hash TEXT NOT NULL,
    org_id TEXT NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    PRIMARY KEY (principal_id, device_hash)
);
CREATE INDEX devices_by_org ON devices (org_id);
