//! Groups and their members.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use canopy_api as api;
use canopy_core::command::PrincipalRef;
use canopy_core::model::{Object, ObjectKey, PrincipalKind};
use serde::Deserialize;

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

/// List groups. Needs `iam.member.read`.
#[utoipa::path(get, path = "/v1/orgs/{org}/groups", tag = "principals", operation_id = "list_groups",
    params(("org" = String, Path, description = "Organisation ID or name"), api::PageParams),
    responses((status = 200, description = "One page", body = api::Page<api::GroupView>)))]
pub async fn list(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::PageParams>,
) -> Result<axum::Json<api::Page<serde_json::Value>>, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    with_engine(&app, &org, caller.lang, |engine| {
        require_root(&app, engine, &caller, "iam.member.read")?;
        let items = engine.model().groups.values().map(|g| {
            let view = views::object(engine, &Object::Group(g.clone()), None);
            (g.id.to_string(), view)
        });
        Ok(axum::Json(page(items, &params, engine.revision())))
    })
}

/// Create a group.
#[utoipa::path(post, path = "/v1/orgs/{org}/groups", tag = "principals", operation_id = "create_group",
    params(("org" = String, Path, description = "Organisation ID or name"), api::MutationParams),
    request_body = api::CreateGroupRequest,
    responses((status = 201, description = "Created", body = api::GroupView),
              (status = 200, description = "Dry run", body = api::DryRun)))]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::CreateGroupRequest>,
) -> Result<Response, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    let planned = translate::create_group(req, caller.lang)?;
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, None).await?;
    respond(&app, outcome, StatusCode::CREATED, |o| {
        matches!(o, Object::Group(_))
    })
}

/// Read a group. Needs `iam.member.read`.
#[utoipa::path(get, path = "/v1/orgs/{org}/groups/{group}", tag = "principals", operation_id = "get_group",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("group" = String, Path, description = "Group ID, `group:NAME` or name")),
    responses((status = 200, description = "The group", body = api::GroupView)))]
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    Path((org, group)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = principal_id(&app, &org, &group, PrincipalKind::Group, lang)?;
    with_engine(&app, &org, lang, |e| {
        require_root(&app, e, &caller, "iam.member.read")
    })?;
    read_object(
        &app,
        &org,
        ObjectKey::Principal(id.clone()),
        lang,
        |engine, revision| {
            let g = engine
                .model()
                .groups
                .get(&id)
                .ok_or_else(|| not_found(&group, lang))?;
            Ok(views::object(engine, &Object::Group(g.clone()), revision))
        },
    )
    .await
}

/// Delete a group (`cascade=true`: with its bindings and memberships). Honours `If-Match`.
#[utoipa::path(delete, path = "/v1/orgs/{org}/groups/{group}", tag = "principals",
    operation_id = "delete_group",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("group" = String, Path, description = "Group ID, `group:NAME` or name"),
           api::MutationParams),
    responses((status = 200, description = "Deleted, or the dry run", body = api::OrDryRun<api::Deleted>)))]
pub async fn delete(
    State(app): State<App>,
    caller: Caller,
    Path((org, group)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = principal_id(&app, &org, &group, PrincipalKind::Group, lang)?;
    let expect = if_match(&headers, ObjectKey::Principal(id.clone()), lang)?;
    let planned = translate::delete_group(PrincipalRef::Id(id), params.cascade);
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, expect).await?;
    Ok(respond_deleted(outcome))
}

/// `GET /groups/{group}/members` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct MembersParams {
    /// List the resolved members (users and service accounts, nesting and excludes applied)
    /// instead of the direct entries.
    pub effective: bool,
    /// Where to continue.
    pub cursor: Option<String>,
    /// At most this many.
    pub limit: Option<usize>,
}

/// The direct entries of a group (with mode and source), or with `effective=true` its resolved
/// members. Needs `iam.member.read`.
#[utoipa::path(get, path = "/v1/orgs/{org}/groups/{group}/members", tag = "principals",
    operation_id = "list_members",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("group" = String, Path, description = "Group ID, `group:NAME` or name"), MembersParams),
    responses((status = 200, description = "One page", body = api::Page<api::MemberView>)))]
