//! Random small organisations and command lists for the reference properties.
//!
//! Everything is first drawn as a plain "spec" of choices (indices taken modulo whatever exists
//! when the model is built, so that shrinking — which removes nodes, principals, bindings — never
//! makes a spec invalid), then built into an [`OrgModel`]. A [`World`] prints as a compact,
//! readable description of its model, which is what a failing case shows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use proptest::prelude::*;
use proptest::sample::{Index, subsequence};

use canopy_core::action::{ActionClass, ActionPattern, Catalog, Effect, Statement};
use canopy_core::command::{
    Command, MemberEntries, MemberEntry, NamedRef, PrincipalRef, TargetRef,
};
use canopy_core::ids::{BindingId, GuardrailId, NodeId, PrincipalId, ResourceId, RoleId};
use canopy_core::model::{
    Binding, Conditions, Credentials, Group, Guardrail, Limits, ManualMode, Membership, Node,
    NodeKind, Org, OrgModel, Policy, RequestContext, Resource, Role, Scope, ServiceAccount, User,
};
use canopy_core::name::Name;
use canopy_core::time::Timestamp;

/// The time every question is asked at.
pub const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

/// The actor of commands: bound to the system `admin` role at the root, in no group.
pub const ADMIN: &str = "usr_admin";

/// Patterns used by roles and guardrails.
const PATTERNS: &[&str] = &[
    "vm.*",
    "disk.*",
    "*.read",
    "*",
    "iam.*",
    "iam.node.*",
    "*.*.read",
    "*.*.create",
    "vm.power",
    "vm.read",
    "vm.snapshot.create",
    "disk.resize",
    "disk.read",
    "iam.binding.write",
    "iam.node.read",
    "vm.*.create",
];

// ----- small helpers -----

fn name(s: &str) -> Name {
    Name::parse(s).unwrap_or_else(|e| panic!("bad name {s}: {e:?}"))
}
fn node_id(s: &str) -> NodeId {
    NodeId::parse(s).unwrap_or_else(|| panic!("bad node id {s}"))
}
fn principal_id(s: &str) -> PrincipalId {
    PrincipalId::parse(s).unwrap_or_else(|| panic!("bad principal id {s}"))
}
fn pattern(s: &str) -> ActionPattern {
    ActionPattern::parse(s).unwrap_or_else(|| panic!("bad pattern {s}"))
}
fn pick<T: Clone>(items: &[T], ix: &Index) -> Option<T> {
    (!items.is_empty()).then(|| items[ix.index(items.len())].clone())
}

/// `{"source_cidrs": [...]}` without depending on `ipnet` directly.
fn conditions(mfa: bool, cidrs: &[&str]) -> Conditions {
    let json = serde_json::json!({ "mfa": mfa, "source_cidrs": cidrs });
    serde_json::from_value(json).unwrap_or_else(|e| panic!("bad conditions: {e}"))
}

/// The request contexts every check is asked in.
pub fn contexts() -> Vec<RequestContext> {
    let ips: [Option<IpAddr>; 4] = [
        None,
        Some("10.1.2.3".parse().unwrap()),
        Some("::ffff:10.1.2.3".parse().unwrap()),
        Some("192.168.1.1".parse().unwrap()),
    ];
    let mut out = Vec::new();
    for mfa in [false, true] {
        for ip in ips {
            out.push(RequestContext { mfa, source_ip: ip });
        }
    }
    out
}

// ----- specs -----

/// One statement: effect, patterns, classes (never both empty).
#[derive(Clone, Debug)]
pub struct StmtSpec {
    deny: bool,
    patterns: Vec<&'static str>,
    classes: Vec<ActionClass>,
}

impl StmtSpec {
    fn build(&self) -> Statement {
        let mut actions: Vec<ActionPattern> = self.patterns.iter().map(|p| pattern(p)).collect();
        if actions.is_empty() && self.classes.is_empty() {
            actions.push(pattern("vm.*"));
        }
        Statement {
            effect: if self.deny {
                Effect::Deny
            } else {
                Effect::Allow
            },
            actions,
            classes: self.classes.clone(),
        }
    }
}

fn stmt(deny_weight: u32) -> impl Strategy<Value = StmtSpec> {
    (
        prop::bool::weighted(f64::from(deny_weight) / 100.0),
        subsequence(PATTERNS.to_vec(), 0..=2),
        subsequence(ActionClass::ALL.to_vec(), 0..=2),
        any::<bool>(),
    )
        .prop_map(|(deny, patterns, classes, keep_classes)| StmtSpec {
            deny,
            // Most statements use patterns only; some use classes too.
            classes: if keep_classes || patterns.is_empty() {
                classes
            } else {
                Vec::new()
            },
            patterns,
        })
}

fn stmts(deny_weight: u32) -> impl Strategy<Value = Vec<StmtSpec>> {
    prop::collection::vec(stmt(deny_weight), 1..=3)
}

