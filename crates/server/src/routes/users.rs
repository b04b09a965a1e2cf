//! Users.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use canopy_api::CreateUserRequest;
use canopy_core::command::Command;
use canopy_core::model::Object;
use canopy_core::name::Name;
use canopy_store::{SecretOp, SecretOwner};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::body::Json;
use crate::credentials::hash_password;
use crate::problem::ApiError;
use crate::routes::{created, invalid_name, org_of, submit};
use crate::state::App;

/// `POST /v1/orgs/{org}/users {username, email?, password?, display_name?}`.
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Json(req): Json<CreateUserRequest>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let username =
        Name::parse(&req.username).map_err(|p| invalid_name("username", &req.username, p, lang))?;
    let mut secrets = Vec::new();
    if let Some(password) = &req.password {
        // Hashing is slow: off the async workers.
        let password = password.clone();
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| ApiError::new("internal", e.to_string()))?
            .map_err(|e| ApiError::new("invalid-field", e))?;
        secrets.push(SecretOp {
            owner: SecretOwner::Created(username.clone()),
            kind: "password".into(),
            value: Some(hash),
        });
    }
    let command = Command::CreateUser {
        username,
        email: req.email,
        display_name: req.display_name,
        password: req.password.is_some(),
    };
    let change = submit(&app, &caller, org, vec![command], secrets, None).await?;
    let body = created(&change, |o| match o {
        Object::User(u) => Some(json!(u)),
        _ => None,
    })?;
    Ok((StatusCode::CREATED, axum::Json(body)))
}
