//! The audit log: one chain per organisation and one for the instance (DESIGN §2.1). Each event
//! carries the SHA-256 of the previous one and an HMAC under a key kept outside the database, so
//! an event rewritten, removed or forged without the key is detected.

use std::path::Path;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::StoreError;

/// The chain of instance-level events.
pub const INSTANCE_CHAIN: &str = "instance";

/// The HMAC key of the audit chains: 32 bytes, kept in a file or the environment, never in the
/// database.
#[derive(Clone)]
pub struct AuditKey([u8; 32]);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(***)")
    }
}

impl AuditKey {
    /// A key from 64 hexadecimal digits.
    pub fn from_hex(text: &str) -> Result<AuditKey, StoreError> {
        let bytes = hex::decode(text.trim()).map_err(|e| StoreError::AuditKey {
            detail: e.to_string(),
        })?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| StoreError::AuditKey {
            detail: "expected 64 hexadecimal digits (32 bytes)".into(),
        })?;
        Ok(AuditKey(key))
    }

    /// A fresh random key.
    pub fn generate() -> AuditKey {
        AuditKey(rand::random())
    }

    /// Reads the key from `path`.
    pub fn read(path: &Path) -> Result<AuditKey, StoreError> {
        let text = std::fs::read_to_string(path).map_err(|e| StoreError::Io {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        AuditKey::from_hex(&text)
    }

    /// Reads the key from `path`, creating it (readable by the owner only) if it does not exist.
    pub fn read_or_create(path: &Path) -> Result<AuditKey, StoreError> {
        if path.exists() {
            return AuditKey::read(path);
        }
        let key = AuditKey::generate();
        let io = |e: std::io::Error| StoreError::Io {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        std::io::Write::write_all(&mut file, format!("{}\n", hex::encode(key.0)).as_bytes())
            .map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(key)
    }

    /// HMAC-SHA256 under this key. HMAC pads a short key with zeros to the block size, so the
    /// padded key gives the same MAC, through the constructor that cannot fail.
    fn hmac(&self) -> Hmac<Sha256> {
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.0);
        <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block.into())
    }

    /// A key for another purpose, derived from this one (HMAC-SHA256 of `purpose`): replicas
    /// that share the audit key agree on it without a second secret to distribute, and it
    /// reveals nothing about the audit key.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = self.hmac();
        mac.update(b"canopy derived key: ");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub(crate) fn mac(&self, hash: &[u8]) -> Vec<u8> {
        let mut mac = self.hmac();
        mac.update(hash);
        mac.finalize().into_bytes().to_vec()
    }

    pub(crate) fn verify_mac(&self, hash: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.hmac();
        mac.update(hash);
        // Constant time.
        mac.verify_slice(tag).is_ok()
    }
}

/// How an audited action ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Accepted (a change: it has a revision).
    Ok,
    /// Refused by validation or authorisation; nothing changed.
    Rejected,
    /// Accepted, then lost: the store failed before it was durable.
    Failed,
}

impl Outcome {
    /// How the log names it (`ok`, `rejected`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
        }
    }
}

/// One audit event as it is hashed and stored. Holds no secret.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AuditEvent {
    /// `instance` or an organisation ID.
    pub chain: String,
    /// Position in the chain, from 1, gap-free.
    pub seq: u64,
    /// When, in milliseconds since the epoch.
    pub time_ms: i64,
    /// Who (`usr_…`, `sa_…`, `instance:NAME`, or `anonymous`).
    pub actor: String,
    /// The request it came from.
    pub request_id: String,
    /// What was attempted (`create_node`, `login`…).
    pub action: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The revision of the change it made, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// Details: the problem type of a rejection, the source address…
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

/// The hash of an event: SHA-256 over the previous event's hash and this event's stored text.
pub(crate) fn event_hash(prev: &[u8], text: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(text.as_bytes());
    h.finalize().to_vec()
}

/// The hash the first event of a chain continues.
pub(crate) const GENESIS: [u8; 32] = [0; 32];

/// What is wrong with one stored event.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ChainProblem {
    /// The event before this position is missing.
    Gap {
        /// The position that was expected.
        expected: u64,
    },
    /// It does not continue the previous event's hash.
    BrokenLink,
    /// Its hash does not match its text.
    BadHash,
    /// Its HMAC does not verify.
    BadMac,
    /// The columns stored beside its text (time, actor, action, outcome, revision: what
    /// queries, pruning and the change-log tie read) say something else than the text.
    ColumnsDiffer,
}

