//! The plain data of an organisation: every object as it is stored, written to the change log and
//! exported. The engine (`crate::engine`) indexes it; nothing here decides anything.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::action::{Catalog, Statement};
use crate::ids::{BindingId, GuardrailId, NodeId, OrgId, PrincipalId, ResourceId, RoleId, TokenId};
use crate::name::Name;
use crate::time::Timestamp;

/// Folder or project (the organisation is the root node).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// The root of an organisation's tree.
    Org,
    /// Holds folders, projects and resources.
    Folder,
    /// Holds resources only.
    Project,
}

impl NodeKind {
    /// The ID prefix of this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            NodeKind::Org => "org",
            NodeKind::Folder => "fld",
            NodeKind::Project => "prj",
        }
    }
}

/// User, service account or group.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A person.
    User,
    /// An application.
    ServiceAccount,
    /// A set of principals.
    Group,
}

impl PrincipalKind {
    /// The ID prefix of this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            PrincipalKind::User => "usr",
            PrincipalKind::ServiceAccount => "sa",
            PrincipalKind::Group => "grp",
        }
    }
    /// The reference prefix (`user:`, `sa:`, `group:`) without the colon.
    pub fn ref_prefix(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::ServiceAccount => "sa",
            PrincipalKind::Group => "group",
        }
    }
}

/// Per-organisation limits (§3.1), set by instance administrators.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Levels of folders and projects below the organisation.
    pub max_depth: u32,
    /// Folders and projects in the organisation (the root not counted).
    pub max_nodes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 10,
            max_nodes: 5000,
        }
    }
}

/// The authentication policy of an organisation, as far as the model's invariants need it.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Anyone holding an `admin`-class action must use a second factor.
    #[serde(default)]
    pub mfa_required: bool,
    /// With `mfa_required`: only passkeys count as the second factor.
    #[serde(default)]
    pub passkeys_only: bool,
    /// Source addresses from which admin-class actions may be performed (empty: anywhere).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admin_source_cidrs: Vec<IpNet>,
    /// Who hears of privileged, break-glass and new-device logins, and how (§5). Left out of
    /// the stored form while it is the default, so that older policies read and write alike.
    #[serde(default, skip_serializing_if = "Notifications::is_default")]
    pub notifications: Notifications,
    /// The fewest characters a local password may have (`None`: [`Policy::DEFAULT_MIN_PASSWORD`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_password_length: Option<u32>,
    /// How long a login session of the organisation lasts at most, in minutes (`None`: the
    /// instance's setting; an organisation may shorten it, never lengthen it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_lifetime_minutes: Option<u32>,
    /// A session of the organisation unused for this many minutes ends (`None`: the instance's
    /// setting; as with the lifetime, only shorter counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_idle_minutes: Option<u32>,
}

impl Policy {
    /// The shortest password taken when the policy does not say.
    pub const DEFAULT_MIN_PASSWORD: u32 = 8;

    /// The fewest characters a local password of the organisation may have.
    pub fn password_floor(&self) -> usize {
        self.min_password_length
            .unwrap_or(Self::DEFAULT_MIN_PASSWORD) as usize
    }
}

/// How an organisation is told of privileged, break-glass and new-device logins (DESIGN §5).
/// The webhook's signing secret is not here: it lives only in the credentials table, and the
/// model records only that it is set.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    /// Send notices by e-mail (when the instance has an SMTP server configured).
    #[serde(default = "yes")]
    pub email: bool,
    /// Where to POST signed notices (an `http` or `https` URL), if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// A webhook signing secret is stored for the organisation. Once set it stays set: a policy
    /// written without a new secret keeps the stored one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub webhook_secret_set: bool,
    /// The language of the notices.
    #[serde(default = "japanese")]
    pub lang: crate::messages::Lang,
}

fn yes() -> bool {
    true
}

fn japanese() -> crate::messages::Lang {
    crate::messages::Lang::Ja
}

impl Default for Notifications {
    fn default() -> Self {
        Notifications {
            email: true,
            webhook_url: None,
            webhook_secret_set: false,
            lang: japanese(),
        }
    }
}

