//! The objects of an organisation: what creating and changing them takes, and how they are
//! shown. Views name referenced objects by reference (path, `user:NAME`, role name) beside their
//! IDs; `revision` is the object's revision (its `ETag`) on a read, the change's on a mutation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// ----- shared pieces -----

/// Allow or deny.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Grants the matched actions.
    Allow,
    /// Takes the matched actions away, whatever else grants them.
    Deny,
}

/// The class of an action (§3.2).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionClass {
    /// Looks without changing anything.
    Read,
    /// Runs things without changing the platform.
    Operate,
    /// Changes the configuration of resources.
    Configure,
    /// Changes who may do what.
    Admin,
}

/// One statement of a role or guardrail.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Allow or deny.
    pub effect: Effect,
    /// Action patterns (`vm.power`, `vm.*`, `*.read`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// Action classes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ActionClass>,
}

/// The conditions of a binding: any request that does not meet them is not covered by it.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingConditions {
    /// The session must be MFA-verified.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mfa: bool,
    /// The request must come from one of these networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_cidrs: Vec<String>,
}

/// An object named by ID and by reference.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct Named {
    /// The ID.
    pub id: String,
    /// The path or `user:`/`sa:`/`group:` reference.
    #[serde(rename = "ref")]
    pub reference: String,
}

// ----- organisations -----

/// Depth and node limits of an organisation (§3.1).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Levels of folders and projects below the organisation.
    pub max_depth: u32,
    /// Folders and projects in the organisation.
    pub max_nodes: u32,
}

/// The authentication policy of an organisation.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Anyone holding an `admin`-class action must use a second factor.
    #[serde(default)]
    pub mfa_required: bool,
    /// With `mfa_required`: only passkeys count.
    #[serde(default)]
    pub passkeys_only: bool,
    /// Networks from which admin-class actions may be performed (empty: anywhere).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admin_source_cidrs: Vec<String>,
    /// Who hears of privileged, break-glass and new-device logins, and how.
    #[serde(default)]
    pub notifications: Notifications,
    /// The fewest characters a local password may have (8 to 128; default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_password_length: Option<u32>,
    /// The longest a login session lasts, in minutes (5 to 43,200; default: the instance's
    /// setting, which is also the ceiling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_lifetime_minutes: Option<u32>,
    /// A session unused for this many minutes ends (5 to 1,440, at most the lifetime; default:
    /// the instance's setting, which is also the ceiling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_idle_minutes: Option<u32>,
}

/// The language of an organisation's login notices.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NoticeLang {
    /// Japanese (the default).
    #[default]
    Ja,
    /// English.
    En,
}

/// Login notifications (DESIGN §5): a privileged login is told to the user, a break-glass login
/// to every organisation administrator, a login from a new device to the user — by e-mail and,
/// when a URL is set, by a signed webhook. Written as a whole with the policy; the webhook's
/// signing secret is write-only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    /// Send notices by e-mail (when the instance has an SMTP server).
    #[serde(default = "yes")]
    pub email: bool,
    /// Where to POST signed notices: an `http` or `https` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Write-only: a new signing secret for the webhook (at least 32 characters). Never shown;
    /// a policy written without it keeps the stored one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(write_only, min_length = 32, value_type = Option<String>)]
    pub webhook_secret: Option<crate::Secret>,
    /// Read-only: whether a webhook signing secret is stored (ignored in requests).
    #[serde(default)]
    #[schema(read_only)]
    pub webhook_secret_set: bool,
    /// The language of the notices.
    #[serde(default)]
    pub lang: NoticeLang,
}

fn yes() -> bool {
    true
}

impl Default for Notifications {
    fn default() -> Self {
        Notifications {
            email: true,
            webhook_url: None,
            webhook_secret: None,
            webhook_secret_set: false,
            lang: NoticeLang::Ja,
        }
    }
}

/// Shows everything but the secret.
impl std::fmt::Debug for Notifications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifications")
            .field("email", &self.email)
            .field("webhook_url", &self.webhook_url)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "***"),
            )
            .field("webhook_secret_set", &self.webhook_secret_set)
            .field("lang", &self.lang)
            .finish()
    }
}

/// The first administrator of a new organisation.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    /// Its username.
    pub username: String,
    /// Its password.
    #[schema(value_type = String)]
    pub password: crate::Secret,
}

/// `POST /v1/orgs` (instance administrators only).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrgRequest {
    /// The organisation's name.
    pub name: String,
    /// Its first administrator.
    pub admin: NewAdmin,
    /// Its authentication policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
}