/// A stored audit row, as read for verification.
pub(crate) struct StoredEvent {
    pub seq: u64,
    pub text: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
    pub mac: Vec<u8>,
}

/// Checks one chain's events, in order: continuity, hashes, HMACs. The chain continues `base`
/// (the position and hash of the last event before these: `(0, GENESIS)` for a whole chain,
/// the pruning checkpoint after a prune). Returns the problems found with the position of each.
pub(crate) fn check_chain(
    key: &AuditKey,
    base: (u64, Vec<u8>),
    events: impl IntoIterator<Item = StoredEvent>,
) -> Vec<(u64, ChainProblem)> {
    let mut problems = Vec::new();
    let (base_seq, mut prev) = base;
    let mut expected_seq = base_seq + 1;
    for e in events {
        if e.seq != expected_seq {
            problems.push((
                e.seq,
                ChainProblem::Gap {
                    expected: expected_seq,
                },
            ));
        }
        if e.prev_hash != prev {
            problems.push((e.seq, ChainProblem::BrokenLink));
        }
        if event_hash(&e.prev_hash, &e.text) != e.hash {
            problems.push((e.seq, ChainProblem::BadHash));
        }
        if !key.verify_mac(&e.hash, &e.mac) {
            problems.push((e.seq, ChainProblem::BadMac));
        }
        expected_seq = e.seq + 1;
        prev = e.hash;
    }
    problems
}

/// The key that signs anchors, derived from the audit key: an anchor's MAC can never be
/// mistaken for an event's, and replicas sharing the audit key agree on it.
fn anchor_key(key: &AuditKey) -> AuditKey {
    AuditKey(key.derive("audit anchor"))
}

/// The signed head of one audit chain (table `audit_anchors`), rewritten in every transaction
/// that appends to the chain: the last event's position and hash, the installation's revision
/// when it was written, and the chain's pruning checkpoint (the position and hash of the last
/// pruned event, and the cutoff time of that prune). Deleting the last events of a chain leaves
/// the anchor ahead of them; forging a new one needs the audit key. See `docs/storage.md`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Anchor {
    pub chain: String,
    pub seq: u64,
    pub hash: Vec<u8>,
    pub revision: u64,
    pub base_seq: u64,
    pub base_hash: Vec<u8>,
    pub pruned_before_ms: i64,
    pub mac: Vec<u8>,
}

impl Anchor {
    /// The bytes signed: every field, each length-prefixed or of fixed width, after a label.
    fn message(&self) -> Vec<u8> {
        let mut m = b"canopy audit anchor v1\0".to_vec();
        for bytes in [self.chain.as_bytes(), &self.hash, &self.base_hash] {
            m.extend((bytes.len() as u64).to_be_bytes());
            m.extend(bytes);
        }
        m.extend(self.seq.to_be_bytes());
        m.extend(self.revision.to_be_bytes());
        m.extend(self.base_seq.to_be_bytes());
        m.extend(self.pruned_before_ms.to_be_bytes());
        m
    }

    /// Signs it under the key derived from `key`.
    pub fn sign(mut self, key: &AuditKey) -> Anchor {
        self.mac = anchor_key(key).mac(&self.message());
        self
    }

    /// Whether its MAC verifies.
    pub fn verifies(&self, key: &AuditKey) -> bool {
        anchor_key(key).verify_mac(&self.message(), &self.mac)
    }

    /// Where its chain starts: the pruning checkpoint.
    pub fn base(&self) -> (u64, Vec<u8>) {
        (self.base_seq, self.base_hash.clone())
    }
}

/// Reads a chain's anchor.
pub(crate) const SELECT_ANCHOR: &str = "SELECT chain, seq, hash, revision, base_seq, base_hash, \
     pruned_before_ms, mac FROM audit_anchors WHERE chain = $1";

/// Every anchor.
pub(crate) const SELECT_ANCHORS: &str = "SELECT chain, seq, hash, revision, base_seq, base_hash, \
     pruned_before_ms, mac FROM audit_anchors ORDER BY chain";

/// Writes a chain's anchor, whether it has one or not.
pub(crate) const UPSERT_ANCHOR: &str = "INSERT INTO audit_anchors \
     (chain, seq, hash, revision, base_seq, base_hash, pruned_before_ms, mac) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (chain) DO UPDATE SET \
     seq = excluded.seq, hash = excluded.hash, revision = excluded.revision, \
     base_seq = excluded.base_seq, base_hash = excluded.base_hash, \
     pruned_before_ms = excluded.pruned_before_ms, mac = excluded.mac";

