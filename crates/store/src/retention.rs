//! Keeping the audit log for as long as it must be kept, and no longer (DESIGN §6): pruning the
//! oldest events of each chain behind a signed checkpoint, so that what remains still verifies;
//! and anchoring chains written before anchors existed.

use canopy_core::time::Timestamp;
use sqlx::Row;

use crate::audit::{AuditKey, Outcome};
use crate::log::{AuditDraft, ChainHead};
use crate::{Store, StoreError};

/// The least number of days audit events are kept (DESIGN §6: at least 90 days, never less).
pub const MIN_RETENTION_DAYS: u32 = 90;

/// The action of the audit event that records a prune.
pub const PRUNE_ACTION: &str = "prune_audit";

const DAY_MS: i64 = 86_400_000;

/// What a prune removed from one chain.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Pruned {
    /// `instance` or an organisation ID.
    pub chain: String,
    /// The chain now starts after this position (its checkpoint).
    pub through_seq: u64,
    /// Events removed.
    pub events: u64,
}

impl Store {
    /// Removes, from every chain, the events older than `older_than_days` days before `now`
    /// (only a chain's oldest events, up to the first that is not that old, so that the rest
    /// stays one unbroken chain), moves each chain's signed checkpoint to the last event
    /// removed, and records the prune as an audit event (`prune_audit`, by `actor`) in each
    /// chain it pruned — all in one write transaction. Refuses fewer than
    /// [`MIN_RETENTION_DAYS`] days, and refuses to prune an audit log that does not verify: the
    /// events it would remove may be the evidence.
    pub async fn prune_audit(
        &self,
        key: &AuditKey,
        older_than_days: u32,
        now: Timestamp,
        actor: &str,
    ) -> Result<Vec<Pruned>, StoreError> {
        if older_than_days < MIN_RETENTION_DAYS {
            return Err(StoreError::Retention {
                days: older_than_days,
                minimum: MIN_RETENTION_DAYS,
            });
        }
        let report = self.verify_audit(key, None).await?;
        if let Some(line) = report.first_lines(crate::messages::Lang::En).first() {
            return Err(StoreError::AuditBroken {
                detail: line.clone(),
            });
        }
        let cutoff = now.millis() - i64::from(older_than_days) * DAY_MS;
        let mut tx = self.begin_write().await?;
        let chains: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT chain FROM audit ORDER BY chain")
                .fetch_all(tx.conn())
                .await?;
        let mut pruned = Vec::new();
        for chain in chains {
            let head = tx.chain_head(&chain).await?;
            let first_kept: Option<i64> = sqlx::query_scalar(
                "SELECT MIN(seq) FROM audit WHERE chain = $1 AND seq > $2 AND time_ms >= $3",
            )
            .bind(&chain)
            .bind(head.base_seq as i64)
            .bind(cutoff)
            .fetch_one(tx.conn())
            .await?;
            let through = first_kept.map_or(head.seq, |s| (s as u64).saturating_sub(1));
            if through <= head.base_seq {
                continue;
            }
            let row = sqlx::query("SELECT hash FROM audit WHERE chain = $1 AND seq = $2")
                .bind(&chain)
                .bind(through as i64)
                .fetch_one(tx.conn())
                .await?;
            let base_hash: Vec<u8> = row.try_get(0)?;
            let removed = sqlx::query("DELETE FROM audit WHERE chain = $1 AND seq <= $2")
                .bind(&chain)
                .bind(through as i64)
                .execute(tx.conn())
                .await?
                .rows_affected();
            tx.set_chain_head(
                &chain,
                ChainHead {
                    base_seq: through,
                    base_hash,
                    pruned_before_ms: cutoff,
                    ..head
                },
            );
            tx.audit(
                key,
                AuditDraft {
                    chain: chain.clone(),
                    time: now,
                    actor: actor.to_string(),
                    request_id: format!("prune-{}", now.millis()),
                    action: PRUNE_ACTION.into(),
                    outcome: Outcome::Ok,
                    revision: None,
                    detail: serde_json::json!({
                        "older_than_days": older_than_days,
                        "before": Timestamp::from_millis(cutoff).to_string(),
                        "through_seq": through,
                        "events": removed,
                    }),
                },
            )
            .await?;
            pruned.push(Pruned {
                chain,
                through_seq: through,
                events: removed,
            });
        }
        tx.commit().await?;
        Ok(pruned)
    }

    /// The audit chain of an organisation named by name or ID (`instance`: the instance's),
    /// if it exists. An organisation since deleted is found by its ID only.
    pub async fn audit_chain(&self, reference: &str) -> Result<Option<String>, StoreError> {
        if reference == crate::audit::INSTANCE_CHAIN {
            return Ok(Some(reference.to_string()));
        }
        let rows = sqlx::query("SELECT org_id, value FROM objects WHERE kind = 'org'")
            .fetch_all(self.pool())
            .await?;
        for r in &rows {
            let id: String = r.try_get(0)?;
            let value: String = r.try_get(1)?;
            let org: canopy_core::model::Org =
                serde_json::from_str(&value).map_err(StoreError::corrupt)?;
            if id == reference || org.name.as_str() == reference {
                return Ok(Some(id));
            }
        }
        let known: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM audit_anchors WHERE chain = $1")
                .bind(reference)
                .fetch_one(self.pool())
                .await?;
        Ok(known.map(|_| reference.to_string()))
    }

    /// Anchors every chain that has events but no anchor (one written before anchors existed:
    /// `canopy migrate` and the server's start call this), at its last event, and returns
    /// them. A chain whose anchor was removed is anchored again too — `verify` reports the
    /// missing anchor until then, and the server logs each chain it anchors.
    pub async fn anchor_chains(&self, key: &AuditKey) -> Result<Vec<String>, StoreError> {
        let mut tx = self.begin_write().await?;
        let unanchored: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT chain FROM audit WHERE chain NOT IN (SELECT chain FROM audit_anchors) \
             ORDER BY chain",
        )
        .fetch_all(tx.conn())
        .await?;
        for chain in &unanchored {
            tx.chain_head(chain).await?;
        }
        tx.anchor_with(key);
        tx.commit().await?;
        Ok(unanchored)
    }
}
