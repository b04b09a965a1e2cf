//! The API's routes, one file per kind of thing they are about, and what they share: finding the
//! caller's organisation and the objects named in the URL, checking the caller's permission,
//! running a mutation (or its dry run) and answering it, paging listings.

pub mod audit;
pub mod bindings;
pub mod catalog;
pub mod decisions;
pub mod groups;
pub mod guardrails;
pub mod nodes;
pub mod orgs;
pub mod passkeys;
pub mod plans;
pub mod resources;
pub mod roles;
pub mod service_accounts;
pub mod tokens;
pub mod totp;
pub mod users;
pub mod watch;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use canopy_api as api;
use canopy_core::engine::OrgEngine;
use canopy_core::ids::OrgId;
use canopy_core::installation::{Change, Effects, Request};
use canopy_core::messages::Lang;
use canopy_core::model::{Object, ObjectKey, Write};
use canopy_store::{Expectation, SecretOp, Submission};

use crate::auth::Caller;
use crate::credentials::hash_password;
use crate::messages;
use crate::problem::ApiError;
use crate::state::App;
use crate::translate::Planned;
use crate::views;

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

/// Runs `f` on the organisation's engine (under the read lock: no awaiting inside).
pub fn with_engine<T>(
    app: &App,
    org: &OrgId,
    lang: Lang,
    f: impl FnOnce(&OrgEngine) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let inst = app.shared.read();
    let engine = inst
        .org(org)
        .ok_or_else(|| ApiError::new("not-found", messages::org_not_found(org.as_str(), lang)))?;
    f(engine)
}

/// Whether the caller may do `action` on `target` (an ID or path) of this engine's organisation.
pub fn allowed(app: &App, engine: &OrgEngine, caller: &Caller, action: &str, target: &str) -> bool {
    let Some(subject) = &caller.subject else {
        return false;
    };
    engine
        .check(
            subject.as_str(),
            action,
            target,
            &caller.actor.ctx,
            app.clock.now(),
        )
        .is_ok_and(|d| d.allowed)
}

/// Refuses (403) unless the caller may do `action` on `target`.
pub fn require(
    app: &App,
    engine: &OrgEngine,
    caller: &Caller,
    action: &str,
    target: &str,
) -> Result<(), ApiError> {
    if allowed(app, engine, caller, action, target) {
        Ok(())
    } else {
        Err(ApiError::new(
            "forbidden",
            messages::forbidden(action, caller.lang),
        ))
    }
}

/// Refuses (403) unless the caller may do `action` at the organisation's root.
pub fn require_root(
    app: &App,
    engine: &OrgEngine,
    caller: &Caller,
    action: &str,
) -> Result<(), ApiError> {
    let root = engine.model().org.id.to_string();
    require(app, engine, caller, action, &root)
}

/// A name that breaks the rules of §3.1.
pub fn invalid_name(
    field: &'static str,
    value: &str,
    problem: canopy_core::name::NameProblem,
    lang: Lang,
) -> ApiError {
    let e = canopy_core::error::CommandError::InvalidName {
        field,
        value: value.into(),
        problem,
    };
    ApiError::command(&e, lang)
}

/// An object named in the URL that does not exist: 404.
pub fn not_found(reference: &str, lang: Lang) -> ApiError {
    ApiError::new("not-found", messages::object_not_found(reference, lang))
}

/// `If-Match: "REVISION"` on a change to `key`: the change is refused (412 `stale-revision`)
/// unless the object was last written at that revision.
pub fn if_match(
    headers: &HeaderMap,
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
                .with_status(StatusCode::BAD_REQUEST)
        })?;
    Ok(Some(Expectation::Object(key, revision)))
}

/// What a mutation did: computed its dry run, or made a durable change.
pub enum Outcome {
    /// `?dry_run=true`: nothing changed.
    DryRun(api::DryRun),
    /// The change as recorded.
    Changed(Change),
}

/// Runs a mutation for the caller: its dry run when asked, otherwise the change with its
/// secrets — `passwords` hashed first, off the async workers; `plain` stored as given — durable
/// when this returns.
pub async fn perform(
    app: &App,
    caller: &Caller,
    request: Request,
    passwords: Vec<(canopy_store::SecretOwner, Option<String>)>,
    plain: Vec<SecretOp>,
    dry_run: bool,
    expect: Option<Expectation>,
) -> Result<Outcome, ApiError> {
    let floor = match &request {
        Request::Org { org, .. } => app.shared.read().org(org).map_or(
            canopy_core::model::Policy::DEFAULT_MIN_PASSWORD as usize,
            |e| e.model().org.policy.password_floor(),
        ),
        Request::CreateOrg { policy, .. } => policy.password_floor(),
        _ => canopy_core::model::Policy::DEFAULT_MIN_PASSWORD as usize,
    };
    for password in passwords.iter().filter_map(|(_, p)| p.as_deref()) {
        if password.chars().count() < floor || password.len() > crate::auth::MAX_PASSWORD_BYTES {
            return Err(ApiError::new(
                "invalid-field",
                messages::password_length(floor, crate::auth::MAX_PASSWORD_BYTES, caller.lang),
            ));
        }
    }
    let mut secrets = plain;
    if !dry_run {
        for (owner, password) in passwords {
            let value = match password {
                None => None,
                Some(password) => Some(
                    tokio::task::spawn_blocking(move || hash_password(&password))
                        .await
                        .map_err(|e| ApiError::new("internal", e.to_string()))?
                        .map_err(|e| ApiError::new("invalid-field", e))?,
                ),
            };
            secrets.push(SecretOp {
                owner,
                kind: "password".into(),
                value,
            });
        }
    }
    perform_with_secrets(app, caller, request, secrets, dry_run, expect).await
}

