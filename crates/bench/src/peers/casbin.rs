//! The workload in casbin 2.x, modelled as a careful casbin user would: RBAC with resource roles
//! and action groups, deny-override.
//!
//! - `g`: subject → each of its groups (effective membership, excludes applied), and every
//!   enabled subject → `everyone`;
//! - `g2`: node → parent node, resource → home node and linked projects; and, for a node N with
//!   guardrails, every child node of N and every resource homed or linked at N → `inside:N`, so
//!   that `g2(t, "inside:N")` holds exactly for the targets strictly inside N;
//! - `g3`: action → the action groups it belongs to: `allow:ROLE`, `deny:ROLE` (a role's allowed
//!   and denied actions) and `guard:N` (the actions N's guardrails block inside it);
//! - one policy line per binding and effect: `p, PRINCIPAL, SCOPE, allow:ROLE, allow` (and
//!   `deny:ROLE, deny`), and per guarded node `p, everyone, inside:N, guard:N, deny`;
//! - matcher `g(r.sub, p.sub) && g2(r.obj, p.obj) && g3(r.act, p.act)`, effect
//!   `some(where (p.eft == allow)) && !some(where (p.eft == deny))`.
//!
//! casbin evaluates the matcher against every policy line for each request (there is no
//! per-principal slicing in its API), walking the role graph for each `g` call.

use canopy_core::model::{OrgModel, Scope};
use canopy_core::time::Timestamp;
use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};
use casbin::{DefaultRoleManager, RoleManager};
use parking_lot::RwLock;
use std::collections::BTreeSet;
use std::sync::Arc;

use super::{Exposure, NotExpressed, Peer};
use crate::semantics;

/// How this peer models the workload, for the report.
pub const MODEL: &str = "RBAC with resource roles and action groups, deny-override: g subject→groups \
(+everyone), g2 node→parent and resource→home/linked projects (+inside:N markers for guardrails), \
g3 action→role action groups; one policy line per binding and effect, one deny line per guarded node";

/// The casbin model.
const CONF: &str = "
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act, eft

[role_definition]
g = _, _
g2 = _, _
g3 = _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = g(r.sub, p.sub) && g2(r.obj, p.obj) && g3(r.act, p.act)
";

/// casbin's default role manager follows at most 10 links; a resource at the bottom of a 10-level
/// tree is 11 links from the root, plus the guardrail markers.
const MAX_HIERARCHY: usize = 64;

/// The subject every enabled subject is a member of, for guardrails (which cap everyone).
const EVERYONE: &str = "everyone";

/// Why the casbin model could not be built.
#[derive(Debug, thiserror::Error)]
#[error("casbin: {0}")]
pub struct CasbinError(String);

fn err(e: impl std::fmt::Display) -> CasbinError {
    CasbinError(e.to_string())
}

/// The workload as a casbin enforcer.
pub struct CasbinPeer {
    enforcer: Enforcer,
    policies: usize,
}

/// The policy and grouping lines of the model.
#[derive(Default)]
struct Lines {
    p: BTreeSet<Vec<String>>,
    g: BTreeSet<Vec<String>>,
    g2: BTreeSet<Vec<String>>,
    g3: BTreeSet<Vec<String>>,
}

