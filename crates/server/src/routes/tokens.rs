//! API tokens: a user's personal tokens (created by the user only, optionally narrowed, 90 days
//! unless told otherwise) and a service account's keys (created by holders of
//! `iam.serviceaccount.write`). The secret is shown once; the store keeps its SHA-256. Creating
//! and revoking are changes, so every replica refuses a revoked token once it has applied that
//! revision — and at once through the store, where the hash is deleted with the change.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use canopy_api as api;
use canopy_core::command::Command;
use canopy_core::ids::{OrgId, PrincipalId, TokenId};
use canopy_core::installation::Request;
use canopy_core::model::{Object, PrincipalKind};
use canopy_store::{SecretOp, SecretOwner};

use crate::auth::{API_TOKEN_PREFIX, Caller};
use crate::body::Json;
use crate::problem::ApiError;
use crate::routes::users::principal_id;
use crate::routes::{
    Outcome, not_found, org_of, perform_with_secrets, require_root, respond_deleted, with_engine,
    written,
};
use crate::state::App;
use crate::{translate, views};

/// How long a personal token lasts when its creator does not say.
const PERSONAL_TOKEN_DAYS: i64 = 90;

/// Creates a token for `owner` (a user: by that user only; a service account: with
/// `iam.serviceaccount.write`).
async fn create(
    app: &App,
    caller: &Caller,
    org: OrgId,
    owner: PrincipalId,
    req: api::CreateTokenRequest,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let default_expiry = (owner.kind() == PrincipalKind::User).then(|| {
        app.clock
            .now()
            .plus_millis(PERSONAL_TOKEN_DAYS * 24 * 3_600_000)
    });
    let request = Request::Org {
        org: org.clone(),
        commands: vec![translate::create_token(owner, &req, default_expiry, lang)?],
    };
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let secrets = vec![SecretOp {
        owner: SecretOwner::CreatedToken,
        kind: "token".into(),
        value: Some(canopy_store::token_hash(&secret)),
    }];
    let change = match perform_with_secrets(app, caller, request, secrets, dry_run, None).await? {
        Outcome::DryRun(d) => return Ok(axum::Json(d).into_response()),
        Outcome::Changed(c) => c,
    };
    let token = written(&change)
        .find_map(|o| match o {
            Object::Token(t) => Some(t.clone()),
            _ => None,
        })
        .ok_or_else(|| ApiError::new("internal", "create_token wrote no token"))?;
    let view = with_engine(app, &org, lang, |e| {
        Ok(views::token(e, &token, Some(change.revision)))
    })?;
    Ok((
        StatusCode::CREATED,
        axum::Json(api::CreatedToken {
            token: format!("{API_TOKEN_PREFIX}{}.{secret}", token.id).into(),
            view,
        }),
    )
        .into_response())
}

/// The owner's tokens: for the owner, or with `iam.member.read`.
fn list(
    app: &App,
    caller: &Caller,
    org: &OrgId,
    owner: &PrincipalId,
) -> Result<api::Page<api::TokenView>, ApiError> {
    with_engine(app, org, caller.lang, |e| {
        if caller.subject.as_ref() != Some(owner) {
            require_root(app, e, caller, "iam.member.read")?;
        }
        let items = e
            .model()
            .tokens
            .values()
            .filter(|t| &t.owner == owner)
            .map(|t| views::token(e, t, None))
            .collect();
        Ok(api::Page {
            items,
            next_cursor: None,
            revision: e.revision(),
        })
    })
}

/// Revokes one of the owner's tokens (the owner, or an administrator of users or service
/// accounts).
async fn revoke(
    app: &App,
    caller: &Caller,
    org: OrgId,
    owner: &PrincipalId,
    token: &str,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let id = with_engine(app, &org, lang, |e| {
        TokenId::parse(token)
            .filter(|id| e.model().tokens.get(id).is_some_and(|t| &t.owner == owner))
            .ok_or_else(|| not_found(token, lang))
    })?;
    let request = Request::Org {
        org,
        commands: vec![Command::DeleteToken { token: id }],
    };
    let outcome = perform_with_secrets(app, caller, request, vec![], dry_run, None).await?;
    Ok(respond_deleted(outcome))
}

/// Create a personal API token for oneself: it acts as its owner (narrowed to `statements` if
/// given, never more), until `expires_at` (90 days if not given) or revocation. The secret is
/// in this answer only.
#[utoipa::path(post, path = "/v1/orgs/{org}/users/{user}/tokens", tag = "auth",
    operation_id = "create_user_token",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("user" = String, Path, description = "The caller's own user"),
           api::MutationParams),
    request_body = api::CreateTokenRequest,
    responses((status = 201, description = "Created: the secret, shown once", body = api::CreatedToken),
              (status = 200, description = "The dry run", body = api::DryRun)))]
