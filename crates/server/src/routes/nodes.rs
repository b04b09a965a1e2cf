//! Folders and projects, and the tree.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use canopy_api as api;
use canopy_core::command::TargetRef;
use canopy_core::engine::OrgEngine;
use canopy_core::ids::NodeId;
use canopy_core::model::{Object, ObjectKey, Scope};

use crate::auth::Caller;
use crate::body::Json;
use crate::problem::ApiError;
use crate::routes::{
    allowed, if_match, not_found, org_of, page, perform_in, read_object, require, respond,
    respond_deleted, with_engine,
};
use crate::state::App;
use crate::{translate, views};

/// The folder or project named in the URL (the organisation itself is not one): 404 otherwise.
fn node_id(
    engine: &OrgEngine,
    reference: &str,
    lang: canopy_core::messages::Lang,
) -> Result<NodeId, ApiError> {
    match engine.find_target(reference) {
        Some(Scope::Node(id)) => Ok(id),
        _ => Err(not_found(reference, lang)),
    }
}

/// Create a folder or project.
#[utoipa::path(post, path = "/v1/orgs/{org}/nodes", tag = "tree", operation_id = "create_node",
    params(("org" = String, Path, description = "Organisation ID or name"), api::MutationParams),
    request_body = api::CreateNodeRequest,
    responses((status = 201, description = "Created", body = api::NodeView),
              (status = 200, description = "Dry run", body = api::DryRun)))]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::CreateNodeRequest>,
) -> Result<Response, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    let planned = translate::create_node(req, caller.lang)?;
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, None).await?;
    respond(&app, outcome, StatusCode::CREATED, |o| {
        matches!(o, Object::Node(_))
    })
}

/// Read a folder or project (the organisation as the root node too). Needs `iam.node.read`.
#[utoipa::path(get, path = "/v1/orgs/{org}/nodes/{node}", tag = "tree", operation_id = "get_node",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("node" = String, Path, description = "Node ID or path (one percent-encoded segment)")),
    responses((status = 200, description = "The node; `ETag` is its revision", body = api::NodeView)))]
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    Path((org, node)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = with_engine(&app, &org, lang, |engine| {
        let id = match engine.find_target(&node) {
            Some(Scope::Node(id)) => id,
            _ => return Err(not_found(&node, lang)),
        };
        require(&app, engine, &caller, "iam.node.read", id.as_str())?;
        Ok(id)
    })?;
    let key = if id.as_str() == org.as_str() {
        ObjectKey::Org(org.clone())
    } else {
        ObjectKey::Node(id.clone())
    };
    read_object(&app, &org, key, lang, |engine, revision| {
        let mut view = match engine.model().nodes.get(&id) {
            Some(n) => views::node(engine, n, revision),
            None => views::root(&engine.model().org),
        };
        view.revision = revision;
        serde_json::to_value(view).map_err(|e| ApiError::new("internal", e.to_string()))
    })
    .await
}

/// Rename or move a folder or project. Honours `If-Match`.
#[utoipa::path(patch, path = "/v1/orgs/{org}/nodes/{node}", tag = "tree", operation_id = "update_node",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("node" = String, Path, description = "Node ID or path"), api::MutationParams),
    request_body = api::UpdateNodeRequest,
    responses((status = 200, description = "Updated, or the dry run", body = api::OrDryRun<api::NodeView>)))]
pub async fn update(
    State(app): State<App>,
    caller: Caller,
    Path((org, node)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    headers: HeaderMap,
    Json(req): Json<api::UpdateNodeRequest>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = with_engine(&app, &org, lang, |e| node_id(e, &node, lang))?;
    let expect = if_match(&headers, ObjectKey::Node(id.clone()), lang)?;
    let planned = translate::update_node(TargetRef::Node(id.clone()), req, lang)?;
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, expect).await?;
    respond(
        &app,
        outcome,
        StatusCode::OK,
        |o| matches!(o, Object::Node(n) if n.id == id),
    )
}

/// Delete a folder or project; `cascade=true` also removes what is inside and what refers to
/// it. Honours `If-Match`.
#[utoipa::path(delete, path = "/v1/orgs/{org}/nodes/{node}", tag = "tree", operation_id = "delete_node",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("node" = String, Path, description = "Node ID or path"), api::MutationParams),
    responses((status = 200, description = "Deleted, or the dry run", body = api::OrDryRun<api::Deleted>)))]
