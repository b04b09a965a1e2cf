//! DESIGN §3.3–3.5 spelled out as concrete lists, for the peer engines (which have no action
//! patterns, classes or guardrails of their own) and for the request generator: the catalog's
//! actions, what each role allows and denies, what each node's guardrails block, and each
//! subject's groups with excludes applied.

use canopy_core::action::{ActionClass, Effect, Statement};
use canopy_core::ids::{NodeId, PrincipalId, RoleId};
use canopy_core::model::{Binding, OrgModel, RequestContext};
use canopy_core::roles::system_roles;
use canopy_core::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// One action of the catalog (`iam` included).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ActionInfo {
    /// `vm.power`.
    pub name: String,
    /// Its class.
    pub class: ActionClass,
    /// `vm`.
    pub type_name: String,
}

/// Every action of the model's catalog, `iam` first.
pub fn actions(model: &OrgModel) -> Vec<ActionInfo> {
    model
        .catalog
        .actions()
        .map(|(name, class, ty)| ActionInfo {
            name,
            class,
            type_name: ty.to_string(),
        })
        .collect()
}

/// The actions (in catalog order) that some statement of `effect` matches.
pub fn matched(actions: &[ActionInfo], statements: &[Statement], effect: Effect) -> Vec<String> {
    actions
        .iter()
        .filter(|a| {
            statements
                .iter()
                .any(|s| s.effect == effect && s.matches(&a.name, a.class))
        })
        .map(|a| a.name.clone())
        .collect()
}

/// What a binding of a role grants: the allowed actions its deny statements leave, and the
/// denied actions (which take the action away whatever else grants it).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct RoleActions {
    /// Matched by an allow statement and by no deny statement.
    pub allow: Vec<String>,
    /// Matched by a deny statement.
    pub deny: Vec<String>,
}

/// Each role's actions, system roles included.
pub fn role_actions(model: &OrgModel, actions: &[ActionInfo]) -> BTreeMap<RoleId, RoleActions> {
    system_roles()
        .iter()
        .chain(model.roles.values())
        .map(|role| {
            let deny = matched(actions, &role.statements, Effect::Deny);
            let allow = matched(actions, &role.statements, Effect::Allow)
                .into_iter()
                .filter(|a| !deny.contains(a))
                .collect();
            (role.id.clone(), RoleActions { allow, deny })
        })
        .collect()
}

/// What the guardrails attached to one node do to targets strictly inside it (§3.4).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NodeGuard {
    /// When some guardrail at the node has allow statements: the union of their allowed actions;
    /// every other action is blocked.
    pub allow_list: Option<Vec<String>>,
    /// Matched by a deny statement of some guardrail at the node.
    pub deny: Vec<String>,
}

impl NodeGuard {
    /// Every action that this node's guardrails block inside it, in catalog order.
    pub fn blocked(&self, actions: &[ActionInfo]) -> Vec<String> {
        actions
            .iter()
            .map(|a| &a.name)
            .filter(|a| {
                self.deny.contains(a) || self.allow_list.as_ref().is_some_and(|l| !l.contains(a))
            })
            .cloned()
            .collect()
    }
}

/// The combined guardrails of every node that has some.
pub fn guards_by_node(model: &OrgModel, actions: &[ActionInfo]) -> BTreeMap<NodeId, NodeGuard> {
    let mut out: BTreeMap<NodeId, NodeGuard> = BTreeMap::new();
    for g in model.guardrails.values() {
        let entry = out.entry(g.node.clone()).or_default();
        if g.statements.iter().any(|s| s.effect == Effect::Allow) {
            let list = entry.allow_list.get_or_insert_with(Vec::new);
            for a in matched(actions, &g.statements, Effect::Allow) {
                if !list.contains(&a) {
                    list.push(a);
                }
            }
        }
        for a in matched(actions, &g.statements, Effect::Deny) {
            if !entry.deny.contains(&a) {
                entry.deny.push(a);
            }
        }
    }
    out
}

/// Every enabled subject (user or service account) with the groups that contain it (§3.3:
/// transitively through included entries, never into a group where it is itself excluded).
/// Disabled subjects are left out: they are denied everything.
pub fn groups_of(model: &OrgModel) -> BTreeMap<PrincipalId, Vec<PrincipalId>> {
    // member → [(group, included)]; a member with an entry that neither includes nor excludes
    // has no standing there.
    let mut up: BTreeMap<&PrincipalId, Vec<(&PrincipalId, bool)>> = BTreeMap::new();
    for m in model.memberships.values() {
        if m.excludes() || m.includes() {
            up.entry(&m.member)
                .or_default()
                .push((&m.group, m.includes()));
        }
    }
    let subjects = model
        .users
        .values()
        .map(|u| (&u.id, u.enabled))
        .chain(model.service_accounts.values().map(|s| (&s.id, s.enabled)));
    subjects
        .filter(|(_, enabled)| *enabled)
        .map(|(s, _)| {
            let own = up.get(s).map_or(&[][..], Vec::as_slice);
            let excluded = |g: &PrincipalId| own.iter().any(|(x, inc)| *x == g && !inc);
            let mut out: Vec<PrincipalId> = Vec::new();
            let mut stack: Vec<&PrincipalId> = own
                .iter()
                .filter(|(_, inc)| *inc)
                .map(|(g, _)| *g)
                .collect();
            while let Some(g) = stack.pop() {
                if out.contains(g) || excluded(g) {
                    continue;
                }
                out.push(g.clone());
                let above = up.get(g).map_or(&[][..], Vec::as_slice);
                stack.extend(above.iter().filter(|(_, inc)| *inc).map(|(pg, _)| *pg));
            }
            (s.clone(), out)
        })
        .collect()
}

/// Whether a binding applies to a request at `now` with the default request context (no MFA,
/// no source address) — what the peers are built for: they take a snapshot of expiry and
/// conditions rather than evaluating them per request.
pub fn applies_statically(b: &Binding, now: Timestamp) -> bool {
    b.expires_at.is_none_or(|t| now < t) && b.conditions.met_by(&RequestContext::default())
}

/// Whether a binding's applicability depends on the time or the request (expiry, conditions).
pub fn is_dynamic(b: &Binding) -> bool {
    b.expires_at.is_some() || !b.conditions.is_empty()
}

/// The subjects (with their groups) that hold some binding whose applicability depends on time
/// or on the request: checks for them are the ones a static peer model may get wrong.
pub fn subjects_with_dynamic_bindings(
    model: &OrgModel,
    groups: &BTreeMap<PrincipalId, Vec<PrincipalId>>,
) -> BTreeSet<PrincipalId> {
    let dynamic: BTreeSet<&PrincipalId> = model
        .bindings
        .values()
        .filter(|b| is_dynamic(b))
        .map(|b| &b.principal)
        .collect();
    groups
        .iter()
        .filter(|(s, gs)| dynamic.contains(s) || gs.iter().any(|g| dynamic.contains(g)))
        .map(|(s, _)| s.clone())
        .collect()
}
