//! The organisation's audit log.

use axum::extract::{Path, Query, State};
use canopy_api as api;
use canopy_core::time::Timestamp;
use canopy_store::AuditQuery;
use serde::Deserialize;

use crate::auth::Caller;
use crate::messages;
use crate::problem::ApiError;
use crate::routes::{DEFAULT_PAGE, MAX_PAGE, org_of, require_root, with_engine};
use crate::state::App;

/// `GET /audit` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct AuditParams {
    /// Only events at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only events before this time (RFC 3339).
    pub until: Option<String>,
    /// Only events of this actor (`usr_…`, `instance:NAME`).
    pub actor: Option<String>,
    /// Only events of this action (`create_node`…).
    pub action: Option<String>,
    /// Only events about this object: an ID, a path, `user:NAME`, `sa:NAME`, `group:NAME`, a
    /// role's or guardrail's name. Matches the events whose change wrote or names the object
    /// and those whose details name it (a request's path, a login's user); a reference that
    /// names nothing now is matched as given (the ID of a deleted object).
    pub target: Option<String>,
    /// Where to continue.
    pub cursor: Option<String>,
    /// At most this many (default 100, at most 1,000).
    pub limit: Option<usize>,
}

/// The organisation's audit events, oldest first. Needs `iam.audit.read`.
#[utoipa::path(get, path = "/v1/orgs/{org}/audit", tag = "audit", operation_id = "audit",
    params(("org" = String, Path, description = "Organisation ID or name"), AuditParams),
    responses((status = 200, description = "One page", body = api::Page<api::AuditEvent>)))]
pub async fn query(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<AuditParams>,
) -> Result<axum::Json<api::Page<api::AuditEvent>>, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let (revision, target) = with_engine(&app, &org, lang, |e| {
        require_root(&app, e, &caller, "iam.audit.read")?;
        let target = params.target.as_deref().map(|t| target_id(e, t));
        Ok((e.revision(), target))
    })?;
    // Query parameters that do not parse are malformed requests, like wrong types: 400.
    let bad = |field: &str| {
        ApiError::new("invalid-field", messages::bad_value(field, lang))
            .with_status(axum::http::StatusCode::BAD_REQUEST)
    };
    let time = |value: &Option<String>, field: &str| {
        value
            .as_deref()
            .map(|t| {
                Timestamp::parse(t)
                    .map(|t| t.millis())
                    .ok_or_else(|| bad(field))
            })
            .transpose()
    };
    let since_ms = time(&params.since, "since")?;
    let until_ms = time(&params.until, "until")?;
    let after_seq = params
        .cursor
        .as_deref()
        .map(|c| c.parse::<u64>().map_err(|_| bad("cursor")))
        .transpose()?
        .unwrap_or(0);
    let limit = params.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let events = app
        .store
        .audit_events(&AuditQuery {
            chain: org.to_string(),
            after_seq,
            since_ms,
            until_ms,
            actor: params.actor.clone(),
            action: params.action.clone(),
            target,
            // One more than asked tells whether there is a next page.
            limit: limit as u32 + 1,
        })
        .await
        .map_err(|e| ApiError::store(&e, lang))?;
    let more = events.len() > limit;
    let items: Vec<api::AuditEvent> = events
        .into_iter()
        .take(limit)
        .map(|sealed| {
            let e = sealed.event;
            api::AuditEvent {
                chain: e.chain,
                seq: e.seq,
                time: Timestamp::from_millis(e.time_ms).to_string(),
                actor: e.actor,
                request_id: e.request_id,
                action: e.action,
                outcome: e.outcome.as_str().into(),
                revision: e.revision,
                detail: e.detail,
                prev_hash: hex::encode(sealed.prev_hash),
                hash: hex::encode(sealed.hash),
                mac: hex::encode(sealed.mac),
            }
        })
        .collect();
    let next_cursor = more
        .then(|| items.last().map(|e| e.seq.to_string()))
        .flatten();
    Ok(axum::Json(api::Page {
        items,
        next_cursor,
        revision,
    }))
}

/// The ID of the object a `target` names (node or resource by path, principal, role,
/// guardrail), or the text as given when it names nothing now: events keep the IDs of objects
/// since deleted.
fn target_id(e: &canopy_core::engine::OrgEngine, reference: &str) -> String {
    e.find_target(reference)
        .map(|s| s.as_str().to_string())
        .or_else(|| e.find_principal(reference, None).map(|p| p.to_string()))
        .or_else(|| e.find_role(reference).map(|r| r.to_string()))
        .or_else(|| e.find_guardrail(reference).map(|g| g.to_string()))
        .unwrap_or_else(|| reference.to_string())
}
