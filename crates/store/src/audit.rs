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
}

/// A stored audit row, as read for verification.
pub(crate) struct StoredEvent {
    pub seq: u64,
    pub text: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
    pub mac: Vec<u8>,
}

/// Checks one chain's events, in order: continuity, hashes, HMACs. Returns the problems found
/// with the position of each.
pub(crate) fn check_chain(
    key: &AuditKey,
    events: impl IntoIterator<Item = StoredEvent>,
) -> Vec<(u64, ChainProblem)> {
    let mut problems = Vec::new();
    let mut expected_seq = 1;
    let mut prev = GENESIS.to_vec();
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

/// Which audit events to read: one chain, oldest first, after a position, with optional filters.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct AuditQuery {
    /// `instance` or an organisation ID.
    pub chain: String,
    /// Only events after this position (a cursor).
    pub after_seq: u64,
    /// Only events at or after this time (milliseconds since the epoch).
    pub since_ms: Option<i64>,
    /// Only events of this actor.
    pub actor: Option<String>,
    /// Only events of this action.
    pub action: Option<String>,
    /// At most this many.
    pub limit: u32,
}

impl crate::Store {
    /// Reads audit events as `query` says.
    pub async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        use sqlx::Row;
        // Absent filters are bound as NULL so that one statement serves every combination.
        let rows = sqlx::query(
            "SELECT event FROM audit WHERE chain = $1 AND seq > $2 \
             AND ($3 IS NULL OR time_ms >= $3) AND ($4 IS NULL OR actor = $4) \
             AND ($5 IS NULL OR action = $5) ORDER BY seq LIMIT $6",
        )
        .bind(&query.chain)
        .bind(query.after_seq as i64)
        .bind(query.since_ms)
        .bind(query.actor.as_deref())
        .bind(query.action.as_deref())
        .bind(i64::from(query.limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let text: String = r.try_get(0)?;
                serde_json::from_str(&text).map_err(StoreError::corrupt)
            })
            .collect()
    }
}
