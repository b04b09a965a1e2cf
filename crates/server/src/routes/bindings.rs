//! Bindings: who holds which role where.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use canopy_api as api;
use canopy_core::ids::BindingId;
use canopy_core::model::{Object, ObjectKey};
use serde::Deserialize;

use crate::auth::Caller;
use crate::body::Json;
use crate::problem::ApiError;
use crate::routes::{
    allowed, if_match, not_found, org_of, page, perform_in, read_object, require, respond,
    respond_deleted, with_engine,
};
use crate::state::App;
use crate::{translate, views};

/// `GET /bindings` parameters: filters and paging.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct ListParams {
    /// Only bindings of this principal (ID or reference).
    pub subject: Option<String>,
    /// Only bindings of this role (ID or name).
    pub role: Option<String>,
    /// Only bindings at this scope (ID or path).
    pub scope: Option<String>,
    /// Where to continue.
    pub cursor: Option<String>,
    /// At most this many.
    pub limit: Option<usize>,
}

/// List the bindings the caller may read (`iam.binding.read` on their scope).
#[utoipa::path(get, path = "/v1/orgs/{org}/bindings", tag = "bindings", operation_id = "list_bindings",
    params(("org" = String, Path, description = "Organisation ID or name"), ListParams),
    responses((status = 200, description = "One page", body = api::Page<api::BindingView>)))]
pub async fn list(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<api::Page<api::BindingView>>, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    with_engine(&app, &org, lang, |engine| {
        // A filter naming something unknown matches nothing; it is not an error.
        let subject = params
            .subject
            .as_deref()
            .map(|s| engine.find_principal(s, None));
        let role = params.role.as_deref().map(|r| engine.find_role(r));
        let scope = params.scope.as_deref().map(|s| engine.find_target(s));
        let items = engine
            .model()
            .bindings
            .values()
            .filter(|b| {
                subject
                    .as_ref()
                    .is_none_or(|s| s.as_ref() == Some(&b.principal))
            })
            .filter(|b| role.as_ref().is_none_or(|r| r.as_ref() == Some(&b.role)))
            .filter(|b| scope.as_ref().is_none_or(|s| s.as_ref() == Some(&b.scope)))
            .filter(|b| allowed(&app, engine, &caller, "iam.binding.read", b.scope.as_str()))
            .map(|b| (b.id.to_string(), views::binding(engine, b, None)));
        let paging = api::PageParams {
            cursor: params.cursor.clone(),
            limit: params.limit,
        };
        Ok(axum::Json(page(items, &paging, engine.revision())))
    })
}

/// Bind a role to a principal at a node or resource.
#[utoipa::path(post, path = "/v1/orgs/{org}/bindings", tag = "bindings", operation_id = "create_binding",
    params(("org" = String, Path, description = "Organisation ID or name"), api::MutationParams),
    request_body = api::CreateBindingRequest,
    responses((status = 201, description = "Created", body = api::BindingView),
              (status = 200, description = "Dry run", body = api::DryRun)))]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::CreateBindingRequest>,
) -> Result<Response, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    let planned = translate::create_binding(req, caller.lang)?;
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, None).await?;
    respond(&app, outcome, StatusCode::CREATED, |o| {
        matches!(o, Object::Binding(_))
    })
}

fn binding_id(
    app: &App,
    org: &canopy_core::ids::OrgId,
    reference: &str,
    lang: canopy_core::messages::Lang,
) -> Result<BindingId, ApiError> {
    let id = BindingId::parse(reference).ok_or_else(|| not_found(reference, lang))?;
    with_engine(app, org, lang, |e| {
        e.model()
            .bindings
            .contains_key(&id)
            .then_some(id.clone())
            .ok_or_else(|| not_found(reference, lang))
    })
}

/// Read a binding. Needs `iam.binding.read` on its scope.
#[utoipa::path(get, path = "/v1/orgs/{org}/bindings/{binding}", tag = "bindings",
    operation_id = "get_binding",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("binding" = String, Path, description = "Binding ID")),
    responses((status = 200, description = "The binding", body = api::BindingView)))]
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    Path((org, binding)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = binding_id(&app, &org, &binding, lang)?;
    with_engine(&app, &org, lang, |e| {
        let scope = e
            .model()
            .bindings
            .get(&id)
            .map(|b| b.scope.as_str().to_string());
        require(
            &app,
            e,
            &caller,
            "iam.binding.read",
            &scope.unwrap_or_default(),
        )
    })?;
    read_object(
        &app,
        &org,
        ObjectKey::Binding(id.clone()),
        lang,
        |engine, revision| {
            let b = engine
                .model()
                .bindings
                .get(&id)
                .ok_or_else(|| not_found(&binding, lang))?;
            serde_json::to_value(views::binding(engine, b, revision))
                .map_err(|e| ApiError::new("internal", e.to_string()))
        },
    )
    .await
}

/// Delete a binding. Honours `If-Match`.
#[utoipa::path(delete, path = "/v1/orgs/{org}/bindings/{binding}", tag = "bindings",
    operation_id = "delete_binding",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("binding" = String, Path, description = "Binding ID"), api::MutationParams),
    responses((status = 200, description = "Deleted, or the dry run", body = api::OrDryRun<api::Deleted>)))]
pub async fn delete(
    State(app): State<App>,
    caller: Caller,
    Path((org, binding)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = binding_id(&app, &org, &binding, lang)?;
    let expect = if_match(&headers, ObjectKey::Binding(id.clone()), lang)?;
    let planned = translate::delete_binding(id);
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, expect).await?;
    Ok(respond_deleted(outcome))
}