/// A binding's choices.
#[derive(Clone, Debug)]
pub struct BindingSpec {
    principal: Index,
    role: Index,
    scope: Index,
    expiry: u8,
    conditions: u8,
}

fn expiry(code: u8) -> Option<Timestamp> {
    match code {
        1 => Some(NOW.plus_millis(-1000)),
        2 => Some(NOW),
        3 => Some(NOW.plus_millis(1)),
        4 => Some(NOW.plus_millis(3_600_000)),
        _ => None,
    }
}

fn conditions_of(code: u8) -> Conditions {
    match code {
        1 => conditions(true, &[]),
        2 => conditions(false, &["10.0.0.0/8"]),
        3 => conditions(true, &["10.0.0.0/8"]),
        4 => conditions(false, &["192.168.0.0/16"]),
        5 => conditions(false, &["10.0.0.0/8", "192.168.0.0/16"]),
        _ => Conditions::default(),
    }
}

fn expiry_code() -> impl Strategy<Value = u8> {
    prop_oneof![6 => Just(0u8), 1 => 1u8..=4]
}

fn conditions_code() -> impl Strategy<Value = u8> {
    prop_oneof![5 => Just(0u8), 2 => 1u8..=5]
}

fn binding_spec() -> impl Strategy<Value = BindingSpec> {
    (
        any::<Index>(),
        any::<Index>(),
        any::<Index>(),
        expiry_code(),
        conditions_code(),
    )
        .prop_map(|(principal, role, scope, expiry, conditions)| BindingSpec {
            principal,
            role,
            scope,
            expiry,
            conditions,
        })
}

/// All choices of one organisation.
#[derive(Clone, Debug)]
pub struct Spec {
    vm_delete: bool,
    vm_snapshot: bool,
    disk_backup: bool,
    nodes: Vec<(bool, Index)>,
    resources: Vec<(bool, Index, Vec<Index>)>,
    users: Vec<bool>,
    service_account: Option<bool>,
    groups: usize,
    memberships: Vec<(Index, Index, u8)>,
    roles: Vec<Vec<StmtSpec>>,
    bindings: Vec<BindingSpec>,
    guardrails: Vec<(Index, Vec<StmtSpec>)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    let catalog = (any::<bool>(), any::<bool>(), any::<bool>());
    let tree = (
        prop::collection::vec((prop::bool::weighted(0.4), any::<Index>()), 0..=12),
        prop::collection::vec(
            (
                any::<bool>(),
                any::<Index>(),
                prop::collection::vec(any::<Index>(), 0..=2),
            ),
            0..=12,
        ),
    );
    let principals = (
        prop::collection::vec(prop::bool::weighted(0.8), 2..=5),
        prop::option::of(prop::bool::weighted(0.8)),
        0usize..=4,
        prop::collection::vec((any::<Index>(), any::<Index>(), 0u8..5), 0..=8),
    );
    let grants = (
        prop::collection::vec(stmts(35), 0..=3),
        prop::collection::vec(binding_spec(), 0..=10),
        prop::collection::vec((any::<Index>(), stmts(50)), 0..=3),
    );
    (catalog, tree, principals, grants).prop_map(
        |(
            (vm_delete, vm_snapshot, disk_backup),
            (nodes, resources),
            (users, service_account, groups, memberships),
            (roles, bindings, guardrails),
        )| Spec {
            vm_delete,
            vm_snapshot,
            disk_backup,
            nodes,
            resources,
            users,
            service_account,
            groups,
            memberships,
            roles,
            bindings,
            guardrails,
        },
    )
}

// ----- building a model -----

fn org_id() -> NodeId {
    node_id("org_1")
}

fn catalog(spec: &Spec) -> Catalog {
    catalog_with(spec.vm_delete, spec.vm_snapshot, spec.disk_backup)
}

fn catalog_with(vm_delete: bool, vm_snapshot: bool, disk_backup: bool) -> Catalog {
    use ActionClass::*;
    let mut vm = BTreeMap::from([("power".to_string(), Operate), ("read".to_string(), Read)]);
    if vm_delete {
        vm.insert("delete".into(), Admin);
    }
    if vm_snapshot {
        vm.insert("snapshot.create".into(), Configure);
    }
    let mut disk = BTreeMap::from([
        ("read".to_string(), Read),
        ("resize".to_string(), Configure),
    ]);
    if disk_backup {
        disk.insert("backup.run".into(), Operate);
    }
    Catalog {
        types: BTreeMap::from([("vm".to_string(), vm), ("disk".to_string(), disk)]),
    }
}