fn line(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

impl CasbinPeer {
    /// Builds the casbin model of `model` as it stands at `now` for the default request context.
    /// casbin's API is async (for its adapters); nothing here waits on I/O, so a plain
    /// `block_on` drives it.
    pub fn build(model: &OrgModel, now: Timestamp) -> Result<CasbinPeer, CasbinError> {
        futures::executor::block_on(Self::build_async(model, now))
    }

    async fn build_async(model: &OrgModel, now: Timestamp) -> Result<CasbinPeer, CasbinError> {
        let conf = DefaultModel::from_str(CONF).await.map_err(err)?;
        let mut enforcer = Enforcer::new(conf, MemoryAdapter::default())
            .await
            .map_err(err)?;
        enforcer.enable_auto_save(false);
        let rm: Arc<RwLock<dyn RoleManager>> =
            Arc::new(RwLock::new(DefaultRoleManager::new(MAX_HIERARCHY)));
        enforcer.set_role_manager(rm).map_err(err)?;
        let lines = lines(model, now);
        let policies = lines.p.len();
        enforcer
            .add_policies(lines.p.into_iter().collect())
            .await
            .map_err(err)?;
        for (ptype, rules) in [("g", lines.g), ("g2", lines.g2), ("g3", lines.g3)] {
            enforcer
                .add_named_grouping_policies(ptype, rules.into_iter().collect())
                .await
                .map_err(err)?;
        }
        Ok(CasbinPeer { enforcer, policies })
    }
}

impl Peer for CasbinPeer {
    fn check(&self, principal: &str, action: &str, target: &str) -> Result<bool, String> {
        self.enforcer
            .enforce((principal, target, action))
            .map_err(|e| e.to_string())
    }

    fn engine(&self) -> &'static str {
        "casbin 2.20"
    }

    fn model(&self) -> &'static str {
        MODEL
    }

    fn policies(&self) -> usize {
        self.policies
    }

    fn not_expressed(&self, exposure: &Exposure) -> Vec<NotExpressed> {
        vec![
            NotExpressed {
                feature: "binding expiry and conditions (mfa, source_cidrs)",
                affected_share: exposure.dynamic,
                note: "bindings are taken as they apply at build time in the default request context; \
                       casbin would need extra request fields and per-line matcher functions (time \
                       comparison, ipMatch), which this model does not have (the workload has none)",
            },
            NotExpressed {
                feature: "manual exclude of group members, nested groups",
                affected_share: exposure.excludes,
                note: "`g` has no negative edges, so the application resolves membership (excludes \
                       applied) and links each subject to its effective groups",
            },
            NotExpressed {
                feature: "disabled subjects",
                affected_share: exposure.disabled,
                note: "left out by the application: no `g` lines, no policy lines",
            },
        ]
    }
}

/// Every line of the model.
fn lines(model: &OrgModel, now: Timestamp) -> Lines {
    let actions = semantics::actions(model);
    let roles = semantics::role_actions(model, &actions);
    let groups = semantics::groups_of(model);
    let mut l = Lines::default();
    for (subject, gs) in &groups {
        l.g.insert(line(&[subject.as_str(), EVERYONE]));
        for g in gs {
            l.g.insert(line(&[subject.as_str(), g.as_str()]));
        }
    }
    for n in model.nodes.values() {
        l.g2.insert(line(&[n.id.as_str(), n.parent.as_str()]));
    }
    for r in model.resources.values() {
        for n in std::iter::once(&r.home).chain(&r.links) {
            l.g2.insert(line(&[r.id.as_str(), n.as_str()]));
        }
    }
    for (role, acts) in &roles {
        for (tag, list) in [("allow", &acts.allow), ("deny", &acts.deny)] {
            for a in list {
                l.g3.insert(line(&[a, &format!("{tag}:{role}")]));
            }
        }
    }
    for b in model
        .bindings
        .values()
        .filter(|b| semantics::applies_statically(b, now))
    {
        let p = b.principal.as_str();
        if !p.starts_with("grp_") && !groups.contains_key(&b.principal) {
            continue; // a disabled subject
        }
        let Some(acts) = roles.get(&b.role) else {
            continue;
        };
        let scope = match &b.scope {
            Scope::Node(n) => n.as_str(),
            Scope::Resource(r) => r.as_str(),
        };
        for (eft, list) in [("allow", &acts.allow), ("deny", &acts.deny)] {
            if !list.is_empty() {
                l.p.insert(line(&[p, scope, &format!("{eft}:{}", b.role), eft]));
            }
        }
    }
    add_guardrails(model, &actions, &mut l);
    l
}

/// Per guarded node N: the `inside:N` markers, the `guard:N` action group, and one deny line.
fn add_guardrails(model: &OrgModel, actions: &[semantics::ActionInfo], l: &mut Lines) {
    for (node, guard) in semantics::guards_by_node(model, actions) {
        let blocked = guard.blocked(actions);
        if blocked.is_empty() {
            continue;
        }
        let inside = format!("inside:{node}");
        let tag = format!("guard:{node}");
        for n in model.nodes.values().filter(|n| n.parent == node) {
            l.g2.insert(line(&[n.id.as_str(), &inside]));
        }
        for r in model
            .resources
            .values()
            .filter(|r| r.home == node || r.links.contains(&node))
        {
            l.g2.insert(line(&[r.id.as_str(), &inside]));
        }
        for a in &blocked {
            l.g3.insert(line(&[a, &tag]));
        }
        l.p.insert(line(&[EVERYONE, &inside, &tag, "deny"]));
    }
}