pub async fn members(
    State(app): State<App>,
    caller: Caller,
    Path((org, group)): Path<(String, String)>,
    Query(params): Query<MembersParams>,
) -> Result<axum::Json<api::Page<api::MemberView>>, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = principal_id(&app, &org, &group, PrincipalKind::Group, lang)?;
    let paging = api::PageParams {
        cursor: params.cursor.clone(),
        limit: params.limit,
    };
    with_engine(&app, &org, lang, |engine| {
        require_root(&app, engine, &caller, "iam.member.read")?;
        let items: Vec<(String, api::MemberView)> = if params.effective {
            engine
                .members_of(&id)
                .into_iter()
                .map(|m| {
                    let view = api::MemberView {
                        group: id.to_string(),
                        member: m.to_string(),
                        member_ref: engine.reference_of(&m).unwrap_or_else(|| m.to_string()),
                        manual: None,
                        mapped: Vec::new(),
                        revision: None,
                    };
                    (m.to_string(), view)
                })
                .collect()
        } else {
            engine
                .entries_of(&id)
                .into_iter()
                .map(|entry| (entry.member.to_string(), views::member(engine, entry, None)))
                .collect()
        };
        Ok(axum::Json(page(items, &paging, engine.revision())))
    })
}

/// Put a principal in a group: a manual `include` or `exclude`, or a `mapped` entry of a source.
#[utoipa::path(put, path = "/v1/orgs/{org}/groups/{group}/members/{principal}", tag = "principals",
    operation_id = "put_member",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("group" = String, Path, description = "Group ID, `group:NAME` or name"),
           ("principal" = String, Path, description = "Principal ID or `user:`/`sa:`/`group:` reference"),
           api::MutationParams),
    request_body = api::PutMemberRequest,
    responses((status = 200, description = "The entry, or the dry run", body = api::OrDryRun<api::MemberView>)))]
pub async fn put_member(
    State(app): State<App>,
    caller: Caller,
    Path((org, group, principal)): Path<(String, String, String)>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::PutMemberRequest>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let group = principal_id(&app, &org, &group, PrincipalKind::Group, lang)?;
    let member = with_engine(&app, &org, lang, |e| {
        e.find_principal(&principal, None)
            .ok_or_else(|| not_found(&principal, lang))
    })?;
    let planned = translate::put_member(
        PrincipalRef::Id(group.clone()),
        PrincipalRef::Id(member.clone()),
        req,
        lang,
    )?;
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, None).await?;
    respond(
        &app,
        outcome,
        StatusCode::OK,
        |o| matches!(o, Object::Membership(m) if m.group == group && m.member == member),
    )
}

/// `DELETE /groups/{group}/members/{principal}` parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct RemoveMemberParams {
    /// Remove only the manual entry (`manual`) or one mapped source's; default: every entry.
    pub source: Option<String>,
    /// Compute the access diff and change nothing.
    pub dry_run: bool,
}

/// Take a principal's entries out of a group.
#[utoipa::path(delete, path = "/v1/orgs/{org}/groups/{group}/members/{principal}",
    tag = "principals", operation_id = "remove_member",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("group" = String, Path, description = "Group ID, `group:NAME` or name"),
           ("principal" = String, Path, description = "Principal ID or reference"),
           RemoveMemberParams),
    responses((status = 200, description = "Removed, or the dry run", body = api::OrDryRun<api::Deleted>)))]
pub async fn remove_member(
    State(app): State<App>,
    caller: Caller,
    Path((org, group, principal)): Path<(String, String, String)>,
    Query(params): Query<RemoveMemberParams>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let group = principal_id(&app, &org, &group, PrincipalKind::Group, lang)?;
    let member = with_engine(&app, &org, lang, |e| {
        e.find_principal(&principal, None)
            .ok_or_else(|| not_found(&principal, lang))
    })?;
    let planned = translate::remove_member(
        PrincipalRef::Id(group),
        PrincipalRef::Id(member),
        params.source,
    );
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, None).await?;
    Ok(respond_deleted(outcome))
}
