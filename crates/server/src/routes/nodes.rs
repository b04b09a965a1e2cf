//! Folders and projects.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use canopy_api::CreateNodeRequest;
use canopy_core::command::{Command, TargetRef};
use canopy_core::model::{NodeKind, Object, ObjectKey};
use canopy_core::name::Name;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::body::Json;
use crate::messages;
use crate::problem::ApiError;
use crate::routes::{created, invalid_name, org_of, submit};
use crate::state::App;

/// `POST /v1/orgs/{org}/nodes {kind, name, parent}`.
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Json(req): Json<CreateNodeRequest>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let kind = match req.kind.as_str() {
        "folder" => NodeKind::Folder,
        "project" => NodeKind::Project,
        _ => {
            return Err(ApiError::new(
                "invalid-field",
                messages::bad_value("kind", lang),
            ));
        }
    };
    let name = Name::parse(&req.name).map_err(|p| invalid_name("name", &req.name, p, lang))?;
    let parent = TargetRef::parse(&req.parent)
        .ok_or_else(|| ApiError::new("unknown-reference", messages::bad_value("parent", lang)))?;
    let change = submit(
        &app,
        &caller,
        org,
        vec![Command::CreateNode { kind, name, parent }],
        vec![],
        None,
    )
    .await?;
    let body = created(&change, |o| match o {
        Object::Node(n) => Some(json!(n)),
        _ => None,
    })?;
    Ok((StatusCode::CREATED, axum::Json(body)))
}

/// `GET /v1/orgs/{org}/nodes/{node}`: the node, with its revision as `ETag`.
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    Path((org, node)): Path<(String, String)>,
) -> Result<(HeaderMap, axum::Json<Value>), ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let not_found = || ApiError::new("not-found", messages::object_not_found(&node, lang));
    let found = {
        let inst = app.shared.read();
        let engine = inst.org(&org).ok_or_else(not_found)?;
        let n = engine.node(&node).ok_or_else(not_found)?.clone();
        let subject = caller.subject.as_ref().ok_or_else(not_found)?;
        let allowed = engine
            .check(
                subject.as_str(),
                "iam.node.read",
                n.id.as_str(),
                &caller.actor.ctx,
                app.clock.now(),
            )
            .is_ok_and(|d| d.allowed);
        if !allowed {
            return Err(ApiError::new(
                "forbidden",
                messages::forbidden("iam.node.read", lang),
            ));
        }
        n
    };
    let revision = app
        .store
        .object_revision(&org, &ObjectKey::Node(found.id.clone()))
        .await
        .map_err(|e| ApiError::store(&e, lang))?
        .unwrap_or(0);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{revision}\"")) {
        headers.insert(header::ETAG, v);
    }
    Ok((headers, axum::Json(json!(found))))
}
