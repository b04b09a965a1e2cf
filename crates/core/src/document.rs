//! Configuration as code: an organisation as a portable document. Every object is named by its
//! reference — paths for nodes and resources, usernames, group, role and guardrail names —
//! never by an installation's IDs, so that one installation's export applies to another and
//! two installations' exports compare. Pure data and pure functions: the YAML form is the
//! CLI's, the transport the server's.
//!
//! - [`Document::of`] exports an organisation's model, in a stable order;
//! - [`Portable::of`] checks a document (closed world: every reference must name an object of
//!   the same document, a system role or the organisation) into the form that is compared;
//! - [`diff`] gives the semantic diff of two portable forms, [`plan`] the commands that turn
//!   a live organisation into a document, in an order where each resolves.

mod plan;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::action::{ActionClass, Statement};
use crate::messages::{self, Lang};
use crate::model::{Conditions, ManualMode, NodeKind, OrgModel, Policy, PrincipalKind, Scope};
use crate::name::Name;
use crate::time::Timestamp;

pub use plan::{Change, ChangeKind, Op, Plan, diff, plan};

/// The version of the document format this core writes and reads.
pub const FORMAT: u32 = 1;

/// An organisation as a document (its JSON is the wire form; the CLI writes it as YAML).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// The format version ([`FORMAT`]).
    pub canopy: u32,
    /// The organisation's name: the first segment of every path.
    pub org: Name,
    /// The authentication policy (never the webhook's signing secret).
    #[serde(default)]
    pub policy: Policy,
    /// Resource types → action suffix → class.
    #[serde(default)]
    pub catalog: BTreeMap<String, BTreeMap<String, ActionClass>>,
    /// Folders and projects, parents first.
    #[serde(default)]
    pub nodes: Vec<NodeEntry>,
    /// Resources.
    #[serde(default)]
    pub resources: Vec<ResourceEntry>,
    /// Users (never their credentials).
    #[serde(default)]
    pub users: Vec<UserEntry>,
    /// Service accounts (never their keys).
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccountEntry>,
    /// Groups and their membership entries.
    #[serde(default)]
    pub groups: Vec<GroupEntry>,
    /// Custom roles (system roles are in every organisation).
    #[serde(default)]
    pub roles: Vec<RoleEntry>,
    /// Bindings.
    #[serde(default)]
    pub bindings: Vec<BindingEntry>,
    /// Guardrails.
    #[serde(default)]
    pub guardrails: Vec<GuardrailEntry>,
}

/// Folder or project, as a document says it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocNodeKind {
    /// Holds folders, projects and resources.
    Folder,
    /// Holds resources only.
    Project,
}

/// A folder or project.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// `acme/eng/payments`.
    pub path: String,
    /// Folder or project.
    pub kind: DocNodeKind,
}

/// A resource.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceEntry {
    /// `acme/eng/payments/vm-100`: its home node's path and its name.
    pub path: String,
    /// A type of the catalog.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Paths of the further projects it is linked to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// Free-form attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// A user.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// Unique in the organisation.
    pub username: Name,
    /// Contact address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Name shown to people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Disabled users are denied everything (default: enabled).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// An emergency account.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub break_glass: bool,
}

/// A service account.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountEntry {
    /// Unique in the organisation.
    pub name: Name,
    /// Default: enabled.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
}

/// A group with its direct membership entries.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupEntry {
    /// Unique in the organisation.
    pub name: Name,
    /// One entry per member.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberEntry>,
}

/// A member's entries in one group: the manual one, if any, and the mapped sources.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberEntry {
    /// `user:NAME`, `sa:NAME` or `group:NAME`.
    pub member: String,
    /// `include` or `exclude`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<ManualMode>,
    /// Mapped sources (`scim`, `oidc:REALM`, `ldap:REALM`, `api`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub mapped: BTreeSet<String>,
}

/// A custom role.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleEntry {
    /// Unique in the organisation, not a system role's.
    pub name: Name,
    /// Its statements, in order.
    pub statements: Vec<Statement>,
}

