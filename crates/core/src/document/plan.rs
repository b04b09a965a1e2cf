//! The semantic diff of two documents, and the commands that turn a live organisation into a
//! document. Objects are matched by reference only: without IDs a renamed or moved object is
//! the old one removed and a new one added.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{BindingKey, Document, DocumentError, Entries, Portable, Problem, RelPath};
use super::{path_text, principal_text};
use crate::action::Catalog;
use crate::command::{Command, MemberEntries, MemberEntry, NamedRef, PrincipalRef, TargetRef};
use crate::ids::{BindingId, PrincipalId};
use crate::model::{OrgModel, PrincipalKind};
use crate::name::Name;

/// Added, changed or removed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Only in the new document.
    Add,
    /// In both, with different facts.
    Change,
    /// Only in the old document.
    Remove,
}

/// The kinds of object a document holds, in the order a reader meets them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The authentication policy.
    Policy,
    /// The catalog.
    Catalog,
    /// A folder or project.
    Node,
    /// A resource.
    Resource,
    /// A user.
    User,
    /// A service account.
    ServiceAccount,
    /// A group.
    Group,
    /// A member's entries in a group.
    Member,
    /// A custom role.
    Role,
    /// A binding.
    Binding,
    /// A guardrail.
    Guardrail,
}

/// One object added, changed or removed.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Change {
    /// What happens to it.
    pub op: Op,
    /// Its kind.
    pub kind: ChangeKind,
    /// The object by reference (a path, `user:alice`, a name; for a member
    /// `group:ops ∋ user:alice`; for a binding its principal, role, scope and conditions).
    pub object: String,
    /// For a change: the facts that differ.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// The commands that turn a live organisation into a document, and the semantic diff they
/// come from.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Plan {
    /// The semantic diff, by phase (see [`plan`]).
    pub changes: Vec<Change>,
    /// The commands, in an order where each resolves.
    pub commands: Vec<Command>,
    /// For each command, the index of the change it belongs to.
    pub origins: Vec<usize>,
}

/// The phases of a plan, in order. Removals run in reverse dependency order, additions parents
/// first; the catalog grows before anything and shrinks after everything, so that no resource
/// type or statement is left without its catalog entry in between. Guardrails cap
/// administrators too (`iam.*` writes inside their node included): the ones to remove go first
/// (the highest first, as each is managed under those above it), the ones to create or change
/// last (the deepest first), so that a whole organisation can be built under them.
#[derive(Clone, Copy)]
enum Phase {
    CatalogUnion,
    RemoveGuardrails,
    RemoveBindings,
    RemoveMembers,
    RemoveRoles,
    RemovePrincipals,
    Unlink,
    RemoveResources,
    RemoveNodes,
    AddNodes,
    AddResources,
    Link,
    Principals,
    Members,
    Roles,
    AddBindings,
    Policy,
    Guardrails,
    CatalogFinal,
}

const PHASES: usize = Phase::CatalogFinal as usize + 1;

struct Builder<'a> {
    org: &'a Name,
    ids: &'a BTreeMap<BindingKey, Vec<BindingId>>,
    changes: Vec<Change>,
    phases: [Vec<(Command, usize)>; PHASES],
}

impl Builder<'_> {
    fn change(&mut self, op: Op, kind: ChangeKind, object: String, fields: Vec<String>) -> usize {
        self.changes.push(Change {
            op,
            kind,
            object,
            fields,
        });
        self.changes.len() - 1
    }

    fn push(&mut self, phase: Phase, command: Command, origin: usize) {
        self.phases[phase as usize].push((command, origin));
    }

    fn target(&self, rel: &[Name]) -> TargetRef {
        let mut p = Vec::with_capacity(rel.len() + 1);
        p.push(self.org.clone());
        p.extend(rel.iter().cloned());
        TargetRef::Path(p)
    }

    fn path(&self, rel: &[Name]) -> String {
        path_text(self.org, rel)
    }
}

/// The semantic diff of `from` → `to`: what is added, changed and removed, by kind.
pub fn diff(from: &Portable, to: &Portable) -> Vec<Change> {
    build(from, to, &BTreeMap::new()).changes
}

