//! The workload in cedar-policy 4.x, modelled as a careful Cedar user would:
//!
//! - entities with parents: users → their groups (effective membership, excludes applied, so the
//!   hierarchy is flat); nodes → their parent node; resources → their home node and the projects
//!   they are linked to; actions → the action groups of the roles and guardrails that name them
//!   (`Action::"rol_viewer/allow"`, `Action::"guard/fld_000012/denied"`), Cedar's idiom for
//!   role-based action sets;
//! - one policy per binding and effect: `permit`/`forbid` with `principal == User::"…"` or
//!   `principal in Group::"…"`, `action in Action::"ROLE/allow"` (or `/deny`), and
//!   `resource in Node::"…"` or `resource == Resource::"…"`;
//! - the guardrails of a node N as `forbid (principal, action, resource in Node::"N") when
//!   { resource != Node::"N" }` — a guardrail caps only what is strictly inside N — with
//!   `unless { action in Action::"guard/N/allowed" }` for allow-lists, and a `forbid` of
//!   `action in Action::"guard/N/denied"` for denies;
//! - per request, the relevant policies are sliced into a fresh policy set, as Cedar's guidance
//!   for large policy stores recommends: policies are indexed by the principal and the resource
//!   their scope names, and a request takes those of the subject and its groups whose resource
//!   is the target or one of its ancestors (both read from Cedar's entity store), plus the
//!   guardrails of the target's ancestors. The slicing is part of the timed check.

use canopy_core::ids::{NodeId, PrincipalId, RoleId};
use canopy_core::model::{OrgModel, PrincipalKind, Scope};
use canopy_core::time::Timestamp;
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy,
    PolicyId, PolicySet, Request,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use super::{Exposure, NotExpressed, Peer};
use crate::semantics::{self, ActionInfo, NodeGuard, RoleActions};

/// How this peer models the workload, for the report.
pub const MODEL: &str = "entities with parents (users→groups, nodes→parent, resources→home and \
linked projects, actions→role and guardrail action groups); one permit/forbid per binding \
(principal ==/in, action in Action::\"ROLE/allow|deny\", resource in/==); guardrails as \
forbid…when {resource != N} [unless {action in allowed}]; per request the policies of the subject \
and its groups scoped at the target or its ancestors, plus the ancestors' guardrails, are sliced \
into a fresh PolicySet (timed)";

/// Why the Cedar model could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cedar: {0}")]
pub struct CedarError(String);

fn err(e: impl std::fmt::Display) -> CedarError {
    CedarError(e.to_string())
}

/// The entity type names used in the model.
struct Types {
    user: EntityTypeName,
    group: EntityTypeName,
    node: EntityTypeName,
    resource: EntityTypeName,
    action: EntityTypeName,
}

impl Types {
    fn new() -> Result<Types, CedarError> {
        let t = |s: &str| EntityTypeName::from_str(s).map_err(err);
        Ok(Types {
            user: t("User")?,
            group: t("Group")?,
            node: t("Node")?,
            resource: t("Resource")?,
            action: t("Action")?,
        })
    }

    fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
    }

    /// A target ID as an entity: `res_…` is a resource, anything else a node.
    fn target(&self, id: &str) -> EntityUid {
        Types::uid(
            if id.starts_with("res_") {
                &self.resource
            } else {
                &self.node
            },
            id,
        )
    }
}

/// One policy with the entities its scope names, for slicing.
struct Spec {
    /// The principal of the scope; `None` for policies about everyone (guardrails).
    principal: Option<EntityUid>,
    /// The node or resource of the scope.
    resource: EntityUid,
    id: String,
    text: String,
}

/// The workload as Cedar entities and policies, with the index that slices them per request.
pub struct CedarPeer {
    types: Types,
    entities: Entities,
    /// Policies by the principal and then the resource their scope names.
    by_scope: HashMap<EntityUid, HashMap<EntityUid, Vec<Policy>>>,
    /// Policies about every principal (the guardrails), by the resource their scope names.
    everyone: HashMap<EntityUid, Vec<Policy>>,
    authorizer: Authorizer,
    policies: usize,
}

