-- WebAuthn ceremonies in progress: the state webauthn-rs keeps between a ceremony's start and
-- its finish, so that any replica can finish what another started. Not changes: they are not in
-- the log. A challenge is taken once (taken_ms set by the finish that takes it); a finish that
-- comes again finds it taken and is refused as a replay. Rows expire after 5 minutes and are
-- purged when new ceremonies start.
CREATE TABLE webauthn_challenges (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    org_ref TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    username TEXT NOT NULL,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    taken_ms INTEGER NOT NULL
);
CREATE INDEX webauthn_challenges_by_expiry ON webauthn_challenges (expires_ms);

-- Passkeys are credentials of kind 'passkey:CREDENTIAL_ID'. A passkey login without a username
-- finds its credential by that kind, and a registration checks that no one holds it yet.
CREATE INDEX credentials_by_kind ON credentials (kind);