/// The model a spec describes, with the admin user bound to `admin` at the root.
pub fn build(spec: &Spec) -> OrgModel {
    let t0 = Timestamp::from_millis(0);
    let root = org_id();
    let mut m = OrgModel::new(Org {
        id: root.clone(),
        name: name("acme"),
        limits: Limits::default(),
        policy: Policy::default(),
        created_at: t0,
    });
    m.catalog = catalog(spec);

    // Tree: only the org and folders hold children; depth ≤ 4.
    let mut depth: BTreeMap<NodeId, usize> = BTreeMap::from([(root.clone(), 0)]);
    let mut holders: Vec<NodeId> = vec![root.clone()];
    for (i, (project, parent)) in spec.nodes.iter().enumerate() {
        let n = i + 1;
        let parent = pick(&holders, parent).unwrap_or_else(|| root.clone());
        let kind = if *project {
            NodeKind::Project
        } else {
            NodeKind::Folder
        };
        let id = node_id(&format!("{}_{n}", kind.prefix()));
        let d = depth[&parent] + 1;
        depth.insert(id.clone(), d);
        if kind == NodeKind::Folder && d < 4 {
            holders.push(id.clone());
        }
        m.nodes.insert(
            id.clone(),
            Node {
                id,
                kind,
                name: name(&format!("n{n}")),
                parent,
                created_at: t0,
            },
        );
    }
    let all_nodes: Vec<NodeId> = std::iter::once(root.clone())
        .chain(m.nodes.keys().cloned())
        .collect();
    let projects: Vec<NodeId> = m
        .nodes
        .values()
        .filter(|n| n.kind == NodeKind::Project)
        .map(|n| n.id.clone())
        .collect();
    for (i, (vm, home, links)) in spec.resources.iter().enumerate() {
        let n = i + 1;
        let home = pick(&all_nodes, home).unwrap_or_else(|| root.clone());
        let links: BTreeSet<NodeId> = links
            .iter()
            .filter_map(|l| pick(&projects, l))
            .filter(|l| *l != home)
            .collect();
        let id = ResourceId::parse(&format!("res_{n}")).unwrap();
        m.resources.insert(
            id.clone(),
            Resource {
                id,
                type_name: if *vm { "vm" } else { "disk" }.into(),
                name: name(&format!("r{n}")),
                home,
                links,
                attributes: BTreeMap::new(),
                created_at: t0,
            },
        );
    }

    // Principals.
    let admin = principal_id(ADMIN);
    m.users.insert(
        admin.clone(),
        User {
            id: admin.clone(),
            username: name("admin"),
            email: None,
            display_name: None,
            enabled: true,
            break_glass: false,
            credentials: Credentials {
                password: true,
                ..Credentials::default()
            },
            created_at: t0,
        },
    );
    for (i, enabled) in spec.users.iter().enumerate() {
        let id = principal_id(&format!("usr_{}", i + 1));
        m.users.insert(
            id.clone(),
            User {
                id,
                username: name(&format!("u{}", i + 1)),
                email: None,
                display_name: None,
                enabled: *enabled,
                break_glass: false,
                credentials: Credentials::default(),
                created_at: t0,
            },
        );
    }
    if let Some(enabled) = spec.service_account {
        let id = principal_id("sa_1");
        m.service_accounts.insert(
            id.clone(),
            ServiceAccount {
                id,
                name: name("s1"),
                enabled,
                created_at: t0,
            },
        );
    }
    let groups: Vec<PrincipalId> = (1..=spec.groups)
        .map(|i| principal_id(&format!("grp_{i}")))
        .collect();
    for (i, g) in groups.iter().enumerate() {
        m.groups.insert(
            g.clone(),
            Group {
                id: g.clone(),
                name: name(&format!("g{}", i + 1)),
                created_at: t0,
            },
        );
    }
    let plain_subjects: Vec<PrincipalId> = m
        .users
        .keys()
        .filter(|u| u.as_str() != ADMIN)
        .chain(m.service_accounts.keys())
        .cloned()
        .collect();
    // Group i may contain subjects and groups j > i (so the group graph is acyclic).
    for (g, member, kind) in &spec.memberships {
        let Some(gi) = (!groups.is_empty()).then(|| g.index(groups.len())) else {
            continue;
        };
        let candidates: Vec<PrincipalId> = plain_subjects
            .iter()
            .chain(&groups[gi + 1..])
            .cloned()
            .collect();
        let Some(member) = pick(&candidates, member) else {
            continue;
        };
        let scim = BTreeSet::from(["scim".to_string()]);
        let (manual, mapped) = match kind {
            0 => (Some(ManualMode::Include), BTreeSet::new()),
            1 => (Some(ManualMode::Exclude), BTreeSet::new()),
            2 => (None, scim),
            3 => (Some(ManualMode::Include), scim),
            _ => (Some(ManualMode::Exclude), scim),
        };
        let group = groups[gi].clone();
        m.memberships.insert(
            (group.clone(), member.clone()),
            Membership {
                group,
                member,
                manual,
                mapped,
            },
        );
    }

    // Roles, bindings, guardrails.
    for (i, statements) in spec.roles.iter().enumerate() {
        let id = RoleId::parse(&format!("rol_{}", i + 1)).unwrap();
        m.roles.insert(
            id.clone(),
            Role {
                id,
                name: name(&format!("role{}", i + 1)),
                statements: statements.iter().map(StmtSpec::build).collect(),
                system: false,
            },
        );
    }
    let role_ids: Vec<RoleId> = m
        .roles
        .keys()
        .cloned()
        .chain(canopy_core::system_roles().iter().map(|r| r.id.clone()))
        .collect();
    let grantees: Vec<PrincipalId> = plain_subjects.iter().chain(&groups).cloned().collect();
    let scopes: Vec<Scope> = all_nodes
        .iter()
        .cloned()
        .map(Scope::Node)
        .chain(m.resources.keys().cloned().map(Scope::Resource))
        .collect();
    for (i, b) in spec.bindings.iter().enumerate() {
        let (Some(principal), Some(role), Some(scope)) = (
            pick(&grantees, &b.principal),
            pick(&role_ids, &b.role),
            pick(&scopes, &b.scope),
        ) else {
            continue;
        };
        let id = BindingId::parse(&format!("bnd_{}", i + 1)).unwrap();
        m.bindings.insert(
            id.clone(),
            Binding {
                id,
                principal,
                role,
                scope,
                expires_at: expiry(b.expiry),
                conditions: conditions_of(b.conditions),
                created_at: t0,
            },
        );
    }
    let admin_binding = BindingId::parse("bnd_admin").unwrap();
    m.bindings.insert(
        admin_binding.clone(),
        Binding {
            id: admin_binding,
            principal: admin,
            role: canopy_core::roles::admin_role_id(),
            scope: Scope::Node(root.clone()),
            expires_at: None,
            conditions: Conditions::default(),
            created_at: t0,
        },
    );
    for (i, (node, statements)) in spec.guardrails.iter().enumerate() {
        let node = pick(&all_nodes, node).unwrap_or_else(|| root.clone());
        let id = GuardrailId::parse(&format!("grd_{}", i + 1)).unwrap();
        m.guardrails.insert(
            id.clone(),
            Guardrail {
                id,
                name: name(&format!("gr{}", i + 1)),
                node,
                statements: statements.iter().map(StmtSpec::build).collect(),
            },
        );
    }
    m
}

