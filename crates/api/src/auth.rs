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

/// `POST /v1/auth/passkey/start`: a login with a passkey. With `username`, the options list
/// that user's passkeys; without, the authenticator offers the passkeys it keeps for this site
/// (discoverable credentials) and says whose it used.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyLoginStart {
    /// The organisation (ID or name).
    pub org: String,
    /// The username; omitted: any passkey the authenticator keeps for this site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// The start of a WebAuthn ceremony: pass `options` to the authenticator
/// (`navigator.credentials.create` or `.get`, after decoding its base64url fields) and send its
/// answer back with `challenge_id` within 5 minutes.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize, ToSchema)]
pub struct PasskeyChallenge {
    /// Names this ceremony at its finish; usable once.
    pub challenge_id: String,
    /// WebAuthn's `CredentialCreationOptions` (registration) or `CredentialRequestOptions`
    /// (login): `{publicKey: {...}}`, binary fields in base64url.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// `POST /v1/auth/passkey/finish`.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyLoginFinish {
    /// The `challenge_id` of the start.
    pub challenge_id: String,
    /// The authenticator's answer: WebAuthn's `PublicKeyCredential` as JSON (binary fields in
    /// base64url), as `PublicKeyCredential.toJSON()` gives it.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}
