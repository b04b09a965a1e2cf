//! Roles: the four system roles and the organisation's own.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use canopy_api as api;
use canopy_core::command::NamedRef;
use canopy_core::model::{Object, ObjectKey};
use canopy_core::roles::system_roles;

use crate::auth::Caller;
use crate::body::Json;
use crate::problem::ApiError;
use crate::routes::{
    if_match, not_found, org_of, page, perform_in, read_object, require_root, respond,
    respond_deleted, with_engine,
};
use crate::state::App;
use crate::{translate, views};

/// List roles, system roles included. Needs `iam.role.read`.
#[utoipa::path(get, path = "/v1/orgs/{org}/roles", tag = "roles", operation_id = "list_roles",
    params(("org" = String, Path, description = "Organisation ID or name"), api::PageParams),
    responses((status = 200, description = "One page", body = api::Page<api::RoleView>)))]
pub async fn list(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::PageParams>,
) -> Result<axum::Json<api::Page<api::RoleView>>, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    with_engine(&app, &org, caller.lang, |engine| {
        require_root(&app, engine, &caller, "iam.role.read")?;
        let items = system_roles()
            .iter()
            .chain(engine.model().roles.values())
            .map(|r| (r.id.to_string(), views::role(r, None)));
        Ok(axum::Json(page(items, &params, engine.revision())))
    })
}

/// Create a role.
#[utoipa::path(post, path = "/v1/orgs/{org}/roles", tag = "roles", operation_id = "create_role",
    params(("org" = String, Path, description = "Organisation ID or name"), api::MutationParams),
    request_body = api::CreateRoleRequest,
    responses((status = 201, description = "Created", body = api::RoleView),
              (status = 200, description = "Dry run", body = api::DryRun)))]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::CreateRoleRequest>,
) -> Result<Response, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    let planned = translate::create_role(req, caller.lang)?;
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, None).await?;
    respond(&app, outcome, StatusCode::CREATED, |o| {
        matches!(o, Object::Role(_))
    })
}

fn role_id(
    app: &App,
    org: &canopy_core::ids::OrgId,
    reference: &str,
    lang: canopy_core::messages::Lang,
) -> Result<canopy_core::ids::RoleId, ApiError> {
    with_engine(app, org, lang, |e| {
        e.find_role(reference)
            .ok_or_else(|| not_found(reference, lang))
    })
}

/// Read a role (by ID or name). Needs `iam.role.read`.
#[utoipa::path(get, path = "/v1/orgs/{org}/roles/{role}", tag = "roles", operation_id = "get_role",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("role" = String, Path, description = "Role ID or name")),
    responses((status = 200, description = "The role", body = api::RoleView)))]
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    Path((org, role)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = role_id(&app, &org, &role, lang)?;
    with_engine(&app, &org, lang, |e| {
        require_root(&app, e, &caller, "iam.role.read")
    })?;
    read_object(
        &app,
        &org,
        ObjectKey::Role(id.clone()),
        lang,
        |engine, revision| {
            let r = engine
                .model()
                .role(&id)
                .ok_or_else(|| not_found(&role, lang))?;
            serde_json::to_value(views::role(r, revision))
                .map_err(|e| ApiError::new("internal", e.to_string()))
        },
    )
    .await
}

/// Replace a role's statements (system roles are read-only). Honours `If-Match`.
#[utoipa::path(put, path = "/v1/orgs/{org}/roles/{role}", tag = "roles", operation_id = "put_role",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("role" = String, Path, description = "Role ID or name"), api::MutationParams),
    request_body = api::PutStatementsRequest,
    responses((status = 200, description = "Updated, or the dry run", body = api::OrDryRun<api::RoleView>)))]
pub async fn put(
    State(app): State<App>,
    caller: Caller,
    Path((org, role)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    headers: HeaderMap,
    Json(req): Json<api::PutStatementsRequest>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = role_id(&app, &org, &role, lang)?;
    let expect = if_match(&headers, ObjectKey::Role(id.clone()), lang)?;
    let planned = translate::put_role(NamedRef::Id(id.clone()), req, lang)?;
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, expect).await?;
    respond(
        &app,
        outcome,
        StatusCode::OK,
        |o| matches!(o, Object::Role(r) if r.id == id),
    )
}

/// Delete a role (`cascade=true`: with its bindings). Honours `If-Match`.
#[utoipa::path(delete, path = "/v1/orgs/{org}/roles/{role}", tag = "roles", operation_id = "delete_role",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("role" = String, Path, description = "Role ID or name"), api::MutationParams),
    responses((status = 200, description = "Deleted, or the dry run", body = api::OrDryRun<api::Deleted>)))]
pub async fn delete(
    State(app): State<App>,
    caller: Caller,
    Path((org, role)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = role_id(&app, &org, &role, lang)?;
    let expect = if_match(&headers, ObjectKey::Role(id.clone()), lang)?;
    let planned = translate::delete_role(NamedRef::Id(id), params.cascade);
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, expect).await?;
    Ok(respond_deleted(outcome))
}
