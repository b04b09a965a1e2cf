//! A scenario: an organisation (tree, principals, roles, bindings, guardrails) set up through
//! commands, then steps — questions with the answers expected, and commands with the outcome
//! expected. The same file is played against the engine and, later, against the server.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

use canopy_core::OrgEngine;
use canopy_core::action::{ActionClass, Catalog, Statement};
use canopy_core::command::{
    Command, MemberEntries, MemberEntry, NamedRef, PrincipalRef, TargetRef,
};
use canopy_core::engine::{Actor, Fix, Holding, PageRequest};
use canopy_core::ids::{Clock, ManualClock};
use canopy_core::messages::{self, Lang};
use canopy_core::model::{
    Conditions, CredentialKind, ManualMode, NodeKind, Policy, RequestContext,
};
use canopy_core::name::Name;
use canopy_core::time::Timestamp;

/// A scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What it shows, and where the rules come from.
    pub description: String,
    /// The organisation's name (the first segment of every path).
    #[serde(default = "default_org")]
    pub org: String,
    /// The username of the organisation's first administrator.
    #[serde(default = "default_admin")]
    pub admin: String,
    /// The time the scenario starts at (RFC 3339).
    #[serde(default = "default_now")]
    pub now: String,
    /// Resource types → action → class.
    #[serde(default)]
    pub catalog: BTreeMap<String, BTreeMap<String, ActionClass>>,
    /// The organisation's policy, set after everything else.
    #[serde(default)]
    pub policy: Option<Policy>,
    /// Folders, projects and resources.
    #[serde(default)]
    pub tree: Vec<TreeEntry>,
    /// Users.
    #[serde(default)]
    pub users: Vec<UserSpec>,
    /// Service accounts.
    #[serde(default)]
    pub service_accounts: Vec<String>,
    /// Groups and their entries.
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    /// Custom roles.
    #[serde(default)]
    pub roles: Vec<RoleSpec>,
    /// Bindings.
    #[serde(default)]
    pub bindings: Vec<BindingSpec>,
    /// Guardrails.
    #[serde(default)]
    pub guardrails: Vec<GuardrailSpec>,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

fn default_org() -> String {
    "acme".into()
}
fn default_admin() -> String {
    "admin".into()
}
fn default_now() -> String {
    "2026-11-23T10:00:00Z".into()
}

/// A folder (with children), a project (with resources) or a resource.
#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum TreeEntry {
    /// A folder.
    Folder {
        /// Its name.
        folder: String,
        /// What it holds.
        #[serde(default)]
        children: Vec<TreeEntry>,
    },
    /// A project.
    Project {
        /// Its name.
        project: String,
        /// Its resources.
        #[serde(default)]
        children: Vec<TreeEntry>,
    },
    /// A resource.
    Resource {
        /// Its name.
        resource: String,
        /// Its type.
        #[serde(rename = "type")]
        type_name: String,
        /// Paths of further projects.
        #[serde(default)]
        links: Vec<String>,
    },
}

/// A user: a name, or its details.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum UserSpec {
    /// Enabled, with a password.
    Name(String),
    /// In detail.
    Detailed(UserDetails),
}

/// A user in detail.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDetails {
    /// The username.
    pub name: String,
    /// Enabled (default) or not.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Has a local password (default).
    #[serde(default = "yes")]
    pub password: bool,
    /// Has TOTP enrolled.
    #[serde(default)]
    pub totp: bool,
}

fn yes() -> bool {
    true
}

/// A group and its entries (`user:NAME`, `sa:NAME`, `group:NAME`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Its name.
    pub name: String,
    /// Manual includes.
    #[serde(default)]
    pub include: Vec<String>,
    /// Manual excludes.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Mapped members (SSO, SCIM, LDAP).
    #[serde(default)]
    pub mapped: Vec<MappedSpec>,
}

/// A mapped member.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappedSpec {
    /// The member.
    pub member: String,
    /// Its source (`scim`, `oidc:REALM`…).
    pub source: String,
}