/// The commands that make `live` what `desired` says, as one change: the semantic diff and
/// the commands that carry it out, in phases (see the module). `caller` is the user who will
/// apply it: a document that removes them is refused, so that nobody deletes themself by
/// forgetting a line (the no-lockout invariant still guards the last administrator).
pub fn plan(
    live: &OrgModel,
    desired: &Document,
    caller: Option<&PrincipalId>,
) -> Result<Plan, DocumentError> {
    let exported = Document::of(live);
    let from = Portable::of(&exported)?;
    let to = Portable::of(desired)?;
    if let Some(user) = caller.and_then(|c| live.users.get(c))
        && !to.users.contains_key(&user.username)
    {
        return Err(DocumentError::new(
            "users",
            format!("user:{}", user.username),
            Problem::RemovesCaller,
        ));
    }
    let mut ids: BTreeMap<BindingKey, Vec<BindingId>> = BTreeMap::new();
    for (key, id) in binding_keys(live) {
        ids.entry(key).or_default().push(id);
    }
    Ok(build(&from, &to, &ids))
}

/// Each live binding's key, as [`Portable::of`] computes it from the export.
fn binding_keys(live: &OrgModel) -> Vec<(BindingKey, BindingId)> {
    let paths = super::node_paths(live);
    let rel_of_node = |id: &crate::ids::NodeId| paths.get(id).cloned().unwrap_or_default();
    live.bindings
        .values()
        .filter_map(|b| {
            let scope = match &b.scope {
                crate::model::Scope::Node(n) => rel_of_node(n),
                crate::model::Scope::Resource(r) => {
                    let r = live.resources.get(r)?;
                    let mut p = rel_of_node(&r.home);
                    p.push(r.name.clone());
                    p
                }
            };
            let subject = if let Some(u) = live.users.get(&b.principal) {
                (PrincipalKind::User, u.username.clone())
            } else if let Some(s) = live.service_accounts.get(&b.principal) {
                (PrincipalKind::ServiceAccount, s.name.clone())
            } else {
                (
                    PrincipalKind::Group,
                    live.groups.get(&b.principal)?.name.clone(),
                )
            };
            let key = BindingKey {
                scope,
                subject,
                role: live.role(&b.role)?.name.clone(),
                expires_at: b.expires_at,
                conditions: b.conditions.clone(),
            };
            Some((key, b.id.clone()))
        })
        .collect()
}

fn build(from: &Portable, to: &Portable, ids: &BTreeMap<BindingKey, Vec<BindingId>>) -> Plan {
    let mut b = Builder {
        org: &from.org,
        ids,
        changes: Vec::new(),
        phases: Default::default(),
    };
    catalog(&mut b, from, to);
    if from.policy != to.policy {
        let at = b.change(Op::Change, ChangeKind::Policy, "policy".into(), vec![]);
        let mut policy = to.policy.clone();
        // The stored secret is kept: the document never carries it.
        policy.notifications.webhook_secret_set = from.policy.notifications.webhook_secret_set;
        b.push(
            Phase::Policy,
            Command::UpdateOrg {
                limits: None,
                policy: Some(policy),
            },
            at,
        );
    }
    nodes(&mut b, from, to);
    resources(&mut b, from, to);
    principals(&mut b, from, to);
    members(&mut b, from, to);
    roles(&mut b, from, to);
    guardrails(&mut b, from, to);
    bindings(&mut b, from, to);
    let Builder {
        changes, phases, ..
    } = b;
    let mut plan = Plan {
        changes,
        ..Plan::default()
    };
    for (command, origin) in phases.into_iter().flatten() {
        plan.commands.push(command);
        plan.origins.push(origin);
    }
    plan
}

