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
    #[schema(value_type = String)]
    pub password: crate::Secret,
    /// A TOTP code, for a user who enrolled TOTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub totp: Option<crate::Secret>,
    /// A recovery code instead of the TOTP code (each works once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub recovery_code: Option<crate::Secret>,
    /// A browser session: the token is set as an HttpOnly session cookie instead of being
    /// answered, and the answer carries the CSRF token every change must send with it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cookie: bool,
}

/// The answer to a login: a bearer token for `Authorization: Bearer …`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// The token (shown once; the server keeps only its hash). Absent for a browser session,
    /// whose token is in its session cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub token: Option<crate::Secret>,
    /// For a browser session: the value of the `Canopy-CSRF-Token` header that every request
    /// changing something must carry beside the session cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub csrf_token: Option<crate::Secret>,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
    /// Things the user should know about this login (e.g. that the organisation does not
    /// require MFA of its privileged users).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// `POST /v1/orgs/{org}/users/{user}/totp`: a TOTP secret to load into an authenticator app. It
/// is not in force until a code from the app confirms it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct TotpEnrolment {
    /// The secret, base32 (shown once).
    #[schema(value_type = String)]
    pub secret: crate::Secret,
    /// The same as an `otpauth://totp/…` URI (for a QR code).
    #[schema(value_type = String)]
    pub otpauth_uri: crate::Secret,
    /// When the enrolment lapses unless confirmed (RFC 3339).
    pub expires_at: String,
}

/// `POST /v1/orgs/{org}/users/{user}/totp/confirm`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirmRequest {
    /// A current code from the authenticator app.
    #[schema(value_type = String)]
    pub code: crate::Secret,
}

/// The answer to a confirmed TOTP enrolment: TOTP is now required at login.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct TotpConfirmed {
    /// Single-use codes for when the authenticator is lost (shown once; kept hashed).
    #[schema(value_type = Vec<String>)]
    pub recovery_codes: Vec<crate::Secret>,
    /// The revision of the change.
    pub revision: u64,
}

/// `POST /v1/orgs/{org}/users/{user}/tokens` and `POST …/service-accounts/{sa}/keys`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// What to call it (unique among its owner's tokens).
    pub name: String,
    /// When it stops working (RFC 3339). A personal token without one lasts 90 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Narrow it to these statements: it may then do only what they allow of what its owner
    /// may do (never more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statements: Option<Vec<crate::Statement>>,
}

/// An API token or service-account key, without its secret.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// `tok_…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The user or service account it acts as.
    pub owner: String,
    /// The owner as `user:NAME` or `sa:NAME`.
    pub owner_ref: String,
    /// The statements it is narrowed to, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statements: Option<Vec<crate::Statement>>,
    /// When it stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// The revision that last wrote it (answers to changes: the new revision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// A token just created: its secret, shown this once (the server keeps only its hash).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    /// The bearer token (`Authorization: Bearer …`).
    #[schema(value_type = String)]
    pub token: crate::Secret,
    /// The token's description.
    #[serde(flatten)]
    pub view: TokenView,
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
    /// A browser session (as for a password login): the token goes in an HttpOnly cookie.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cookie: bool,
}