/// A random organisation; prints as a readable description of its model.
#[derive(Clone)]
pub struct World {
    /// The model.
    pub model: OrgModel,
}

/// Random organisations.
pub fn world() -> impl Strategy<Value = World> {
    spec().prop_map(|s| World { model: build(&s) })
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&describe(&self.model))
    }
}

// ----- readable output -----

fn show_statement(st: &Statement) -> String {
    let mut parts: Vec<String> = st.actions.iter().map(|p| p.to_string()).collect();
    parts.extend(st.classes.iter().map(|c| format!("class:{c:?}")));
    let effect = match st.effect {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
    };
    format!("{effect}[{}]", parts.join(" "))
}

fn show_statements(sts: &[Statement]) -> String {
    sts.iter().map(show_statement).collect::<Vec<_>>().join(" ")
}

/// Conditions as `mfa`, `10.0.0.0/8`, joined by `+`; `-` when there are none.
pub fn show_conditions(c: &Conditions) -> String {
    let mut parts = Vec::new();
    if c.mfa {
        parts.push("mfa".to_string());
    }
    parts.extend(c.source_cidrs.iter().map(|n| n.to_string()));
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join("+")
    }
}

fn show_target(m: &OrgModel, s: &Scope) -> String {
    match s {
        Scope::Node(n) => n.to_string(),
        Scope::Resource(r) => m
            .resources
            .get(r)
            .map_or(r.to_string(), |res| format!("{r}({})", res.type_name)),
    }
}

