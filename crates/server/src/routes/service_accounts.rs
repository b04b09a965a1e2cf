//! Service accounts.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use canopy_api as api;
use canopy_core::command::PrincipalRef;
use canopy_core::model::{Object, ObjectKey, PrincipalKind};

use crate::auth::Caller;
use crate::body::Json;
use crate::problem::ApiError;
use crate::routes::users::principal_id;
use crate::routes::{
    if_match, not_found, org_of, page, perform_in, read_object, require_root, respond,
    respond_deleted, with_engine,
};
use crate::state::App;
use crate::{translate, views};

/// List service accounts. Needs `iam.member.read`.
#[utoipa::path(get, path = "/v1/orgs/{org}/service-accounts", tag = "principals",
    operation_id = "list_service_accounts",
    params(("org" = String, Path, description = "Organisation ID or name"), api::PageParams),
    responses((status = 200, description = "One page", body = api::Page<api::ServiceAccountView>)))]
pub async fn list(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::PageParams>,
) -> Result<axum::Json<api::Page<serde_json::Value>>, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    with_engine(&app, &org, caller.lang, |engine| {
        require_root(&app, engine, &caller, "iam.member.read")?;
        let items = engine.model().service_accounts.values().map(|s| {
            let view = views::object(engine, &Object::ServiceAccount(s.clone()), None);
            (s.id.to_string(), view)
        });
        Ok(axum::Json(page(items, &params, engine.revision())))
    })
}

/// Create a service account.
#[utoipa::path(post, path = "/v1/orgs/{org}/service-accounts", tag = "principals",
    operation_id = "create_service_account",
    params(("org" = String, Path, description = "Organisation ID or name"), api::MutationParams),
    request_body = api::CreateServiceAccountRequest,
    responses((status = 201, description = "Created", body = api::ServiceAccountView),
              (status = 200, description = "Dry run", body = api::DryRun)))]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::CreateServiceAccountRequest>,
) -> Result<Response, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    let planned = translate::create_service_account(req, caller.lang)?;
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, None).await?;
    respond(&app, outcome, StatusCode::CREATED, |o| {
        matches!(o, Object::ServiceAccount(_))
    })
}

/// Read a service account. Needs `iam.member.read` (a service account may read itself).
#[utoipa::path(get, path = "/v1/orgs/{org}/service-accounts/{sa}", tag = "principals",
    operation_id = "get_service_account",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("sa" = String, Path, description = "Service account ID, `sa:NAME` or name")),
    responses((status = 200, description = "The service account", body = api::ServiceAccountView)))]
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    Path((org, sa)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = principal_id(&app, &org, &sa, PrincipalKind::ServiceAccount, lang)?;
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
            let s = engine
                .model()
                .service_accounts
                .get(&id)
                .ok_or_else(|| not_found(&sa, lang))?;
            Ok(views::object(
                engine,
                &Object::ServiceAccount(s.clone()),
                revision,
            ))
        },
    )
    .await
}

/// Enable or disable a service account. Honours `If-Match`.
#[utoipa::path(patch, path = "/v1/orgs/{org}/service-accounts/{sa}", tag = "principals",
    operation_id = "update_service_account",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("sa" = String, Path, description = "Service account ID, `sa:NAME` or name"),
           api::MutationParams),
    request_body = api::UpdateServiceAccountRequest,
    responses((status = 200, description = "Updated, or the dry run", body = api::OrDryRun<api::ServiceAccountView>)))]
pub async fn update(
    State(app): State<App>,
    caller: Caller,
    Path((org, sa)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    headers: HeaderMap,
    Json(req): Json<api::UpdateServiceAccountRequest>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = principal_id(&app, &org, &sa, PrincipalKind::ServiceAccount, lang)?;
    let expect = if_match(&headers, ObjectKey::Principal(id.clone()), lang)?;
    let planned = translate::update_service_account(PrincipalRef::Id(id.clone()), req);
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, expect).await?;
    respond(
        &app,
        outcome,
        StatusCode::OK,
        |o| matches!(o, Object::ServiceAccount(s) if s.id == id),
    )
}

/// Delete a service account (`cascade=true`: with its bindings and memberships).
#[utoipa::path(delete, path = "/v1/orgs/{org}/service-accounts/{sa}", tag = "principals",
    operation_id = "delete_service_account",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("sa" = String, Path, description = "Service account ID, `sa:NAME` or name"),
           api::MutationParams),
    responses((status = 200, description = "Deleted, or the dry run", body = api::OrDryRun<api::Deleted>)))]
pub async fn delete(
    State(app): State<App>,
    caller: Caller,
    Path((org, sa)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = principal_id(&app, &org, &sa, PrincipalKind::ServiceAccount, lang)?;
    let expect = if_match(&headers, ObjectKey::Principal(id.clone()), lang)?;
    let planned = translate::delete_service_account(PrincipalRef::Id(id), params.cascade);
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, expect).await?;
    Ok(respond_deleted(outcome))
}
