//! Questions: check (one or a batch), explain, access, who, effective. A caller may ask about
//! itself (in the context of its own session); about others it needs `iam.access.read` on the
//! target (DESIGN §3.2), and it passes their context in the body.

use axum::extract::{Path, Query, State};
use canopy_api as api;
use canopy_core::engine::{Asker, Decision, OrgEngine};
use canopy_core::messages::Lang;
use canopy_core::model::RequestContext;
use canopy_core::time::Timestamp;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::Caller;
use crate::body::Json;
use crate::messages;
use crate::problem::ApiError;
use crate::routes::{DEFAULT_PAGE, MAX_PAGE, allowed, not_found, org_of, with_engine};
use crate::state::App;
use crate::telemetry::DecisionEndpoint;

/// The most checks one batch may carry.
pub const MAX_BATCH: usize = 10_000;

fn context(c: Option<&api::CheckContext>, lang: Lang) -> Result<RequestContext, ApiError> {
    let Some(c) = c else {
        return Ok(RequestContext::default());
    };
    Ok(RequestContext {
        mfa: c.mfa,
        source_ip: match &c.source_ip {
            None => None,
            Some(ip) => Some(ip.parse().map_err(|_| {
                ApiError::new(
                    "invalid-field",
                    messages::bad_value("context.source_ip", lang),
                )
            })?),
        },
    })
}

/// Whether `principal` names the caller itself.
fn is_self(engine: &OrgEngine, caller: &Caller, principal: &str) -> bool {
    caller.subject.is_some() && engine.subject_id(principal) == caller.subject.as_ref()
}

/// The context a question about `principal` is decided in, or 403 when the caller may not ask
/// it about `target`.
fn question_context(
    app: &App,
    engine: &OrgEngine,
    caller: &Caller,
    req: &api::CheckRequest,
) -> Result<RequestContext, ApiError> {
    if is_self(engine, caller, &req.principal) {
        return Ok(caller.actor.ctx.clone());
    }
    may_ask_about(app, engine, caller, &req.target)?;
    context(req.context.as_ref(), caller.lang)
}

/// Refuses a question about someone else's access to `target` unless the caller holds
/// `iam.access.read` there (403). A target that is unknown, or another organisation's, is 422
/// first: a typo must surface as such, not as a refusal (DESIGN §4).
fn may_ask_about(
    app: &App,
    engine: &OrgEngine,
    caller: &Caller,
    target: &str,
) -> Result<(), ApiError> {
    let Some(scope) = engine.find_target(target) else {
        let e = canopy_core::error::QueryError::UnknownTarget(target.to_string());
        return Err(ApiError::query(&e, caller.lang));
    };
    if !allowed(app, engine, caller, "iam.access.read", scope.as_str()) {
        return Err(ApiError::new(
            "forbidden",
            messages::forbidden("iam.access.read", caller.lang),
        ));
    }
    Ok(())
}

/// The core's answer as the API's type (they serialise alike; the mirror documents it).
fn mirror<T: Serialize, U: DeserializeOwned>(answer: &T) -> Result<U, ApiError> {
    serde_json::to_value(answer)
        .and_then(serde_json::from_value)
        .map_err(|e| ApiError::new("internal", e.to_string()))
}

/// May the principal do the action on the target? Unknown names are 422, not a denial.
#[utoipa::path(post, path = "/v1/orgs/{org}/check", tag = "questions", operation_id = "check",
    params(("org" = String, Path, description = "Organisation ID or name")),
    request_body = api::CheckRequest,
    responses((status = 200, description = "The decision", body = api::Decision)))]
pub async fn check(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Json(req): Json<api::CheckRequest>,
) -> Result<axum::Json<api::Decision>, ApiError> {
    let lang = caller.lang;
    let started = crate::telemetry::Stopwatch::start();
    let org = org_of(&app, &caller, &org)?;
    let now = app.clock.now();
    with_engine(&app, &org, lang, |engine| {
        let asker = asker(engine, &caller);
        let d = asked(engine, asker.as_ref(), &caller, &req, now)?;
        app.telemetry
            .decided(u64::from(d.allowed), u64::from(!d.allowed));
        app.telemetry
            .decision_took(DecisionEndpoint::Check, started.elapsed());
        Ok(axum::Json(api::Decision {
            allowed: d.allowed,
            revision: d.revision,
            evaluated_at: d.evaluated_at.to_string(),
            valid_until: d.valid_until.map(|t| t.to_string()),
        }))
    })
}