/// A binding: bindings have no name, so the whole entry is its identity.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingEntry {
    /// `user:NAME`, `sa:NAME` or `group:NAME`.
    pub subject: String,
    /// A custom or system role's name.
    pub role: Name,
    /// A node's or resource's path (the organisation's name for the root).
    pub scope: String,
    /// After this time it does not apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// What the request must meet.
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
}

/// A guardrail.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailEntry {
    /// Unique in the organisation.
    pub name: Name,
    /// The path of the node it is attached to.
    pub node: String,
    /// Its statements, in order.
    pub statements: Vec<Statement>,
}

/// A path below the organisation's root (empty: the root itself).
pub type RelPath = Vec<Name>;

/// A principal by kind and name.
pub type PrincipalKey = (PrincipalKind, Name);

/// What identifies a binding (it has no name).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct BindingKey {
    /// The node or resource path.
    pub scope: RelPath,
    /// Who.
    pub subject: PrincipalKey,
    /// The role's name.
    pub role: Name,
    /// Its expiry.
    pub expires_at: Option<Timestamp>,
    /// Its conditions.
    pub conditions: Conditions,
}

/// A resource's facts, as compared.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ResourceFacts {
    /// Catalog type.
    pub type_name: String,
    /// Linked projects.
    pub links: BTreeSet<RelPath>,
    /// Attributes.
    pub attributes: BTreeMap<String, String>,
}

/// A user's facts, as compared.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UserFacts {
    /// Contact address.
    pub email: Option<String>,
    /// Name shown.
    pub display_name: Option<String>,
    /// Enabled.
    pub enabled: bool,
    /// Break-glass.
    pub break_glass: bool,
}

/// One member's entries, as compared.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Entries {
    /// The manual entry.
    pub manual: Option<ManualMode>,
    /// Mapped sources.
    pub mapped: BTreeSet<String>,
}

/// A document checked and keyed by reference: what [`diff`] compares.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Portable {
    /// The organisation's name.
    pub org: Name,
    /// The policy.
    pub policy: Policy,
    /// The catalog.
    pub catalog: crate::action::Catalog,
    /// Folders and projects by path.
    pub nodes: BTreeMap<RelPath, NodeKind>,
    /// Resources by path.
    pub resources: BTreeMap<RelPath, ResourceFacts>,
    /// Users by username.
    pub users: BTreeMap<Name, UserFacts>,
    /// Service accounts by name (enabled or not).
    pub service_accounts: BTreeMap<Name, bool>,
    /// Groups.
    pub groups: BTreeSet<Name>,
    /// Membership entries by (group, member).
    pub members: BTreeMap<(Name, PrincipalKey), Entries>,
    /// Custom roles by name.
    pub roles: BTreeMap<Name, Vec<Statement>>,
    /// Bindings and how many identical ones there are.
    pub bindings: BTreeMap<BindingKey, usize>,
    /// Guardrails by name: node and statements.
    pub guardrails: BTreeMap<Name, (RelPath, Vec<Statement>)>,
}

/// Why a document cannot be taken: where, what, and the problem.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DocumentError {
    /// The place in the document (`bindings[3]`).
    pub at: String,
    /// The object, by reference.
    pub object: String,
    /// What is wrong.
    pub problem: Problem,
}

/// What can be wrong in a document.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Problem {
    /// A format version this core does not read.
    Format(u32),
    /// A path that does not start with the document's organisation, or has a bad segment.
    BadPath,
    /// A principal reference that is not `user:`, `sa:` or `group:` and a name.
    BadPrincipal,
    /// The same object twice.
    Duplicate,
    /// A reference to nothing in the document (`field` says which).
    Unknown(&'static str),
    /// A node or resource whose parent cannot hold it (a project holding a folder).
    BadParent,
    /// A link to something that is not a project of the document.
    LinkNotProject,
    /// A custom role with a system role's name.
    SystemRoleName,
    /// The document removes the user applying it.
    RemovesCaller,
}

impl DocumentError {
    fn new(at: impl Into<String>, object: impl Into<String>, problem: Problem) -> Self {
        DocumentError {
            at: at.into(),
            object: object.into(),
            problem,
        }
    }

