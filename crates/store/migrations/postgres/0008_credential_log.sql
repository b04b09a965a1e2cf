-- Secrets as they changed (docs/backups.md, "Point-in-time restore"): every credential set or
-- removed by a change, with its revision (secret NULL: removed), so that archived segments of the
-- change log can bring secrets to any revision, not only to a snapshot's. Written in the same
-- transaction as the credential; trimmed once archived (or at once when nothing archives), so it
-- holds no history beyond what the archive needs. Like `credentials`, never in `changes`, the
-- audit log or `watch`.
CREATE TABLE credential_log (
    revision BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    org_id TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    secret TEXT,
    PRIMARY KEY (revision, seq)
);
