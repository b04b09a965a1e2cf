//! Errors as RFC 7807 problems (`application/problem+json`) with stable types
//! `urn:canopy:problem:SLUG` and a detail a person can act on, in the caller's language.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use canopy_api::{PROBLEM_JSON, Problem};
use canopy_core::error::{CommandError, QueryError};
use canopy_core::messages::Lang;
use canopy_store::{StoreError, SubmitError};

use crate::messages;

/// An error answered as a problem.
#[derive(Debug)]
pub struct ApiError {
    /// The slug of the problem type.
    pub slug: &'static str,
    /// The detail, already in the caller's language.
    pub detail: String,
    /// Seconds after which to retry (503).
    pub retry_after: Option<u64>,
    /// The status, when it is not the type's usual one (wrong types in a body: 400).
    pub status: Option<StatusCode>,
}

/// The HTTP status of each problem type (DESIGN §4).
pub fn status_of(slug: &str) -> StatusCode {
    match slug {
        "malformed-json" | "unknown-field" => StatusCode::BAD_REQUEST,
        "unauthenticated" | "second-factor-required" => StatusCode::UNAUTHORIZED,
        "forbidden" | "escalation" => StatusCode::FORBIDDEN,
        "not-found" => StatusCode::NOT_FOUND,
        "duplicate-name" | "confusable-name" | "lockout" | "in-use" | "stale-cursor" => {
            StatusCode::CONFLICT
        }
        "stale-revision" => StatusCode::PRECONDITION_FAILED,
        "method-not-allowed" => StatusCode::METHOD_NOT_ALLOWED,
        "payload-too-large" => StatusCode::PAYLOAD_TOO_LARGE,
        "rate-limited" => StatusCode::TOO_MANY_REQUESTS,
        "revision-not-reached" | "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        "internal" => StatusCode::INTERNAL_SERVER_ERROR,
        // invalid-field, invalid-name, unknown-reference, limit, catalog-typo, group-cycle
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl ApiError {
    /// A problem of the given type.
    pub fn new(slug: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            slug,
            detail: detail.into(),
            retry_after: None,
            status: None,
        }
    }

    /// The same problem with another status.
    pub fn with_status(mut self, status: StatusCode) -> ApiError {
        self.status = Some(status);
        self
    }

    /// The same problem, said of a part of the request (`commands[2]: …`).
    pub fn within(mut self, part: &str) -> ApiError {
        self.detail = format!("{part}: {}", self.detail);
        self
    }

    /// The error of a command, in `lang`.
    pub fn command(e: &CommandError, lang: Lang) -> ApiError {
        ApiError::new(e.code(), e.message(lang))
    }

    /// The error of a question, in `lang`.
    pub fn query(e: &QueryError, lang: Lang) -> ApiError {
        ApiError::new(e.code(), e.message(lang))
    }

    /// A store failure: logged in full, answered without internals.
    pub fn store(e: &StoreError, lang: Lang) -> ApiError {
        tracing::error!(error = %e, "store failure");
        ApiError::new("unavailable", messages::unavailable(lang))
    }

    /// The error of a submission.
    pub fn submit(e: &SubmitError, lang: Lang) -> ApiError {
        match e {
            SubmitError::Rejected(_, e) => ApiError::command(e, lang),
            SubmitError::Store(e) => ApiError::store(e, lang),
            SubmitError::Stopped => ApiError::new("unavailable", messages::unavailable(lang)),
        }
    }

    /// The HTTP status of this problem.
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| status_of(self.slug))
    }

    /// The problem document (also used inside batch answers).
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:canopy:problem:{}", self.slug),
            title: messages::title(self.slug).into(),
            status: self.status().as_u16(),
            detail: self.detail.clone(),
            request_id: crate::request::current(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = self.problem();
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