    /// The error for a person, in `lang`.
    pub fn message(&self, lang: Lang) -> String {
        messages::document_error(self, lang)
    }
}

impl std::fmt::Display for DocumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message(Lang::En))
    }
}

impl std::error::Error for DocumentError {}

/// `acme` + `[eng, payments]` → `acme/eng/payments`.
pub fn path_text(org: &Name, rel: &[Name]) -> String {
    let mut s = org.to_string();
    for n in rel {
        s.push('/');
        s.push_str(n.as_str());
    }
    s
}

/// `user:alice`.
pub fn principal_text(key: &PrincipalKey) -> String {
    format!("{}:{}", key.0.ref_prefix(), key.1)
}

fn parse_principal(s: &str) -> Option<PrincipalKey> {
    match crate::command::PrincipalRef::parse(s)? {
        crate::command::PrincipalRef::Named(kind, name) => Some((kind, name)),
        crate::command::PrincipalRef::Id(_) => None,
    }
}

impl Document {
    /// The document of an organisation: every object by reference, in a stable order (nodes
    /// and resources by path, so parents come first; principals, roles and guardrails by name;
    /// members by reference; bindings by scope, subject and role). The same state always gives
    /// the same document; IDs, creation times, credentials, tokens, limits and the webhook
    /// secret are left out.
    pub fn of(model: &OrgModel) -> Document {
        let org = &model.org;
        let paths = node_paths(model);
        let path_of = |id: &crate::ids::NodeId| -> Vec<&str> {
            paths
                .get(id)
                .map(|p| p.iter().map(Name::as_str).collect())
                .unwrap_or_default()
        };
        let text = |rel: &[&str]| {
            let mut s = org.name.to_string();
            for n in rel {
                s.push('/');
                s.push_str(n);
            }
            s
        };
        let mut nodes: Vec<(Vec<&str>, DocNodeKind)> = model
            .nodes
            .values()
            .map(|n| {
                let kind = match n.kind {
                    NodeKind::Project => DocNodeKind::Project,
                    _ => DocNodeKind::Folder,
                };
                (path_of(&n.id), kind)
            })
            .collect();
        nodes.sort();
        let mut resources: Vec<(Vec<&str>, ResourceEntry)> = model
            .resources
            .values()
            .map(|r| {
                let mut p = path_of(&r.home);
                p.push(r.name.as_str());
                let mut links: Vec<Vec<&str>> = r.links.iter().map(path_of).collect();
                links.sort();
                let entry = ResourceEntry {
                    path: text(&p),
                    type_name: r.type_name.clone(),
                    links: links.iter().map(|l| text(l)).collect(),
                    attributes: r.attributes.clone(),
                };
                (p, entry)
            })
            .collect();
        resources.sort_by(|a, b| a.0.cmp(&b.0));
        let principal = |id: &crate::ids::PrincipalId| -> String {
            if let Some(u) = model.users.get(id) {
                format!("user:{}", u.username)
            } else if let Some(s) = model.service_accounts.get(id) {
                format!("sa:{}", s.name)
            } else if let Some(g) = model.groups.get(id) {
                format!("group:{}", g.name)
            } else {
                id.to_string()
            }
        };
        let scope = |s: &Scope| match s {
            Scope::Node(n) => text(&path_of(n)),
            Scope::Resource(r) => model.resources.get(r).map_or_else(
                || r.to_string(),
                |r| {
                    let mut p = path_of(&r.home);
                    p.push(r.name.as_str());
                    text(&p)
                },
            ),
        };
        let mut users: Vec<UserEntry> = model
            .users
            .values()
            .map(|u| UserEntry {
                username: u.username.clone(),
                email: u.email.clone(),
                display_name: u.display_name.clone(),
                enabled: u.enabled,
                break_glass: u.break_glass,
            })
            .collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        let mut service_accounts: Vec<ServiceAccountEntry> = model
            .service_accounts
            .values()
            .map(|s| ServiceAccountEntry {
                name: s.name.clone(),
                enabled: s.enabled,
            })
            .collect();
        service_accounts.sort_by(|a, b| a.name.cmp(&b.name));
        let mut members: BTreeMap<&crate::ids::PrincipalId, Vec<MemberEntry>> = BTreeMap::new();
        for m in model.memberships.values() {
            members.entry(&m.group).or_default().push(MemberEntry {
                member: principal(&m.member),
                manual: m.manual,
                mapped: m.mapped.clone(),
            });
        }
        let mut groups: Vec<GroupEntry> = model
            .groups
            .values()
            .map(|g| {
                let mut list = members.remove(&g.id).unwrap_or_default();
                list.sort_by(|a, b| a.member.cmp(&b.member));
                GroupEntry {
                    name: g.name.clone(),
                    members: list,
                }
            })
            .collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        let mut roles: Vec<RoleEntry> = model
            .roles
            .values()
            .filter(|r| !r.system)
            .map(|r| RoleEntry {
                name: r.name.clone(),
                statements: r.statements.clone(),
            })
            .collect();
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        // A binding's role always exists in a model that loaded (the store's `verify` holds it).
        let mut bindings: Vec<BindingEntry> = model
            .bindings
            .values()
            .filter_map(|b| {
                Some(BindingEntry {
                    subject: principal(&b.principal),
                    role: model.role(&b.role)?.name.clone(),
                    scope: scope(&b.scope),
                    expires_at: b.expires_at,
                    conditions: b.conditions.clone(),
                })
            })
            .collect();
        bindings.sort_by(|a, b| binding_order(a).cmp(&binding_order(b)));
        let mut guardrails: Vec<GuardrailEntry> = model
            .guardrails
            .values()
            .map(|g| GuardrailEntry {
                name: g.name.clone(),
                node: text(&path_of(&g.node)),
                statements: g.statements.clone(),
            })
            .collect();
        guardrails.sort_by(|a, b| a.name.cmp(&b.name));
        let mut policy = org.policy.clone();
        policy.notifications.webhook_secret_set = false;
        Document {
            canopy: FORMAT,
            org: org.name.clone(),
            policy,
            catalog: model.catalog.types.clone(),
            nodes: nodes
                .into_iter()
                .map(|(p, kind)| NodeEntry {
                    path: text(&p),
                    kind,
                })
                .collect(),
            resources: resources.into_iter().map(|(_, r)| r).collect(),
            users,
            service_accounts,
            groups,
            roles,
            bindings,
            guardrails,
        }
    }
}