/// The caller as someone asking questions (`None`: it cannot ask any, e.g. deleted meanwhile).
fn asker<'a>(engine: &OrgEngine, caller: &'a Caller) -> Option<Asker<'a>> {
    engine.asker(caller.subject.as_ref()?.as_str(), &caller.actor.ctx)
}

/// One check asked by the caller: about itself in its own context, about others where it holds
/// `iam.access.read` on the target (403 otherwise) in the context the request gives.
fn asked(
    engine: &OrgEngine,
    asker: Option<&Asker<'_>>,
    caller: &Caller,
    req: &api::CheckRequest,
    now: Timestamp,
) -> Result<Decision, ApiError> {
    let lang = caller.lang;
    let forbidden = || ApiError::new("forbidden", messages::forbidden("iam.access.read", lang));
    let asker = asker.ok_or_else(forbidden)?;
    let ctx = context(req.context.as_ref(), lang)?;
    engine
        .check_asked(asker, &req.principal, &req.action, &req.target, &ctx, now)
        .map_err(|e| ApiError::query(&e, lang))?
        .ok_or_else(forbidden)
}

/// Many checks at one revision; each answers `{allowed}` or `{error: problem}`.
#[utoipa::path(post, path = "/v1/orgs/{org}/check/batch", tag = "questions",
    operation_id = "check_batch",
    params(("org" = String, Path, description = "Organisation ID or name")),
    request_body = api::BatchCheckRequest,
    responses((status = 200, description = "One result per check", body = api::BatchCheckResponse)))]
pub async fn check_batch(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Json(req): Json<api::BatchCheckRequest>,
) -> Result<axum::Json<api::BatchCheckResponse>, ApiError> {
    let lang = caller.lang;
    if req.checks.len() > MAX_BATCH {
        return Err(ApiError::new(
            "invalid-field",
            messages::too_many("checks", MAX_BATCH, lang),
        ));
    }
    let started = crate::telemetry::Stopwatch::start();
    let org = org_of(&app, &caller, &org)?;
    let now = app.clock.now();
    with_engine(&app, &org, lang, |engine| {
        let asker = asker(engine, &caller);
        let results: Vec<_> = req
            .checks
            .iter()
            .map(|c| match asked(engine, asker.as_ref(), &caller, c, now) {
                Ok(d) => api::BatchCheckResult {
                    allowed: Some(d.allowed),
                    error: None,
                },
                Err(e) => api::BatchCheckResult {
                    allowed: None,
                    error: Some(e.problem()),
                },
            })
            .collect();
        let allowed = results.iter().filter(|r| r.allowed == Some(true)).count();
        let denied = results.iter().filter(|r| r.allowed == Some(false)).count();
        app.telemetry.decided(allowed as u64, denied as u64);
        app.telemetry
            .decision_took(DecisionEndpoint::Batch, started.elapsed());
        Ok(axum::Json(api::BatchCheckResponse {
            results,
            revision: engine.revision(),
        }))
    })
}

/// The decision with its evidence, and for a denial the smallest changes that would allow it.
#[utoipa::path(post, path = "/v1/orgs/{org}/explain", tag = "questions", operation_id = "explain",
    params(("org" = String, Path, description = "Organisation ID or name")),
    request_body = api::CheckRequest,
    responses((status = 200, description = "The explanation", body = api::Explanation)))]
pub async fn explain(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Json(req): Json<api::CheckRequest>,
) -> Result<axum::Json<api::Explanation>, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    with_engine(&app, &org, lang, |engine| {
        let ctx = question_context(&app, engine, &caller, &req)?;
        let explanation = engine
            .explain(
                &req.principal,
                &req.action,
                &req.target,
                &ctx,
                app.clock.now(),
            )
            .map_err(|e| ApiError::query(&e, lang))?;
        Ok(axum::Json(mirror(&explanation)?))
    })
}

/// `GET /principals/{principal}/access` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessParams {
    /// The action.
    pub action: String,
    /// Only resources of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub type_name: Option<String>,
    /// Where to continue.
    pub cursor: Option<String>,
    /// At most this many (default 100, at most 1,000).
    pub limit: Option<usize>,
}

/// How many items a page holds: `limit`, within bounds.
fn page_size(limit: Option<usize>) -> usize {
    limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}

