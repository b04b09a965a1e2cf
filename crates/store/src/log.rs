//! The change log: appending at the head inside one transaction, and reading it back.

use std::collections::HashMap;

use canopy_core::installation::{Change, Effects, Installation};
use canopy_core::time::Timestamp;
use sqlx::{Any, Row, Transaction};

use crate::audit::{
    Anchor, AuditEvent, AuditKey, GENESIS, Outcome, SELECT_ANCHOR, anchor_of_row, event_hash,
    upsert_anchor,
};
use crate::tables;
use crate::{Store, StoreError};

/// One write transaction at the head of the log, holding the installation's write lock
/// (DESIGN §2.1). Dropped without [`WriteTx::commit`], it rolls back and leaves no trace.
pub struct WriteTx<'s> {
    tx: Transaction<'static, Any>,
    store: &'s Store,
    head: u64,
    /// The head of each audit chain written in this transaction, anchored at commit.
    chains: HashMap<String, ChainHead>,
    /// The audit key, once an event is appended: the anchors are signed with it at commit.
    anchor_key: Option<AuditKey>,
    /// Credentials set or removed at the head revision so far (their order in `credential_log`).
    credential_ops: u64,
    /// SHA-256 (hex) of the effects text of the change appended last, for its audit event.
    effects_sha256: Option<String>,
}

/// Where an audit chain stands inside a write transaction.
#[derive(Clone, Debug)]
pub(crate) struct ChainHead {
    /// The last event's position and hash.
    pub seq: u64,
    pub hash: Vec<u8>,
    /// The pruning checkpoint: the last pruned event's position and hash, and the cutoff.
    pub base_seq: u64,
    pub base_hash: Vec<u8>,
    pub pruned_before_ms: i64,
}

/// A new audit event, before it gets its place in its chain.
#[derive(Clone, Debug)]
pub struct AuditDraft {
    /// `instance` or an organisation ID.
    pub chain: String,
    /// When.
    pub time: Timestamp,
    /// Who.
    pub actor: String,
    /// The request it came from.
    pub request_id: String,
    /// What was attempted.
    pub action: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The change it made, if any.
    pub revision: Option<u64>,
    /// Anything else worth keeping (never a secret).
    pub detail: serde_json::Value,
}

impl Store {
    /// Starts a write transaction: takes the installation's write lock by touching the `head`
    /// row (a row lock on PostgreSQL; the single writer on SQLite) and reads the head revision.
    pub async fn begin_write(&self) -> Result<WriteTx<'_>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let head: i64 = sqlx::query_scalar(
            "UPDATE head SET revision = revision WHERE id = 1 RETURNING revision",
        )
        .fetch_one(&mut *tx)
        .await?;
        Ok(WriteTx::resume(tx, self, head as u64))
    }

    /// The revision of the last committed change.
    pub async fn head(&self) -> Result<u64, StoreError> {
        let head: i64 = sqlx::query_scalar("SELECT revision FROM head WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        Ok(head as u64)
    }

    /// Up to `limit` changes after `revision`, in order.
    pub async fn changes_after(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(CHANGES_AFTER)
            .bind(revision as i64)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(change_of_row).collect()
    }

    /// The installation as the state tables hold it, at the head revision.
    pub async fn load(&self) -> Result<Installation, StoreError> {
        // The head first: a change committed while the tables are read is then applied again by
        // the follower, which skips what it already has.
        let head = self.head().await?;
        let admins = self.read_admins().await?;
        let revisions = self.org_revisions().await?;
        let orgs = self.load_orgs(&revisions).await?;
        Ok(Installation::from_engines(head, admins, orgs))
    }

    /// A secret of a principal (a password hash…), if set.
    pub async fn secret(&self, principal: &str, kind: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT secret FROM credentials WHERE principal_id = $1 AND kind = $2",
        )
        .bind(principal)
        .bind(kind)
        .fetch_optional(self.pool())
        .await?)
    }
}

