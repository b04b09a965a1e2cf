//! The route table, and the OpenAPI document generated from it: every route is registered here
//! with its `#[utoipa::path]` description, so the document cannot leave one out. The committed
//! copy (`openapi.json` at the repository's root) is compared with it by a test.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth;
use crate::routes::{
    audit, bindings, catalog, decisions, groups, guardrails, nodes, orgs, passkeys, plans,
    resources, roles, service_accounts, tokens, totp, users, watch,
};
use crate::state::App;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Canopy",
        description = "Identity and access management for self-hosted infrastructure: an \
                       organisation tree, principals, roles, bindings and guardrails, and the \
                       questions asked of them. Errors are RFC 7807 problems \
                       (`application/problem+json`) with a stable `type` \
                       `urn:canopy:problem:SLUG`."
    ),
    components(schemas(canopy_api::Problem)),
    tags(
        (name = "auth", description = "Logging in (password or passkey) and out, second factors, API tokens and keys"),
        (name = "organisations", description = "Organisations (instance administrators create them)"),
        (name = "tree", description = "Folders, projects and the tree"),
        (name = "resources", description = "Resources and their links"),
        (name = "catalog", description = "Resource types, actions and their classes"),
        (name = "principals", description = "Users, service accounts, groups and members"),
        (name = "roles", description = "Roles"),
        (name = "bindings", description = "Who holds which role where"),
        (name = "guardrails", description = "Caps below a node"),
        (name = "questions", description = "Check, explain, access, who, effective"),
        (name = "configuration", description = "Plan and apply"),
        (name = "audit", description = "The audit log and the change stream"),
        (name = "operations", description = "Health and the API's description"),
    )
)]
struct ApiDoc;

/// Every route of the API with its description.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(openapi_json))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(totp::begin, totp::remove))
        .routes(routes!(totp::confirm))
        .routes(routes!(tokens::create_user_token, tokens::list_user_tokens))
        .routes(routes!(tokens::revoke_user_token))
        .routes(routes!(tokens::create_sa_key, tokens::list_sa_keys))
        .routes(routes!(tokens::revoke_sa_key))
        .routes(routes!(auth::passkey::start))
        .routes(routes!(auth::passkey::finish))
        .routes(routes!(orgs::list, orgs::create))
        .routes(routes!(orgs::get, orgs::update, orgs::delete))
        .routes(routes!(nodes::tree))
        .routes(routes!(nodes::create))
        .routes(routes!(nodes::get, nodes::update, nodes::delete))
        .routes(routes!(nodes::children))
        .routes(routes!(resources::create))
        .routes(routes!(
            resources::get,
            resources::update,
            resources::delete
        ))
        .routes(routes!(resources::link))
        .routes(routes!(resources::unlink))
        .routes(routes!(catalog::get, catalog::put))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(passkeys::list))
        .routes(routes!(passkeys::register_start))
        .routes(routes!(passkeys::register_finish))
        .routes(routes!(passkeys::delete))
        .routes(routes!(service_accounts::list, service_accounts::create))
        .routes(routes!(
            service_accounts::get,
            service_accounts::update,
            service_accounts::delete
        ))
        .routes(routes!(groups::list, groups::create))
        .routes(routes!(groups::get, groups::delete))
        .routes(routes!(groups::members))
        .routes(routes!(groups::put_member, groups::remove_member))
        .routes(routes!(roles::list, roles::create))
        .routes(routes!(roles::get, roles::put, roles::delete))
        .routes(routes!(bindings::list, bindings::create))
        .routes(routes!(bindings::get, bindings::delete))
        .routes(routes!(guardrails::list, guardrails::create))
        .routes(routes!(
            guardrails::get,
            guardrails::put,
            guardrails::delete
        ))
        .routes(routes!(decisions::check))
        .routes(routes!(decisions::check_batch))
        .routes(routes!(decisions::explain))
        .routes(routes!(decisions::access))
        .routes(routes!(decisions::who))
        .routes(routes!(decisions::effective))
        .routes(large(routes!(plans::plan)))
        .routes(large(routes!(plans::apply)))
        .routes(routes!(plans::export))
        .routes(routes!(audit::query))
        .routes(routes!(watch::watch))
}