/// A compact description of a model: tree, principals, memberships, roles, bindings, guardrails.
pub fn describe(m: &OrgModel) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let cat: Vec<String> = m
        .catalog
        .types
        .iter()
        .map(|(ty, acts)| {
            let a: Vec<String> = acts.iter().map(|(s, c)| format!("{s}:{c:?}")).collect();
            format!("{ty}{{{}}}", a.join(", "))
        })
        .collect();
    let _ = writeln!(out, "\n  catalog: {}", cat.join(" "));
    let _ = writeln!(out, "  tree:");
    fn walk(m: &OrgModel, n: &NodeId, depth: usize, out: &mut String) {
        let pad = "  ".repeat(depth + 2);
        let guards: Vec<String> = m
            .guardrails
            .values()
            .filter(|g| &g.node == n)
            .map(|g| format!("{}: {}", g.id, show_statements(&g.statements)))
            .collect();
        let guards = if guards.is_empty() {
            String::new()
        } else {
            format!("   GUARDRAILS {}", guards.join(" | "))
        };
        let _ = writeln!(out, "{pad}{n}{guards}");
        for r in m.resources.values().filter(|r| &r.home == n) {
            let links: Vec<String> = r.links.iter().map(|l| l.to_string()).collect();
            let links = if links.is_empty() {
                String::new()
            } else {
                format!(" linked to {}", links.join(", "))
            };
            let _ = writeln!(out, "{pad}  {} ({}){links}", r.id, r.type_name);
        }
        for c in m.nodes.values().filter(|c| &c.parent == n) {
            walk(m, &c.id, depth + 1, out);
        }
    }
    walk(m, &m.org.id, 0, &mut out);
    let subjects: Vec<String> = m
        .users
        .values()
        .map(|u| (u.id.to_string(), u.enabled))
        .chain(
            m.service_accounts
                .values()
                .map(|s| (s.id.to_string(), s.enabled)),
        )
        .map(|(id, en)| if en { id } else { format!("{id}(disabled)") })
        .collect();
    let _ = writeln!(out, "  subjects: {}", subjects.join(" "));
    let groups: Vec<String> = m.groups.keys().map(|g| g.to_string()).collect();
    let _ = writeln!(out, "  groups: {}", groups.join(" "));
    for ms in m.memberships.values() {
        let manual = match ms.manual {
            Some(ManualMode::Include) => "include",
            Some(ManualMode::Exclude) => "exclude",
            None => "",
        };
        let mapped: Vec<&str> = ms.mapped.iter().map(String::as_str).collect();
        let _ = writeln!(
            out,
            "  member {} of {}: {manual} {}",
            ms.member,
            ms.group,
            if mapped.is_empty() {
                String::new()
            } else {
                format!("mapped({})", mapped.join(","))
            }
        );
    }
    for r in m.roles.values() {
        let _ = writeln!(out, "  role {}: {}", r.id, show_statements(&r.statements));
    }
    for b in m.bindings.values() {
        let exp = match b.expires_at {
            None => String::new(),
            Some(t) => format!(" expires NOW{:+}ms", t.millis() - NOW.millis()),
        };
        let cond = if b.conditions.is_empty() {
            String::new()
        } else {
            format!(" if {}", show_conditions(&b.conditions))
        };
        let _ = writeln!(
            out,
            "  binding {}: {} {} @ {}{exp}{cond}",
            b.id,
            b.principal,
            b.role,
            show_target(m, &b.scope)
        );
    }
    let _ = write!(out, "  (questions asked at NOW = {NOW})");
    out
}

// ----- commands -----

/// The choices of one command; turned into a [`Command`] against the model it runs on.
#[derive(Clone, Debug)]
pub enum CmdSpec {
    /// Bind a role.
    CreateBinding(BindingSpec),
    /// Delete a binding.
    DeleteBinding(Index),
    /// Write a membership entry.
    PutMember(Index, Index, u8),
    /// Remove a member's entries.
    RemoveMember(Index, u8),
    /// Link a resource to a project.
    Link(Index, Index),
    /// Unlink a resource from one of its projects.
    Unlink(Index, Index),
    /// Move a node.
    MoveNode(Index, Index),
    /// Move a resource to another home.
    MoveResource(Index, Index),
    /// Attach a guardrail.
    CreateGuardrail(Index, Vec<StmtSpec>),
    /// Replace a guardrail's statements.
    UpdateGuardrail(Index, Vec<StmtSpec>),
    /// Delete a guardrail.
    DeleteGuardrail(Index),
    /// Enable or disable a user or service account.
    SetEnabled(Index, bool),
    /// Replace a custom role's statements.
    UpdateRole(Index, Vec<StmtSpec>),
    /// Create a folder or project.
    CreateNode(Index, bool),
    /// Create a resource.
    CreateResource(Index, bool),
    /// Delete a node and everything in it.
    DeleteNode(Index),
    /// Delete a resource and its bindings.
    DeleteResource(Index),
    /// Delete a group, its entries and bindings.
    DeleteGroup(Index),
    /// Create a group.
    CreateGroup,
    /// Create a custom role.
    CreateRole(Vec<StmtSpec>),
    /// Create a service account.
    CreateServiceAccount,
    /// Delete a user or service account and its bindings and entries.
    DeleteSubject(Index),
    /// Replace the catalog: which optional actions exist, and whether `vm.power` is `configure`.
    PutCatalog(bool, bool, bool, bool),
}