fn catalog(b: &mut Builder, from: &Portable, to: &Portable) {
    if from.catalog == to.catalog {
        return;
    }
    let mut union = from.catalog.clone();
    for (ty, actions) in &to.catalog.types {
        let entry = union.types.entry(ty.clone()).or_default();
        for (a, c) in actions {
            entry.insert(a.clone(), *c);
        }
    }
    let types: Vec<String> = from
        .catalog
        .types
        .keys()
        .chain(to.catalog.types.keys())
        .filter(|t| from.catalog.types.get(*t) != to.catalog.types.get(*t))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let at = b.change(Op::Change, ChangeKind::Catalog, "catalog".into(), types);
    if union != from.catalog {
        b.push(
            Phase::CatalogUnion,
            Command::PutCatalog {
                catalog: union.clone(),
            },
            at,
        );
    }
    if union != to.catalog {
        b.push(
            Phase::CatalogFinal,
            Command::PutCatalog {
                catalog: Catalog {
                    types: to.catalog.types.clone(),
                },
            },
            at,
        );
    }
}

fn nodes(b: &mut Builder, from: &Portable, to: &Portable) {
    let mut gone: Vec<&RelPath> = from
        .nodes
        .iter()
        .filter(|(p, k)| to.nodes.get(*p) != Some(k))
        .map(|(p, _)| p)
        .collect();
    // Deepest first: children go before their parents.
    gone.sort_by(|x, y| y.len().cmp(&x.len()).then_with(|| y.cmp(x)));
    for p in gone {
        let at = b.change(Op::Remove, ChangeKind::Node, b.path(p), vec![]);
        let node = b.target(p);
        b.push(
            Phase::RemoveNodes,
            Command::DeleteNode {
                node,
                cascade: false,
            },
            at,
        );
    }
    // A BTreeMap of paths lists every parent before its children.
    for (p, kind) in &to.nodes {
        if from.nodes.get(p) == Some(kind) {
            continue;
        }
        let Some((name, parent)) = p.split_last() else {
            continue;
        };
        let at = b.change(Op::Add, ChangeKind::Node, b.path(p), vec![]);
        let parent = b.target(parent);
        b.push(
            Phase::AddNodes,
            Command::CreateNode {
                kind: *kind,
                name: name.clone(),
                parent,
            },
            at,
        );
    }
}

fn resources(b: &mut Builder, from: &Portable, to: &Portable) {
    for (p, old) in &from.resources {
        let same_type = to.resources.get(p).map(|n| &n.type_name) == Some(&old.type_name);
        if !same_type {
            let at = b.change(Op::Remove, ChangeKind::Resource, b.path(p), vec![]);
            let resource = b.target(p);
            b.push(
                Phase::RemoveResources,
                Command::DeleteResource {
                    resource,
                    cascade: false,
                },
                at,
            );
        }
    }
    for (p, new) in &to.resources {
        let Some((name, parent)) = p.split_last() else {
            continue;
        };
        match from.resources.get(p) {
            Some(old) if old.type_name == new.type_name => {
                if old == new {
                    continue;
                }
                let mut fields = Vec::new();
                if old.links != new.links {
                    fields.push("links".to_string());
                }
                if old.attributes != new.attributes {
                    fields.push("attributes".to_string());
                }
                let at = b.change(Op::Change, ChangeKind::Resource, b.path(p), fields);
                for l in old.links.difference(&new.links) {
                    let (resource, project) = (b.target(p), b.target(l));
                    b.push(
                        Phase::Unlink,
                        Command::UnlinkResource { resource, project },
                        at,
                    );
                }
                for l in new.links.difference(&old.links) {
                    let (resource, project) = (b.target(p), b.target(l));
                    b.push(Phase::Link, Command::LinkResource { resource, project }, at);
                }
                if old.attributes != new.attributes {
                    let resource = b.target(p);
                    b.push(
                        Phase::AddResources,
                        Command::UpdateResource {
                            resource,
                            name: None,
                            parent: None,
                            attributes: Some(new.attributes.clone()),
                        },
                        at,
                    );
                }
            }
            _ => {
                let at = b.change(Op::Add, ChangeKind::Resource, b.path(p), vec![]);
                let parent = b.target(parent);
                let links = new.links.iter().map(|l| b.target(l)).collect();
                b.push(
                    Phase::AddResources,
                    Command::CreateResource {
                        type_name: new.type_name.clone(),
                        name: name.clone(),
                        parent,
                        links,
                        attributes: new.attributes.clone(),
                    },
                    at,
                );
            }
        }
    }
}