/// A custom role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// Its name.
    pub name: String,
    /// Its statements.
    pub statements: Vec<Statement>,
}

/// A binding.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct BindingSpec {
    /// `user:NAME`, `sa:NAME` or `group:NAME`.
    pub subject: String,
    /// A role's name.
    pub role: String,
    /// A path.
    pub scope: String,
    /// When it stops applying.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// What requests must meet.
    #[serde(default)]
    pub conditions: Option<Conditions>,
}

/// A guardrail.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct GuardrailSpec {
    /// Its name.
    pub name: String,
    /// The path of its node.
    pub node: String,
    /// Its statements.
    pub statements: Vec<Statement>,
}

/// A command in a scenario, referring to things by name and path.
#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[allow(missing_docs)]
pub enum Cmd {
    CreateFolder {
        name: String,
        parent: String,
    },
    CreateProject {
        name: String,
        parent: String,
    },
    MoveNode {
        node: String,
        parent: String,
    },
    DeleteNode {
        node: String,
        #[serde(default)]
        cascade: bool,
    },
    CreateResource {
        name: String,
        #[serde(rename = "type")]
        type_name: String,
        parent: String,
        #[serde(default)]
        links: Vec<String>,
    },
    MoveResource {
        resource: String,
        parent: String,
    },
    LinkResource {
        resource: String,
        project: String,
    },
    UnlinkResource {
        resource: String,
        project: String,
    },
    DeleteResource {
        resource: String,
        #[serde(default)]
        cascade: bool,
    },
    PutCatalog {
        types: BTreeMap<String, BTreeMap<String, ActionClass>>,
    },
    CreateUser {
        name: String,
    },
    DisableUser {
        user: String,
    },
    EnableUser {
        user: String,
    },
    DeleteUser {
        user: String,
        #[serde(default)]
        cascade: bool,
    },
    SetCredential {
        user: String,
        kind: CredentialKind,
    },
    RemoveCredential {
        user: String,
        kind: CredentialKind,
    },
    CreateGroup {
        name: String,
    },
    DeleteGroup {
        group: String,
        #[serde(default)]
        cascade: bool,
    },
    PutMember {
        group: String,
        member: String,
        mode: String,
        #[serde(default)]
        source: Option<String>,
    },
    RemoveMember {
        group: String,
        member: String,
    },
    CreateRole {
        name: String,
        statements: Vec<Statement>,
    },
    UpdateRole {
        role: String,
        statements: Vec<Statement>,
    },
    DeleteRole {
        role: String,
        #[serde(default)]
        cascade: bool,
    },
    CreateBinding(BindingSpec),
    DeleteBinding {
        subject: String,
        role: String,
        scope: String,
    },
    CreateGuardrail(GuardrailSpec),
    UpdateGuardrail {
        name: String,
        statements: Vec<Statement>,
    },
    DeleteGuardrail {
        name: String,
    },
    SetPolicy(Policy),
}

