//! Logging in.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/auth/login`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
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
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// The token (shown once; the server keeps only its hash).
    pub token: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
}
