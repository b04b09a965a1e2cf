//! `explain`: the decision with its evidence, and for a denial the smallest changes that would
//! allow it (§3.5).

use serde::Serialize;

use super::OrgEngine;
use super::index::{Ix, Tx};
use crate::action::{Effect, Statement};
use crate::error::QueryError;
use crate::ids::{BindingId, GuardrailId, NodeId, PrincipalId, RoleId};
use crate::model::{RequestContext, Scope};
use crate::time::Timestamp;

/// A binding that allows or denies, named by reference beside its IDs.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Evidence {
    /// The binding.
    pub binding: BindingId,
    /// The bound principal's ID.
    pub principal: PrincipalId,
    /// The bound principal as `user:`/`sa:`/`group:` reference.
    pub principal_ref: String,
    /// The role's ID.
    pub role: RoleId,
    /// The role's name.
    pub role_name: String,
    /// The scope's ID.
    pub scope: Scope,
    /// The scope's path.
    pub scope_path: String,
    /// The statement of the role that matched.
    pub statement: Statement,
}

/// A binding that would have counted but does not apply to this request.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct NotApplied {
    /// The binding and what it would have done.
    #[serde(flatten)]
    pub evidence: Evidence,
    /// `expired` or `conditions`.
    pub reason: &'static str,
}

/// A guardrail that blocks the action.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Blocker {
    /// The guardrail.
    pub guardrail: GuardrailId,
    /// Its name.
    pub name: String,
    /// The node it is attached to.
    pub node: NodeId,
    /// That node's path.
    pub node_path: String,
    /// The deny statement that matched; absent when the action is simply not in the allow-list
    /// of the guardrails at that node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<Statement>,
}

/// One change that, together with the other fixes listed, would allow the request.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, serde::Deserialize)]
#[serde(tag = "fix", rename_all = "snake_case")]
pub enum Fix {
    /// Enable the (disabled) subject.
    Enable {
        /// The subject.
        principal: String,
    },
    /// Remove a denying binding.
    RemoveBinding {
        /// The binding.
        binding: BindingId,
        /// Its principal, by reference.
        principal: String,
        /// Its role's name.
        role: String,
        /// Its scope's path.
        scope: String,
    },
    /// Remove the guardrail, or amend it to permit the action.
    AmendGuardrail {
        /// The guardrail.
        guardrail: GuardrailId,
        /// Its name.
        name: String,
    },
    /// Bind the role with the fewest allowed actions that allows the action.
    Bind {
        /// Who to bind: the subject, or one of the alternatives.
        principal: String,
        /// Groups of the subject that already hold a binding covering the target.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        alternatives: Vec<String>,
        /// The role's name.
        role: String,
        /// The target's home node.
        scope: String,
    },
}

/// The answer to `explain`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Explanation {
    /// The decision.
    pub allowed: bool,
    /// The revision it was computed at.
    pub revision: u64,
    /// The time it was computed for.
    pub evaluated_at: Timestamp,
    /// Bindings that allow.
    pub allowed_by: Vec<Evidence>,
    /// Bindings that deny.
    pub denied_by: Vec<Evidence>,
    /// Guardrails that block.
    pub blocked_by: Vec<Blocker>,
    /// Bindings that would count but are expired or whose conditions the context does not meet.
    pub not_applied: Vec<NotApplied>,
    /// Why it is denied when nothing above says, as a stable machine value: `disabled` (the
    /// subject is disabled), `no_binding` (no binding grants this).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// For a denial: the smallest changes that would allow it.
    pub fixes: Vec<Fix>,
}

impl OrgEngine {
    /// The decision of `check` with its evidence and, for a denial, fixes.
    pub fn explain(
        &self,
        principal: &str,
        action: &str,
        target: &str,
        ctx: &RequestContext,
        now: Timestamp,
    ) -> Result<Explanation, QueryError> {
        let p = self.subject_arg(principal)?;
        let a = self.action_arg(action)?;
        let t = self.target_arg(target)?;
        let (allowed, _) = self.decide(p, a, t, ctx, now.millis());
        let cover = self.cover(t);
        let action_name = &self.ix.actions[a as usize].name;
        let class = self.ix.actions[a as usize].class;
        let (mut allowed_by, mut denied_by, mut not_applied) = (Vec::new(), Vec::new(), Vec::new());
        for &s in &self.ix.hot[p as usize].closure {
            for &b in &self.ix.principals[s as usize].bindings {
                let slot = &self.ix.bindings[b as usize];
                if !self.covers(&cover, slot.scope) {
                    continue;
                }
                let role = &self.ix.roles[slot.role as usize];
                let deny = role.deny.contains(a);
                if !deny && !role.allow.contains(a) {
                    continue;
                }
                let effect = if deny { Effect::Deny } else { Effect::Allow };
                let statement = role
                    .statements
                    .iter()
                    .find(|st| st.effect == effect && st.matches(action_name, class))
                    .cloned();
                let Some(statement) = statement else { continue };
                let evidence = self.evidence(b, statement);
                if slot.expires <= now.millis() {
                    not_applied.push(NotApplied {
                        evidence,
                        reason: "expired",
                    });
                } else if slot.conditions.as_ref().is_some_and(|c| !c.met_by(ctx)) {
                    not_applied.push(NotApplied {
                        evidence,
                        reason: "conditions",
                    });
                } else if deny {
                    denied_by.push(evidence);
                } else {
                    allowed_by.push(evidence);
                }
            }
        }
        let blocked_by = self.blockers(t, a);
        let enabled = self.is_enabled_subject(p);
        let reason = if !enabled {
            Some("disabled")
        } else if allowed_by.is_empty() && !allowed {
            Some("no_binding")
        } else {
            None
        };
        let fixes = if allowed {
            Vec::new()
        } else {
            self.fixes(p, a, t, enabled, &allowed_by, &denied_by, &blocked_by)
        };
        Ok(Explanation {
            allowed,
            revision: self.revision,
            evaluated_at: now,
            allowed_by,
            denied_by,
            blocked_by,
            not_applied,
            reason,
            fixes,
        })
    }

