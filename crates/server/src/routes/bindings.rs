//! Bindings.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use canopy_api::CreateBindingRequest;
use canopy_core::command::{Command, PrincipalRef, RoleRef, TargetRef};
use canopy_core::ids::BindingId;
use canopy_core::model::{Conditions, Object, ObjectKey};
use canopy_core::time::Timestamp;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::body::Json;
use crate::messages;
use crate::problem::ApiError;
use crate::routes::{created, if_match, org_of, submit};
use crate::state::App;

/// `POST /v1/orgs/{org}/bindings {subject, role, scope, expires_at?, conditions?}`.
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Json(req): Json<CreateBindingRequest>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let bad = |field: &str| ApiError::new("unknown-reference", messages::bad_value(field, lang));
    let principal = PrincipalRef::parse(&req.subject).ok_or_else(|| bad("subject"))?;
    let role = RoleRef::parse(&req.role).ok_or_else(|| bad("role"))?;
    let scope = TargetRef::parse(&req.scope).ok_or_else(|| bad("scope"))?;
    let invalid = |field: &str| ApiError::new("invalid-field", messages::bad_value(field, lang));
    let expires_at = req
        .expires_at
        .as_deref()
        .map(|t| Timestamp::parse(t).ok_or_else(|| invalid("expires_at")))
        .transpose()?;
    let conditions = match req.conditions {
        None => Conditions::default(),
        Some(c) => Conditions {
            mfa: c.mfa,
            source_cidrs: c
                .source_cidrs
                .iter()
                .map(|n| n.parse().map_err(|_| invalid("conditions.source_cidrs")))
                .collect::<Result<_, _>>()?,
        },
    };
    let command = Command::CreateBinding {
        principal,
        role,
        scope,
        expires_at,
        conditions,
    };
    let change = submit(&app, &caller, org, vec![command], vec![], None).await?;
    let body = created(&change, |o| match o {
        Object::Binding(b) => Some(json!(b)),
        _ => None,
    })?;
    Ok((StatusCode::CREATED, axum::Json(body)))
}

/// `DELETE /v1/orgs/{org}/bindings/{binding}`: answers `{revision}`. Honours `If-Match`.
pub async fn delete(
    State(app): State<App>,
    caller: Caller,
    Path((org, binding)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let binding = BindingId::parse(&binding)
        .ok_or_else(|| ApiError::new("not-found", messages::object_not_found(&binding, lang)))?;
    let expect = if_match(&headers, ObjectKey::Binding(binding.clone()), lang)?;
    let command = Command::DeleteBinding { binding };
    let change = submit(&app, &caller, org, vec![command], vec![], expect).await?;
    Ok(axum::Json(json!({ "revision": change.revision })))
}