/// Runs a mutation for the caller with secrets already in their stored form (see [`perform`]).
pub async fn perform_with_secrets(
    app: &App,
    caller: &Caller,
    request: Request,
    secrets: Vec<SecretOp>,
    dry_run: bool,
    expect: Option<Expectation>,
) -> Result<Outcome, ApiError> {
    let lang = caller.lang;
    if dry_run {
        let diff = app
            .shared
            .dry_run(&caller.actor, &request, app.clock.as_ref())
            .map_err(|(_, e)| ApiError::command(&e, lang))?;
        return Ok(Outcome::DryRun(api::DryRun {
            dry_run: true,
            revision: diff.revision,
            diff: diff_view(&diff)?,
        }));
    }
    app.writer
        .submit(Submission {
            actor: caller.actor.clone(),
            request,
            request_id: crate::request::id(),
            secrets,
            expect,
        })
        .await
        .map(|c| Outcome::Changed(c.change))
        .map_err(|e| ApiError::submit(&e, lang))
}

/// Runs an organisation's mutation (see [`perform`]).
pub async fn perform_in(
    app: &App,
    caller: &Caller,
    org: OrgId,
    planned: Planned,
    dry_run: bool,
    expect: Option<Expectation>,
) -> Result<Outcome, ApiError> {
    let request = Request::Org {
        org,
        commands: planned.commands,
    };
    perform(
        app,
        caller,
        request,
        planned.passwords,
        planned.secrets,
        dry_run,
        expect,
    )
    .await
}

/// An access diff as the API shows it.
pub fn diff_view(diff: &canopy_core::engine::AccessDiff) -> Result<api::Diff, ApiError> {
    serde_json::to_value(diff)
        .and_then(serde_json::from_value)
        .map_err(|e| ApiError::new("internal", e.to_string()))
}

/// The objects a change wrote, in order.
pub fn written(change: &Change) -> impl Iterator<Item = &Object> {
    let writes: &[Write] = match &change.effects {
        Effects::Org { writes, .. } => writes,
        Effects::Instance { .. } => &[],
    };
    writes.iter().filter_map(|w| match w {
        Write::Put(o) => Some(o),
        Write::Delete(_) => None,
    })
}

/// Answers a mutation with the object it wrote that `pick` selects, as it now is, with the new
/// revision (`status`: 201 for a creation, 200 otherwise); a dry run with its diff (200).
pub fn respond(
    app: &App,
    outcome: Outcome,
    status: StatusCode,
    pick: impl Fn(&Object) -> bool,
) -> Result<Response, ApiError> {
    let change = match outcome {
        Outcome::DryRun(d) => return Ok(axum::Json(d).into_response()),
        Outcome::Changed(c) => c,
    };
    let object = written(&change)
        .find(|o| pick(o))
        .ok_or_else(|| ApiError::new("internal", format!("{} wrote nothing", change.command)))?;
    let org = change.effects.org().cloned();
    let inst = app.shared.read();
    let body = match org.as_ref().and_then(|o| inst.org(o)) {
        Some(engine) => views::object(engine, object, Some(change.revision)),
        None => serde_json::json!({ "revision": change.revision }),
    };
    Ok((status, axum::Json(body)).into_response())
}

/// Answers a delete: `{revision}`, or the dry run.
pub fn respond_deleted(outcome: Outcome) -> Response {
    match outcome {
        Outcome::DryRun(d) => axum::Json(d).into_response(),
        Outcome::Changed(c) => axum::Json(api::Deleted {
            revision: c.revision,
        })
        .into_response(),
    }
}

/// The largest page a listing returns.
pub const MAX_PAGE: usize = 1000;
/// The page size when none is asked for.
pub const DEFAULT_PAGE: usize = 100;

/// One page of items sorted by key: those after the cursor, at most the asked limit.
pub fn page<T>(
    items: impl IntoIterator<Item = (String, T)>,
    params: &api::PageParams,
    revision: u64,
) -> api::Page<T> {
    let limit = params.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let mut items: Vec<(String, T)> = items
        .into_iter()
        .filter(|(k, _)| params.cursor.as_ref().is_none_or(|c| k > c))
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = more.then(|| items.last().map(|(k, _)| k.clone())).flatten();
    api::Page {
        items: items.into_iter().map(|(_, v)| v).collect(),
        next_cursor,
        revision,
    }
}

/// The `ETag` header of an object's revision.
pub fn etag(revision: Option<u64>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(r) = revision
        && let Ok(v) = axum::http::HeaderValue::from_str(&format!("\"{r}\""))
    {
        headers.insert(axum::http::header::ETAG, v);
    }
    headers
}

/// Answers a read of one object: its view with its revision, and the `ETag`.
pub async fn read_object(
    app: &App,
    org: &OrgId,
    key: ObjectKey,
    lang: Lang,
    render: impl FnOnce(&OrgEngine, Option<u64>) -> Result<serde_json::Value, ApiError>,
) -> Result<Response, ApiError> {
    let revision = app
        .store
        .object_revision(org, &key)
        .await
        .map_err(|e| ApiError::store(&e, lang))?;
    let body = with_engine(app, org, lang, |engine| render(engine, revision))?;
    Ok((etag(revision), axum::Json(body)).into_response())
}
