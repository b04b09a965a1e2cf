//! Users.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use canopy_api as api;
use canopy_core::command::PrincipalRef;
use canopy_core::ids::PrincipalId;
use canopy_core::model::{Object, ObjectKey, PrincipalKind};

use crate::auth::Caller;
use crate::body::Json;
use crate::problem::ApiError;
use crate::routes::{
    if_match, not_found, org_of, page, perform_in, read_object, require_root, respond,
    respond_deleted, with_engine,
};
use crate::state::App;
use crate::{translate, views};

/// The principal of `kind` named in the URL: 404 otherwise.
pub fn principal_id(
    app: &App,
    org: &canopy_core::ids::OrgId,
    reference: &str,
    kind: PrincipalKind,
    lang: canopy_core::messages::Lang,
) -> Result<PrincipalId, ApiError> {
    with_engine(app, org, lang, |e| {
        e.find_principal(reference, Some(kind))
            .ok_or_else(|| not_found(reference, lang))
    })
}

/// List users. Needs `iam.member.read`.
#[utoipa::path(get, path = "/v1/orgs/{org}/users", tag = "principals", operation_id = "list_users",
    params(("org" = String, Path, description = "Organisation ID or name"), api::PageParams),
    responses((status = 200, description = "One page", body = api::Page<api::UserView>)))]
pub async fn list(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::PageParams>,
) -> Result<axum::Json<api::Page<api::UserView>>, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    with_engine(&app, &org, caller.lang, |engine| {
        require_root(&app, engine, &caller, "iam.member.read")?;
        let items = engine
            .model()
            .users
            .values()
            .map(|u| (u.id.to_string(), views::user(u, None)));
        Ok(axum::Json(page(items, &params, engine.revision())))
    })
}

/// Create a user.
#[utoipa::path(post, path = "/v1/orgs/{org}/users", tag = "principals", operation_id = "create_user",
    params(("org" = String, Path, description = "Organisation ID or name"), api::MutationParams),
    request_body = api::CreateUserRequest,
    responses((status = 201, description = "Created", body = api::UserView),
              (status = 200, description = "Dry run", body = api::DryRun)))]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::CreateUserRequest>,
) -> Result<Response, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    let planned = translate::create_user(req, caller.lang)?;
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, None).await?;
    respond(&app, outcome, StatusCode::CREATED, |o| {
        matches!(o, Object::User(_))
    })
}

/// Read a user (by ID, `user:NAME` or name). Users may read themselves; others need
/// `iam.member.read`.
#[utoipa::path(get, path = "/v1/orgs/{org}/users/{user}", tag = "principals", operation_id = "get_user",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("user" = String, Path, description = "User ID, `user:NAME` or username")),
    responses((status = 200, description = "The user; `ETag` is its revision", body = api::UserView)))]
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    Path((org, user)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = principal_id(&app, &org, &user, PrincipalKind::User, lang)?;
    if caller.subject.as_ref() != Some(&id) {
        with_engine(&app, &org, lang, |e| {
            require_root(&app, e, &caller, "iam.member.read")
        })?;
    }
    read_object(
        &app,
        &org,
        ObjectKey::Principal(id.clone()),
        lang,
        |engine, revision| {
            let u = engine
                .model()
                .users
                .get(&id)
                .ok_or_else(|| not_found(&user, lang))?;
            serde_json::to_value(views::user(u, revision))
                .map_err(|e| ApiError::new("internal", e.to_string()))
        },
    )
    .await
}

/// Change a user: rename, contact details, enable or disable, break-glass, password. Honours
/// `If-Match`.
#[utoipa::path(patch, path = "/v1/orgs/{org}/users/{user}", tag = "principals",
    operation_id = "update_user",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("user" = String, Path, description = "User ID, `user:NAME` or username"),
           api::MutationParams),
    request_body = api::UpdateUserRequest,
    responses((status = 200, description = "Updated, or the dry run", body = api::OrDryRun<api::UserView>)))]
pub async fn update(
    State(app): State<App>,
    caller: Caller,
    Path((org, user)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    headers: HeaderMap,
    Json(req): Json<api::UpdateUserRequest>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = principal_id(&app, &org, &user, PrincipalKind::User, lang)?;
    let expect = if_match(&headers, ObjectKey::Principal(id.clone()), lang)?;
    let planned =
        translate::update_user(PrincipalRef::Id(id.clone()), Some(id.clone()), req, lang)?;
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, expect).await?;
    respond(
        &app,
        outcome,
        StatusCode::OK,
        |o| matches!(o, Object::User(u) if u.id == id),
    )
}

/// Delete a user (`cascade=true`: with its bindings and memberships). Honours `If-Match`.
#[utoipa::path(delete, path = "/v1/orgs/{org}/users/{user}", tag = "principals",
    operation_id = "delete_user",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("user" = String, Path, description = "User ID, `user:NAME` or username"),
           api::MutationParams),
    responses((status = 200, description = "Deleted, or the dry run", body = api::OrDryRun<api::Deleted>)))]
pub async fn delete(
    State(app): State<App>,
    caller: Caller,
    Path((org, user)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = principal_id(&app, &org, &user, PrincipalKind::User, lang)?;
    let expect = if_match(&headers, ObjectKey::Principal(id.clone()), lang)?;
    let planned = translate::delete_user(PrincipalRef::Id(id), params.cascade);
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, expect).await?;
    Ok(respond_deleted(outcome))
}