const CHANGES_AFTER: &str = "SELECT revision, time_ms, actor, request_id, command, effects \
     FROM changes WHERE revision > $1 ORDER BY revision LIMIT $2";

/// SHA-256 (hex) of a change's stored effects text.
pub(crate) fn effects_sha256(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

fn change_of_row(row: &sqlx::any::AnyRow) -> Result<Change, StoreError> {
    let revision: i64 = row.try_get(0)?;
    let effects: String = row.try_get(5)?;
    Ok(Change {
        revision: revision as u64,
        time: Timestamp::from_millis(row.try_get(1)?),
        actor: row.try_get(2)?,
        request_id: row.try_get(3)?,
        command: row.try_get(4)?,
        effects: serde_json::from_str(&effects)
            .map_err(|e| StoreError::corrupt(format!("change {revision}: {e}")))?,
    })
}

impl<'s> WriteTx<'s> {
    /// Goes on writing in a transaction opened by the store itself, at `head` (a restore:
    /// the rows it wrote are its state).
    pub(crate) fn resume(
        tx: Transaction<'static, Any>,
        store: &'s Store,
        head: u64,
    ) -> WriteTx<'s> {
        WriteTx {
            tx,
            store,
            head,
            chains: HashMap::new(),
            anchor_key: None,
            credential_ops: 0,
            effects_sha256: None,
        }
    }

    /// SHA-256 (hex) of the effects of the change appended last, as stored: its audit event
    /// records it, so that `verify` finds effects edited behind the log's back.
    pub fn effects_sha256(&self) -> Option<&str> {
        self.effects_sha256.as_deref()
    }

    /// The head revision: the last change committed before this transaction (plus those appended
    /// in it).
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Changes after `revision` up to the head, read inside the lock: what another replica
    /// committed since this process last looked.
    pub async fn changes_after(&mut self, revision: u64) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(CHANGES_AFTER)
            .bind(revision as i64)
            .bind(i64::MAX)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(change_of_row).collect()
    }

    /// The revision an object was last written at, read inside the lock.
    pub async fn object_revision(
        &mut self,
        org: &str,
        key: &canopy_core::model::ObjectKey,
    ) -> Result<Option<u64>, StoreError> {
        let r: Option<i64> = sqlx::query_scalar(
            "SELECT revision FROM objects WHERE org_id = $1 AND object_key = $2",
        )
        .bind(org)
        .bind(tables::key_row(key))
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(r.map(|r| r as u64))
    }

    /// Appends a change at the head: its row in `changes`, its effects on the state tables, the
    /// new head. Its revision must be the next one.
    pub async fn append(&mut self, change: &Change) -> Result<(), StoreError> {
        if change.revision != self.head + 1 {
            return Err(StoreError::corrupt(format!(
                "change {} appended at head {}",
                change.revision, self.head
            )));
        }
        let effects = serde_json::to_string(&change.effects).map_err(StoreError::corrupt)?;
        self.effects_sha256 = Some(effects_sha256(&effects));
        sqlx::query(
            "INSERT INTO changes (revision, time_ms, org_id, actor, request_id, command, effects) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(change.revision as i64)
        .bind(change.time.millis())
        .bind(change.effects.org().map(|o| o.to_string()))
        .bind(&change.actor)
        .bind(&change.request_id)
        .bind(&change.command)
        .bind(effects)
        .execute(&mut *self.tx)
        .await?;
        match &change.effects {
            Effects::Org { org, writes } => {
                tables::write_org(&mut self.tx, org.as_str(), change.revision, writes).await?
            }
            Effects::Instance { writes } => {
                tables::write_instance(&mut self.tx, change.revision, writes).await?
            }
        }
        sqlx::query("UPDATE head SET revision = $1 WHERE id = 1")
            .bind(change.revision as i64)
            .execute(&mut *self.tx)
            .await?;
        self.head = change.revision;
        self.credential_ops = 0;
        Ok(())
    }

    /// Sets a principal's secret (a password hash…) of the given kind.
    pub async fn set_secret(
        &mut self,
        org: &str,
        principal: &str,
        kind: &str,
        secret: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO credentials (org_id, principal_id, kind, secret) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (principal_id, kind) DO UPDATE SET secret = excluded.secret",
        )
        .bind(org)
        .bind(principal)
        .bind(kind)
        .bind(secret)
        .execute(&mut *self.tx)
        .await?;
        self.log_credential(org, principal, kind, Some(secret))
            .await
    }

    /// The principals holding a secret of the given kind (a passkey's credential ID is held by
    /// one at most).
    pub async fn secret_holders(&mut self, kind: &str) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT principal_id FROM credentials WHERE kind = $1")
                .bind(kind)
                .fetch_all(&mut *self.tx)
                .await?,
        )
    }

    /// Removes a principal's secret of the given kind.
    pub async fn delete_secret(&mut self, principal: &str, kind: &str) -> Result<(), StoreError> {
        let org: Option<String> = sqlx::query_scalar(
            "DELETE FROM credentials WHERE principal_id = $1 AND kind = $2 RETURNING org_id",
        )
        .bind(principal)
        .bind(kind)
        .fetch_optional(&mut *self.tx)
        .await?;
        match org {
            Some(org) => self.log_credential(&org, principal, kind, None).await,
            None => Ok(()),
        }
    }

    /// Records a credential set or removed at the head revision in `credential_log`, for the
    /// archive (point-in-time restore brings secrets to a revision from it).
    async fn log_credential(
        &mut self,
        org: &str,
        principal: &str,
        kind: &str,
        secret: Option<&str>,
    ) -> Result<(), StoreError> {
        self.credential_ops += 1;
        sqlx::query(
            "INSERT INTO credential_log (revision, seq, org_id, principal_id, kind, secret) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.head as i64)
        .bind(self.credential_ops as i64)
        .bind(org)
        .bind(principal)
        .bind(kind)
        .bind(secret)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Where a chain stands: read once per transaction from its anchor and its last event.
    /// They agree unless someone removed or added events behind the writer's back; the writer
    /// then continues after whichever is further, so that the evidence stays (a truncated
    /// chain keeps a gap where its tail was) and no position is used twice.
    pub(crate) async fn chain_head(&mut self, chain: &str) -> Result<ChainHead, StoreError> {
        if let Some(head) = self.chains.get(chain) {
            return Ok(head.clone());
        }
        let anchor = sqlx::query(SELECT_ANCHOR)
            .bind(chain)
            .fetch_optional(&mut *self.tx)
            .await?
            .map(|r| anchor_of_row(&r))
            .transpose()?;
        let last =
            sqlx::query("SELECT seq, hash FROM audit WHERE chain = $1 ORDER BY seq DESC LIMIT 1")
                .bind(chain)
                .fetch_optional(&mut *self.tx)
                .await?
                .map(|r| {
                    Ok::<_, StoreError>((
                        r.try_get::<i64, _>(0)? as u64,
                        r.try_get::<Vec<u8>, _>(1)?,
                    ))
                })
                .transpose()?;
        let head = match (anchor, last) {
            (Some(a), last) => {
                match &last {
                    Some((seq, _)) if *seq < a.seq => tracing::error!(
                        chain,
                        anchored = a.seq,
                        last = seq,
                        "the audit chain ends before its anchor: events were removed"
                    ),
                    None if a.seq > a.base_seq => tracing::error!(
                        chain,
                        anchored = a.seq,
                        "the audit chain's events are gone: they were removed"
                    ),
                    Some((seq, _)) if *seq > a.seq => tracing::error!(
                        chain,
                        anchored = a.seq,
                        last = seq,
                        "the audit chain goes on after its anchor: events were added"
                    ),
                    _ => {}
                }
                let (seq, hash) = match last {
                    Some((seq, hash)) if seq > a.seq => (seq, hash),
                    _ => (a.seq, a.hash),
                };
                ChainHead {
                    seq,
                    hash,
                    base_seq: a.base_seq,
                    base_hash: a.base_hash,
                    pruned_before_ms: a.pruned_before_ms,
                }
            }
            (None, Some((seq, hash))) => {
                tracing::warn!(chain, seq, "anchoring an audit chain that had no anchor");
                ChainHead {
                    seq,
                    hash,
                    base_seq: 0,
                    base_hash: GENESIS.to_vec(),
                    pruned_before_ms: 0,
                }
            }
            (None, None) => ChainHead {
                seq: 0,
                hash: GENESIS.to_vec(),
                base_seq: 0,
                base_hash: GENESIS.to_vec(),
                pruned_before_ms: 0,
            },
        };
        self.chains.insert(chain.to_string(), head.clone());
        Ok(head)
    }

    /// Sets where a chain stands (a prune moves its checkpoint); anchored at commit.
    pub(crate) fn set_chain_head(&mut self, chain: &str, head: ChainHead) {
        self.chains.insert(chain.to_string(), head);
    }

    /// Anchors, at commit, every chain this transaction looked at (with `key`).
    pub(crate) fn anchor_with(&mut self, key: &AuditKey) {
        self.anchor_key = Some(key.clone());
    }

    /// The transaction itself, for the store's own statements.
    pub(crate) fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    /// Appends an event to its audit chain: the next position, the hash of the previous event,
    /// and an HMAC under `key`. The chain's anchor follows at commit.
    pub async fn audit(&mut self, key: &AuditKey, draft: AuditDraft) -> Result<(), StoreError> {
        let head = self.chain_head(&draft.chain).await?;
        let event = AuditEvent {
            chain: draft.chain,
            seq: head.seq + 1,
            time_ms: draft.time.millis(),
            actor: draft.actor,
            request_id: draft.request_id,
            action: draft.action,
            outcome: draft.outcome,
            revision: draft.revision,
            detail: draft.detail,
        };
        let text = serde_json::to_string(&event).map_err(StoreError::corrupt)?;
        let hash = event_hash(&head.hash, &text);
        let mac = key.mac(&hash);
        sqlx::query(
            "INSERT INTO audit (chain, seq, time_ms, actor, action, outcome, revision, event, \
             prev_hash, hash, mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&event.chain)
        .bind(event.seq as i64)
        .bind(event.time_ms)
        .bind(&event.actor)
        .bind(&event.action)
        .bind(event.outcome.as_str())
        .bind(event.revision.map(|r| r as i64))
        .bind(&text)
        .bind(head.hash.clone())
        .bind(hash.clone())
        .bind(mac)
        .execute(&mut *self.tx)
        .await?;
        self.chains.insert(
            event.chain,
            ChainHead {
                seq: event.seq,
                hash,
                ..head
            },
        );
        self.anchor_key = Some(key.clone());
        Ok(())
    }

    /// Commits: when this returns, the changes are durable. PostgreSQL replicas are told.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        // One anchor per chain written: the head as of this transaction, signed.
        if let Some(key) = self.anchor_key.take() {
            for (chain, head) in std::mem::take(&mut self.chains) {
                let anchor = Anchor {
                    chain,
                    seq: head.seq,
                    hash: head.hash,
                    revision: self.head,
                    base_seq: head.base_seq,
                    base_hash: head.base_hash,
                    pruned_before_ms: head.pruned_before_ms,
                    mac: Vec::new(),
                }
                .sign(&key);
                upsert_anchor(&anchor).execute(&mut *self.tx).await?;
            }
        }
        if let Some(notify) = self.store.dialect().notify_changes() {
            sqlx::query(notify)
                .bind(self.head.to_string())
                .execute(&mut *self.tx)
                .await?;
        }
        self.tx.commit().await?;
        Ok(())
    }
}