impl CedarPeer {
    /// Builds the Cedar model of `model` as it stands at `now` for the default request context.
    pub fn build(model: &OrgModel, now: Timestamp) -> Result<CedarPeer, CedarError> {
        let types = Types::new()?;
        let actions = semantics::actions(model);
        let roles = semantics::role_actions(model, &actions);
        let guards = semantics::guards_by_node(model, &actions);
        let groups = semantics::groups_of(model);
        let entities = Entities::from_entities(
            subject_entities(model, &types, &groups)
                .chain(tree_entities(model, &types))
                .chain(action_entities(&types, &actions, &roles, &guards)),
            None,
        )
        .map_err(err)?;
        let mut peer = CedarPeer {
            types,
            entities,
            by_scope: HashMap::new(),
            everyone: HashMap::new(),
            authorizer: Authorizer::new(),
            policies: 0,
        };
        let specs = binding_policies(model, now, &peer.types, &roles, &groups)
            .into_iter()
            .chain(
                guards
                    .iter()
                    .flat_map(|(node, guard)| guard_policies(&peer.types, node.as_str(), guard)),
            );
        for spec in specs {
            let policy = Policy::parse(Some(PolicyId::new(&spec.id)), &spec.text).map_err(err)?;
            let slot = match spec.principal {
                Some(p) => peer
                    .by_scope
                    .entry(p)
                    .or_default()
                    .entry(spec.resource)
                    .or_default(),
                None => peer.everyone.entry(spec.resource).or_default(),
            };
            slot.push(policy);
            peer.policies += 1;
        }
        Ok(peer)
    }

    /// The policies that can apply to a request: those whose principal is the subject or one of
    /// its groups and whose resource is the target or one of its ancestors, and the guardrails of
    /// the target's ancestors.
    fn slice(&self, principal: &EntityUid, target: &EntityUid) -> Result<PolicySet, String> {
        let scopes: Vec<&EntityUid> = std::iter::once(target)
            .chain(self.entities.ancestors(target).into_iter().flatten())
            .collect();
        let principals = std::iter::once(principal)
            .chain(self.entities.ancestors(principal).into_iter().flatten());
        let mut set = PolicySet::new();
        let mut add = |policies: Option<&Vec<Policy>>| {
            policies
                .into_iter()
                .flatten()
                .try_for_each(|p| set.add(p.clone()).map_err(|e| e.to_string()))
        };
        for p in principals {
            if let Some(by_resource) = self.by_scope.get(p) {
                for s in &scopes {
                    add(by_resource.get(*s))?;
                }
            }
        }
        for s in &scopes {
            add(self.everyone.get(*s))?;
        }
        Ok(set)
    }
}

impl Peer for CedarPeer {
    fn check(&self, principal: &str, action: &str, target: &str) -> Result<bool, String> {
        let principal = Types::uid(&self.types.user, principal);
        let target = self.types.target(target);
        let set = self.slice(&principal, &target)?;
        let action = Types::uid(&self.types.action, action);
        let request = Request::new(principal, action, target, Context::empty(), None)
            .map_err(|e| e.to_string())?;
        let response = self
            .authorizer
            .is_authorized(&request, &set, &self.entities);
        Ok(response.decision() == Decision::Allow)
    }

    fn engine(&self) -> &'static str {
        "cedar-policy 4.14 (default features off)"
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
                       Cedar could express them with `when { context.now < … }` and ip-range \
                       clauses (its datetime and ipaddr extensions, left off in this build), which \
                       this model does not generate (the workload has none)",
            },
            NotExpressed {
                feature: "manual exclude of group members, nested groups",
                affected_share: exposure.excludes,
                note: "Cedar's `in` follows every parent edge, so the application resolves membership \
                       (excludes applied) and gives each user its effective groups as parents",
            },
            NotExpressed {
                feature: "disabled subjects",
                affected_share: exposure.disabled,
                note: "left out by the application: no parents, no policies",
            },
        ]
    }
}

/// Enabled subjects (users and service accounts, both `User`) with their groups as parents, and
/// the groups.
fn subject_entities<'a>(
    model: &'a OrgModel,
    t: &'a Types,
    groups: &'a BTreeMap<PrincipalId, Vec<PrincipalId>>,
) -> impl Iterator<Item = Entity> + 'a {
    let subjects = groups.iter().map(|(s, gs)| {
        let parents = gs
            .iter()
            .map(|g| Types::uid(&t.group, g.as_str()))
            .collect();
        Entity::new_no_attrs(Types::uid(&t.user, s.as_str()), parents)
    });
    let groups = model
        .groups
        .keys()
        .map(|g| Entity::new_no_attrs(Types::uid(&t.group, g.as_str()), HashSet::new()));
    subjects.chain(groups)
}

/// The organisation, nodes (with their parent) and resources (with their home and linked projects).
fn tree_entities<'a>(model: &'a OrgModel, t: &'a Types) -> impl Iterator<Item = Entity> + 'a {
    let root = Entity::new_no_attrs(Types::uid(&t.node, model.org.id.as_str()), HashSet::new());
    let nodes = model.nodes.values().map(|n| {
        let parent = HashSet::from([Types::uid(&t.node, n.parent.as_str())]);
        Entity::new_no_attrs(Types::uid(&t.node, n.id.as_str()), parent)
    });
    let resources = model.resources.values().map(|r| {
        let parents = std::iter::once(&r.home)
            .chain(&r.links)
            .map(|n| Types::uid(&t.node, n.as_str()))
            .collect();
        Entity::new_no_attrs(Types::uid(&t.resource, r.id.as_str()), parents)
    });
    std::iter::once(root).chain(nodes).chain(resources)
}