fn principals(b: &mut Builder, from: &Portable, to: &Portable) {
    let user = |n: &Name| PrincipalRef::Named(PrincipalKind::User, n.clone());
    for name in from.users.keys().filter(|n| !to.users.contains_key(*n)) {
        let at = b.change(Op::Remove, ChangeKind::User, format!("user:{name}"), vec![]);
        b.push(
            Phase::RemovePrincipals,
            Command::DeleteUser {
                user: user(name),
                cascade: true,
            },
            at,
        );
    }
    for (name, new) in &to.users {
        match from.users.get(name) {
            None => {
                let at = b.change(Op::Add, ChangeKind::User, format!("user:{name}"), vec![]);
                b.push(
                    Phase::Principals,
                    Command::CreateUser {
                        username: name.clone(),
                        email: new.email.clone(),
                        display_name: new.display_name.clone(),
                        password: false,
                    },
                    at,
                );
                if !new.enabled || new.break_glass {
                    b.push(Phase::Principals, update_user(user(name), None, new), at);
                }
            }
            Some(old) if old != new => {
                let fields = [
                    ("email", old.email != new.email),
                    ("display_name", old.display_name != new.display_name),
                    ("enabled", old.enabled != new.enabled),
                    ("break_glass", old.break_glass != new.break_glass),
                ]
                .iter()
                .filter(|(_, d)| *d)
                .map(|(f, _)| f.to_string())
                .collect();
                let at = b.change(Op::Change, ChangeKind::User, format!("user:{name}"), fields);
                b.push(
                    Phase::Principals,
                    update_user(user(name), Some(old), new),
                    at,
                );
            }
            Some(_) => {}
        }
    }
    let sa = |n: &Name| PrincipalRef::Named(PrincipalKind::ServiceAccount, n.clone());
    for name in from.service_accounts.keys() {
        if !to.service_accounts.contains_key(name) {
            let at = b.change(
                Op::Remove,
                ChangeKind::ServiceAccount,
                format!("sa:{name}"),
                vec![],
            );
            b.push(
                Phase::RemovePrincipals,
                Command::DeleteServiceAccount {
                    service_account: sa(name),
                    cascade: true,
                },
                at,
            );
        }
    }
    for (name, enabled) in &to.service_accounts {
        let old = from.service_accounts.get(name);
        if old == Some(enabled) {
            continue;
        }
        let (op, fields) = match old {
            None => (Op::Add, vec![]),
            Some(_) => (Op::Change, vec!["enabled".to_string()]),
        };
        let at = b.change(op, ChangeKind::ServiceAccount, format!("sa:{name}"), fields);
        if old.is_none() {
            b.push(
                Phase::Principals,
                Command::CreateServiceAccount { name: name.clone() },
                at,
            );
        }
        if old.is_some() || !enabled {
            b.push(
                Phase::Principals,
                Command::UpdateServiceAccount {
                    service_account: sa(name),
                    enabled: Some(*enabled),
                },
                at,
            );
        }
    }
    let group = |n: &Name| PrincipalRef::Named(PrincipalKind::Group, n.clone());
    for name in from.groups.difference(&to.groups) {
        let at = b.change(
            Op::Remove,
            ChangeKind::Group,
            format!("group:{name}"),
            vec![],
        );
        b.push(
            Phase::RemovePrincipals,
            Command::DeleteGroup {
                group: group(name),
                cascade: false,
            },
            at,
        );
    }
    for name in to.groups.difference(&from.groups) {
        let at = b.change(Op::Add, ChangeKind::Group, format!("group:{name}"), vec![]);
        b.push(
            Phase::Principals,
            Command::CreateGroup { name: name.clone() },
            at,
        );
    }
}

