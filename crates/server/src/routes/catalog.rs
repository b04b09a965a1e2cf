//! The organisation's catalog of resource types and actions.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use canopy_api as api;
use canopy_core::action::IAM_ACTIONS;
use canopy_core::model::Object;

use crate::auth::Caller;
use crate::body::Json;
use crate::problem::ApiError;
use crate::routes::{org_of, perform_in, require_root, respond, with_engine};
use crate::state::App;
use crate::{translate, views};

/// Read the catalog, with the built-in `iam` type. Needs `iam.catalog.read`.
#[utoipa::path(get, path = "/v1/orgs/{org}/catalog", tag = "catalog", operation_id = "get_catalog",
    params(("org" = String, Path, description = "Organisation ID or name")),
    responses((status = 200, description = "The catalog", body = api::CatalogBody)))]
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
) -> Result<axum::Json<api::CatalogBody>, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    with_engine(&app, &org, caller.lang, |engine| {
        require_root(&app, engine, &caller, "iam.catalog.read")?;
        let mut body = views::catalog(&engine.model().catalog, Some(engine.revision()));
        let iam = body.types.entry("iam".into()).or_default();
        for (action, class) in IAM_ACTIONS {
            let suffix = action.strip_prefix("iam.").unwrap_or(action);
            iam.insert(suffix.into(), views::action_class(*class));
        }
        Ok(axum::Json(body))
    })
}

/// Replace the catalog. Refused (409) while a removed type or action is still in use.
#[utoipa::path(put, path = "/v1/orgs/{org}/catalog", tag = "catalog", operation_id = "put_catalog",
    params(("org" = String, Path, description = "Organisation ID or name"), api::MutationParams),
    request_body = api::CatalogBody,
    responses((status = 200, description = "The new catalog, or the dry run", body = api::OrDryRun<api::CatalogBody>)))]
pub async fn put(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::CatalogBody>,
) -> Result<Response, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    let planned = translate::put_catalog(req);
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, None).await?;
    respond(&app, outcome, StatusCode::OK, |o| {
        matches!(o, Object::Catalog(_))
    })
}