/// Every catalog action, with the action groups that contain it as parents, and the groups.
fn action_entities(
    t: &Types,
    actions: &[ActionInfo],
    roles: &BTreeMap<RoleId, RoleActions>,
    guards: &BTreeMap<NodeId, NodeGuard>,
) -> Vec<Entity> {
    let mut groups: BTreeMap<String, &[String]> = BTreeMap::new();
    for (role, acts) in roles {
        groups.insert(format!("{role}/allow"), &acts.allow);
        groups.insert(format!("{role}/deny"), &acts.deny);
    }
    for (node, guard) in guards {
        if let Some(allowed) = &guard.allow_list {
            groups.insert(format!("guard/{node}/allowed"), allowed);
        }
        groups.insert(format!("guard/{node}/denied"), &guard.deny);
    }
    let members = actions.iter().map(|a| {
        let parents = groups
            .iter()
            .filter(|(_, list)| list.contains(&a.name))
            .map(|(g, _)| Types::uid(&t.action, g))
            .collect();
        Entity::new_no_attrs(Types::uid(&t.action, &a.name), parents)
    });
    let group_entities = groups
        .keys()
        .map(|g| Entity::new_no_attrs(Types::uid(&t.action, g), HashSet::new()));
    members.chain(group_entities).collect()
}

/// One policy per binding and effect. Bindings that do not apply at `now` in the default
/// context, and those of disabled subjects, are left out.
fn binding_policies(
    model: &OrgModel,
    now: Timestamp,
    t: &Types,
    roles: &BTreeMap<RoleId, RoleActions>,
    groups: &BTreeMap<PrincipalId, Vec<PrincipalId>>,
) -> Vec<Spec> {
    let mut out = Vec::new();
    for b in model
        .bindings
        .values()
        .filter(|b| semantics::applies_statically(b, now))
    {
        let p = b.principal.as_str();
        let (principal_uid, principal) = if b.principal.kind() == PrincipalKind::Group {
            (
                Types::uid(&t.group, p),
                format!("principal in Group::\"{p}\""),
            )
        } else if groups.contains_key(&b.principal) {
            (
                Types::uid(&t.user, p),
                format!("principal == User::\"{p}\""),
            )
        } else {
            continue; // a disabled subject
        };
        let (resource_uid, resource) = match &b.scope {
            Scope::Node(n) => (
                Types::uid(&t.node, n.as_str()),
                format!("resource in Node::\"{n}\""),
            ),
            Scope::Resource(r) => (
                Types::uid(&t.resource, r.as_str()),
                format!("resource == Resource::\"{r}\""),
            ),
        };
        let Some(role) = roles.get(&b.role) else {
            continue;
        };
        for (effect, group, list) in [
            ("permit", "allow", &role.allow),
            ("forbid", "deny", &role.deny),
        ] {
            if !list.is_empty() {
                out.push(Spec {
                    principal: Some(principal_uid.clone()),
                    resource: resource_uid.clone(),
                    id: format!("{}/{effect}", b.id),
                    text: format!(
                        "{effect} ({principal}, action in Action::\"{}/{group}\", {resource});",
                        b.role
                    ),
                });
            }
        }
    }
    out
}

/// The guardrails of one node: a `forbid … unless { action in allowed }` for the allow-lists
/// and a `forbid` of the denied actions, both only strictly inside the node.
fn guard_policies(t: &Types, node: &str, guard: &NodeGuard) -> Vec<Spec> {
    let inside = format!("when {{ resource != Node::\"{node}\" }}");
    let mut out = Vec::new();
    if let Some(allowed) = &guard.allow_list {
        let unless = if allowed.is_empty() {
            String::new()
        } else {
            format!(" unless {{ action in Action::\"guard/{node}/allowed\" }}")
        };
        out.push(Spec {
            principal: None,
            resource: Types::uid(&t.node, node),
            id: format!("guard/{node}/allow-list"),
            text: format!(
                "forbid (principal, action, resource in Node::\"{node}\") {inside}{unless};"
            ),
        });
    }
    if !guard.deny.is_empty() {
        out.push(Spec {
            principal: None,
            resource: Types::uid(&t.node, node),
            id: format!("guard/{node}/deny"),
            text: format!(
                "forbid (principal, action in Action::\"guard/{node}/denied\", resource in Node::\"{node}\") {inside};"
            ),
        });
    }
    out
}