/// `PATCH /v1/orgs/{org}`: limits (instance administrators), policy (organisation admins).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrgRequest {
    /// New limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// New policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
}

/// An organisation.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct OrgView {
    /// `org_…`.
    pub id: String,
    /// Its name (also the first segment of every path in it).
    pub name: String,
    /// Its limits.
    pub limits: Limits,
    /// Its authentication policy.
    pub policy: Policy,
    /// When it was created.
    pub created_at: String,
    /// With a creation: the first administrator (`user:NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<Named>,
    /// The revision of the organisation (a read) or of the change (a mutation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

// ----- the tree -----

/// `POST /v1/orgs/{org}/nodes`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNodeRequest {
    /// `folder` or `project`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The parent: an ID or a path.
    pub parent: String,
}

/// `PATCH /v1/orgs/{org}/nodes/{node}`: rename, move, or both.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNodeRequest {
    /// A new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A new parent (ID or path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// A folder or project (or the organisation itself, as the root of the tree).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeView {
    /// `fld_…`, `prj_…` (`org_…` for the root).
    pub id: String,
    /// `org`, `folder` or `project`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its path (`acme/eng/payments`).
    pub path: String,
    /// The parent's ID (none for the root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// See the module documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// A node of `GET /tree`: the caller sees what it may read, and only the names of the ancestors
/// of what it may read.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct TreeNode {
    /// The node's ID.
    pub id: String,
    /// `org`, `folder` or `project`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its path.
    pub path: String,
    /// Whether the caller may read it (`false`: an ancestor shown by name only).
    pub readable: bool,
    /// Its children that the caller may see.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub children: Vec<TreeNode>,
}

/// A child of a node: a folder, a project or a resource.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChildView {
    /// Its ID.
    pub id: String,
    /// `folder`, `project` or `resource`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its path.
    pub path: String,
    /// For a resource: its type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
}

// ----- resources -----

/// `POST /v1/orgs/{org}/resources`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateResourceRequest {
    /// A type of the catalog.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Its name.
    pub name: String,
    /// Its home: the organisation, a folder or a project (ID or path).
    pub parent: String,
    /// Further projects it belongs to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// Free-form attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// `PATCH /v1/orgs/{org}/resources/{resource}`.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateResourceRequest {
    /// A new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A new home (ID or path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// New attributes (replacing the old ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
}

/// `POST /v1/orgs/{org}/resources/{resource}/links`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The project (ID or path).
    pub project: String,
}

/// A resource.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct ResourceView {
    /// `res_…`.
    pub id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Its name.
    pub name: String,
    /// Its path (through its home).
    pub path: String,
    /// Its home node's ID.
    pub home: String,
    /// The projects it is linked to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Named>,
    /// Its attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// When it was created.
    pub created_at: String,
    /// See the module documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

// ----- the catalog -----

/// The catalog: `{types: {vm: {power: operate, read: read, "snapshot.create": configure}}}`.
/// `GET` also shows the built-in `iam` type; `PUT` may not contain it.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogBody {
    /// Type → action suffix → class.
    pub types: BTreeMap<String, BTreeMap<String, ActionClass>>,
    /// On an answer: the revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

// ----- principals -----

/// `POST /v1/orgs/{org}/users`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// The username.
    pub username: String,
    /// An e-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// A local password (hashed by the server, never stored or logged in clear).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub password: Option<crate::Secret>,
}

/// `PATCH /v1/orgs/{org}/users/{user}`. `email` and `display_name` may be `null` to clear them.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// A new username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A new e-mail address, or `null`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// A new display name, or `null`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    /// Enable or disable the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Mark the user as a break-glass account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<bool>,
    /// A new local password, or `null` to remove it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    #[schema(value_type = Option<String>)]
    pub password: Option<Option<crate::Secret>>,
}

/// Distinguishes a field left out (`None`) from one set to `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Which credentials a user has (never the secrets).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct CredentialsView {
    /// A local password is set.
    pub password: bool,
    /// A TOTP second factor is enrolled.
    pub totp: bool,
    /// Registered passkeys.
    pub passkeys: u32,
}

