//! Every request's ID, and what is observed of every request. The ID is the client's
//! `X-Request-Id` when it is well formed (a load balancer's, say), otherwise a fresh one; it is
//! answered in `X-Request-Id` on every response, in the `request_id` of every problem, in the
//! tracing span of the request (so every log line of it carries it), and in the change and the
//! audit events the request writes.

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use canopy_api::REQUEST_ID_HEADER;
use tracing::Instrument;

use crate::state::App;

tokio::task_local! {
    /// The ID of the request this task is answering.
    static REQUEST_ID: String;
}

/// The longest request ID taken from a client.
pub const MAX_ID_LEN: usize = 64;

/// Whether a client's request ID is taken as it is: 1 to [`MAX_ID_LEN`] ASCII letters, digits,
/// `-`, `_`, `.` or `:` — nothing that could forge a log line or a header.
pub fn well_formed(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A fresh request ID (`req_` and 16 hexadecimal digits).
pub fn fresh() -> String {
    format!("req_{}", hex::encode(rand::random::<[u8; 8]>()))
}

/// The ID of the request being answered, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// The ID of the request being answered, for the change log and the audit trail; outside a
/// request (a background job), a fresh one.
pub fn id() -> String {
    current().unwrap_or_else(fresh)
}

/// The route of a request for metrics and logs: its template (`/v1/orgs/{org}/nodes/{node}`),
/// never the path as sent, so that the label's values stay few; `unmatched` for no route.
fn route_of(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string())
}

/// The outermost layer: names the request (see the module), answers in its span, counts it by
/// route and status, and logs it at `debug`.
pub async fn observe(State(app): State<App>, req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map_or_else(fresh, str::to_string);
    let method = req.method().clone();
    let route = route_of(&req);
    let span = tracing::info_span!("request", request_id = %id, %method, %route);
    let started = crate::telemetry::Stopwatch::start();
    let mut response = REQUEST_ID
        .scope(id.clone(), next.run(req))
        .instrument(span.clone())
        .await;
    let status = response.status().as_u16();
    app.telemetry.answered(&method, &route, status);
    span.in_scope(|| {
        tracing::debug!(
            status,
            micros = started.elapsed().as_micros() as u64,
            "answered"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_id_is_taken_only_when_short_and_plain() {
        assert!(well_formed("req_0123abcd"));
        assert!(well_formed("7c9e6679-7425-40de-944b-e07fc1f90ae7"));
        assert!(well_formed(&"a".repeat(MAX_ID_LEN)));
        assert!(!well_formed(""));
        assert!(!well_formed(&"a".repeat(MAX_ID_LEN + 1)));
        assert!(!well_formed("two words"));
        assert!(!well_formed("line\nbreak"));
        assert!(!well_formed("quote\"d"));
        assert!(!well_formed("日本語"));
        assert!(well_formed(&fresh()));
    }
}