/// An anchor from a row of [`SELECT_ANCHOR`].
pub(crate) fn anchor_of_row(r: &sqlx::any::AnyRow) -> Result<Anchor, StoreError> {
    use sqlx::Row;
    Ok(Anchor {
        chain: r.try_get(0)?,
        seq: r.try_get::<i64, _>(1)? as u64,
        hash: r.try_get(2)?,
        revision: r.try_get::<i64, _>(3)? as u64,
        base_seq: r.try_get::<i64, _>(4)? as u64,
        base_hash: r.try_get(5)?,
        pruned_before_ms: r.try_get(6)?,
        mac: r.try_get(7)?,
    })
}

/// Binds an anchor to [`UPSERT_ANCHOR`].
pub(crate) fn upsert_anchor(
    a: &Anchor,
) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(UPSERT_ANCHOR)
        .bind(&a.chain)
        .bind(a.seq as i64)
        .bind(a.hash.clone())
        .bind(a.revision as i64)
        .bind(a.base_seq as i64)
        .bind(a.base_hash.clone())
        .bind(a.pruned_before_ms)
        .bind(a.mac.clone())
}

/// An audit event with its seal — the hash of the event before it, its own hash and its HMAC
/// (hexadecimal) — as `canopy audit export` writes it, one JSON object per line: enough to
/// verify the events, their order and their authenticity elsewhere, with the audit key. The
/// hashed text is the event's fields serialised as the store serialises them (`time`, for
/// people, is not part of it).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SealedEvent {
    /// The event as hashed.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// Its time as RFC 3339 (derived from `time_ms`; not hashed).
    #[serde(default, skip_deserializing)]
    pub time: String,
    /// The hash of the event before it in its chain.
    #[serde(with = "hex_bytes")]
    pub prev_hash: Vec<u8>,
    /// SHA-256 of `prev_hash` and the event's text.
    #[serde(with = "hex_bytes")]
    pub hash: Vec<u8>,
    /// HMAC-SHA256 of `hash` under the audit key.
    #[serde(with = "hex_bytes")]
    pub mac: Vec<u8>,
}

/// Bytes as hexadecimal text in JSON.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

impl SealedEvent {
    fn new(event: AuditEvent, prev_hash: Vec<u8>, hash: Vec<u8>, mac: Vec<u8>) -> SealedEvent {
        let time = canopy_core::time::Timestamp::from_millis(event.time_ms).to_string();
        SealedEvent {
            event,
            time,
            prev_hash,
            hash,
            mac,
        }
    }
}

/// Verifies exported events (as [`SealedEvent`]s, in the order exported): per chain, each event's
/// hash over its text, its HMAC under `key`, and that each continues the one before it. The first
/// event of a chain continues what its `prev_hash` says (the genesis if it is the chain's first),
/// so an export of a time range verifies on its own; what came before it, and whether events
/// follow its last one, an export cannot tell (the store's anchor can).
pub fn check_exported(
    key: &AuditKey,
    events: Vec<SealedEvent>,
) -> Result<Vec<crate::verify::Problem>, StoreError> {
    // Each chain in the order it first appears: its events, and the position and hash its
    // first event continues.
    type Exported = (String, Vec<StoredEvent>, (u64, Vec<u8>));
    let mut chains: Vec<Exported> = Vec::new();
    for e in events {
        let text = serde_json::to_string(&e.event).map_err(StoreError::corrupt)?;
        let stored = StoredEvent {
            seq: e.event.seq,
            text,
            prev_hash: e.prev_hash.clone(),
            hash: e.hash,
            mac: e.mac,
        };
        match chains.iter_mut().find(|(c, ..)| *c == e.event.chain) {
            Some((_, list, _)) => list.push(stored),
            None => {
                let base = match e.event.seq {
                    1 => (0, GENESIS.to_vec()),
                    seq => (seq.saturating_sub(1), e.prev_hash),
                };
                chains.push((e.event.chain, vec![stored], base));
            }
        }
    }
    let mut problems = Vec::new();
    for (chain, events, base) in chains {
        for (seq, p) in check_chain(key, base, events) {
            problems.push(crate::verify::Problem::Audit {
                chain: chain.clone(),
                seq,
                detail: crate::messages::audit_problem(&p, crate::messages::Lang::En),
            });
        }
    }
    Ok(problems)
}