/// One step: a question and its expected answer, a command and its expected outcome, or a move
/// of the clock.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Why this step.
    #[serde(default)]
    pub note: Option<String>,
    /// Move the clock to this time (RFC 3339).
    #[serde(default)]
    pub at: Option<String>,
    /// `[principal, action, target]`.
    #[serde(default)]
    pub check: Option<(String, String, String)>,
    /// `[principal, action, target]`.
    #[serde(default)]
    pub explain: Option<(String, String, String)>,
    /// The request context of `check`/`explain`.
    #[serde(default)]
    pub context: Option<RequestContext>,
    /// Expected decision.
    #[serde(default)]
    pub allowed: Option<bool>,
    /// Expected allowing bindings: `PRINCIPAL ROLE at PATH`.
    #[serde(default)]
    pub allowed_by: Option<Vec<String>>,
    /// Expected denying bindings: `PRINCIPAL ROLE at PATH`.
    #[serde(default)]
    pub denied_by: Option<Vec<String>>,
    /// Expected blocking guardrails, by name.
    #[serde(default)]
    pub blocked_by: Option<Vec<String>>,
    /// Expected fixes, as the English one-line messages.
    #[serde(default)]
    pub fixes: Option<Vec<String>>,
    /// `[action, target]`.
    #[serde(default)]
    pub who: Option<(String, String)>,
    /// Expected subjects of `who`: `user:NAME` with ` if …`/` unless …` for conditions.
    #[serde(default)]
    pub subjects: Option<Vec<String>>,
    /// `[principal, action]`.
    #[serde(default)]
    pub access: Option<(String, String)>,
    /// Resource type filter of `access`.
    #[serde(default, rename = "type")]
    pub type_filter: Option<String>,
    /// Expected targets of `access`: paths, with conditions as for `subjects`.
    #[serde(default)]
    pub targets: Option<Vec<String>>,
    /// `[principal, target]`.
    #[serde(default)]
    pub effective: Option<(String, String)>,
    /// Expected actions of `effective`.
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    /// Commands to apply as one change.
    #[serde(default, rename = "do")]
    pub run: Option<Vec<Cmd>>,
    /// Commands whose access diff to compute (nothing applied).
    #[serde(default)]
    pub diff: Option<Vec<Cmd>>,
    /// Who gives the commands (default: the organisation's administrator); over HTTP, also who
    /// asks the step's questions.
    #[serde(default, rename = "as")]
    pub actor: Option<String>,
    /// Expected outcome of `do`/`diff`: `ok` or an error code (`lockout`, `escalation`…).
    #[serde(default)]
    pub expect: Option<String>,
    /// Expected outcome over HTTP, where it differs from the engine's: a disabled user's
    /// sessions end, so what the engine refuses as `forbidden` the server refuses as
    /// `unauthenticated`.
    #[serde(default)]
    pub expect_over_http: Option<String>,
    /// Expected gains of `diff`: `SUBJECT ACTION PATH` with ` (subtree)` and conditions.
    #[serde(default)]
    pub gained: Option<Vec<String>>,
    /// Expected losses of `diff`.
    #[serde(default)]
    pub lost: Option<Vec<String>>,
}

impl Scenario {
    /// Reads a scenario from YAML.
    pub fn from_yaml(text: &str) -> Result<Scenario, String> {
        // Commands are written as one-key maps (`{link_resource: {...}}`), not YAML tags.
        let de = serde_norway::Deserializer::from_str(text);
        serde_norway::with::singleton_map_recursive::deserialize(de).map_err(|e| e.to_string())
    }
}

/// Renders a holding as a suffix: `` for unconditional, ` if mfa`, ` if 10.0.0.0/8 or mfa`,
/// ` unless mfa`.
pub fn holding_suffix(h: &Holding) -> String {
    let one = |c: &Conditions| {
        let mut parts: Vec<String> = c.source_cidrs.iter().map(|n| n.to_string()).collect();
        if c.mfa {
            parts.push("mfa".into());
        }
        parts.join(" and ")
    };
    let mut s = String::new();
    if !h.conditions.is_empty() {
        s += " if ";
        s += &h
            .conditions
            .iter()
            .map(one)
            .collect::<Vec<_>>()
            .join(" or ");
    }
    if !h.unless.is_empty() {
        s += " unless ";
        s += &h.unless.iter().map(one).collect::<Vec<_>>().join(" or ");
    }
    s
}

pub(crate) fn time(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s).ok_or_else(|| format!("`{s}` is not an RFC 3339 time"))
}

fn name(s: &str) -> Result<Name, String> {
    Name::parse(s).map_err(|e| format!("`{s}`: {e:?}"))
}

fn target(s: &str) -> Result<TargetRef, String> {
    TargetRef::parse(s).ok_or_else(|| format!("`{s}` is not a path"))
}

fn principal(s: &str) -> Result<PrincipalRef, String> {
    PrincipalRef::parse(s).ok_or_else(|| format!("`{s}` is not a principal reference"))
}

