//! TOTP enrolment: begin (a secret for the authenticator app), confirm (a code proves the app
//! holds it: the credential is set, recovery codes are shown once), remove.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use canopy_api as api;
use canopy_core::command::{Command, PrincipalRef};
use canopy_core::ids::{OrgId, PrincipalId};
use canopy_core::installation::Request;
use canopy_core::model::{CredentialKind, PrincipalKind};
use canopy_store::{SecretOp, SecretOwner};

use crate::auth::Caller;
use crate::body::Json;
use crate::messages;
use crate::problem::ApiError;
use crate::routes::users::principal_id;
use crate::routes::{Outcome, org_of, perform_with_secrets, respond_deleted, with_engine};
use crate::second_factor::{
    RECOVERY_KIND, TOTP_KIND, new_recovery_codes, new_totp_secret, otpauth_uri, totp_step,
};
use crate::state::App;

/// How long a begun enrolment waits for its confirmation.
const ENROLMENT_MS: i64 = 10 * 60_000;

/// The user of the URL, who must be the caller: only the holder of the authenticator enrols it.
fn own_user(
    app: &App,
    caller: &Caller,
    org: &str,
    user: &str,
) -> Result<(OrgId, PrincipalId), ApiError> {
    let lang = caller.lang;
    let org = org_of(app, caller, org)?;
    let id = principal_id(app, &org, user, PrincipalKind::User, lang)?;
    if caller.subject.as_ref() != Some(&id) {
        return Err(ApiError::new("forbidden", messages::only_self_enrols(lang)));
    }
    Ok((org, id))
}

fn set_totp(org: OrgId, id: &PrincipalId) -> Request {
    Request::Org {
        org,
        commands: vec![Command::SetCredential {
            user: PrincipalRef::Id(id.clone()),
            kind: CredentialKind::Totp,
        }],
    }
}

/// Begin a TOTP enrolment for oneself: a new secret for the authenticator app, in force only
/// once confirmed with a code. Replaces an enrolment begun before.
#[utoipa::path(post, path = "/v1/orgs/{org}/users/{user}/totp", tag = "auth",
    operation_id = "begin_totp",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("user" = String, Path, description = "The caller's own user"),
           api::MutationParams),
    responses((status = 200, description = "The secret, or the dry run", body = api::TotpEnrolment)))]
pub async fn begin(
    State(app): State<App>,
    caller: Caller,
    Path((org, user)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let (org, id) = own_user(&app, &caller, &org, &user)?;
    if params.dry_run {
        // The enrolment changes nobody's access until it is confirmed.
        return perform_with_secrets(&app, &caller, set_totp(org, &id), vec![], true, None)
            .await
            .map(|o| respond_deleted(o).into_response());
    }
    let (org_name, username) = with_engine(&app, &org, lang, |e| {
        let m = e.model();
        let user = m.users.get(&id).ok_or_else(|| {
            ApiError::new("not-found", messages::object_not_found(id.as_str(), lang))
        })?;
        Ok((m.org.name.to_string(), user.username.to_string()))
    })?;
    let secret = new_totp_secret();
    let uri = otpauth_uri(&secret, &org_name, &username)
        .ok_or_else(|| ApiError::new("internal", "cannot make an otpauth URI"))?;
    let expires = app.clock.now().plus_millis(ENROLMENT_MS);
    app.store
        .begin_enrolment(id.as_str(), &secret, expires)
        .await
        .map_err(|e| ApiError::store(&e, lang))?;
    Ok(axum::Json(api::TotpEnrolment {
        secret: secret.into(),
        otpauth_uri: uri.into(),
        expires_at: expires.to_string(),
    })
    .into_response())
}

/// Confirm one's TOTP enrolment with a current code: TOTP is then required at every login, and
/// ten recovery codes are shown (once).
#[utoipa::path(post, path = "/v1/orgs/{org}/users/{user}/totp/confirm", tag = "auth",
    operation_id = "confirm_totp",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("user" = String, Path, description = "The caller's own user"),
           api::MutationParams),
    request_body = api::TotpConfirmRequest,
    responses((status = 201, description = "Enrolled", body = api::TotpConfirmed),
              (status = 200, description = "The dry run", body = api::DryRun)))]
pub async fn confirm(
    State(app): State<App>,
    caller: Caller,
    Path((org, user)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::TotpConfirmRequest>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let (org, id) = own_user(&app, &caller, &org, &user)?;
    if params.dry_run {
        return perform_with_secrets(&app, &caller, set_totp(org, &id), vec![], true, None)
            .await
            .map(|o| respond_deleted(o).into_response());
    }
    let now = app.clock.now();
    let secret = app
        .store
        .pending_enrolment(id.as_str(), now)
        .await
        .map_err(|e| ApiError::store(&e, lang))?
        .ok_or_else(|| ApiError::new("invalid-field", messages::no_enrolment(lang)))?;
    let step = totp_step(&secret, req.code.expose(), (now.millis() / 1000) as u64)
        .ok_or_else(|| ApiError::new("invalid-field", messages::wrong_code(lang)))?;
    // The confirming code is spent: it cannot log in afterwards.
    app.store
        .use_totp_step(id.as_str(), step)
        .await
        .map_err(|e| ApiError::store(&e, lang))?;
    let (codes, stored) = new_recovery_codes();
    let owner = || SecretOwner::Id(id.clone());
    let secrets = vec![
        SecretOp {
            owner: owner(),
            kind: TOTP_KIND.into(),
            value: Some(secret),
        },
        SecretOp {
            owner: owner(),
            kind: RECOVERY_KIND.into(),
            value: Some(stored),
        },
    ];
    let outcome =
        perform_with_secrets(&app, &caller, set_totp(org, &id), secrets, false, None).await?;
    app.store
        .end_enrolment(id.as_str())
        .await
        .map_err(|e| ApiError::store(&e, lang))?;
    let Outcome::Changed(change) = outcome else {
        return Err(ApiError::new(
            "internal",
            "a confirmed enrolment was a dry run",
        ));
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(api::TotpConfirmed {
            recovery_codes: codes.into_iter().map(api::Secret).collect(),
            revision: change.revision,
        }),
    )
        .into_response())
}

/// Remove a user's TOTP and recovery codes: the user themself, or an administrator with
/// `iam.user.write` (a lost authenticator). Refused while it would lock the organisation out.
#[utoipa::path(delete, path = "/v1/orgs/{org}/users/{user}/totp", tag = "auth",
    operation_id = "remove_totp",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("user" = String, Path, description = "User ID, `user:NAME` or username"),
           api::MutationParams),
    responses((status = 200, description = "Removed, or the dry run", body = api::OrDryRun<api::Deleted>)))]
pub async fn remove(
    State(app): State<App>,
    caller: Caller,
    Path((org, user)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let id = principal_id(&app, &org, &user, PrincipalKind::User, lang)?;
    let request = Request::Org {
        org,
        commands: vec![Command::RemoveCredential {
            user: PrincipalRef::Id(id.clone()),
            kind: CredentialKind::Totp,
        }],
    };
    let secrets = [TOTP_KIND, RECOVERY_KIND]
        .into_iter()
        .map(|kind| SecretOp {
            owner: SecretOwner::Id(id.clone()),
            kind: kind.into(),
            value: None,
        })
        .collect();
    let outcome =
        perform_with_secrets(&app, &caller, request, secrets, params.dry_run, None).await?;
    Ok(respond_deleted(outcome))
}
