//! Questions: check.

use axum::extract::{Path, State};
use canopy_api::CheckRequest;
use canopy_core::engine::Decision;
use canopy_core::model::RequestContext;

use crate::auth::Caller;
use crate::body::Json;
use crate::messages;
use crate::problem::ApiError;
use crate::routes::org_of;
use crate::state::App;

/// `POST /v1/orgs/{org}/check`: a caller may ask about itself; about others it needs
/// `iam.access.read` on the target (DESIGN §3.2).
pub async fn check(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Json(req): Json<CheckRequest>,
) -> Result<axum::Json<Decision>, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let ctx = match &req.context {
        None => RequestContext::default(),
        Some(c) => RequestContext {
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
        },
    };
    let now = app.clock.now();
    let inst = app.shared.read();
    let engine = inst
        .org(&org)
        .ok_or_else(|| ApiError::new("not-found", messages::org_not_found(org.as_str(), lang)))?;
    let decision = engine
        .check(&req.principal, &req.action, &req.target, &ctx, now)
        .map_err(|e| ApiError::query(&e, lang))?;
    let subject = caller.subject.as_ref().map_or("", |s| s.as_str());
    let about_self =
        caller.subject.is_some() && engine.subject_id(&req.principal) == caller.subject.as_ref();
    let may_ask = about_self
        || engine
            .check(
                subject,
                "iam.access.read",
                &req.target,
                &caller.actor.ctx,
                now,
            )
            .is_ok_and(|d| d.allowed);
    if !may_ask {
        return Err(ApiError::new(
            "forbidden",
            messages::forbidden("iam.access.read", lang),
        ));
    }
    Ok(axum::Json(decision))
}