fn user(s: &str) -> Result<PrincipalRef, String> {
    PrincipalRef::parse_as(s, canopy_core::model::PrincipalKind::User)
        .ok_or_else(|| format!("`{s}` is not a user"))
}

fn group(s: &str) -> Result<PrincipalRef, String> {
    PrincipalRef::parse_as(s, canopy_core::model::PrincipalKind::Group)
        .ok_or_else(|| format!("`{s}` is not a group"))
}

fn role(s: &str) -> Result<NamedRef<canopy_core::ids::RoleId>, String> {
    NamedRef::<canopy_core::ids::RoleId>::parse(s).ok_or_else(|| format!("`{s}` is not a role"))
}

fn guardrail(s: &str) -> Result<NamedRef<canopy_core::ids::GuardrailId>, String> {
    NamedRef::<canopy_core::ids::GuardrailId>::parse(s)
        .ok_or_else(|| format!("`{s}` is not a guardrail"))
}

fn binding_command(b: &BindingSpec) -> Result<Command, String> {
    Ok(Command::CreateBinding {
        principal: principal(&b.subject)?,
        role: role(&b.role)?,
        scope: target(&b.scope)?,
        expires_at: b.expires_at.as_deref().map(time).transpose()?,
        conditions: b.conditions.clone().unwrap_or_default(),
    })
}

/// Turns a scenario command into an engine command (a binding to delete is found by its
/// subject, role and scope).
pub fn to_command(engine: &OrgEngine, cmd: &Cmd) -> Result<Command, String> {
    let node = |kind, n: &str, parent: &str| {
        Ok::<_, String>(Command::CreateNode {
            kind,
            name: name(n)?,
            parent: target(parent)?,
        })
    };
    Ok(match cmd {
        Cmd::CreateFolder { name: n, parent } => node(NodeKind::Folder, n, parent)?,
        Cmd::CreateProject { name: n, parent } => node(NodeKind::Project, n, parent)?,
        Cmd::MoveNode { node, parent } => Command::UpdateNode {
            node: target(node)?,
            name: None,
            parent: Some(target(parent)?),
        },
        Cmd::DeleteNode { node, cascade } => Command::DeleteNode {
            node: target(node)?,
            cascade: *cascade,
        },
        Cmd::CreateResource {
            name: n,
            type_name,
            parent,
            links,
        } => Command::CreateResource {
            type_name: type_name.clone(),
            name: name(n)?,
            parent: target(parent)?,
            links: links.iter().map(|l| target(l)).collect::<Result<_, _>>()?,
            attributes: BTreeMap::new(),
        },
        Cmd::MoveResource { resource, parent } => Command::UpdateResource {
            resource: target(resource)?,
            name: None,
            parent: Some(target(parent)?),
            attributes: None,
        },
        Cmd::LinkResource { resource, project } => Command::LinkResource {
            resource: target(resource)?,
            project: target(project)?,
        },
        Cmd::UnlinkResource { resource, project } => Command::UnlinkResource {
            resource: target(resource)?,
            project: target(project)?,
        },
        Cmd::DeleteResource { resource, cascade } => Command::DeleteResource {
            resource: target(resource)?,
            cascade: *cascade,
        },
        Cmd::PutCatalog { types } => Command::PutCatalog {
            catalog: Catalog {
                types: types.clone(),
            },
        },
        Cmd::CreateUser { name: n } => Command::CreateUser {
            username: name(n)?,
            email: None,
            display_name: None,
            password: true,
        },
        Cmd::DisableUser { user: u } | Cmd::EnableUser { user: u } => Command::UpdateUser {
            user: user(u)?,
            username: None,
            email: None,
            display_name: None,
            enabled: Some(matches!(cmd, Cmd::EnableUser { .. })),
            break_glass: None,
        },
        Cmd::DeleteUser { user: u, cascade } => Command::DeleteUser {
            user: user(u)?,
            cascade: *cascade,
        },
        Cmd::SetCredential { user: u, kind } => Command::SetCredential {
            user: user(u)?,
            kind: *kind,
        },
        Cmd::RemoveCredential { user: u, kind } => Command::RemoveCredential {
            user: user(u)?,
            kind: *kind,
        },
        Cmd::CreateGroup { name: n } => Command::CreateGroup { name: name(n)? },
        Cmd::DeleteGroup { group: g, cascade } => Command::DeleteGroup {
            group: group(g)?,
            cascade: *cascade,
        },
        Cmd::PutMember {
            group: g,
            member,
            mode,
            source,
        } => Command::PutMember {
            group: group(g)?,
            member: principal(member)?,
            entry: match mode.as_str() {
                "include" => MemberEntry::Manual(ManualMode::Include),
                "exclude" => MemberEntry::Manual(ManualMode::Exclude),
                "mapped" => MemberEntry::Mapped(source.clone().unwrap_or_else(|| "api".into())),
                other => return Err(format!("`{other}` is not include, exclude or mapped")),
            },
        },
        Cmd::RemoveMember { group: g, member } => Command::RemoveMember {
            group: group(g)?,
            member: principal(member)?,
            entries: MemberEntries::All,
        },
        Cmd::CreateRole {
            name: n,
            statements,
        } => Command::CreateRole {
            name: name(n)?,
            statements: statements.clone(),
        },
        Cmd::UpdateRole {
            role: r,
            statements,
        } => Command::UpdateRole {
            role: role(r)?,
            statements: statements.clone(),
        },
        Cmd::DeleteRole { role: r, cascade } => Command::DeleteRole {
            role: role(r)?,
            cascade: *cascade,
        },
        Cmd::CreateBinding(b) => binding_command(b)?,
        Cmd::DeleteBinding {
            subject,
            role: r,
            scope,
        } => Command::DeleteBinding {
            binding: find_binding(engine, subject, r, scope)?,
        },
        Cmd::CreateGuardrail(g) => Command::CreateGuardrail {
            name: name(&g.name)?,
            node: target(&g.node)?,
            statements: g.statements.clone(),
        },
        Cmd::UpdateGuardrail {
            name: n,
            statements,
        } => Command::UpdateGuardrail {
            guardrail: guardrail(n)?,
            statements: statements.clone(),
        },
        Cmd::DeleteGuardrail { name: n } => Command::DeleteGuardrail {
            guardrail: guardrail(n)?,
        },
        Cmd::SetPolicy(p) => Command::UpdateOrg {
            limits: None,
            policy: Some(p.clone()),
        },
    })
}

