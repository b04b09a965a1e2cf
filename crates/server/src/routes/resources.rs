//! Resources and their links to projects.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use canopy_api as api;
use canopy_core::command::TargetRef;
use canopy_core::engine::OrgEngine;
use canopy_core::ids::ResourceId;
use canopy_core::messages::Lang;
use canopy_core::model::{Object, ObjectKey, Scope};

use crate::auth::Caller;
use crate::body::Json;
use crate::problem::ApiError;
use crate::routes::{
    if_match, not_found, org_of, perform_in, read_object, require, respond, respond_deleted,
    with_engine,
};
use crate::state::App;
use crate::{translate, views};

/// The resource named in the URL: 404 otherwise.
fn resource_id(engine: &OrgEngine, reference: &str, lang: Lang) -> Result<ResourceId, ApiError> {
    match engine.find_target(reference) {
        Some(Scope::Resource(id)) => Ok(id),
        _ => Err(not_found(reference, lang)),
    }
}

fn is_resource(id: &ResourceId) -> impl Fn(&Object) -> bool + '_ {
    move |o| matches!(o, Object::Resource(r) if &r.id == id)
}

/// Create a resource.
#[utoipa::path(post, path = "/v1/orgs/{org}/resources", tag = "resources",
    operation_id = "create_resource",
    params(("org" = String, Path, description = "Organisation ID or name"), api::MutationParams),
    request_body = api::CreateResourceRequest,
    responses((status = 201, description = "Created", body = api::ResourceView),
              (status = 200, description = "Dry run", body = api::DryRun)))]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::CreateResourceRequest>,
) -> Result<Response, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    let planned = translate::create_resource(req, caller.lang)?;
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, None).await?;
    respond(&app, outcome, StatusCode::CREATED, |o| {
        matches!(o, Object::Resource(_))
    })
}

/// Read a resource. Needs `iam.resource.read` on it.
#[utoipa::path(get, path = "/v1/orgs/{org}/resources/{resource}", tag = "resources",
    operation_id = "get_resource",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("resource" = String, Path, description = "Resource ID or path")),
    responses((status = 200, description = "The resource; `ETag` is its revision", body = api::ResourceView)))]
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    Path((org, resource)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = with_engine(&app, &org, lang, |engine| {
        let id = resource_id(engine, &resource, lang)?;
        require(&app, engine, &caller, "iam.resource.read", id.as_str())?;
        Ok(id)
    })?;
    read_object(
        &app,
        &org,
        ObjectKey::Resource(id.clone()),
        lang,
        |engine, revision| {
            let r = engine
                .model()
                .resources
                .get(&id)
                .ok_or_else(|| not_found(id.as_str(), lang))?;
            serde_json::to_value(views::resource(engine, r, revision))
                .map_err(|e| ApiError::new("internal", e.to_string()))
        },
    )
    .await
}

/// Rename, move or re-attribute a resource. Honours `If-Match`.
#[utoipa::path(patch, path = "/v1/orgs/{org}/resources/{resource}", tag = "resources",
    operation_id = "update_resource",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("resource" = String, Path, description = "Resource ID or path"), api::MutationParams),
    request_body = api::UpdateResourceRequest,
    responses((status = 200, description = "Updated, or the dry run", body = api::OrDryRun<api::ResourceView>)))]
pub async fn update(
    State(app): State<App>,
    caller: Caller,
    Path((org, resource)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    headers: HeaderMap,
    Json(req): Json<api::UpdateResourceRequest>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = with_engine(&app, &org, lang, |e| resource_id(e, &resource, lang))?;
    let expect = if_match(&headers, ObjectKey::Resource(id.clone()), lang)?;
    let planned = translate::update_resource(TargetRef::Resource(id.clone()), req, lang)?;
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, expect).await?;
    respond(&app, outcome, StatusCode::OK, is_resource(&id))
}

/// Delete a resource (`cascade=true`: with its bindings). Honours `If-Match`.
#[utoipa::path(delete, path = "/v1/orgs/{org}/resources/{resource}", tag = "resources",
    operation_id = "delete_resource",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("resource" = String, Path, description = "Resource ID or path"), api::MutationParams),
    responses((status = 200, description = "Deleted, or the dry run", body = api::OrDryRun<api::Deleted>)))]
pub async fn delete(
    State(app): State<App>,
    caller: Caller,
    Path((org, resource)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = with_engine(&app, &org, lang, |e| resource_id(e, &resource, lang))?;
    let expect = if_match(&headers, ObjectKey::Resource(id.clone()), lang)?;
    let planned = translate::delete_resource(TargetRef::Resource(id), params.cascade);
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, expect).await?;
    Ok(respond_deleted(outcome))
}

/// Link a resource to a further project.
#[utoipa::path(post, path = "/v1/orgs/{org}/resources/{resource}/links", tag = "resources",
    operation_id = "link_resource",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("resource" = String, Path, description = "Resource ID or path"), api::MutationParams),
    request_body = api::LinkRequest,
    responses((status = 200, description = "Linked, or the dry run", body = api::OrDryRun<api::ResourceView>)))]
pub async fn link(
    State(app): State<App>,
    caller: Caller,
    Path((org, resource)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::LinkRequest>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = with_engine(&app, &org, lang, |e| resource_id(e, &resource, lang))?;
    let planned = translate::link(TargetRef::Resource(id.clone()), req, lang)?;
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, None).await?;
    respond(&app, outcome, StatusCode::OK, is_resource(&id))
}

/// Unlink a resource from a project.
#[utoipa::path(delete, path = "/v1/orgs/{org}/resources/{resource}/links/{project}",
    tag = "resources", operation_id = "unlink_resource",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("resource" = String, Path, description = "Resource ID or path"),
           ("project" = String, Path, description = "Project ID or path"), api::MutationParams),
    responses((status = 200, description = "Unlinked, or the dry run", body = api::OrDryRun<api::ResourceView>)))]
pub async fn unlink(
    State(app): State<App>,
    caller: Caller,
    Path((org, resource, project)): Path<(String, String, String)>,
    Query(params): Query<api::MutationParams>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let (id, project) = with_engine(&app, &org, lang, |e| {
        let id = resource_id(e, &resource, lang)?;
        match e.find_target(&project) {
            Some(Scope::Node(p)) => Ok((id, p)),
            _ => Err(not_found(&project, lang)),
        }
    })?;
    let planned = translate::unlink(TargetRef::Resource(id.clone()), TargetRef::Node(project));
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, None).await?;
    respond(&app, outcome, StatusCode::OK, is_resource(&id))
}