/// Bindings sort by scope path (segment by segment), subject, role, expiry, conditions.
fn binding_order(b: &BindingEntry) -> (Vec<&str>, &str, &str, Option<Timestamp>, String) {
    (
        b.scope.split('/').collect(),
        &b.subject,
        b.role.as_str(),
        b.expires_at,
        format!("{:?}", b.conditions),
    )
}

/// Every node's path below the root (the root's is empty).
fn node_paths(model: &OrgModel) -> BTreeMap<crate::ids::NodeId, RelPath> {
    let mut out: BTreeMap<crate::ids::NodeId, RelPath> = BTreeMap::new();
    out.insert(model.org.id.clone(), Vec::new());
    for n in crate::engine::nodes_parent_first(&model.org.id, &model.nodes) {
        let mut p = out.get(&n.parent).cloned().unwrap_or_default();
        p.push(n.name.clone());
        out.insert(n.id.clone(), p);
    }
    out
}

impl Portable {
    /// Checks a document and keys it by reference. Every reference must name an object of the
    /// same document (or a system role, or the organisation): a document is a whole
    /// organisation, so what it does not hold will not be there.
    pub fn of(doc: &Document) -> Result<Portable, DocumentError> {
        if doc.canopy != FORMAT {
            return Err(DocumentError::new(
                "canopy",
                doc.canopy.to_string(),
                Problem::Format(doc.canopy),
            ));
        }
        let org = doc.org.clone();
        let rel = |at: &str, s: &str| -> Result<RelPath, DocumentError> {
            let bad = || DocumentError::new(at, s, Problem::BadPath);
            let mut parts = s.split('/');
            if parts.next() != Some(org.as_str()) {
                return Err(bad());
            }
            parts.map(|p| Name::parse(p).map_err(|_| bad())).collect()
        };
        let mut p = Portable {
            org: org.clone(),
            policy: doc.policy.clone(),
            catalog: crate::action::Catalog {
                types: doc.catalog.clone(),
            },
            nodes: BTreeMap::new(),
            resources: BTreeMap::new(),
            users: BTreeMap::new(),
            service_accounts: BTreeMap::new(),
            groups: BTreeSet::new(),
            members: BTreeMap::new(),
            roles: BTreeMap::new(),
            bindings: BTreeMap::new(),
            guardrails: BTreeMap::new(),
        };
        p.policy.notifications.webhook_secret_set = false;
        p.add_tree(doc, &rel)?;
        p.add_principals(doc)?;
        p.add_policies(doc, &rel)?;
        Ok(p)
    }