fn find_binding(
    engine: &OrgEngine,
    subject: &str,
    role_name: &str,
    scope: &str,
) -> Result<canopy_core::ids::BindingId, String> {
    let m = engine.model();
    let matching: Vec<_> = m
        .bindings
        .values()
        .filter(|b| {
            let p = principal_label(engine, b.principal.as_str());
            let r = m
                .role(&b.role)
                .map(|r| r.name.to_string())
                .unwrap_or_default();
            p == subject && r == role_name && scope_path(engine, b.scope.as_str()) == scope
        })
        .collect();
    match matching.as_slice() {
        [b] => Ok(b.id.clone()),
        _ => Err(format!(
            "{} bindings of {role_name} at {scope} to {subject}",
            matching.len()
        )),
    }
}

fn principal_label(engine: &OrgEngine, id: &str) -> String {
    let m = engine.model();
    let found = m
        .users
        .values()
        .find(|u| u.id.as_str() == id)
        .map(|u| format!("user:{}", u.username))
        .or_else(|| {
            m.service_accounts
                .values()
                .find(|s| s.id.as_str() == id)
                .map(|s| format!("sa:{}", s.name))
        })
        .or_else(|| {
            m.groups
                .values()
                .find(|g| g.id.as_str() == id)
                .map(|g| format!("group:{}", g.name))
        });
    found.unwrap_or_else(|| id.to_string())
}