/// Which audit events to read: one chain, oldest first, after a position, with optional filters.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct AuditQuery {
    /// `instance` or an organisation ID.
    pub chain: String,
    /// Only events after this position (a cursor).
    pub after_seq: u64,
    /// Only events at or after this time (milliseconds since the epoch).
    pub since_ms: Option<i64>,
    /// Only events before this time (milliseconds since the epoch).
    pub until_ms: Option<i64>,
    /// Only events of this actor.
    pub actor: Option<String>,
    /// Only events of this action.
    pub action: Option<String>,
    /// Only events about this object (an ID): events whose change wrote it or names it, and
    /// events whose details name it (a request's path, a login's user).
    pub target: Option<String>,
    /// At most this many.
    pub limit: u32,
}

/// `text` as a LIKE pattern that matches it anywhere (`\` escapes).
fn containing(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl crate::Store {
    /// Reads audit events as `query` says, with their seals.
    pub async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<SealedEvent>, StoreError> {
        use sqlx::Row;
        // Absent filters are bound as NULL so that one statement serves every combination. A
        // target is looked for in the event and in the effects of the change it records.
        let rows = sqlx::query(
            "SELECT event, prev_hash, hash, mac FROM audit WHERE chain = $1 AND seq > $2 \
             AND ($3 IS NULL OR time_ms >= $3) AND ($4 IS NULL OR time_ms < $4) \
             AND ($5 IS NULL OR actor = $5) AND ($6 IS NULL OR action = $6) \
             AND ($7 IS NULL OR event LIKE $7 ESCAPE '\\' OR EXISTS (SELECT 1 FROM changes c \
                  WHERE c.revision = audit.revision AND c.effects LIKE $7 ESCAPE '\\')) \
             ORDER BY seq LIMIT $8",
        )
        .bind(&query.chain)
        .bind(query.after_seq as i64)
        .bind(query.since_ms)
        .bind(query.until_ms)
        .bind(query.actor.as_deref())
        .bind(query.action.as_deref())
        .bind(query.target.as_deref().map(containing))
        .bind(i64::from(query.limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let text: String = r.try_get(0)?;
                let event = serde_json::from_str(&text).map_err(StoreError::corrupt)?;
                Ok(SealedEvent::new(
                    event,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_the_text_literally() {
        assert_eq!(containing("usr_a%b\\c"), "%usr\\_a\\%b\\\\c%");
    }

    #[test]
    fn an_anchor_signs_every_field() {
        let key = AuditKey::generate();
        let a = Anchor {
            chain: "org_1".into(),
            seq: 7,
            hash: vec![1; 32],
            revision: 12,
            base_seq: 2,
            base_hash: vec![2; 32],
            pruned_before_ms: 1000,
            mac: vec![],
        }
        .sign(&key);
        assert!(a.verifies(&key));
        assert!(!a.verifies(&AuditKey::generate()));
        for changed in [
            Anchor {
                seq: 6,
                ..a.clone()
            },
            Anchor {
                revision: 11,
                ..a.clone()
            },
            Anchor {
                base_seq: 1,
                ..a.clone()
            },
            Anchor {
                pruned_before_ms: 999,
                ..a.clone()
            },
            Anchor {
                chain: "org_2".into(),
                ..a.clone()
            },
            Anchor {
                hash: vec![3; 32],
                ..a.clone()
            },
        ] {
            assert!(!changed.verifies(&key), "{changed:?}");
        }
    }

    #[test]
    fn an_exported_event_round_trips_to_the_text_that_was_hashed() {
        let event = AuditEvent {
            chain: "org_1".into(),
            seq: 1,
            time_ms: 1_700_000_000_123,
            actor: "usr_1".into(),
            request_id: "req".into(),
            action: "create_node".into(),
            outcome: Outcome::Ok,
            revision: Some(3),
            detail: serde_json::json!({"source": "127.0.0.1", "b": [1, 2], "a": {"z": 1, "y": null}}),
        };
        let key = AuditKey::generate();
        let text = serde_json::to_string(&event).unwrap();
        let hash = event_hash(&GENESIS, &text);
        let mac = key.mac(&hash);
        let line =
            serde_json::to_string(&SealedEvent::new(event, GENESIS.to_vec(), hash, mac)).unwrap();
        assert!(
            line.contains("\"time\":\"2023-11-14T22:13:20.123Z\""),
            "{line}"
        );
        let back: SealedEvent = serde_json::from_str(&line).unwrap();
        assert!(check_exported(&key, vec![back.clone()]).unwrap().is_empty());
        let mut flipped = back;
        flipped.event.actor = "usr_2".into();
        assert_eq!(check_exported(&key, vec![flipped]).unwrap().len(), 1);
    }
}