/// Random commands.
pub fn cmd_spec() -> impl Strategy<Value = CmdSpec> {
    let ix = any::<Index>;
    prop_oneof![
        4 => binding_spec().prop_map(CmdSpec::CreateBinding),
        2 => ix().prop_map(CmdSpec::DeleteBinding),
        3 => (ix(), ix(), 0u8..4).prop_map(|(g, m, k)| CmdSpec::PutMember(g, m, k)),
        2 => (ix(), 0u8..3).prop_map(|(m, k)| CmdSpec::RemoveMember(m, k)),
        2 => (ix(), ix()).prop_map(|(r, p)| CmdSpec::Link(r, p)),
        1 => (ix(), ix()).prop_map(|(r, p)| CmdSpec::Unlink(r, p)),
        2 => (ix(), ix()).prop_map(|(n, p)| CmdSpec::MoveNode(n, p)),
        1 => (ix(), ix()).prop_map(|(r, p)| CmdSpec::MoveResource(r, p)),
        2 => (ix(), stmts(50)).prop_map(|(n, s)| CmdSpec::CreateGuardrail(n, s)),
        1 => (ix(), stmts(50)).prop_map(|(g, s)| CmdSpec::UpdateGuardrail(g, s)),
        2 => ix().prop_map(CmdSpec::DeleteGuardrail),
        2 => (ix(), any::<bool>()).prop_map(|(s, e)| CmdSpec::SetEnabled(s, e)),
        2 => (ix(), stmts(35)).prop_map(|(r, s)| CmdSpec::UpdateRole(r, s)),
        1 => (ix(), any::<bool>()).prop_map(|(p, k)| CmdSpec::CreateNode(p, k)),
        1 => (ix(), any::<bool>()).prop_map(|(p, k)| CmdSpec::CreateResource(p, k)),
        1 => ix().prop_map(CmdSpec::DeleteNode),
        1 => ix().prop_map(CmdSpec::DeleteResource),
        1 => ix().prop_map(CmdSpec::DeleteGroup),
        1 => Just(CmdSpec::CreateGroup),
        1 => stmts(35).prop_map(CmdSpec::CreateRole),
        1 => Just(CmdSpec::CreateServiceAccount),
        1 => ix().prop_map(CmdSpec::DeleteSubject),
        1 => (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(a, b, c, d)| CmdSpec::PutCatalog(a, b, c, d)),
    ]
}

fn node_ref(n: &NodeId) -> TargetRef {
    TargetRef::Node(n.clone())
}