fn scope_path(engine: &OrgEngine, id: &str) -> String {
    let m = engine.model();
    let node_path = |start: &canopy_core::ids::NodeId| {
        let mut parts = Vec::new();
        let mut n = start.clone();
        while let Some(node) = m.nodes.get(&n) {
            parts.push(node.name.to_string());
            n = node.parent.clone();
        }
        parts.push(m.org.name.to_string());
        parts.reverse();
        parts.join("/")
    };
    if let Some(r) = m.resources.values().find(|r| r.id.as_str() == id) {
        return format!("{}/{}", node_path(&r.home), r.name);
    }
    match canopy_core::ids::NodeId::parse(id) {
        Some(n) => node_path(&n),
        None => id.to_string(),
    }
}

/// Builds the scenario's organisation through commands given by its administrator.
pub fn set_up(s: &Scenario) -> Result<(OrgEngine, ManualClock, Actor), String> {
    let clock = ManualClock::at(time(&s.now)?);
    let (mut engine, _) =
        OrgEngine::create(name(&s.org)?, name(&s.admin)?, Default::default(), &clock)
            .map_err(|e| e.to_string())?;
    let admin_id = engine
        .model()
        .users
        .values()
        .next()
        .map(|u| u.id.clone())
        .ok_or("no admin")?;
    let admin = Actor::subject(admin_id, RequestContext::default());
    let commands = setup_commands(s)?;
    for (i, c) in commands.iter().enumerate() {
        engine
            .execute(&admin, c, &clock)
            .map_err(|e| format!("set-up command {i} ({}): {e}", c.name()))?;
    }
    Ok((engine, clock, admin))
}

/// The commands that set a scenario's organisation up (after its creation with its first
/// administrator), in the order they apply: to build the same state elsewhere (a store).
pub fn setup_commands(s: &Scenario) -> Result<Vec<Command>, String> {
    let mut commands = Vec::new();
    if !s.catalog.is_empty() {
        commands.push(Command::PutCatalog {
            catalog: Catalog {
                types: s.catalog.clone(),
            },
        });
    }
    let mut resources = Vec::new();
    let root = s.org.clone();
    tree_commands(&s.tree, &root, &mut commands, &mut resources)?;
    commands.extend(resources);
    for u in &s.users {
        let (n, enabled, password, totp) = match u {
            UserSpec::Name(n) => (n.clone(), true, true, false),
            UserSpec::Detailed(d) => (d.name.clone(), d.enabled, d.password, d.totp),
        };
        commands.push(Command::CreateUser {
            username: name(&n)?,
            email: None,
            display_name: None,
            password,
        });
        if totp {
            commands.push(Command::SetCredential {
                user: user(&n)?,
                kind: CredentialKind::Totp,
            });
        }
        if !enabled {
            commands.push(Command::UpdateUser {
                user: user(&n)?,
                username: None,
                email: None,
                display_name: None,
                enabled: Some(false),
                break_glass: None,
            });
        }
    }
    for sa in &s.service_accounts {
        commands.push(Command::CreateServiceAccount { name: name(sa)? });
    }
    for g in &s.groups {
        commands.push(Command::CreateGroup {
            name: name(&g.name)?,
        });
    }
    for r in &s.roles {
        commands.push(Command::CreateRole {
            name: name(&r.name)?,
            statements: r.statements.clone(),
        });
    }
    for b in &s.bindings {
        commands.push(binding_command(b)?);
    }
    for g in &s.groups {
        for m in &g.include {
            commands.push(Command::PutMember {
                group: group(&g.name)?,
                member: principal(m)?,
                entry: MemberEntry::Manual(ManualMode::Include),
            });
        }
        for m in &g.exclude {
            commands.push(Command::PutMember {
                group: group(&g.name)?,
                member: principal(m)?,
                entry: MemberEntry::Manual(ManualMode::Exclude),
            });
        }
        for m in &g.mapped {
            commands.push(Command::PutMember {
                group: group(&g.name)?,
                member: principal(&m.member)?,
                entry: MemberEntry::Mapped(m.source.clone()),
            });
        }
    }
    for g in &s.guardrails {
        commands.push(Command::CreateGuardrail {
            name: name(&g.name)?,
            node: target(&g.node)?,
            statements: g.statements.clone(),
        });
    }
    if let Some(p) = &s.policy {
        commands.push(Command::UpdateOrg {
            limits: None,
            policy: Some(p.clone()),
        });
    }
    Ok(commands)
}

