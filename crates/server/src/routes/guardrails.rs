//! Guardrails: caps on what anyone may do below a node.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use canopy_api as api;
use canopy_core::command::NamedRef;
use canopy_core::ids::GuardrailId;
use canopy_core::model::{Object, ObjectKey};

use crate::auth::Caller;
use crate::body::Json;
use crate::problem::ApiError;
use crate::routes::{
    allowed, if_match, not_found, org_of, page, perform_in, read_object, require, respond,
    respond_deleted, with_engine,
};
use crate::state::App;
use crate::{translate, views};

/// List the guardrails the caller may read (`iam.guardrail.read` on their node).
#[utoipa::path(get, path = "/v1/orgs/{org}/guardrails", tag = "guardrails",
    operation_id = "list_guardrails",
    params(("org" = String, Path, description = "Organisation ID or name"), api::PageParams),
    responses((status = 200, description = "One page", body = api::Page<api::GuardrailView>)))]
pub async fn list(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::PageParams>,
) -> Result<axum::Json<api::Page<api::GuardrailView>>, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    with_engine(&app, &org, caller.lang, |engine| {
        let items = engine
            .model()
            .guardrails
            .values()
            .filter(|g| allowed(&app, engine, &caller, "iam.guardrail.read", g.node.as_str()))
            .map(|g| (g.id.to_string(), views::guardrail(engine, g, None)));
        Ok(axum::Json(page(items, &params, engine.revision())))
    })
}

/// Attach a guardrail to a node.
#[utoipa::path(post, path = "/v1/orgs/{org}/guardrails", tag = "guardrails",
    operation_id = "create_guardrail",
    params(("org" = String, Path, description = "Organisation ID or name"), api::MutationParams),
    request_body = api::CreateGuardrailRequest,
    responses((status = 201, description = "Created", body = api::GuardrailView),
              (status = 200, description = "Dry run", body = api::DryRun)))]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::CreateGuardrailRequest>,
) -> Result<Response, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    let planned = translate::create_guardrail(req, caller.lang)?;
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, None).await?;
    respond(&app, outcome, StatusCode::CREATED, |o| {
        matches!(o, Object::Guardrail(_))
    })
}

fn guardrail_id(
    app: &App,
    org: &canopy_core::ids::OrgId,
    reference: &str,
    lang: canopy_core::messages::Lang,
) -> Result<GuardrailId, ApiError> {
    with_engine(app, org, lang, |e| {
        e.find_guardrail(reference)
            .ok_or_else(|| not_found(reference, lang))
    })
}

/// Read a guardrail (by ID or name). Needs `iam.guardrail.read` on its node.
#[utoipa::path(get, path = "/v1/orgs/{org}/guardrails/{guardrail}", tag = "guardrails",
    operation_id = "get_guardrail",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("guardrail" = String, Path, description = "Guardrail ID or name")),
    responses((status = 200, description = "The guardrail", body = api::GuardrailView)))]
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    Path((org, guardrail)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = guardrail_id(&app, &org, &guardrail, lang)?;
    with_engine(&app, &org, lang, |e| {
        let node = e.model().guardrails.get(&id).map(|g| g.node.to_string());
        require(
            &app,
            e,
            &caller,
            "iam.guardrail.read",
            &node.unwrap_or_default(),
        )
    })?;
    read_object(
        &app,
        &org,
        ObjectKey::Guardrail(id.clone()),
        lang,
        |engine, revision| {
            let g = engine
                .model()
                .guardrails
                .get(&id)
                .ok_or_else(|| not_found(&guardrail, lang))?;
            serde_json::to_value(views::guardrail(engine, g, revision))
                .map_err(|e| ApiError::new("internal", e.to_string()))
        },
    )
    .await
}

/// Replace a guardrail's statements. Honours `If-Match`.
#[utoipa::path(put, path = "/v1/orgs/{org}/guardrails/{guardrail}", tag = "guardrails",
    operation_id = "put_guardrail",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("guardrail" = String, Path, description = "Guardrail ID or name"), api::MutationParams),
    request_body = api::PutStatementsRequest,
    responses((status = 200, description = "Updated, or the dry run", body = api::OrDryRun<api::GuardrailView>)))]
pub async fn put(
    State(app): State<App>,
    caller: Caller,
    Path((org, guardrail)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    headers: HeaderMap,
    Json(req): Json<api::PutStatementsRequest>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = guardrail_id(&app, &org, &guardrail, lang)?;
    let expect = if_match(&headers, ObjectKey::Guardrail(id.clone()), lang)?;
    let planned = translate::put_guardrail(NamedRef::Id(id.clone()), req, lang)?;
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, expect).await?;
    respond(
        &app,
        outcome,
        StatusCode::OK,
        |o| matches!(o, Object::Guardrail(g) if g.id == id),
    )
}

/// Remove a guardrail. Honours `If-Match`.
#[utoipa::path(delete, path = "/v1/orgs/{org}/guardrails/{guardrail}", tag = "guardrails",
    operation_id = "delete_guardrail",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("guardrail" = String, Path, description = "Guardrail ID or name"), api::MutationParams),
    responses((status = 200, description = "Deleted, or the dry run", body = api::OrDryRun<api::Deleted>)))]
pub async fn delete(
    State(app): State<App>,
    caller: Caller,
    Path((org, guardrail)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = guardrail_id(&app, &org, &guardrail, lang)?;
    let expect = if_match(&headers, ObjectKey::Guardrail(id.clone()), lang)?;
    let planned = translate::delete_guardrail(NamedRef::Id(id));
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, expect).await?;
    Ok(respond_deleted(outcome))
}