    fn add_tree(
        &mut self,
        doc: &Document,
        rel: &impl Fn(&str, &str) -> Result<RelPath, DocumentError>,
    ) -> Result<(), DocumentError> {
        for (i, n) in doc.nodes.iter().enumerate() {
            let at = format!("nodes[{i}]");
            let path = rel(&at, &n.path)?;
            let Some((_, parent)) = path.split_last() else {
                return Err(DocumentError::new(at, &n.path, Problem::BadPath));
            };
            match self.parent_kind(parent) {
                Some(NodeKind::Project) => {
                    return Err(DocumentError::new(at, &n.path, Problem::BadParent));
                }
                Some(_) => {}
                None => return Err(DocumentError::new(at, &n.path, Problem::Unknown("parent"))),
            }
            let kind = match n.kind {
                DocNodeKind::Folder => NodeKind::Folder,
                DocNodeKind::Project => NodeKind::Project,
            };
            if self.nodes.insert(path, kind).is_some() {
                return Err(DocumentError::new(at, &n.path, Problem::Duplicate));
            }
        }
        for (i, r) in doc.resources.iter().enumerate() {
            let at = format!("resources[{i}]");
            let path = rel(&at, &r.path)?;
            let Some((_, parent)) = path.split_last() else {
                return Err(DocumentError::new(at, &r.path, Problem::BadPath));
            };
            if self.parent_kind(parent).is_none() {
                return Err(DocumentError::new(at, &r.path, Problem::Unknown("parent")));
            }
            if !self.catalog.types.contains_key(&r.type_name) {
                return Err(DocumentError::new(at, &r.path, Problem::Unknown("type")));
            }
            let mut links = BTreeSet::new();
            for l in &r.links {
                let lp = rel(&at, l)?;
                if self.nodes.get(&lp) != Some(&NodeKind::Project) {
                    return Err(DocumentError::new(at, l, Problem::LinkNotProject));
                }
                links.insert(lp);
            }
            let facts = ResourceFacts {
                type_name: r.type_name.clone(),
                links,
                attributes: r.attributes.clone(),
            };
            if self.nodes.contains_key(&path) || self.resources.insert(path, facts).is_some() {
                return Err(DocumentError::new(at, &r.path, Problem::Duplicate));
            }
        }
        Ok(())
    }

    /// The kind of the node at `path` (the root is the organisation), if the document has it.
    fn parent_kind(&self, path: &[Name]) -> Option<NodeKind> {
        if path.is_empty() {
            Some(NodeKind::Org)
        } else {
            self.nodes.get(path).copied()
        }
    }