fn tree_commands(
    entries: &[TreeEntry],
    parent: &str,
    nodes: &mut Vec<Command>,
    resources: &mut Vec<Command>,
) -> Result<(), String> {
    for e in entries {
        match e {
            TreeEntry::Folder {
                folder: n,
                children,
            }
            | TreeEntry::Project {
                project: n,
                children,
            } => {
                let kind = if matches!(e, TreeEntry::Folder { .. }) {
                    NodeKind::Folder
                } else {
                    NodeKind::Project
                };
                nodes.push(Command::CreateNode {
                    kind,
                    name: name(n)?,
                    parent: target(parent)?,
                });
                tree_commands(children, &format!("{parent}/{n}"), nodes, resources)?;
            }
            TreeEntry::Resource {
                resource,
                type_name,
                links,
            } => resources.push(Command::CreateResource {
                type_name: type_name.clone(),
                name: name(resource)?,
                parent: target(parent)?,
                links: links.iter().map(|l| target(l)).collect::<Result<_, _>>()?,
                attributes: BTreeMap::new(),
            }),
        }
    }
    Ok(())
}

fn sorted(v: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    v.into_iter().collect()
}

pub(crate) fn expect_set(
    what: &str,
    expected: &Option<Vec<String>>,
    actual: BTreeSet<String>,
) -> Result<(), String> {
    match expected {
        Some(e) if sorted(e.iter().cloned()) != actual => Err(format!(
            "{what}: expected {:?}, got {:?}",
            sorted(e.iter().cloned()),
            actual
        )),
        _ => Ok(()),
    }
}

