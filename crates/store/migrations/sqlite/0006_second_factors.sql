-- TOTP enrolments begun and not yet confirmed: the secret waits here (never in the credentials
-- table, which holds only what the model says a principal has) until a code proves the
-- authenticator holds it.
CREATE TABLE pending_enrolments (
    principal_id TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);

-- The last TOTP time step each principal used: a code is accepted once (RFC 6238 §5.2), on every
-- replica.
CREATE TABLE totp_steps (
    principal_id TEXT PRIMARY KEY,
    last_step INTEGER NOT NULL
);