impl Notifications {
    /// Whether these are the settings of a policy that says nothing about notifications.
    pub fn is_default(&self) -> bool {
        self == &Notifications::default()
    }
}

/// An organisation: the tenant, and the root node of its tree.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Org {
    /// Also the root node's ID.
    pub id: OrgId,
    /// Unique in the installation.
    pub name: Name,
    /// Depth and node limits.
    pub limits: Limits,
    /// Authentication policy.
    pub policy: Policy,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A folder or project.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Node {
    /// `fld_…` or `prj_…`.
    pub id: NodeId,
    /// Folder or project.
    pub kind: NodeKind,
    /// Unique (not confusable) among its siblings, nodes and resources together.
    pub name: Name,
    /// The organisation or a folder.
    pub parent: NodeId,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A resource: a thing of a catalog type, homed at a node and optionally linked to projects.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Resource {
    /// `res_…`.
    pub id: ResourceId,
    /// A type of the organisation's catalog.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Unique (not confusable) among the home node's children.
    pub name: Name,
    /// The organisation, a folder or a project.
    pub home: NodeId,
    /// Further projects of the same organisation.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub links: BTreeSet<NodeId>,
    /// Free-form attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// Which credentials a subject has (never the secrets themselves).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// A local password is set.
    #[serde(default)]
    pub password: bool,
    /// A TOTP second factor is enrolled.
    #[serde(default)]
    pub totp: bool,
    /// Number of registered passkeys.
    #[serde(default)]
    pub passkeys: u32,
}

impl Credentials {
    /// Whether these credentials log in locally under `policy` when every external realm is down.
    /// A break-glass account always needs its second factor (§5: MFA-protected).
    pub fn usable_locally(&self, policy: &Policy, break_glass: bool) -> bool {
        let second = if policy.passkeys_only {
            self.passkeys > 0
        } else {
            self.totp || self.passkeys > 0
        };
        self.password && (!(policy.mfa_required || break_glass) || second)
    }
}

/// A kind of credential, for the commands that set or remove one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// The local password.
    Password,
    /// The TOTP second factor.
    Totp,
    /// One passkey.
    Passkey,
}

/// A person of one organisation.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct User {
    /// `usr_…`.
    pub id: PrincipalId,
    /// Unique (not confusable) among the organisation's users.
    pub username: Name,
    /// Contact address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Name shown to people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Disabled users are denied everything.
    pub enabled: bool,
    /// An emergency account (§5).
    #[serde(default)]
    pub break_glass: bool,
    /// Which credentials it has.
    pub credentials: Credentials,
    /// When it was created.
    pub created_at: Timestamp,
}

/// An application's identity in one organisation.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ServiceAccount {
    /// `sa_…`.
    pub id: PrincipalId,
    /// Unique (not confusable) among the organisation's service accounts.
    pub name: Name,
    /// Disabled service accounts are denied everything.
    pub enabled: bool,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A group of users, service accounts and groups.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Group {
    /// `grp_…`.
    pub id: PrincipalId,
    /// Unique (not confusable) among the organisation's groups.
    pub name: Name,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A manual membership entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManualMode {
    /// In the group whatever the mapped sources say.
    Include,
    /// Out of the group however it would reach it.
    Exclude,
}

/// All entries of one member in one group: at most one manual entry, and the mapped sources.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Membership {
    /// The group.
    pub group: PrincipalId,
    /// The user, service account or group in it.
    pub member: PrincipalId,
    /// The manual entry, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<ManualMode>,
    /// Mapped sources (`scim`, `oidc:REALM`, `ldap:REALM`, `api`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub mapped: BTreeSet<String>,
}

impl Membership {
    /// Whether this entry puts the member in the group (directly).
    pub fn includes(&self) -> bool {
        match self.manual {
            Some(ManualMode::Include) => true,
            Some(ManualMode::Exclude) => false,
            None => !self.mapped.is_empty(),
        }
    }
    /// Whether this entry keeps the member out of the group however it would reach it.
    pub fn excludes(&self) -> bool {
        self.manual == Some(ManualMode::Exclude)
    }
}