/// Plays a scenario against the engine. Returns every step that did not go as expected.
pub fn run_on_engine(s: &Scenario) -> Result<(), String> {
    let (mut engine, clock, admin) = set_up(s)?;
    let mut failures = Vec::new();
    for (i, step) in s.steps.iter().enumerate() {
        if let Err(e) = play(&mut engine, &clock, &admin, step) {
            failures.push(format!(
                "step {} ({}): {e}",
                i + 1,
                step.note.as_deref().unwrap_or("")
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

fn actor_for(engine: &OrgEngine, admin: &Actor, step: &Step) -> Result<Actor, String> {
    match &step.actor {
        None => Ok(admin.clone()),
        Some(who) => {
            let id = engine
                .model()
                .users
                .values()
                .find(|u| format!("user:{}", u.username) == *who)
                .map(|u| u.id.clone())
                .ok_or_else(|| format!("no user `{who}`"))?;
            Ok(Actor::subject(id, step.context.clone().unwrap_or_default()))
        }
    }
}

fn play(
    engine: &mut OrgEngine,
    clock: &ManualClock,
    admin: &Actor,
    step: &Step,
) -> Result<(), String> {
    if let Some(t) = &step.at {
        clock.set(time(t)?);
    }
    let now = clock.now();
    let ctx = step.context.clone().unwrap_or_default();
    let page = PageRequest {
        after: None,
        limit: 100_000,
    };
    if let Some((p, a, t)) = &step.check {
        let d = engine
            .check(p, a, t, &ctx, now)
            .map_err(|e| e.to_string())?;
        if step.allowed.is_some_and(|x| x != d.allowed) {
            return Err(format!(
                "check {p} {a} {t}: expected allowed={:?}, got {}",
                step.allowed, d.allowed
            ));
        }
    }
    if let Some((p, a, t)) = &step.explain {
        let x = engine
            .explain(p, a, t, &ctx, now)
            .map_err(|e| e.to_string())?;
        if step.allowed.is_some_and(|v| v != x.allowed) {
            return Err(format!(
                "explain {p} {a} {t}: expected allowed={:?}, got {}",
                step.allowed, x.allowed
            ));
        }
        let ev = |e: &canopy_core::engine::Evidence| {
            format!("{} {} at {}", e.principal_ref, e.role_name, e.scope_path)
        };
        expect_set(
            "allowed_by",
            &step.allowed_by,
            x.allowed_by.iter().map(ev).collect(),
        )?;
        expect_set(
            "denied_by",
            &step.denied_by,
            x.denied_by.iter().map(ev).collect(),
        )?;
        expect_set(
            "blocked_by",
            &step.blocked_by,
            x.blocked_by.iter().map(|b| b.name.clone()).collect(),
        )?;
        expect_set(
            "fixes",
            &step.fixes,
            x.fixes
                .iter()
                .map(|f: &Fix| messages::fix(f, Lang::En))
                .collect(),
        )?;
    }
    if let Some((a, t)) = &step.who {
        let w = engine.who(a, t, now, &page).map_err(|e| e.to_string())?;
        expect_set(
            "who",
            &step.subjects,
            w.items
                .iter()
                .map(|e| format!("{}{}", e.subject_ref, holding_suffix(&e.holding)))
                .collect(),
        )?;
    }
    if let Some((p, a)) = &step.access {
        let r = engine
            .access(p, a, step.type_filter.as_deref(), now, &page)
            .map_err(|e| e.to_string())?;
        expect_set(
            "access",
            &step.targets,
            r.items
                .iter()
                .map(|e| format!("{}{}", e.target.path, holding_suffix(&e.holding)))
                .collect(),
        )?;
    }
    if let Some((p, t)) = &step.effective {
        let r = engine
            .effective(p, t, now)
            .map_err(|e| e.to_string())?
            .actions;
        expect_set(
            "effective",
            &step.actions,
            r.iter()
                .map(|e| format!("{}{}", e.action, holding_suffix(&e.holding)))
                .collect(),
        )?;
    }
    let outcome = |r: Result<(), String>| -> Result<(), String> {
        let got = match &r {
            Ok(()) => "ok".to_string(),
            Err(code) => code.clone(),
        };
        let want = step.expect.clone().unwrap_or_else(|| "ok".into());
        if got != want {
            Err(format!("expected `{want}`, got `{got}`"))
        } else {
            Ok(())
        }
    };
    if let Some(cmds) = &step.run {
        let actor = actor_for(engine, admin, step)?;
        let commands = cmds
            .iter()
            .map(|c| to_command(engine, c))
            .collect::<Result<Vec<_>, _>>()?;
        let result = engine
            .execute_all(&actor, &commands, clock)
            .map(|_| ())
            .map_err(|(_, e)| e.code().to_string());
        outcome(result)?;
    }
    if let Some(cmds) = &step.diff {
        let actor = actor_for(engine, admin, step)?;
        let commands = cmds
            .iter()
            .map(|c| to_command(engine, c))
            .collect::<Result<Vec<_>, _>>()?;
        let before = engine.model().clone();
        let result = engine.access_diff(&actor, &commands, clock);
        if engine.model() != &before {
            return Err("the diff changed the state".into());
        }
        match result {
            Err((_, e)) => outcome(Err(e.code().to_string()))?,
            Ok(diff) => {
                outcome(Ok(()))?;
                let line = |e: &canopy_core::engine::DiffEntry| {
                    format!(
                        "{} {} {}{}{}",
                        e.subject_ref,
                        e.action,
                        e.target.path,
                        if e.subtree { " (subtree)" } else { "" },
                        holding_suffix(&e.holding)
                    )
                };
                expect_set(
                    "gained",
                    &step.gained,
                    diff.gained.iter().map(line).collect(),
                )?;
                expect_set("lost", &step.lost, diff.lost.iter().map(line).collect())?;
            }
        }
    }
    Ok(())
}