/// A route that takes a whole organisation's document: its body may be up to
/// [`plans::MAX_DOCUMENT_BODY`] (the route-level limit overrides the router's 1 MiB).
fn large(
    (schemas, paths, router): utoipa_axum::router::UtoipaMethodRouter<App>,
) -> utoipa_axum::router::UtoipaMethodRouter<App> {
    let limit = axum::extract::DefaultBodyLimit::max(plans::MAX_DOCUMENT_BODY);
    (schemas, paths, router.layer(limit))
}

/// Routes that need no credentials.
const PUBLIC: &[&str] = &[
    "healthz",
    "readyz",
    "openapi_json",
    "login",
    "start_passkey_login",
    "finish_passkey_login",
];

/// The OpenAPI document: the generated one, with what every operation shares added in one
/// place — the bearer token (except on public routes) and problem answers for every error.
pub fn document() -> Value {
    let (_, generated) = routes().split_for_parts();
    let mut doc = serde_json::to_value(&generated).unwrap_or(Value::Null);
    unsigned_formats(&mut doc);
    doc["components"]["securitySchemes"]["bearer"] = json!({
        "type": "http",
        "scheme": "bearer",
        "description": "A token from `POST /v1/auth/login`",
    });
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for op in item.values_mut() {
                let Some(op) = op.as_object_mut() else {
                    continue;
                };
                let id = op.get("operationId").and_then(Value::as_str).unwrap_or("");
                if !PUBLIC.contains(&id) {
                    op.insert("security".into(), json!([{ "bearer": [] }]));
                }
                op.entry("responses")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .map(|r| {
                        r.insert(
                            "default".into(),
                            json!({
                                "description": "A problem (RFC 7807)",
                                "content": { "application/problem+json": {
                                    "schema": { "$ref": "#/components/schemas/Problem" }
                                }}
                            }),
                        )
                    });
            }
        }
    }
    doc
}

/// Unsigned integers are described as such (utoipa's `non_strict_integers`), so that a client
/// or a fuzzer does not take `u64` for `int64` and its bound for ours; utoipa spells their
/// formats `u-int64`, the usual spelling is `uint64`.
fn unsigned_formats(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(f)) = map.get_mut("format")
                && let Some(bits) = f.strip_prefix("u-int")
            {
                *f = format!("uint{bits}");
            }
            map.values_mut().for_each(unsigned_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(unsigned_formats),
        _ => {}
    }
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses((status = 200, description = "Alive", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// How long `/readyz` waits for the engines to reach the head it read from the store.
pub const READY_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Ready to serve: the store answers and this replica has applied its head revision.
///
/// The store must answer within 2 seconds, and the engines reach its head within half a second;
/// otherwise 503 `unavailable`, whose detail says which. Answers both revisions.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz",
    responses((status = 200, description = "Ready", body = Object),
              (status = 503, description = "The store is unreachable, or this replica is behind it",
               body = canopy_api::Problem, content_type = "application/problem+json")))]
pub async fn readyz(
    State(app): State<App>,
    crate::auth::Language(lang): crate::auth::Language,
) -> Response {
    let head = match crate::state::store_head(&app).await {
        Ok(head) => head,
        Err(e) => return crate::problem::ApiError::store(&e, lang).into_response(),
    };
    if !app.shared.wait_for(head, READY_WAIT).await {
        let at = app.shared.revision();
        tracing::warn!(revision = at, head, "not ready: behind the store");
        return crate::problem::ApiError::new(
            "unavailable",
            crate::messages::behind_the_store(at, head, lang),
        )
        .into_response();
    }
    axum::Json(json!({
        "revision": app.shared.revision(),
        "head": head,
    }))
    .into_response()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", operation_id = "openapi_json",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub async fn openapi_json() -> axum::Json<Value> {
    static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    axum::Json(DOCUMENT.get_or_init(document).clone())
}