/// A role: a named list of allow and deny statements.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Role {
    /// `rol_…`.
    pub id: RoleId,
    /// Unique (not confusable) among the organisation's roles.
    pub name: Name,
    /// Statements.
    pub statements: Vec<Statement>,
    /// A read-only role present in every organisation.
    #[serde(default)]
    pub system: bool,
}

/// The conditions a request must meet for a binding to apply.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// The request must come from an MFA-verified session.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mfa: bool,
    /// The request must come from one of these networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_cidrs: Vec<IpNet>,
}

impl Conditions {
    /// No conditions at all.
    pub fn is_empty(&self) -> bool {
        !self.mfa && self.source_cidrs.is_empty()
    }
    /// Whether a request context meets these conditions.
    pub fn met_by(&self, ctx: &RequestContext) -> bool {
        if self.mfa && !ctx.mfa {
            return false;
        }
        self.source_cidrs.is_empty()
            || ctx.source_ip.is_some_and(|ip| {
                let ip = canonical_ip(ip);
                self.source_cidrs.iter().any(|net| net.contains(&ip))
            })
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are their IPv4 address.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What a request brings to a decision (§3.4).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestContext {
    /// The session is MFA-verified.
    #[serde(default)]
    pub mfa: bool,
    /// The client's address, if known.
    #[serde(default)]
    pub source_ip: Option<IpAddr>,
}

/// What a binding's scope is: a node or a resource.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scope {
    /// The node and everything inside it.
    Node(NodeId),
    /// One resource.
    Resource(ResourceId),
}

impl Scope {
    /// The scope's ID as text.
    pub fn as_str(&self) -> &str {
        match self {
            Scope::Node(n) => n.as_str(),
            Scope::Resource(r) => r.as_str(),
        }
    }
}

/// A role granted to a principal at a scope.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Binding {
    /// `bnd_…`.
    pub id: BindingId,
    /// User, service account or group.
    pub principal: PrincipalId,
    /// The role.
    pub role: RoleId,
    /// Where it applies.
    pub scope: Scope,
    /// After this time it does not apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// What the request must meet.
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
    /// When it was created.
    pub created_at: Timestamp,
}

/// Statements that cap every target strictly inside a node's subtree.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Guardrail {
    /// `grd_…`.
    pub id: GuardrailId,
    /// Unique (not confusable) among the organisation's guardrails.
    pub name: Name,
    /// The node it is attached to.
    pub node: NodeId,
    /// Allow-list and deny statements.
    pub statements: Vec<Statement>,
}

/// An API token: a user's personal token or a service account's key. Its secret is never here
/// (only its hash, in the store's credentials); what it may do is its owner's permissions, cut
/// down to `narrowing` when there is one (§5, §3.7: it can never exceed them).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ApiToken {
    /// `tok_…`.
    pub id: TokenId,
    /// The user or service account it acts as.
    pub owner: PrincipalId,
    /// What its owner calls it (unique among the owner's tokens).
    pub name: Name,
    /// The statements it is narrowed to (`None`: all its owner's permissions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub narrowing: Option<Vec<Statement>>,
    /// When it stops working (`None`: when revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// One object of an organisation, as written to the change log.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum Object {
    /// The organisation itself.
    Org(Org),
    /// Its catalog.
    Catalog(Catalog),
    /// A folder or project.
    Node(Node),
    /// A resource.
    Resource(Resource),
    /// A user.
    User(User),
    /// A service account.
    ServiceAccount(ServiceAccount),
    /// A group.
    Group(Group),
    /// A member's entries in a group.
    Membership(Membership),
    /// A custom role.
    Role(Role),
    /// A binding.
    Binding(Binding),
    /// A guardrail.
    Guardrail(Guardrail),
    /// An API token (without its secret).
    Token(ApiToken),
}