pub async fn delete(
    State(app): State<App>,
    caller: Caller,
    Path((org, node)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = with_engine(&app, &org, lang, |e| node_id(e, &node, lang))?;
    let expect = if_match(&headers, ObjectKey::Node(id.clone()), lang)?;
    let planned = translate::delete_node(TargetRef::Node(id), params.cascade);
    let outcome = perform_in(&app, &caller, org, planned, params.dry_run, expect).await?;
    Ok(respond_deleted(outcome))
}

/// The folders, projects and resources directly inside a node that the caller may read.
#[utoipa::path(get, path = "/v1/orgs/{org}/nodes/{node}/children", tag = "tree",
    operation_id = "list_children",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("node" = String, Path, description = "Node ID or path"), api::PageParams),
    responses((status = 200, description = "One page", body = api::Page<api::ChildView>)))]
pub async fn children(
    State(app): State<App>,
    caller: Caller,
    Path((org, node)): Path<(String, String)>,
    Query(params): Query<api::PageParams>,
) -> Result<axum::Json<api::Page<api::ChildView>>, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    with_engine(&app, &org, lang, |engine| {
        let scope = match engine.find_target(&node) {
            Some(s @ Scope::Node(_)) => s,
            _ => return Err(not_found(&node, lang)),
        };
        require(&app, engine, &caller, "iam.node.read", scope.as_str())?;
        let model = engine.model();
        let items = engine.children(&scope).into_iter().filter_map(|child| {
            let view = match &child {
                Scope::Node(id) => {
                    let n = model.nodes.get(id)?;
                    if !allowed(&app, engine, &caller, "iam.node.read", id.as_str()) {
                        return None;
                    }
                    api::ChildView {
                        id: id.to_string(),
                        kind: views::node(engine, n, None).kind,
                        name: n.name.to_string(),
                        path: engine.path(&child)?,
                        type_name: None,
                    }
                }
                Scope::Resource(id) => {
                    let r = model.resources.get(id)?;
                    if !allowed(&app, engine, &caller, "iam.resource.read", id.as_str()) {
                        return None;
                    }
                    api::ChildView {
                        id: id.to_string(),
                        kind: "resource".into(),
                        name: r.name.to_string(),
                        path: engine.path(&child)?,
                        type_name: Some(r.type_name.clone()),
                    }
                }
            };
            Some((view.id.clone(), view))
        });
        Ok(axum::Json(page(items, &params, engine.revision())))
    })
}

/// The tree of folders and projects the caller may read, with the names of their ancestors.
#[utoipa::path(get, path = "/v1/orgs/{org}/tree", tag = "tree", operation_id = "get_tree",
    params(("org" = String, Path, description = "Organisation ID or name")),
    responses((status = 200, description = "The visible tree from the organisation down", body = api::TreeNode)))]
pub async fn tree(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
) -> Result<axum::Json<api::TreeNode>, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    with_engine(&app, &org, lang, |engine| {
        let model = engine.model();
        let root = &model.org;
        // Which nodes show: the readable ones and their ancestors (by name only).
        let mut shown: std::collections::BTreeMap<NodeId, bool> = Default::default();
        for n in model.nodes.values() {
            if !allowed(&app, engine, &caller, "iam.node.read", n.id.as_str()) {
                continue;
            }
            shown.insert(n.id.clone(), true);
            let mut parent = &n.parent;
            while let Some(p) = model.nodes.get(parent) {
                shown.entry(p.id.clone()).or_insert(false);
                parent = &p.parent;
            }
        }
        let root_readable = allowed(&app, engine, &caller, "iam.node.read", root.id.as_str());
        let mut by_parent: std::collections::BTreeMap<&NodeId, Vec<&canopy_core::model::Node>> =
            Default::default();
        for id in shown.keys() {
            if let Some(n) = model.nodes.get(id) {
                by_parent.entry(&n.parent).or_default().push(n);
            }
        }
        fn build(
            engine: &OrgEngine,
            id: &NodeId,
            kind: &str,
            name: &str,
            readable: bool,
            by_parent: &std::collections::BTreeMap<&NodeId, Vec<&canopy_core::model::Node>>,
            shown: &std::collections::BTreeMap<NodeId, bool>,
        ) -> api::TreeNode {
            let mut children: Vec<api::TreeNode> = by_parent
                .get(id)
                .map(|list| {
                    list.iter()
                        .map(|n| {
                            let kind = views::node(engine, n, None).kind;
                            build(
                                engine,
                                &n.id,
                                &kind,
                                n.name.as_str(),
                                shown.get(&n.id).copied().unwrap_or(false),
                                by_parent,
                                shown,
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            children.sort_by(|a, b| a.name.cmp(&b.name));
            api::TreeNode {
                id: id.to_string(),
                kind: kind.into(),
                name: name.into(),
                path: engine
                    .path(&Scope::Node(id.clone()))
                    .unwrap_or_else(|| name.into()),
                readable,
                children,
            }
        }
        let root_id = root.id.clone();
        Ok(axum::Json(build(
            engine,
            &root_id,
            "org",
            root.name.as_str(),
            root_readable,
            &by_parent,
            &shown,
        )))
    })
}