/// The command a spec describes against model `m` (the `k`-th of its list, for fresh names), or
/// `None` when the model has nothing for it to act on.
pub fn build_command(m: &OrgModel, spec: &CmdSpec, k: usize) -> Option<Command> {
    let root = m.org.id.clone();
    let nodes: Vec<NodeId> = std::iter::once(root.clone())
        .chain(m.nodes.keys().cloned())
        .collect();
    let folders: Vec<NodeId> = std::iter::once(root.clone())
        .chain(
            m.nodes
                .values()
                .filter(|n| n.kind == NodeKind::Folder)
                .map(|n| n.id.clone()),
        )
        .collect();
    let projects: Vec<NodeId> = m
        .nodes
        .values()
        .filter(|n| n.kind == NodeKind::Project)
        .map(|n| n.id.clone())
        .collect();
    let resources: Vec<ResourceId> = m.resources.keys().cloned().collect();
    let subjects: Vec<PrincipalId> = m
        .users
        .keys()
        .filter(|u| u.as_str() != ADMIN)
        .chain(m.service_accounts.keys())
        .cloned()
        .collect();
    let groups: Vec<PrincipalId> = m.groups.keys().cloned().collect();
    let statements = |s: &[StmtSpec]| s.iter().map(StmtSpec::build).collect::<Vec<_>>();
    let id = |p: PrincipalId| PrincipalRef::Id(p);
    Some(match spec {
        CmdSpec::CreateBinding(b) => {
            let grantees: Vec<PrincipalId> = subjects.iter().chain(&groups).cloned().collect();
            let roles: Vec<RoleId> = m
                .roles
                .keys()
                .cloned()
                .chain(canopy_core::system_roles().iter().map(|r| r.id.clone()))
                .collect();
            let scopes: Vec<TargetRef> = nodes
                .iter()
                .map(node_ref)
                .chain(resources.iter().cloned().map(TargetRef::Resource))
                .collect();
            Command::CreateBinding {
                principal: id(pick(&grantees, &b.principal)?),
                role: NamedRef::Id(pick(&roles, &b.role)?),
                scope: pick(&scopes, &b.scope)?,
                // Codes 1 and 2 make an already expired binding: refused.
                expires_at: expiry(b.expiry % 5),
                conditions: conditions_of(b.conditions),
            }
        }
        CmdSpec::DeleteBinding(b) => {
            let bindings: Vec<BindingId> = m.bindings.keys().cloned().collect();
            Command::DeleteBinding {
                binding: pick(&bindings, b)?,
            }
        }
        CmdSpec::PutMember(g, mem, kind) => {
            let group = pick(&groups, g)?;
            let candidates: Vec<PrincipalId> = subjects
                .iter()
                .chain(&groups)
                .filter(|c| **c != group)
                .cloned()
                .collect();
            Command::PutMember {
                group: id(group),
                member: id(pick(&candidates, mem)?),
                entry: match kind {
                    0 => MemberEntry::Manual(ManualMode::Include),
                    1 => MemberEntry::Manual(ManualMode::Exclude),
                    _ => MemberEntry::Mapped("scim".into()),
                },
            }
        }
        CmdSpec::RemoveMember(ms, kind) => {
            let entries: Vec<(PrincipalId, PrincipalId)> = m.memberships.keys().cloned().collect();
            let (group, member) = pick(&entries, ms)?;
            Command::RemoveMember {
                group: id(group),
                member: id(member),
                entries: match kind {
                    0 => MemberEntries::All,
                    1 => MemberEntries::Manual,
                    _ => MemberEntries::Source("scim".into()),
                },
            }
        }
        CmdSpec::Link(r, p) => Command::LinkResource {
            resource: TargetRef::Resource(pick(&resources, r)?),
            project: node_ref(&pick(&projects, p)?),
        },
        CmdSpec::Unlink(r, l) => {
            let linked: Vec<(ResourceId, NodeId)> = m
                .resources
                .values()
                .flat_map(|r| r.links.iter().map(move |l| (r.id.clone(), l.clone())))
                .collect();
            let _ = r;
            let (res, project) = pick(&linked, l)?;
            Command::UnlinkResource {
                resource: TargetRef::Resource(res),
                project: node_ref(&project),
            }
        }
        CmdSpec::MoveNode(n, p) => Command::UpdateNode {
            node: node_ref(&pick(&m.nodes.keys().cloned().collect::<Vec<_>>(), n)?),
            name: None,
            // Mostly to folders (a move into a project is refused).
            parent: Some(node_ref(&pick(
                if p.index(8) == 0 { &nodes } else { &folders },
                p,
            )?)),
        },
        CmdSpec::MoveResource(r, p) => Command::UpdateResource {
            resource: TargetRef::Resource(pick(&resources, r)?),
            name: None,
            parent: Some(node_ref(&pick(&nodes, p)?)),
            attributes: None,
        },
        CmdSpec::CreateGuardrail(n, s) => Command::CreateGuardrail {
            name: name(&format!("newgr{k}")),
            node: node_ref(&pick(&nodes, n)?),
            statements: statements(s),
        },
        CmdSpec::UpdateGuardrail(g, s) => Command::UpdateGuardrail {
            guardrail: NamedRef::Id(pick(&m.guardrails.keys().cloned().collect::<Vec<_>>(), g)?),
            statements: statements(s),
        },
        CmdSpec::DeleteGuardrail(g) => Command::DeleteGuardrail {
            guardrail: NamedRef::Id(pick(&m.guardrails.keys().cloned().collect::<Vec<_>>(), g)?),
        },
        CmdSpec::SetEnabled(s, enabled) => {
            let s = pick(&subjects, s)?;
            if m.users.contains_key(&s) {
                Command::UpdateUser {
                    user: id(s),
                    username: None,
                    email: None,
                    display_name: None,
                    enabled: Some(*enabled),
                    break_glass: None,
                }
            } else {
                Command::UpdateServiceAccount {
                    service_account: id(s),
                    enabled: Some(*enabled),
                }
            }
        }
        CmdSpec::UpdateRole(r, s) => Command::UpdateRole {
            role: NamedRef::Id(pick(&m.roles.keys().cloned().collect::<Vec<_>>(), r)?),
            statements: statements(s),
        },
        CmdSpec::CreateNode(p, project) => Command::CreateNode {
            kind: if *project {
                NodeKind::Project
            } else {
                NodeKind::Folder
            },
            name: name(&format!("new{k}")),
            parent: node_ref(&pick(&folders, p)?),
        },
        CmdSpec::CreateResource(p, vm) => Command::CreateResource {
            type_name: if *vm { "vm" } else { "disk" }.into(),
            name: name(&format!("newr{k}")),
            parent: node_ref(&pick(&nodes, p)?),
            links: Vec::new(),
            attributes: BTreeMap::new(),
        },
        CmdSpec::DeleteNode(n) => Command::DeleteNode {
            node: node_ref(&pick(&m.nodes.keys().cloned().collect::<Vec<_>>(), n)?),
            cascade: true,
        },
        CmdSpec::DeleteResource(r) => Command::DeleteResource {
            resource: TargetRef::Resource(pick(&resources, r)?),
            cascade: true,
        },
        CmdSpec::DeleteGroup(g) => Command::DeleteGroup {
            group: id(pick(&groups, g)?),
            cascade: true,
        },
        CmdSpec::CreateGroup => Command::CreateGroup {
            name: name(&format!("newg{k}")),
        },
        CmdSpec::CreateRole(s) => Command::CreateRole {
            name: name(&format!("newrole{k}")),
            statements: statements(s),
        },
        CmdSpec::CreateServiceAccount => Command::CreateServiceAccount {
            name: name(&format!("newsa{k}")),
        },
        CmdSpec::DeleteSubject(s) => {
            let s = pick(&subjects, s)?;
            if m.users.contains_key(&s) {
                Command::DeleteUser {
                    user: id(s),
                    cascade: true,
                }
            } else {
                Command::DeleteServiceAccount {
                    service_account: id(s),
                    cascade: true,
                }
            }
        }
        CmdSpec::PutCatalog(vm_delete, vm_snapshot, disk_backup, power_configure) => {
            let mut catalog = catalog_with(*vm_delete, *vm_snapshot, *disk_backup);
            if *power_configure && let Some(vm) = catalog.types.get_mut("vm") {
                vm.insert("power".into(), ActionClass::Configure);
            }
            Command::PutCatalog { catalog }
        }
    })
}