/// The key of an object, for deletions.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum ObjectKey {
    /// The organisation (deleting it deletes everything in it).
    Org(OrgId),
    /// A folder or project.
    Node(NodeId),
    /// A resource.
    Resource(ResourceId),
    /// A user, service account or group.
    Principal(PrincipalId),
    /// A member's entries in a group: (group, member).
    Membership(PrincipalId, PrincipalId),
    /// A custom role.
    Role(RoleId),
    /// A binding.
    Binding(BindingId),
    /// A guardrail.
    Guardrail(GuardrailId),
    /// An API token.
    Token(TokenId),
}

impl Object {
    /// The key this object is stored under (the catalog is keyed by its organisation).
    pub fn key(&self, org: &OrgId) -> ObjectKey {
        match self {
            Object::Org(o) => ObjectKey::Org(o.id.clone()),
            Object::Catalog(_) => ObjectKey::Org(org.clone()),
            Object::Node(n) => ObjectKey::Node(n.id.clone()),
            Object::Resource(r) => ObjectKey::Resource(r.id.clone()),
            Object::User(u) => ObjectKey::Principal(u.id.clone()),
            Object::ServiceAccount(s) => ObjectKey::Principal(s.id.clone()),
            Object::Group(g) => ObjectKey::Principal(g.id.clone()),
            Object::Membership(m) => ObjectKey::Membership(m.group.clone(), m.member.clone()),
            Object::Role(r) => ObjectKey::Role(r.id.clone()),
            Object::Binding(b) => ObjectKey::Binding(b.id.clone()),
            Object::Guardrail(g) => ObjectKey::Guardrail(g.id.clone()),
            Object::Token(t) => ObjectKey::Token(t.id.clone()),
        }
    }
}

/// One effect of a command on the state: an object written (created or updated, its new value)
/// or deleted. Replaying effects rebuilds the state exactly; nothing is re-validated.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Write {
    /// Created or updated: the new value.
    Put(Object),
    /// Deleted.
    Delete(ObjectKey),
}

/// The whole state of one organisation as plain data: what is exported, backed up and given to
/// the engine to index.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct OrgModel {
    /// The organisation.
    pub org: Org,
    /// Its catalog.
    pub catalog: Catalog,
    /// Folders and projects.
    pub nodes: BTreeMap<NodeId, Node>,
    /// Resources.
    pub resources: BTreeMap<ResourceId, Resource>,
    /// Users.
    pub users: BTreeMap<PrincipalId, User>,
    /// Service accounts.
    pub service_accounts: BTreeMap<PrincipalId, ServiceAccount>,
    /// Groups.
    pub groups: BTreeMap<PrincipalId, Group>,
    /// Membership entries, by (group, member).
    pub memberships: BTreeMap<(PrincipalId, PrincipalId), Membership>,
    /// Custom roles (system roles are implicit: [`crate::system_roles`]).
    pub roles: BTreeMap<RoleId, Role>,
    /// Bindings.
    pub bindings: BTreeMap<BindingId, Binding>,
    /// Guardrails.
    pub guardrails: BTreeMap<GuardrailId, Guardrail>,
    /// API tokens and service-account keys.
    #[serde(default)]
    pub tokens: BTreeMap<TokenId, ApiToken>,
}

impl OrgModel {
    /// An empty organisation.
    pub fn new(org: Org) -> Self {
        OrgModel {
            org,
            catalog: Catalog::default(),
            nodes: BTreeMap::new(),
            resources: BTreeMap::new(),
            users: BTreeMap::new(),
            service_accounts: BTreeMap::new(),
            groups: BTreeMap::new(),
            memberships: BTreeMap::new(),
            roles: BTreeMap::new(),
            bindings: BTreeMap::new(),
            guardrails: BTreeMap::new(),
            tokens: BTreeMap::new(),
        }
    }

    /// A role by ID, system roles included.
    pub fn role(&self, id: &RoleId) -> Option<&Role> {
        self.roles
            .get(id)
            .or_else(|| crate::roles::system_roles().iter().find(|r| &r.id == id))
    }
}
