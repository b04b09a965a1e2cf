//! The API's routes, one file per kind of thing they are about, and what they share.

pub mod bindings;
pub mod decisions;
pub mod nodes;
pub mod orgs;
pub mod users;
pub mod watch;

use canopy_core::command::Command;
use canopy_core::ids::OrgId;
use canopy_core::installation::{Change, Effects, Request};
use canopy_core::messages::Lang;
use canopy_core::model::{Object, ObjectKey, Write};
use canopy_core::name::NameProblem;
use canopy_store::{Expectation, SecretOp, Submission};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::messages;
use crate::problem::ApiError;
use crate::state::App;

/// The organisation named in the URL, if it is the caller's; otherwise 404 (unknown and
/// foreign are indistinguishable). Instance administrators read no organisation's contents.
pub fn org_of(app: &App, caller: &Caller, reference: &str) -> Result<OrgId, ApiError> {
    let not_found = || ApiError::new("not-found", messages::org_not_found(reference, caller.lang));
    let inst = app.shared.read();
    let id = inst
        .find_org(reference)
        .ok_or_else(not_found)?
        .model()
        .org
        .id
        .clone();
    if caller.org.as_ref() == Some(&id) {
        Ok(id)
    } else {
        Err(not_found())
    }
}

/// Refuses (403) unless the caller may do `action` on `target` of the organisation.
pub fn require(
    app: &App,
    caller: &Caller,
    org: &OrgId,
    action: &str,
    target: &str,
) -> Result<(), ApiError> {
    let forbidden = || ApiError::new("forbidden", messages::forbidden(action, caller.lang));
    let subject = caller.subject.as_ref().ok_or_else(forbidden)?;
    let inst = app.shared.read();
    let engine = inst.org(org).ok_or_else(forbidden)?;
    let allowed = engine
        .check(
            subject.as_str(),
            action,
            target,
            &caller.actor.ctx,
            app.clock.now(),
        )
        .is_ok_and(|d| d.allowed);
    if allowed { Ok(()) } else { Err(forbidden()) }
}

/// A name that breaks the rules of §3.1.
pub fn invalid_name(
    field: &'static str,
    value: &str,
    problem: NameProblem,
    lang: Lang,
) -> ApiError {
    let e = canopy_core::error::CommandError::InvalidName {
        field,
        value: value.into(),
        problem,
    };
    ApiError::command(&e, lang)
}

/// A fresh request ID, for the log and the audit trail.
pub fn request_id() -> String {
    format!("req_{}", hex::encode(rand::random::<[u8; 8]>()))
}

/// Submits commands to the caller's organisation as one change and waits until it is durable.
pub async fn submit(
    app: &App,
    caller: &Caller,
    org: OrgId,
    commands: Vec<Command>,
    secrets: Vec<SecretOp>,
    expect: Option<Expectation>,
) -> Result<Change, ApiError> {
    app.writer
        .submit(Submission {
            actor: caller.actor.clone(),
            request: Request::Org { org, commands },
            request_id: request_id(),
            secrets,
            expect,
        })
        .await
        .map(|c| c.change)
        .map_err(|e| ApiError::submit(&e, caller.lang))
}

/// `If-Match: "REVISION"` on a change to `key`: the change is refused (412 `stale-revision`)
/// unless the object was last written at that revision.
pub fn if_match(
    headers: &axum::http::HeaderMap,
    key: ObjectKey,
    lang: Lang,
) -> Result<Option<Expectation>, ApiError> {
    let Some(value) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let revision = value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            ApiError::new("invalid-field", messages::bad_value("If-Match", lang))
                .with_status(axum::http::StatusCode::BAD_REQUEST)
        })?;
    Ok(Some(Expectation::Object(key, revision)))
}

/// The object a change created, as the answer to a mutation: its value plus the new revision.
pub fn created(
    change: &Change,
    pick: impl Fn(&Object) -> Option<Value>,
) -> Result<Value, ApiError> {
    let writes: &[Write] = match &change.effects {
        Effects::Org { writes, .. } => writes,
        Effects::Instance { .. } => &[],
    };
    let mut body = writes
        .iter()
        .find_map(|w| match w {
            Write::Put(o) => pick(o),
            Write::Delete(_) => None,
        })
        .ok_or_else(|| ApiError::new("internal", format!("{} created nothing", change.command)))?;
    body["revision"] = json!(change.revision);
    Ok(body)
}