/// `POST /v1/orgs/{org}/users/{user}/passkeys/register/finish`.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterPasskeyRequest {
    /// The `challenge_id` of `POST …/passkeys/register`.
    pub challenge_id: String,
    /// A name for the passkey, for its user (1–128 characters: `MacBook`, `YubiKey 5`).
    pub name: String,
    /// The authenticator's answer: WebAuthn's `PublicKeyCredential` of the registration as JSON
    /// (binary fields in base64url), as `PublicKeyCredential.toJSON()` gives it.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// A passkey (never its key).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct PasskeyView {
    /// Its credential ID (base64url): not a secret, the options of a login list it.
    pub id: String,
    /// The name its user gave it.
    pub name: String,
    /// When it was registered.
    pub created_at: String,
    /// When it last logged in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    /// See the module documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// A user.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// `usr_…`.
    pub id: String,
    /// `user:NAME`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The username.
    pub username: String,
    /// Its e-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Its display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Disabled users are denied everything.
    pub enabled: bool,
    /// An emergency account.
    pub break_glass: bool,
    /// Which credentials it has.
    pub credentials: CredentialsView,
    /// When it was created.
    pub created_at: String,
    /// See the module documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// `POST /v1/orgs/{org}/service-accounts`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccountRequest {
    /// Its name.
    pub name: String,
}

/// `PATCH /v1/orgs/{org}/service-accounts/{sa}`.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateServiceAccountRequest {
    /// Enable or disable it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// A service account.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceAccountView {
    /// `sa_…`.
    pub id: String,
    /// `sa:NAME`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Its name.
    pub name: String,
    /// Disabled service accounts are denied everything.
    pub enabled: bool,
    /// When it was created.
    pub created_at: String,
    /// See the module documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// `POST /v1/orgs/{org}/groups`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    /// Its name.
    pub name: String,
}

/// A group.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct GroupView {
    /// `grp_…`.
    pub id: String,
    /// `group:NAME`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_at: String,
    /// See the module documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// How a membership entry was made.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberMode {
    /// A manual include: in the group whatever the mapped sources say.
    Include,
    /// A manual exclude: out of the group however it would reach it.
    Exclude,
    /// From a mapped source (SSO, SCIM, LDAP, or `api`).
    Mapped,
}

/// `PUT /v1/orgs/{org}/groups/{group}/members/{principal}`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutMemberRequest {
    /// `include`, `exclude` or `mapped`.
    pub mode: MemberMode,
    /// With `mapped`: the source (`scim`, `oidc:REALM`, `ldap:REALM`, `api`; default `api`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The direct entry of a principal in a group.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    /// The group's ID.
    pub group: String,
    /// The member's ID.
    pub member: String,
    /// The member as `user:`/`sa:`/`group:` reference.
    pub member_ref: String,
    /// A manual entry, if any (it beats the mapped ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<MemberMode>,
    /// The mapped sources that put it there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mapped: Vec<String>,
    /// See the module documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

// ----- roles, bindings, guardrails -----

/// `POST /v1/orgs/{org}/roles`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleRequest {
    /// Its name.
    pub name: String,
    /// Its statements.
    pub statements: Vec<Statement>,
}

/// `PUT /v1/orgs/{org}/roles/{role}` and `/guardrails/{guardrail}`: new statements.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutStatementsRequest {
    /// The statements that replace the old ones.
    pub statements: Vec<Statement>,
}

/// A role.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleView {
    /// `rol_…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// A system role (read-only).
    pub system: bool,
    /// Its statements.
    pub statements: Vec<Statement>,
    /// See the module documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// `POST /v1/orgs/{org}/bindings`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBindingRequest {
    /// Any principal: an ID or `user:NAME`, `sa:NAME`, `group:NAME`.
    pub subject: String,
    /// A role, by ID or name.
    pub role: String,
    /// A node or resource, by ID or path.
    pub scope: String,
    /// When it stops applying (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Conditions under which it applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<BindingConditions>,
}

/// A binding.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct BindingView {
    /// `bnd_…`.
    pub id: String,
    /// The principal's ID.
    pub subject: String,
    /// The principal as reference.
    pub subject_ref: String,
    /// The role's ID.
    pub role: String,
    /// The role's name.
    pub role_name: String,
    /// The scope's ID.
    pub scope: String,
    /// The scope's path.
    pub scope_path: String,
    /// When it stops applying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Its conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<BindingConditions>,
    /// When it was created.
    pub created_at: String,
    /// See the module documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// `POST /v1/orgs/{org}/guardrails`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGuardrailRequest {
    /// Its name.
    pub name: String,
    /// The node whose subtree it caps (ID or path).
    pub node: String,
    /// Its statements.
    pub statements: Vec<Statement>,
}

/// A guardrail.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct GuardrailView {
    /// `grd_…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The node's ID.
    pub node: String,
    /// The node's path.
    pub node_path: String,
    /// Its statements.
    pub statements: Vec<Statement>,
    /// See the module documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}
