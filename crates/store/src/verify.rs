//! `canopy verify`: the stored invariants. The log is gap-free and replays; the state tables equal
//! the replayed log and load into engines (no dangling reference, no cycle); limits hold; every
//! organisation keeps a usable administrator; every audit chain verifies under the key.

use std::collections::{BTreeMap, BTreeSet};

use canopy_core::installation::Installation;
use canopy_core::time::Timestamp;
use futures::TryStreamExt;
use sqlx::Row;

use crate::audit::{
    Anchor, AuditEvent, AuditKey, ChainProblem, GENESIS, SELECT_ANCHORS, StoredEvent,
    anchor_of_row, check_chain,
};
use crate::log::effects_sha256;
use crate::messages::{self, Lang};
use crate::writer::EFFECTS_SHA256;
use crate::{Store, StoreError};

/// Something `verify` found wrong.
#[derive(Clone, PartialEq, Eq, Debug)]
#[allow(missing_docs)] // the fields are named for what they hold
pub enum Problem {
    /// A revision is missing from the log.
    RevisionGap { expected: u64, found: u64 },
    /// The head row disagrees with the log.
    HeadMismatch { head: u64, last: u64 },
    /// A change does not apply to the state before it.
    Replay { detail: String },
    /// The state tables differ from the replayed log.
    StateDiffers { scope: String, detail: String },
    /// The state tables do not load into an engine.
    State { detail: String },
    /// A depth or node limit is exceeded.
    Limit { org: String, detail: String },
    /// An organisation has no usable administrator.
    Lockout { org: String },
    /// An audit event does not verify.
    Audit {
        chain: String,
        seq: u64,
        detail: String,
    },
    /// An audit chain ends before the event its anchor names: its last events were removed.
    AuditTruncated {
        chain: String,
        anchored: u64,
        last: u64,
    },
    /// An audit chain's anchor is missing, forged, or disagrees with the chain.
    AuditAnchor {
        chain: String,
        problem: AnchorProblem,
    },
    /// Changes of the log without the audit event that records them (not pruned).
    UnauditedChanges { first: u64, count: u64 },
    /// Changes whose stored effects are not those their audit event recorded.
    EditedChanges { first: u64, count: u64 },
    /// A credential whose owner does not exist.
    DanglingSecret { principal: String },
    /// A user's count of passkeys in the model differs from their stored passkeys.
    PasskeyCount {
        principal: String,
        counted: u32,
        stored: u64,
    },
}

/// What is wrong with an audit chain's anchor.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AnchorProblem {
    /// The chain has events but no anchor.
    Missing,
    /// Its MAC does not verify under the audit key.
    BadMac,
    /// Events follow the anchored head, written without moving the anchor.
    Beyond {
        /// The anchored position.
        anchored: u64,
        /// The last event found.
        last: u64,
    },
    /// The event at the anchored position is not the one anchored (another hash).
    Differs {
        /// The anchored position.
        seq: u64,
    },
}

/// What [`Store::verify_audit`] checked and found.
#[derive(Clone, Debug, Default)]
pub struct AuditReport {
    /// Chains checked.
    pub chains: usize,
    /// Events checked.
    pub events: u64,
    /// Everything wrong, chain by chain, each chain's in the order found.
    pub problems: Vec<Problem>,
}

impl AuditReport {
    /// The first problem of each chain that has one (and of the change log's tie), one line
    /// each: where the chain first breaks.
    pub fn first_lines(&self, lang: Lang) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.problems
            .iter()
            .filter(|p| {
                let chain = match p {
                    Problem::Audit { chain, .. }
                    | Problem::AuditTruncated { chain, .. }
                    | Problem::AuditAnchor { chain, .. } => chain.as_str(),
                    _ => "",
                };
                seen.insert(chain.to_string())
            })
            .map(|p| messages::verify_problem(p, lang))
            .collect()
    }
}

/// What `verify` checked and found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The head revision.
    pub head: u64,
    /// Changes replayed.
    pub changes: u64,
    /// Organisations checked.
    pub orgs: usize,
    /// Audit events checked.
    pub audit_events: u64,
    /// Everything wrong (empty: the store is sound).
    pub problems: Vec<Problem>,
}

impl Report {
    /// Whether nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// One line per problem.
    pub fn problem_lines(&self, lang: Lang) -> Vec<String> {
        self.problems
            .iter()
            .map(|p| messages::verify_problem(p, lang))
            .collect()
    }
}

impl Store {
    /// Checks every stored invariant; `now` is the time the no-lockout invariant is checked at.
    pub async fn verify(&self, key: &AuditKey, now: Timestamp) -> Result<Report, StoreError> {
        let mut report = Report {
            head: self.head().await?,
            ..Report::default()
        };
        let replayed = self.replay(&mut report).await?;
        self.check_state(&replayed, now, &mut report).await?;
        self.check_audit(key, &mut report).await?;
        self.check_secrets(&replayed, &mut report).await?;
        Ok(report)
    }

