//! `canopy verify`: the stored invariants. The log is gap-free and replays; the state tables equal
//! the replayed log and load into engines (no dangling reference, no cycle); limits hold; every
//! organisation keeps a usable administrator; every audit chain verifies under the key.

use std::collections::{BTreeMap, BTreeSet};

use canopy_core::installation::Installation;
use canopy_core::time::Timestamp;
use futures::TryStreamExt;
use sqlx::Row;

use crate::audit::{AuditKey, StoredEvent, check_chain};
use crate::messages::{self, Lang};
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
    /// A credential whose owner does not exist.
    DanglingSecret { principal: String },
    /// A user's count of passkeys in the model differs from their stored passkeys.
    PasskeyCount {
        principal: String,
        counted: u32,
        stored: u64,
    },
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

    /// Every audit chain, event by event.
    async fn check_audit(&self, key: &AuditKey, report: &mut Report) -> Result<(), StoreError> {
        let chains: Vec<String> = sqlx::query_scalar("SELECT DISTINCT chain FROM audit")
            .fetch_all(self.pool())
            .await?;
        for chain in chains {
            let mut rows = sqlx::query(
                "SELECT seq, event, prev_hash, hash, mac FROM audit WHERE chain = $1 ORDER BY seq",
            )
            .bind(&chain)
            .fetch(self.pool());
            let mut events = Vec::new();
            while let Some(r) = rows.try_next().await? {
                events.push(StoredEvent {
                    seq: r.try_get::<i64, _>(0)? as u64,
                    text: r.try_get(1)?,
                    prev_hash: r.try_get(2)?,
                    hash: r.try_get(3)?,
                    mac: r.try_get(4)?,
                });
            }
            report.audit_events += events.len() as u64;
            for (seq, p) in check_chain(key, events) {
                report.problems.push(Problem::Audit {
                    chain: chain.clone(),
                    seq,
                    detail: messages::audit_problem(&p, Lang::En),
                });
            }
        }
        Ok(())
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