pub async fn create_user_token(
    State(app): State<App>,
    caller: Caller,
    Path((org, user)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::CreateTokenRequest>,
) -> Result<Response, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    let owner = principal_id(&app, &org, &user, PrincipalKind::User, caller.lang)?;
    create(&app, &caller, org, owner, req, params.dry_run).await
}

/// A user's API tokens (never their secrets): the user, or with `iam.member.read`.
#[utoipa::path(get, path = "/v1/orgs/{org}/users/{user}/tokens", tag = "auth",
    operation_id = "list_user_tokens",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("user" = String, Path, description = "User ID, `user:NAME` or username")),
    responses((status = 200, description = "The tokens", body = api::Page<api::TokenView>)))]
pub async fn list_user_tokens(
    State(app): State<App>,
    caller: Caller,
    Path((org, user)): Path<(String, String)>,
) -> Result<axum::Json<api::Page<api::TokenView>>, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    let owner = principal_id(&app, &org, &user, PrincipalKind::User, caller.lang)?;
    list(&app, &caller, &org, &owner).map(axum::Json)
}

/// Revoke a user's API token: the user, or with `iam.user.write`.
#[utoipa::path(delete, path = "/v1/orgs/{org}/users/{user}/tokens/{token}", tag = "auth",
    operation_id = "revoke_user_token",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("user" = String, Path, description = "User ID, `user:NAME` or username"),
           ("token" = String, Path, description = "The token's ID (`tok_…`)"),
           api::MutationParams),
    responses((status = 200, description = "Revoked, or the dry run", body = api::OrDryRun<api::Deleted>)))]
pub async fn revoke_user_token(
    State(app): State<App>,
    caller: Caller,
    Path((org, user, token)): Path<(String, String, String)>,
    Query(params): Query<api::MutationParams>,
) -> Result<Response, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    let owner = principal_id(&app, &org, &user, PrincipalKind::User, caller.lang)?;
    revoke(&app, &caller, org, &owner, &token, params.dry_run).await
}

/// Create a key for a service account (needs `iam.serviceaccount.write`): it authenticates as
/// the service account, narrowed to `statements` if given, until `expires_at` or revocation.
#[utoipa::path(post, path = "/v1/orgs/{org}/service-accounts/{sa}/keys", tag = "auth",
    operation_id = "create_sa_key",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("sa" = String, Path, description = "Service account ID, `sa:NAME` or name"),
           api::MutationParams),
    request_body = api::CreateTokenRequest,
    responses((status = 201, description = "Created: the secret, shown once", body = api::CreatedToken),
              (status = 200, description = "The dry run", body = api::DryRun)))]
pub async fn create_sa_key(
    State(app): State<App>,
    caller: Caller,
    Path((org, sa)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::CreateTokenRequest>,
) -> Result<Response, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    let owner = principal_id(&app, &org, &sa, PrincipalKind::ServiceAccount, caller.lang)?;
    create(&app, &caller, org, owner, req, params.dry_run).await
}

/// A service account's keys (never their secrets). Needs `iam.member.read`.
#[utoipa::path(get, path = "/v1/orgs/{org}/service-accounts/{sa}/keys", tag = "auth",
    operation_id = "list_sa_keys",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("sa" = String, Path, description = "Service account ID, `sa:NAME` or name")),
    responses((status = 200, description = "The keys", body = api::Page<api::TokenView>)))]
pub async fn list_sa_keys(
    State(app): State<App>,
    caller: Caller,
    Path((org, sa)): Path<(String, String)>,
) -> Result<axum::Json<api::Page<api::TokenView>>, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    let owner = principal_id(&app, &org, &sa, PrincipalKind::ServiceAccount, caller.lang)?;
    list(&app, &caller, &org, &owner).map(axum::Json)
}

/// Revoke a service account's key. Needs `iam.serviceaccount.write`.
#[utoipa::path(delete, path = "/v1/orgs/{org}/service-accounts/{sa}/keys/{key}", tag = "auth",
    operation_id = "revoke_sa_key",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("sa" = String, Path, description = "Service account ID, `sa:NAME` or name"),
           ("key" = String, Path, description = "The key's ID (`tok_…`)"),
           api::MutationParams),
    responses((status = 200, description = "Revoked, or the dry run", body = api::OrDryRun<api::Deleted>)))]
pub async fn revoke_sa_key(
    State(app): State<App>,
    caller: Caller,
    Path((org, sa, key)): Path<(String, String, String)>,
    Query(params): Query<api::MutationParams>,
) -> Result<Response, ApiError> {
    let org = org_of(&app, &caller, &org)?;
    let owner = principal_id(&app, &org, &sa, PrincipalKind::ServiceAccount, caller.lang)?;
    revoke(&app, &caller, org, &owner, &key, params.dry_run).await
}