    /// Replays the whole log into a fresh installation.
    async fn replay(&self, report: &mut Report) -> Result<Installation, StoreError> {
        let mut inst = Installation::default();
        let mut last = 0;
        loop {
            let changes = self.changes_after(last, 1000).await?;
            if changes.is_empty() {
                break;
            }
            for c in &changes {
                if c.revision != last + 1 {
                    report.problems.push(Problem::RevisionGap {
                        expected: last + 1,
                        found: c.revision,
                    });
                    // Go on from here, to report what else is wrong.
                    inst.set_revision(c.revision - 1);
                }
                if let Err(e) = inst.apply(c) {
                    report.problems.push(Problem::Replay {
                        detail: format!("revision {}: {e}", c.revision),
                    });
                    return Ok(inst);
                }
                last = c.revision;
                report.changes += 1;
            }
        }
        if last != report.head {
            report.problems.push(Problem::HeadMismatch {
                head: report.head,
                last,
            });
        }
        Ok(inst)
    }

    /// The state tables against the replayed log, and the invariants of each organisation.
    async fn check_state(
        &self,
        replayed: &Installation,
        now: Timestamp,
        report: &mut Report,
    ) -> Result<(), StoreError> {
        let loaded = async {
            let admins = self.read_admins().await?;
            let orgs = self.load_orgs(&self.org_revisions().await?).await?;
            Ok::<_, StoreError>((admins, orgs))
        };
        let (admins, engines) = match loaded.await {
            Ok(s) => s,
            Err(StoreError::Corrupt { detail }) => {
                report.problems.push(Problem::State { detail });
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let stored_admins: BTreeMap<_, _> = admins.iter().map(|a| (&a.id, a)).collect();
        let replayed_admins: BTreeMap<_, _> = replayed.admins().map(|a| (&a.id, a)).collect();
        if stored_admins != replayed_admins {
            report.problems.push(Problem::StateDiffers {
                scope: "instance".into(),
                detail: "instance administrators".into(),
            });
        }
        let mut stored_orgs = BTreeSet::new();
        for engine in &engines {
            let model = engine.model();
            report.orgs += 1;
            let name = model.org.name.to_string();
            stored_orgs.insert(model.org.id.clone());
            match replayed.org(&model.org.id) {
                None => report.problems.push(Problem::StateDiffers {
                    scope: name.clone(),
                    detail: "not in the log".into(),
                }),
                Some(e) => {
                    if let Some(what) = first_difference(e.model(), model) {
                        report.problems.push(Problem::StateDiffers {
                            scope: name.clone(),
                            detail: what.into(),
                        });
                    }
                }
            }
            let nodes = model.nodes.len();
            let limits = model.org.limits;
            if nodes > limits.max_nodes as usize {
                report.problems.push(Problem::Limit {
                    org: name.clone(),
                    detail: format!("{nodes} nodes, at most {}", limits.max_nodes),
                });
            }
            let depth = max_depth(model);
            if depth > limits.max_depth as usize {
                report.problems.push(Problem::Limit {
                    org: name.clone(),
                    detail: format!("{depth} levels, at most {}", limits.max_depth),
                });
            }
            if !engine.has_usable_admin(now.millis()) {
                report.problems.push(Problem::Lockout { org: name });
            }
        }
        for e in replayed.orgs() {
            if !stored_orgs.contains(&e.model().org.id) {
                report.problems.push(Problem::StateDiffers {
                    scope: e.model().org.name.to_string(),
                    detail: "missing from the state tables".into(),
                });
            }
        }
        Ok(())
    }

    /// Every audit chain, event by event, against its anchor, and the change log's tie to it.
    async fn check_audit(&self, key: &AuditKey, report: &mut Report) -> Result<(), StoreError> {
        let audit = self.verify_audit(key, None).await?;
        report.audit_events += audit.events;
        report.problems.extend(audit.problems);
        Ok(())
    }

    /// Verifies the audit chains (`only`: one chain, `instance` or an organisation's ID): each
    /// from its pruning checkpoint, event by event (continuity, hashes, HMACs), then its last
    /// event against its anchor, which must verify too. For all chains, also every change of
    /// the log since the last prune has its audit event: an anchor rolled back together with
    /// the events after it is caught by the changes those events recorded.
    pub async fn verify_audit(
        &self,
        key: &AuditKey,
        only: Option<&str>,
    ) -> Result<AuditReport, StoreError> {
        let mut report = AuditReport::default();
        let mut anchors = BTreeMap::new();
        for r in sqlx::query(SELECT_ANCHORS).fetch_all(self.pool()).await? {
            let a = anchor_of_row(&r)?;
            anchors.insert(a.chain.clone(), a);
        }
        let mut chains: BTreeSet<String> = sqlx::query_scalar("SELECT DISTINCT chain FROM audit")
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .collect();
        chains.extend(anchors.keys().cloned());
        let mut audited = BTreeSet::new();
        let mut recorded: BTreeMap<u64, String> = BTreeMap::new();
        let mut cutoff = 0;
        for chain in chains
            .iter()
            .filter(|c| only.is_none_or(|o| o == c.as_str()))
        {
            report.chains += 1;
            let anchor = anchors.get(chain);
            let valid = anchor.filter(|a| a.verifies(key));
            match (anchor, valid) {
                (None, _) => report.problems.push(Problem::AuditAnchor {
                    chain: chain.clone(),
                    problem: AnchorProblem::Missing,
                }),
                (Some(_), None) => report.problems.push(Problem::AuditAnchor {
                    chain: chain.clone(),
                    problem: AnchorProblem::BadMac,
                }),
                (Some(a), Some(_)) => cutoff = cutoff.max(a.pruned_before_ms),
            }
            let base = valid.map_or((0, GENESIS.to_vec()), Anchor::base);
            let ChainRows {
                events,
                revisions,
                effects,
                columns_differ,
            } = self.chain_events(chain, base.0).await?;
            audited.extend(revisions);
            recorded.extend(effects);
            report.events += events.len() as u64;
            let last = events.last().map(|e| (e.seq, e.hash.clone()));
            for (seq, p) in check_chain(key, base.clone(), events) {
                report.problems.push(Problem::Audit {
                    chain: chain.clone(),
                    seq,
                    detail: messages::audit_problem(&p, Lang::En),
                });
            }
            for seq in columns_differ {
                report.problems.push(Problem::Audit {
                    chain: chain.clone(),
                    seq,
                    detail: messages::audit_problem(&ChainProblem::ColumnsDiffer, Lang::En),
                });
            }
            if let Some(a) = valid {
                report.problems.extend(against_anchor(a, last));
            }
        }
        if only.is_none() {
            let mut rows = sqlx::query(
                "SELECT revision, effects FROM changes WHERE time_ms >= $1 ORDER BY revision",
            )
            .bind(cutoff)
            .fetch(self.pool());
            let (mut missing, mut edited) = (Vec::new(), Vec::new());
            while let Some(r) = rows.try_next().await? {
                let revision = r.try_get::<i64, _>(0)? as u64;
                if !audited.contains(&revision) {
                    missing.push(revision);
                }
                if let Some(sha) = recorded.get(&revision)
                    && *sha != effects_sha256(&r.try_get::<String, _>(1)?)
                {
                    edited.push(revision);
                }
            }
            if let Some(first) = missing.first() {
                report.problems.push(Problem::UnauditedChanges {
                    first: *first,
                    count: missing.len() as u64,
                });
            }
            if let Some(first) = edited.first() {
                report.problems.push(Problem::EditedChanges {
                    first: *first,
                    count: edited.len() as u64,
                });
            }
        }
        Ok(report)
    }

    /// A chain's events after position `after`, in order; the revisions they record, read
    /// from the hashed text (the columns beside it are for queries, and not signed); and the
    /// positions of events whose columns say something else than their text.
    async fn chain_events(&self, chain: &str, after: u64) -> Result<ChainRows, StoreError> {
        let mut rows = sqlx::query(
            "SELECT seq, event, prev_hash, hash, mac, time_ms, actor, action, outcome, revision \
             FROM audit WHERE chain = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(chain)
        .bind(after as i64)
        .fetch(self.pool());
        let mut found = ChainRows::default();
        while let Some(r) = rows.try_next().await? {
            let event = StoredEvent {
                seq: r.try_get::<i64, _>(0)? as u64,
                text: r.try_get(1)?,
                prev_hash: r.try_get(2)?,
                hash: r.try_get(3)?,
                mac: r.try_get(4)?,
            };
            let columns = (
                r.try_get::<i64, _>(5)?,
                r.try_get::<String, _>(6)?,
                r.try_get::<String, _>(7)?,
                r.try_get::<String, _>(8)?,
                r.try_get::<Option<i64>, _>(9)?.map(|v| v as u64),
            );
            match serde_json::from_str::<AuditEvent>(&event.text) {
                Ok(e) => {
                    found.revisions.extend(e.revision);
                    if let (Some(r), Some(sha)) = (e.revision, e.detail[EFFECTS_SHA256].as_str()) {
                        found.effects.push((r, sha.to_string()));
                    }
                    let text = (
                        e.time_ms,
                        e.actor,
                        e.action,
                        e.outcome.as_str().to_string(),
                        e.revision,
                    );
                    if text != columns {
                        found.columns_differ.push(event.seq);
                    }
                }
                // Text that is no event cannot have its hash and HMAC either: reported there.
                Err(_) => found.columns_differ.push(event.seq),
            }
            found.events.push(event);
        }
        Ok(found)
    }

    /// Every credential belongs to a principal, a token or an organisation (its webhook secret)
    /// that exists, and every user has as many stored passkeys as the model counts.
    async fn check_secrets(
        &self,
        replayed: &Installation,
        report: &mut Report,
    ) -> Result<(), StoreError> {
        let owners: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT principal_id FROM credentials")
                .fetch_all(self.pool())
                .await?;
        for owner in owners {
            let known = replayed.admins().any(|a| a.id.as_str() == owner)
                || replayed.orgs().any(|e| {
                    let m = e.model();
                    m.org.id.as_str() == owner
                        || m.users.keys().any(|u| u.as_str() == owner)
                        || m.service_accounts.keys().any(|s| s.as_str() == owner)
                        || m.tokens.keys().any(|t| t.as_str() == owner)
                });
            if !known {
                report
                    .problems
                    .push(Problem::DanglingSecret { principal: owner });
            }
        }
        let rows = sqlx::query(
            "SELECT principal_id, COUNT(*) FROM credentials WHERE kind LIKE 'passkey:%' \
             GROUP BY principal_id",
        )
        .fetch_all(self.pool())
        .await?;
        let mut stored = std::collections::HashMap::new();
        for r in &rows {
            let owner: String = sqlx::Row::try_get(r, 0)?;
            let n: i64 = sqlx::Row::try_get(r, 1)?;
            stored.insert(owner, n.max(0) as u64);
        }
        for e in replayed.orgs() {
            for u in e.model().users.values() {
                let n = stored.get(u.id.as_str()).copied().unwrap_or(0);
                if n != u64::from(u.credentials.passkeys) {
                    report.problems.push(Problem::PasskeyCount {
                        principal: u.id.to_string(),
                        counted: u.credentials.passkeys,
                        stored: n,
                    });
                }
            }
        }
        Ok(())
    }
}

/// A chain's rows as verification reads them.
#[derive(Default)]
struct ChainRows {
    events: Vec<StoredEvent>,
    revisions: Vec<u64>,
    /// The SHA-256 of the effects each change's event recorded (events since it was added).
    effects: Vec<(u64, String)>,
    columns_differ: Vec<u64>,
}

/// A chain's last event (position, hash; `None`: no event after the checkpoint) against its
/// (verified) anchor.
fn against_anchor(a: &Anchor, last: Option<(u64, Vec<u8>)>) -> Option<Problem> {
    let chain = a.chain.clone();
    let (seq, hash) = last.unwrap_or((a.base_seq, a.base_hash.clone()));
    if seq < a.seq {
        Some(Problem::AuditTruncated {
            chain,
            anchored: a.seq,
            last: seq,
        })
    } else if seq > a.seq {
        Some(Problem::AuditAnchor {
            chain,
            problem: AnchorProblem::Beyond {
                anchored: a.seq,
                last: seq,
            },
        })
    } else if hash != a.hash {
        Some(Problem::AuditAnchor {
            chain,
            problem: AnchorProblem::Differs { seq },
        })
    } else {
        None
    }
}

/// The first part of two models that differs, if any.
fn first_difference(
    a: &canopy_core::model::OrgModel,
    b: &canopy_core::model::OrgModel,
) -> Option<&'static str> {
    if a.org != b.org {
        Some("organisation")
    } else if a.catalog != b.catalog {
        Some("catalog")
    } else if a.nodes != b.nodes {
        Some("nodes")
    } else if a.resources != b.resources {
        Some("resources")
    } else if a.users != b.users {
        Some("users")
    } else if a.service_accounts != b.service_accounts {
        Some("service accounts")
    } else if a.groups != b.groups {
        Some("groups")
    } else if a.memberships != b.memberships {
        Some("memberships")
    } else if a.roles != b.roles {
        Some("roles")
    } else if a.bindings != b.bindings {
        Some("bindings")
    } else if a.guardrails != b.guardrails {
        Some("guardrails")
    } else if a.tokens != b.tokens {
        Some("tokens")
    } else {
        None
    }
}

/// The deepest level of folders and projects below the organisation (a cycle counts as deep).
fn max_depth(m: &canopy_core::model::OrgModel) -> usize {
    let mut deepest = 0;
    for n in m.nodes.values() {
        let mut depth = 1;
        let mut parent = &n.parent;
        while let Some(p) = m.nodes.get(parent) {
            depth += 1;
            parent = &p.parent;
            if depth > m.nodes.len() {
                break;
            }
        }
        deepest = deepest.max(depth);
    }
    deepest
}