/// The update that makes a user's facts `new` (only what differs from `old`, if it exists).
fn update_user(
    user: PrincipalRef,
    old: Option<&super::UserFacts>,
    new: &super::UserFacts,
) -> Command {
    let differs = |f: fn(&super::UserFacts) -> bool| old.is_none_or(|o| f(o) != f(new));
    Command::UpdateUser {
        user,
        username: None,
        email: old
            .filter(|o| o.email != new.email)
            .map(|_| new.email.clone()),
        display_name: old
            .filter(|o| o.display_name != new.display_name)
            .map(|_| new.display_name.clone()),
        enabled: differs(|u| u.enabled).then_some(new.enabled),
        break_glass: differs(|u| u.break_glass).then_some(new.break_glass),
    }
}

fn members(b: &mut Builder, from: &Portable, to: &Portable) {
    let empty = Entries::default();
    let keys: std::collections::BTreeSet<&(Name, super::PrincipalKey)> =
        from.members.keys().chain(to.members.keys()).collect();
    for key in keys {
        let (old, new) = (from.members.get(key), to.members.get(key));
        if old == new {
            continue;
        }
        let (g, m) = key;
        let object = format!("group:{g} ∋ {}", principal_text(m));
        let group = PrincipalRef::Named(PrincipalKind::Group, g.clone());
        let member = PrincipalRef::Named(m.0, m.1.clone());
        let remove = |entries| Command::RemoveMember {
            group: group.clone(),
            member: member.clone(),
            entries,
        };
        let put = |entry| Command::PutMember {
            group: group.clone(),
            member: member.clone(),
            entry,
        };
        let Some(new) = new else {
            let at = b.change(Op::Remove, ChangeKind::Member, object, vec![]);
            b.push(Phase::RemoveMembers, remove(MemberEntries::All), at);
            continue;
        };
        let (op, old) = match old {
            None => (Op::Add, &empty),
            Some(o) => (Op::Change, o),
        };
        let mut fields = Vec::new();
        if op == Op::Change && old.manual != new.manual {
            fields.push("manual".to_string());
        }
        if op == Op::Change && old.mapped != new.mapped {
            fields.push("mapped".to_string());
        }
        let at = b.change(op, ChangeKind::Member, object, fields);
        if old.manual.is_some() && new.manual.is_none() {
            b.push(Phase::RemoveMembers, remove(MemberEntries::Manual), at);
        }
        for s in old.mapped.difference(&new.mapped) {
            b.push(
                Phase::RemoveMembers,
                remove(MemberEntries::Source(s.clone())),
                at,
            );
        }
        if let Some(mode) = new.manual.filter(|m| old.manual != Some(*m)) {
            b.push(Phase::Members, put(MemberEntry::Manual(mode)), at);
        }
        for s in new.mapped.difference(&old.mapped) {
            b.push(Phase::Members, put(MemberEntry::Mapped(s.clone())), at);
        }
    }
}

fn roles(b: &mut Builder, from: &Portable, to: &Portable) {
    for name in from.roles.keys().filter(|n| !to.roles.contains_key(*n)) {
        let at = b.change(Op::Remove, ChangeKind::Role, name.to_string(), vec![]);
        b.push(
            Phase::RemoveRoles,
            Command::DeleteRole {
                role: NamedRef::Name(name.clone()),
                cascade: false,
            },
            at,
        );
    }
    for (name, statements) in &to.roles {
        let command = match from.roles.get(name) {
            Some(old) if old == statements => continue,
            Some(_) => {
                let at = b.change(
                    Op::Change,
                    ChangeKind::Role,
                    name.to_string(),
                    vec!["statements".into()],
                );
                (
                    Command::UpdateRole {
                        role: NamedRef::Name(name.clone()),
                        statements: statements.clone(),
                    },
                    at,
                )
            }
            None => {
                let at = b.change(Op::Add, ChangeKind::Role, name.to_string(), vec![]);
                (
                    Command::CreateRole {
                        name: name.clone(),
                        statements: statements.clone(),
                    },
                    at,
                )
            }
        };
        b.push(Phase::Roles, command.0, command.1);
    }
}

