-- The signed head of each audit chain (docs/storage.md, "Anchors and pruning"): the last
-- event's position and hash, the installation's revision when it was written, and the chain's
-- pruning checkpoint (the last pruned event's position and hash, and the cutoff time of that
-- prune; 0, 32 zero bytes and 0 before any prune). Rewritten in every transaction that appends
-- to the chain, and signed with a key derived from the audit key, so that removing the last
-- events of a chain is detected. Chains written before this migration are anchored by
-- `canopy migrate` (given the audit key) or when the server starts.
CREATE TABLE audit_anchors (
    chain TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    revision BIGINT NOT NULL,
    base_seq BIGINT NOT NULL,
    base_hash BYTEA NOT NULL,
    pruned_before_ms BIGINT NOT NULL,
    mac BYTEA NOT NULL
);
