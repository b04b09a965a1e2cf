//! canopy-api: the wire types of Canopy's HTTP API (DESIGN §4), shared by the server, the CLI and
//! the tests. Requests refuse unknown fields (400 `unknown-field`).

use serde::{Deserialize, Serialize};

/// The header with which a read asks for read-your-writes: the replica waits until it has
/// applied this revision (bounded; then 503 `revision-not-reached`).
pub const MIN_REVISION_HEADER: &str = "canopy-min-revision";

/// The media type of errors (RFC 7807).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// `POST /v1/auth/login`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The organisation (ID or name); omitted for an instance administrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
}

/// The answer to a login: a bearer token for `Authorization: Bearer …`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct LoginResponse {
    /// The token (shown once; the server keeps only its hash).
    pub token: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
}

/// The first administrator of a new organisation.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    /// Its username.
    pub username: String,
    /// Its password.
    pub password: String,
}

/// `POST /v1/orgs` (instance administrators only).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrgRequest {
    /// The organisation's name.
    pub name: String,
    /// Its first administrator.
    pub admin: NewAdmin,
}

/// `POST /v1/orgs/{org}/nodes`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateNodeRequest {
    /// `folder` or `project`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The parent: an ID or a path.
    pub parent: String,
}

/// `POST /v1/orgs/{org}/users`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
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
    pub password: Option<String>,
}

/// `POST /v1/orgs/{org}/bindings`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
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

/// The conditions of a binding.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingConditions {
    /// The session must be MFA-verified.
    #[serde(default)]
    pub mfa: bool,
    /// The request must come from one of these networks.
    #[serde(default)]
    pub source_cidrs: Vec<String>,
}

/// `POST /v1/orgs/{org}/check` and `/explain`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// An ID or `user:NAME` / `sa:NAME`.
    pub principal: String,
    /// An action of the catalog.
    pub action: String,
    /// An ID or a path.
    pub target: String,
    /// The request context to decide in (MFA, source address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<CheckContext>,
}

/// The context of a decision.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckContext {
    /// The session is MFA-verified.
    #[serde(default)]
    pub mfa: bool,
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
}

/// An RFC 7807 problem.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Problem {
    /// `urn:canopy:problem:SLUG`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, fixed summary of the type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened and what to do, for a person.
    pub detail: String,
}

impl Problem {
    /// The `SLUG` of the type.
    pub fn slug(&self) -> &str {
        self.kind
            .strip_prefix("urn:canopy:problem:")
            .unwrap_or(&self.kind)
    }
}