/// Every node and resource where the principal may do the action ("what can this member
/// reach"), with conditions and the groups it holds it through. About others, only the targets
/// where the caller holds `iam.access.read` are listed.
#[utoipa::path(get, path = "/v1/orgs/{org}/principals/{principal}/access", tag = "questions",
    operation_id = "access",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("principal" = String, Path, description = "User or service account: ID or reference"),
           AccessParams),
    responses((status = 200, description = "One page", body = api::AnswerPage<api::AccessEntry>)))]
pub async fn access(
    State(app): State<App>,
    caller: Caller,
    Path((org, principal)): Path<(String, String)>,
    Query(params): Query<AccessParams>,
) -> Result<axum::Json<api::AnswerPage<api::AccessEntry>>, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    with_engine(&app, &org, lang, |engine| {
        engine
            .find_principal(&principal, None)
            .ok_or_else(|| not_found(&principal, lang))?;
        let now = app.clock.now();
        let question = format!(
            "access {org} {} {principal} {} {:?}",
            caller.session, params.action, params.type_name
        );
        let compute = || {
            let mut listing = engine
                .access_listing(&principal, &params.action, params.type_name.as_deref(), now)
                .map_err(|e| ApiError::query(&e, lang))?;
            if !is_self(engine, &caller, &principal) {
                listing
                    .items
                    .retain(|i| allowed(&app, engine, &caller, "iam.access.read", &i.target.id));
            }
            Ok(listing)
        };
        let page = app.access_listings.page(
            &question,
            params.cursor.as_deref(),
            page_size(params.limit),
            app.clock.as_ref(),
            lang,
            compute,
        )?;
        Ok(axum::Json(mirror(&page)?))
    })
}

/// `GET /targets/{target}/principals` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WhoParams {
    /// The action.
    pub action: String,
    /// Where to continue.
    pub cursor: Option<String>,
    /// At most this many (default 100, at most 1,000).
    pub limit: Option<usize>,
}

/// Every subject that may do the action on the target ("who can reach this"), with the groups
/// through which it does. Needs `iam.access.read` on the target.
#[utoipa::path(get, path = "/v1/orgs/{org}/targets/{target}/principals", tag = "questions",
    operation_id = "who",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("target" = String, Path, description = "Node or resource: ID or path"), WhoParams),
    responses((status = 200, description = "One page", body = api::AnswerPage<api::WhoEntry>)))]
pub async fn who(
    State(app): State<App>,
    caller: Caller,
    Path((org, target)): Path<(String, String)>,
    Query(params): Query<WhoParams>,
) -> Result<axum::Json<api::AnswerPage<api::WhoEntry>>, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    with_engine(&app, &org, lang, |engine| {
        let scope = engine
            .find_target(&target)
            .ok_or_else(|| not_found(&target, lang))?;
        if !allowed(&app, engine, &caller, "iam.access.read", scope.as_str()) {
            return Err(ApiError::new(
                "forbidden",
                messages::forbidden("iam.access.read", lang),
            ));
        }
        let now = app.clock.now();
        let question = format!(
            "who {org} {} {} {}",
            caller.session,
            scope.as_str(),
            params.action
        );
        let page = app.who_listings.page(
            &question,
            params.cursor.as_deref(),
            page_size(params.limit),
            app.clock.as_ref(),
            lang,
            || {
                engine
                    .who_listing(&params.action, scope.as_str(), now)
                    .map_err(|e| ApiError::query(&e, lang))
            },
        )?;
        Ok(axum::Json(mirror(&page)?))
    })
}

/// `GET /principals/{principal}/effective` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EffectiveParams {
    /// The node or resource (ID or path).
    pub target: String,
}

/// Every action the principal may do on the target.
#[utoipa::path(get, path = "/v1/orgs/{org}/principals/{principal}/effective", tag = "questions",
    operation_id = "effective",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("principal" = String, Path, description = "User or service account: ID or reference"),
           EffectiveParams),
    responses((status = 200, description = "The actions", body = api::Effective)))]
pub async fn effective(
    State(app): State<App>,
    caller: Caller,
    Path((org, principal)): Path<(String, String)>,
    Query(params): Query<EffectiveParams>,
) -> Result<axum::Json<api::Effective>, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    with_engine(&app, &org, lang, |engine| {
        engine
            .find_principal(&principal, None)
            .ok_or_else(|| not_found(&principal, lang))?;
        if !is_self(engine, &caller, &principal) {
            may_ask_about(&app, engine, &caller, &params.target)?;
        }
        let answer = engine
            .effective(&principal, &params.target, app.clock.now())
            .map_err(|e| ApiError::query(&e, lang))?;
        Ok(axum::Json(mirror(&answer)?))
    })
}
