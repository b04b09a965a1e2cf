//! Organisations: created, limited and deleted by instance administrators; read and given a
//! policy by their own administrators.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use canopy_api as api;
use canopy_core::ids::OrgId;
use canopy_core::installation::Request;
use canopy_core::model::Object;
use canopy_store::SecretOwner;

use crate::auth::Caller;
use crate::body::Json;
use crate::messages;
use crate::problem::ApiError;
use crate::routes::{
    Outcome, allowed, invalid_name, page, perform, perform_in, respond, respond_deleted, written,
};
use crate::state::App;
use crate::{translate, views};

fn instance_admins_only(caller: &Caller) -> Result<(), ApiError> {
    match caller.org {
        None => Ok(()),
        Some(_) => Err(ApiError::new(
            "forbidden",
            messages::instance_admins_only(caller.lang),
        )),
    }
}

/// The organisation named in the URL, for an instance administrator (any organisation) or a
/// member of it (its own only; 404 otherwise).
fn visible_org(app: &App, caller: &Caller, reference: &str) -> Result<OrgId, ApiError> {
    let not_found = || ApiError::new("not-found", messages::org_not_found(reference, caller.lang));
    let inst = app.shared.read();
    let id = inst
        .find_org(reference)
        .ok_or_else(not_found)?
        .model()
        .org
        .id
        .clone();
    match &caller.org {
        None => Ok(id),
        Some(own) if own == &id => Ok(id),
        Some(_) => Err(not_found()),
    }
}

/// List organisations: every one for an instance administrator; a member sees its own (with
/// `iam.org.read`).
#[utoipa::path(get, path = "/v1/orgs", tag = "organisations", operation_id = "list_orgs",
    params(api::PageParams),
    responses((status = 200, description = "One page", body = api::Page<api::OrgView>)))]
pub async fn list(
    State(app): State<App>,
    caller: Caller,
    Query(params): Query<api::PageParams>,
) -> Result<axum::Json<api::Page<api::OrgView>>, ApiError> {
    let inst = app.shared.read();
    let items = inst
        .orgs()
        .filter(|e| match &caller.org {
            None => true,
            Some(own) => {
                own == &e.model().org.id && allowed(&app, e, &caller, "iam.org.read", own.as_str())
            }
        })
        .map(|e| {
            let o = &e.model().org;
            (o.id.to_string(), views::org(o, None))
        });
    Ok(axum::Json(page(items, &params, inst.revision())))
}

/// Create an organisation and its first administrator (instance administrators only).
#[utoipa::path(post, path = "/v1/orgs", tag = "organisations", operation_id = "create_org",
    params(api::MutationParams),
    request_body = api::CreateOrgRequest,
    responses((status = 201, description = "Created", body = api::OrgView),
              (status = 200, description = "Dry run", body = api::DryRun)))]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::CreateOrgRequest>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    instance_admins_only(&caller)?;
    let name = canopy_core::name::Name::parse(&req.name)
        .map_err(|p| invalid_name("name", &req.name, p, lang))?;
    let admin = canopy_core::name::Name::parse(&req.admin.username)
        .map_err(|p| invalid_name("admin.username", &req.admin.username, p, lang))?;
    let policy = req
        .policy
        .as_ref()
        .map(|p| translate::policy(p, lang))
        .transpose()?
        .unwrap_or_default();
    let secrets = match &req.policy {
        Some(p) => translate::webhook_secret(p, lang)?.into_iter().collect(),
        None => Vec::new(),
    };
    let request = Request::CreateOrg {
        name,
        admin: admin.clone(),
        policy,
    };
    let passwords = vec![(SecretOwner::Created(admin), Some(req.admin.password.0))];
    let outcome = perform(
        &app,
        &caller,
        request,
        passwords,
        secrets,
        params.dry_run,
        None,
    )
    .await?;
    let Outcome::Changed(change) = outcome else {
        return respond(&app, outcome, StatusCode::OK, |_| false);
    };
    let mut view = None;
    let mut admin = None;
    for o in written(&change) {
        match o {
            Object::Org(org) => view = Some(views::org(org, Some(change.revision))),
            Object::User(u) => {
                admin = Some(api::Named {
                    id: u.id.to_string(),
                    reference: format!("user:{}", u.username),
                })
            }
            _ => {}
        }
    }
    let mut view =
        view.ok_or_else(|| ApiError::new("internal", "create_org wrote no organisation"))?;
    view.admin = admin;
    Ok((StatusCode::CREATED, axum::Json(view)).into_response())
}

/// Read an organisation: its name, limits and policy (instance administrators, or members with
/// `iam.org.read`).
#[utoipa::path(get, path = "/v1/orgs/{org}", tag = "organisations", operation_id = "get_org",
    params(("org" = String, Path, description = "Organisation ID or name")),
    responses((status = 200, description = "The organisation", body = api::OrgView)))]
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
) -> Result<axum::Json<api::OrgView>, ApiError> {
    let id = visible_org(&app, &caller, &org)?;
    let inst = app.shared.read();
    let engine = inst
        .org(&id)
        .ok_or_else(|| ApiError::new("not-found", messages::org_not_found(&org, caller.lang)))?;
    if caller.org.is_some() && !allowed(&app, engine, &caller, "iam.org.read", id.as_str()) {
        return Err(ApiError::new(
            "forbidden",
            messages::forbidden("iam.org.read", caller.lang),
        ));
    }
    Ok(axum::Json(views::org(
        &engine.model().org,
        Some(engine.revision()),
    )))
}

/// Change an organisation's limits (instance administrators) or policy (`iam.policy.write`).
#[utoipa::path(patch, path = "/v1/orgs/{org}", tag = "organisations", operation_id = "update_org",
    params(("org" = String, Path, description = "Organisation ID or name"), api::MutationParams),
    request_body = api::UpdateOrgRequest,
    responses((status = 200, description = "Updated, or the dry run", body = api::OrDryRun<api::OrgView>)))]
pub async fn update(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::UpdateOrgRequest>,
) -> Result<Response, ApiError> {
    let id = visible_org(&app, &caller, &org)?;
    if caller.org.is_none() && req.policy.is_some() {
        return Err(ApiError::new(
            "forbidden",
            messages::org_admins_only(caller.lang),
        ));
    }
    let planned = translate::update_org(req, caller.lang)?;
    let outcome = perform_in(&app, &caller, id, planned, params.dry_run, None).await?;
    respond(&app, outcome, StatusCode::OK, |o| {
        matches!(o, Object::Org(_))
    })
}

/// Delete an organisation and everything in it (instance administrators only).
#[utoipa::path(delete, path = "/v1/orgs/{org}", tag = "organisations", operation_id = "delete_org",
    params(("org" = String, Path, description = "Organisation ID or name"), api::MutationParams),
    responses((status = 200, description = "Deleted, or the dry run", body = api::OrDryRun<api::Deleted>)))]
pub async fn delete(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::MutationParams>,
) -> Result<Response, ApiError> {
    let id = visible_org(&app, &caller, &org)?;
    instance_admins_only(&caller)?;
    let request = Request::DeleteOrg { org: id };
    let outcome = perform(
        &app,
        &caller,
        request,
        Vec::new(),
        Vec::new(),
        params.dry_run,
        None,
    )
    .await?;
    Ok(respond_deleted(outcome))
}