    fn add_principals(&mut self, doc: &Document) -> Result<(), DocumentError> {
        for (i, u) in doc.users.iter().enumerate() {
            let facts = UserFacts {
                email: u.email.clone(),
                display_name: u.display_name.clone(),
                enabled: u.enabled,
                break_glass: u.break_glass,
            };
            if self.users.insert(u.username.clone(), facts).is_some() {
                return Err(DocumentError::new(
                    format!("users[{i}]"),
                    format!("user:{}", u.username),
                    Problem::Duplicate,
                ));
            }
        }
        for (i, s) in doc.service_accounts.iter().enumerate() {
            if self
                .service_accounts
                .insert(s.name.clone(), s.enabled)
                .is_some()
            {
                return Err(DocumentError::new(
                    format!("service_accounts[{i}]"),
                    format!("sa:{}", s.name),
                    Problem::Duplicate,
                ));
            }
        }
        for (i, g) in doc.groups.iter().enumerate() {
            if !self.groups.insert(g.name.clone()) {
                return Err(DocumentError::new(
                    format!("groups[{i}]"),
                    format!("group:{}", g.name),
                    Problem::Duplicate,
                ));
            }
        }
        for (i, g) in doc.groups.iter().enumerate() {
            for (j, m) in g.members.iter().enumerate() {
                let at = format!("groups[{i}].members[{j}]");
                let key = self.principal(&at, &m.member)?;
                let entries = Entries {
                    manual: m.manual,
                    mapped: m.mapped.clone(),
                };
                if self
                    .members
                    .insert((g.name.clone(), key), entries)
                    .is_some()
                {
                    return Err(DocumentError::new(at, &m.member, Problem::Duplicate));
                }
            }
        }
        Ok(())
    }

    /// A principal reference of the document, which must name one of its principals.
    fn principal(&self, at: &str, s: &str) -> Result<PrincipalKey, DocumentError> {
        let key =
            parse_principal(s).ok_or_else(|| DocumentError::new(at, s, Problem::BadPrincipal))?;
        let known = match key.0 {
            PrincipalKind::User => self.users.contains_key(&key.1),
            PrincipalKind::ServiceAccount => self.service_accounts.contains_key(&key.1),
            PrincipalKind::Group => self.groups.contains(&key.1),
        };
        if known {
            Ok(key)
        } else {
            Err(DocumentError::new(at, s, Problem::Unknown("principal")))
        }
    }

    fn add_policies(
        &mut self,
        doc: &Document,
        rel: &impl Fn(&str, &str) -> Result<RelPath, DocumentError>,
    ) -> Result<(), DocumentError> {
        let system: BTreeSet<&str> = crate::roles::system_roles()
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        for (i, r) in doc.roles.iter().enumerate() {
            let at = format!("roles[{i}]");
            if system.contains(r.name.as_str()) {
                return Err(DocumentError::new(
                    at,
                    r.name.as_str(),
                    Problem::SystemRoleName,
                ));
            }
            if self
                .roles
                .insert(r.name.clone(), r.statements.clone())
                .is_some()
            {
                return Err(DocumentError::new(at, r.name.as_str(), Problem::Duplicate));
            }
        }
        for (i, b) in doc.bindings.iter().enumerate() {
            let at = format!("bindings[{i}]");
            let subject = self.principal(&at, &b.subject)?;
            if !self.roles.contains_key(&b.role) && !system.contains(b.role.as_str()) {
                return Err(DocumentError::new(
                    at,
                    b.role.as_str(),
                    Problem::Unknown("role"),
                ));
            }
            let scope = rel(&at, &b.scope)?;
            if !scope.is_empty()
                && !self.nodes.contains_key(&scope)
                && !self.resources.contains_key(&scope)
            {
                return Err(DocumentError::new(at, &b.scope, Problem::Unknown("scope")));
            }
            let key = BindingKey {
                scope,
                subject,
                role: b.role.clone(),
                expires_at: b.expires_at,
                conditions: b.conditions.clone(),
            };
            *self.bindings.entry(key).or_default() += 1;
        }
        for (i, g) in doc.guardrails.iter().enumerate() {
            let at = format!("guardrails[{i}]");
            let node = rel(&at, &g.node)?;
            if self.parent_kind(&node).is_none() {
                return Err(DocumentError::new(at, &g.node, Problem::Unknown("node")));
            }
            if self
                .guardrails
                .insert(g.name.clone(), (node, g.statements.clone()))
                .is_some()
            {
                return Err(DocumentError::new(at, g.name.as_str(), Problem::Duplicate));
            }
        }
        Ok(())
    }
}