fn guardrails(b: &mut Builder, from: &Portable, to: &Portable) {
    // Guardrails do not move: another node is the old one removed and a new one added.
    let mut gone: Vec<(&Name, &RelPath)> = from
        .guardrails
        .iter()
        .filter(|(name, (node, _))| to.guardrails.get(*name).is_none_or(|(n, _)| n != node))
        .map(|(name, (node, _))| (name, node))
        .collect();
    gone.sort_by_key(|(_, node)| node.len());
    for (name, _) in gone {
        let at = b.change(Op::Remove, ChangeKind::Guardrail, name.to_string(), vec![]);
        b.push(
            Phase::RemoveGuardrails,
            Command::DeleteGuardrail {
                guardrail: NamedRef::Name(name.clone()),
            },
            at,
        );
    }
    let mut wanted: Vec<(&Name, &(RelPath, Vec<crate::action::Statement>))> =
        to.guardrails.iter().collect();
    wanted.sort_by_key(|(_, (node, _))| std::cmp::Reverse(node.len()));
    for (name, (node, statements)) in wanted {
        match from.guardrails.get(name) {
            Some((n, s)) if n == node && s == statements => {}
            Some((n, _)) if n == node => {
                let at = b.change(
                    Op::Change,
                    ChangeKind::Guardrail,
                    name.to_string(),
                    vec!["statements".into()],
                );
                b.push(
                    Phase::Guardrails,
                    Command::UpdateGuardrail {
                        guardrail: NamedRef::Name(name.clone()),
                        statements: statements.clone(),
                    },
                    at,
                );
            }
            _ => {
                let at = b.change(Op::Add, ChangeKind::Guardrail, name.to_string(), vec![]);
                let node = b.target(node);
                b.push(
                    Phase::Guardrails,
                    Command::CreateGuardrail {
                        name: name.clone(),
                        node,
                        statements: statements.clone(),
                    },
                    at,
                );
            }
        }
    }
}

/// `group:ops operator @ acme/eng (mfa, 10.0.0.0/8, until 2027-01-01T00:00:00Z)`.
pub(crate) fn binding_text(org: &Name, key: &BindingKey) -> String {
    let mut s = format!(
        "{} {} @ {}",
        principal_text(&key.subject),
        key.role,
        path_text(org, &key.scope)
    );
    let mut extra: Vec<String> = Vec::new();
    if key.conditions.mfa {
        extra.push("mfa".into());
    }
    extra.extend(key.conditions.source_cidrs.iter().map(|c| c.to_string()));
    if let Some(t) = key.expires_at {
        extra.push(format!("until {t}"));
    }
    if !extra.is_empty() {
        s.push_str(&format!(" ({})", extra.join(", ")));
    }
    s
}

fn bindings(b: &mut Builder, from: &Portable, to: &Portable) {
    for (key, &count) in &from.bindings {
        let keep = to.bindings.get(key).copied().unwrap_or(0);
        let ids: Vec<BindingId> = b.ids.get(key).cloned().unwrap_or_default();
        for i in keep..count {
            let at = b.change(
                Op::Remove,
                ChangeKind::Binding,
                binding_text(b.org, key),
                vec![],
            );
            // Offline (two documents) there are no IDs: the diff alone is wanted.
            if let Some(binding) = ids.get(i).cloned() {
                b.push(
                    Phase::RemoveBindings,
                    Command::DeleteBinding { binding },
                    at,
                );
            }
        }
    }
    for (key, &count) in &to.bindings {
        let have = from.bindings.get(key).copied().unwrap_or(0);
        for _ in have..count {
            let at = b.change(
                Op::Add,
                ChangeKind::Binding,
                binding_text(b.org, key),
                vec![],
            );
            let scope = b.target(&key.scope);
            b.push(
                Phase::AddBindings,
                Command::CreateBinding {
                    principal: PrincipalRef::Named(key.subject.0, key.subject.1.clone()),
                    role: NamedRef::Name(key.role.clone()),
                    scope,
                    expires_at: key.expires_at,
                    conditions: key.conditions.clone(),
                },
                at,
            );
        }
    }
}
