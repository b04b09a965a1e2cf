//! Organisations: created and deleted by instance administrators.

use axum::extract::State;
use axum::http::StatusCode;
use canopy_api::CreateOrgRequest;
use canopy_core::installation::{Effects, Request};
use canopy_core::model::{Object, Write};
use canopy_core::name::Name;
use canopy_store::{SecretOp, SecretOwner, Submission};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::body::Json;
use crate::credentials::hash_password;
use crate::messages;
use crate::problem::ApiError;
use crate::routes::{invalid_name, request_id};
use crate::state::App;

/// `POST /v1/orgs {name, admin: {username, password}}`.
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Json(req): Json<CreateOrgRequest>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let lang = caller.lang;
    if caller.org.is_some() {
        return Err(ApiError::new(
            "forbidden",
            messages::instance_admins_only(lang),
        ));
    }
    let name = Name::parse(&req.name).map_err(|p| invalid_name("name", &req.name, p, lang))?;
    let admin = Name::parse(&req.admin.username)
        .map_err(|p| invalid_name("admin.username", &req.admin.username, p, lang))?;
    let hash = hash_password(&req.admin.password).map_err(|e| ApiError::new("invalid-field", e))?;
    let committed = app
        .writer
        .submit(Submission {
            actor: caller.actor,
            request: Request::CreateOrg {
                name,
                admin: admin.clone(),
            },
            request_id: request_id(),
            secrets: vec![SecretOp {
                owner: SecretOwner::Created(admin),
                kind: "password".into(),
                value: Some(hash),
            }],
            expect: None,
        })
        .await
        .map_err(|e| ApiError::submit(&e, lang))?;
    let change = committed.change;
    let Effects::Org { writes, .. } = &change.effects else {
        return Err(ApiError::new(
            "internal",
            "create_org did not create an organisation",
        ));
    };
    let mut org = Value::Null;
    let mut admin = json!({});
    for w in writes {
        match w {
            Write::Put(Object::Org(o)) => org = json!(o),
            Write::Put(Object::User(u)) => {
                admin["id"] = json!(u.id);
                admin["username"] = json!(u.username);
            }
            Write::Put(Object::Binding(b)) => admin["binding"] = json!(b.id),
            _ => {}
        }
    }
    if let Value::Object(m) = &mut org {
        m.insert("admin".into(), admin);
        m.insert("revision".into(), json!(change.revision));
    }
    Ok((StatusCode::CREATED, axum::Json(org)))
}
