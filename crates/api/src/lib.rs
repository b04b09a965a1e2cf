//! canopy-api: the wire types of Canopy's HTTP API (DESIGN §4), shared by the server, the CLI and
//! the tests, and described in the OpenAPI document the server serves. Requests refuse unknown
//! fields (400 `unknown-field`).

pub mod auth;
pub mod objects;
pub mod questions;

pub use auth::*;
pub use objects::*;
pub use questions::*;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The header with which a read asks for read-your-writes: the replica waits until it has
/// applied this revision (bounded; then 503 `revision-not-reached`).
pub const MIN_REVISION_HEADER: &str = "canopy-min-revision";

/// A secret on the wire — a password, a code, a token — sent and received as the plain string,
/// but never shown by `Debug`, so that logging a request or an answer cannot leak it.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// The secret itself, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}
/// The header that carries a request's ID: the client's when it is well formed (1 to 64 ASCII
/// letters, digits, `-`, `_`, `.`, `:`), otherwise one the server makes; answered on every
/// response, and recorded in the logs, the change and the audit events of the request.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The media type of errors (RFC 7807).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 7807 problem.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
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
    /// The ID of the request (as in its `X-Request-Id`), to find it in the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Problem {
    /// The `SLUG` of the type.
    pub fn slug(&self) -> &str {
        self.kind
            .strip_prefix("urn:canopy:problem:")
            .unwrap_or(&self.kind)
    }
}

/// One page of a listing: `{items, next_cursor}`. Pass `next_cursor` back as `cursor` for the
/// next page; `null` means this was the last.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
    /// The revision the listing was read at.
    pub revision: u64,
}

/// The answer to a delete: the revision of the change.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    /// The revision of the change.
    pub revision: u64,
}

/// The query parameters every mutating endpoint takes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct MutationParams {
    /// Compute what would change in everyone's access, and change nothing.
    pub dry_run: bool,
    /// With a delete: also remove what refers to the object (bindings, memberships, children).
    pub cascade: bool,
}

/// The query parameters of a listing.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct PageParams {
    /// Where to continue: the `next_cursor` of the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// At most this many items (default 100, at most 1,000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_cross_the_wire_as_plain_strings_and_never_show_in_debug() {
        let login: LoginRequest = serde_json::from_value(serde_json::json!({
            "username": "alice", "password": "hunter2-hunter2", "totp": "123456"
        }))
        .unwrap();
        assert_eq!(login.password.expose(), "hunter2-hunter2");
        let shown = format!("{login:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("123456"),
            "{shown}"
        );
        assert_eq!(
            serde_json::to_value(&login).unwrap()["password"],
            "hunter2-hunter2"
        );
        let created = CreatedToken {
            token: "cnt.tok_x.s3cr3t".into(),
            view: TokenView {
                id: "tok_x".into(),
                name: "laptop".into(),
                owner: "usr_x".into(),
                owner_ref: "user:alice".into(),
                statements: None,
                expires_at: None,
                created_at: "2026-12-01T00:00:00Z".into(),
                revision: None,
            },
        };
        assert!(!format!("{created:?}").contains("s3cr3t"));
    }
}