fn show_target_ref(t: &TargetRef) -> String {
    t.to_string()
}

/// A command on one line: `create_binding grp_1 rol_viewer @ fld_2 expires NOW+1ms if mfa`.
pub fn show_command(c: &Command) -> String {
    let st = |s: &[Statement]| show_statements(s);
    match c {
        Command::CreateBinding {
            principal,
            role,
            scope,
            expires_at,
            conditions,
        } => {
            let exp = expires_at.map_or(String::new(), |t| {
                format!(" expires NOW{:+}ms", t.millis() - NOW.millis())
            });
            let cond = if conditions.is_empty() {
                String::new()
            } else {
                format!(" if {}", show_conditions(conditions))
            };
            format!(
                "create_binding {principal} {role} @ {}{exp}{cond}",
                show_target_ref(scope)
            )
        }
        Command::DeleteBinding { binding } => format!("delete_binding {binding}"),
        Command::PutMember {
            group,
            member,
            entry,
        } => format!("put_member {member} in {group}: {entry:?}"),
        Command::RemoveMember {
            group,
            member,
            entries,
        } => format!("remove_member {member} from {group}: {entries:?}"),
        Command::LinkResource { resource, project } => {
            format!("link_resource {resource} to {project}")
        }
        Command::UnlinkResource { resource, project } => {
            format!("unlink_resource {resource} from {project}")
        }
        Command::UpdateNode {
            node,
            name: None,
            parent: Some(p),
        } => format!("move node {node} to {p}"),
        Command::UpdateResource {
            resource,
            name: None,
            parent: Some(p),
            attributes: None,
        } => format!("move resource {resource} to {p}"),
        Command::CreateGuardrail {
            name,
            node,
            statements,
        } => format!("create_guardrail {name} @ {node}: {}", st(statements)),
        Command::UpdateGuardrail {
            guardrail,
            statements,
        } => format!("update_guardrail {guardrail}: {}", st(statements)),
        Command::DeleteGuardrail { guardrail } => format!("delete_guardrail {guardrail}"),
        Command::UpdateUser {
            user,
            enabled: Some(e),
            ..
        } => format!("update_user {user} enabled={e}"),
        Command::UpdateServiceAccount {
            service_account,
            enabled: Some(e),
        } => format!("update_service_account {service_account} enabled={e}"),
        Command::UpdateRole { role, statements } => {
            format!("update_role {role}: {}", st(statements))
        }
        Command::CreateRole { name, statements } => {
            format!("create_role {name}: {}", st(statements))
        }
        Command::CreateNode { kind, name, parent } => {
            format!("create_node {kind:?} {name} in {parent}")
        }
        Command::CreateResource {
            type_name,
            name,
            parent,
            ..
        } => format!("create_resource {type_name} {name} in {parent}"),
        Command::DeleteNode { node, cascade } => format!("delete_node {node} cascade={cascade}"),
        Command::DeleteResource { resource, cascade } => {
            format!("delete_resource {resource} cascade={cascade}")
        }
        Command::DeleteGroup { group, cascade } => {
            format!("delete_group {group} cascade={cascade}")
        }
        Command::DeleteUser { user, cascade } => format!("delete_user {user} cascade={cascade}"),
        Command::DeleteServiceAccount {
            service_account,
            cascade,
        } => format!("delete_service_account {service_account} cascade={cascade}"),
        Command::CreateGroup { name } => format!("create_group {name}"),
        Command::CreateServiceAccount { name } => format!("create_service_account {name}"),
        Command::PutCatalog { catalog } => {
            let cat: Vec<String> = catalog
                .types
                .iter()
                .map(|(ty, acts)| {
                    let a: Vec<String> = acts.iter().map(|(s, c)| format!("{s}:{c:?}")).collect();
                    format!("{ty}{{{}}}", a.join(", "))
                })
                .collect();
            format!("put_catalog {}", cat.join(" "))
        }
        other => format!("{other:?}"),
    }
}