    fn evidence(&self, b: Ix, statement: Statement) -> Evidence {
        let slot = &self.ix.bindings[b as usize];
        let role = &self.ix.roles[slot.role as usize];
        Evidence {
            binding: slot.id.clone(),
            principal: self.principal_id(slot.principal),
            principal_ref: self.principal_ref(slot.principal),
            role: role.id.clone(),
            role_name: role.name.to_string(),
            scope: self.scope_of(slot.scope),
            scope_path: self.path_of(slot.scope),
            statement,
        }
    }

    /// The guardrails that keep `a` from `t`.
    fn blockers(&self, t: Tx, a: Ix) -> Vec<Blocker> {
        let mut nodes: Vec<Ix> = Vec::new();
        for path in self.cover(t).paths {
            let capped = match t {
                Tx::Node(_) => &path[..path.len() - 1],
                Tx::Res(_) => path,
            };
            for &n in capped {
                if !nodes.contains(&n) {
                    nodes.push(n);
                }
            }
        }
        let action = &self.ix.actions[a as usize];
        let mut out = Vec::new();
        for n in nodes {
            let guards = &self.ix.nodes[n as usize].guardrails;
            let with_allow: Vec<Ix> = guards
                .iter()
                .copied()
                .filter(|&g| self.ix.guards[g as usize].allow.is_some())
                .collect();
            let allow_listed = with_allow.is_empty()
                || with_allow.iter().any(|&g| {
                    self.ix.guards[g as usize]
                        .allow
                        .as_ref()
                        .is_some_and(|s| s.contains(a))
                });
            for &g in guards {
                let slot = &self.ix.guards[g as usize];
                let deny = slot
                    .statements
                    .iter()
                    .find(|st| st.effect == Effect::Deny && st.matches(&action.name, action.class));
                let not_listed = !allow_listed && slot.allow.is_some();
                if deny.is_some() || not_listed {
                    out.push(Blocker {
                        guardrail: slot.id.clone(),
                        name: slot.name.to_string(),
                        node: self.node_id(n),
                        node_path: self.path_of(Tx::Node(n)),
                        statement: deny.cloned(),
                    });
                }
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn fixes(
        &self,
        p: Ix,
        a: Ix,
        t: Tx,
        enabled: bool,
        allowed_by: &[Evidence],
        denied_by: &[Evidence],
        blocked_by: &[Blocker],
    ) -> Vec<Fix> {
        let mut fixes = Vec::new();
        if !enabled {
            fixes.push(Fix::Enable {
                principal: self.principal_ref(p),
            });
        }
        for d in denied_by {
            fixes.push(Fix::RemoveBinding {
                binding: d.binding.clone(),
                principal: d.principal_ref.clone(),
                role: d.role_name.clone(),
                scope: d.scope_path.clone(),
            });
        }
        for b in blocked_by {
            fixes.push(Fix::AmendGuardrail {
                guardrail: b.guardrail.clone(),
                name: b.name.clone(),
            });
        }
        if allowed_by.is_empty()
            && let Some(role) = self.narrowest_role_allowing(a)
        {
            let home = match t {
                Tx::Node(n) => n,
                Tx::Res(r) => self.ix.resources[r as usize].home,
            };
            let cover = self.cover(t);
            let alternatives = self.ix.hot[p as usize]
                .closure
                .iter()
                .copied()
                .filter(|&g| {
                    g != p
                        && self.ix.principals[g as usize]
                            .bindings
                            .iter()
                            .any(|&b| self.covers(&cover, self.ix.bindings[b as usize].scope))
                })
                .map(|g| self.principal_ref(g))
                .collect();
            fixes.push(Fix::Bind {
                principal: self.principal_ref(p),
                alternatives,
                role: self.ix.roles[role as usize].name.to_string(),
                scope: self.path_of(Tx::Node(home)),
            });
        }
        fixes
    }

    /// The live role with the fewest granted actions that grants `a` (ties: by name).
    fn narrowest_role_allowing(&self, a: Ix) -> Option<Ix> {
        (0..self.ix.roles.len() as Ix)
            .filter(|&r| self.ix.roles[r as usize].live)
            .map(|r| (self.role_grants(r), r))
            .filter(|(g, _)| g.contains(a))
            .min_by(|(ga, ra), (gb, rb)| {
                ga.len().cmp(&gb.len()).then_with(|| {
                    self.ix.roles[*ra as usize]
                        .name
                        .cmp(&self.ix.roles[*rb as usize].name)
                })
            })
            .map(|(_, r)| r)
    }
}
