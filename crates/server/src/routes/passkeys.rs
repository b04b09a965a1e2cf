//! A user's passkeys: registering one (a WebAuthn ceremony of the user themself), listing and
//! removing them. See [`crate::passkeys`] for how they are stored, and [`crate::auth::passkey`]
//! for logging in with one.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use canopy_api as api;
use canopy_core::command::{Command, PrincipalRef};
use canopy_core::error::{CommandError, Rule};
use canopy_core::ids::{OrgId, PrincipalId};
use canopy_core::installation::Request;
use canopy_core::messages::Lang;
use canopy_core::model::{CredentialKind, PrincipalKind};
use canopy_store::{Expectation, PASSKEY_KIND_PREFIX, SecretOp, SecretOwner, Taken};

use crate::auth::Caller;
use crate::body::Json;
use crate::messages;
use crate::passkeys::{Purpose, StoredPasskey, challenge, kind_of};
use crate::problem::ApiError;
use crate::routes::users::principal_id;
use crate::routes::{
    Outcome, not_found, org_of, page, perform_with_secrets, require_root, respond_deleted,
    with_engine,
};
use crate::state::App;

/// The longest passkey name, in characters.
pub const MAX_NAME_CHARS: usize = 128;

/// A failure of the store or of webauthn-rs that the client cannot act on.
fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "passkeys");
    ApiError::new("internal", e.to_string())
}

/// A user's stored passkeys, by ID.
pub async fn stored(
    app: &App,
    user: &PrincipalId,
    lang: Lang,
) -> Result<Vec<StoredPasskey>, ApiError> {
    let rows = app
        .store
        .secrets_with_prefix(user.as_str(), PASSKEY_KIND_PREFIX)
        .await
        .map_err(|e| ApiError::store(&e, lang))?;
    rows.iter()
        .map(|(_, secret)| StoredPasskey::parse(secret).map_err(internal))
        .collect()
}

/// How the API shows a passkey.
pub fn view(p: &StoredPasskey, revision: Option<u64>) -> api::PasskeyView {
    api::PasskeyView {
        id: p.id(),
        name: p.name.clone(),
        created_at: p.created_at.to_string(),
        last_used_at: p.last_used_at.map(|t| t.to_string()),
        revision,
    }
}

/// The organisation and the user of the URL (404 if either is unknown or foreign).
fn org_and_user(
    app: &App,
    caller: &Caller,
    org: &str,
    user: &str,
) -> Result<(OrgId, PrincipalId), ApiError> {
    let org = org_of(app, caller, org)?;
    let id = principal_id(app, &org, user, PrincipalKind::User, caller.lang)?;
    Ok((org, id))
}

/// Refuses (403) anyone but the user themself: only they register their passkeys, so that no
/// one — an administrator included — can plant a login on someone else's account.
fn themself(caller: &Caller, user: &PrincipalId) -> Result<(), ApiError> {
    match caller.subject.as_ref() == Some(user) {
        true => Ok(()),
        false => Err(ApiError::new(
            "forbidden",
            messages::passkeys_are_registered_by_their_user(caller.lang),
        )),
    }
}

/// Records a registration refused before it became a change (the writer records those it
/// refuses itself): who tried, for whom, why — and the passkey, when the answer named one.
async fn audit_refused(
    app: &App,
    caller: &Caller,
    (org, user): (&OrgId, &PrincipalId),
    passkey: Option<&str>,
    e: &ApiError,
) {
    let mut detail = serde_json::json!({
        "user": user,
        "method": "passkey",
        "problem": e.slug,
        "detail": e.detail,
        "source": caller.actor.ctx.source_ip,
    });
    if let Some(id) = passkey {
        detail["credentials"] = serde_json::json!({ "set": [kind_of(id)], "removed": [] });
    }
    crate::auth::audit(
        app,
        Some(org),
        caller.audit_label(),
        "set_credential",
        canopy_store::Outcome::Rejected,
        detail,
    )
    .await;
}

/// Start registering a passkey: the options for the authenticator
/// (`navigator.credentials.create`), which exclude the user's passkeys. Only the user themself
/// may register their passkeys (anyone else's attempt is audited); finish within 5 minutes
/// with `POST …/passkeys/register/finish`.
#[utoipa::path(post, path = "/v1/orgs/{org}/users/{user}/passkeys/register", tag = "principals",
    operation_id = "start_passkey_registration",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("user" = String, Path, description = "User ID, `user:NAME` or username")),
    responses((status = 200, description = "The options for the authenticator", body = api::PasskeyChallenge)))]
pub async fn register_start(
    State(app): State<App>,
    caller: Caller,
    Path((org, user)): Path<(String, String)>,
) -> Result<axum::Json<api::PasskeyChallenge>, ApiError> {
    let lang = caller.lang;
    let (org, id) = org_and_user(&app, &caller, &org, &user)?;
    if let Err(e) = themself(&caller, &id) {
        audit_refused(&app, &caller, (&org, &id), None, &e).await;
        return Err(e);
    }
    let (username, display_name) = with_engine(&app, &org, lang, |e| {
        let u = e
            .model()
            .users
            .get(&id)
            .ok_or_else(|| not_found(&user, lang))?;
        let name = u.username.to_string();
        // WebAuthn refuses an empty display name.
        let display = u
            .display_name
            .clone()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| name.clone());
        Ok((name, display))
    })?;
    let exclude = stored(&app, &id, lang)
        .await?
        .into_iter()
        .map(|p| p.passkey.cred_id().clone())
        .collect();
    let (options, state) = app
        .passkeys
        .start_registration(&id, &username, &display_name, exclude)
        .map_err(internal)?;
    let now = app.clock.now();
    let c = challenge(
        Purpose::Register,
        (org.as_str(), org.as_str()),
        id.as_str(),
        &username,
        state,
        now,
    );
    app.store
        .put_challenge(&c, now)
        .await
        .map_err(|e| ApiError::store(&e, lang))?;
    Ok(axum::Json(api::PasskeyChallenge {
        challenge_id: c.id,
        options: serde_json::to_value(&options).map_err(internal)?,
    }))
}

/// A passkey name: 1–128 characters, no control characters, trimmed.
fn passkey_name(name: &str, lang: Lang) -> Result<String, ApiError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::new(
            "invalid-field",
            messages::bad_passkey_name(MAX_NAME_CHARS, lang),
        ));
    }
    Ok(name.to_string())
}

/// Finish registering a passkey with the authenticator's answer: 201 the passkey. The
/// challenge is used up (a dry run verifies the answer and leaves it). One authenticator's
/// credential is registered once (409 `duplicate-name`). Every refused attempt is audited.
#[utoipa::path(post, path = "/v1/orgs/{org}/users/{user}/passkeys/register/finish", tag = "principals",
    operation_id = "finish_passkey_registration",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("user" = String, Path, description = "User ID, `user:NAME` or username"),
           api::MutationParams),
    request_body = api::RegisterPasskeyRequest,
    responses((status = 201, description = "Registered", body = api::PasskeyView),
              (status = 200, description = "Dry run", body = api::DryRun)))]
pub async fn register_finish(
    State(app): State<App>,
    caller: Caller,
    Path((org, user)): Path<(String, String)>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::RegisterPasskeyRequest>,
) -> Result<Response, ApiError> {
    let (org, id) = org_and_user(&app, &caller, &org, &user)?;
    let mut named = None;
    let checked = verified(&app, &caller, (&org, &id), &req, params.dry_run, &mut named).await;
    let stored = match checked {
        Ok(stored) => stored,
        Err(e) => {
            // A dry run changes nothing, the audit log included.
            if !params.dry_run {
                audit_refused(&app, &caller, (&org, &id), named.as_deref(), &e).await;
            }
            return Err(e);
        }
    };
    let kind = kind_of(&stored.id());
    let request = Request::Org {
        org,
        commands: vec![Command::SetCredential {
            user: PrincipalRef::Id(id.clone()),
            kind: CredentialKind::Passkey,
        }],
    };
    let secret = SecretOp {
        owner: SecretOwner::Id(id),
        kind: kind.clone(),
        value: Some(stored.to_secret().map_err(internal)?),
    };
    // Checked again under the write lock: of two registrations of one credential, one wins.
    let expect = Some(Expectation::NoSecret(kind));
    let outcome =
        perform_with_secrets(&app, &caller, request, vec![secret], params.dry_run, expect).await?;
    Ok(match outcome {
        Outcome::DryRun(d) => axum::Json(d).into_response(),
        Outcome::Changed(c) => (
            StatusCode::CREATED,
            axum::Json(view(&stored, Some(c.revision))),
        )
            .into_response(),
    })
}

/// Everything a registration's finish checks before it becomes a change: the caller is the
/// user, the name is one, the challenge is theirs and in progress (taken, unless a dry run),
/// the answer verifies, and no one holds the credential yet. The passkey to store; `named`
/// learns its ID as soon as the answer gives one.
async fn verified(
    app: &App,
    caller: &Caller,
    (org, id): (&OrgId, &PrincipalId),
    req: &api::RegisterPasskeyRequest,
    dry_run: bool,
    named: &mut Option<String>,
) -> Result<StoredPasskey, ApiError> {
    let lang = caller.lang;
    themself(caller, id)?;
    let name = passkey_name(&req.name, lang)?;
    let now = app.clock.now();
    let challenge = if dry_run {
        app.store.peek_challenge(&req.challenge_id, now).await
    } else {
        app.store
            .take_challenge(&req.challenge_id, now)
            .await
            .map(|t| match t {
                Taken::Fresh(c) => Some(c),
                _ => None,
            })
    }
    .map_err(|e| ApiError::store(&e, lang))?
    .filter(|c| {
        c.purpose == Purpose::Register.as_str()
            && c.principal == id.as_str()
            && c.org == org.as_str()
    })
    .ok_or_else(|| {
        ApiError::new(
            "unknown-reference",
            messages::unknown_challenge(&req.challenge_id, lang),
        )
    })?;
    *named = req.credential["id"].as_str().map(str::to_string);
    let passkey = app
        .passkeys
        .finish_registration(&challenge.state, &req.credential)
        .map_err(|e| ApiError::new("invalid-field", messages::credential_refused(&e, lang)))?;
    let stored = StoredPasskey {
        name,
        created_at: now,
        last_used_at: None,
        passkey,
    };
    *named = Some(stored.id());
    let held = app
        .store
        .secret_held(&kind_of(&stored.id()))
        .await
        .map_err(|e| ApiError::store(&e, lang))?;
    if held {
        return Err(ApiError::command(
            &CommandError::Rule(Rule::CredentialTaken),
            lang,
        ));
    }
    Ok(stored)
}

/// List a user's passkeys (never their keys). Users may list their own; others need
/// `iam.member.read`.
#[utoipa::path(get, path = "/v1/orgs/{org}/users/{user}/passkeys", tag = "principals",
    operation_id = "list_passkeys",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("user" = String, Path, description = "User ID, `user:NAME` or username"),
           api::PageParams),
    responses((status = 200, description = "One page", body = api::Page<api::PasskeyView>)))]
pub async fn list(
    State(app): State<App>,
    caller: Caller,
    Path((org, user)): Path<(String, String)>,
    Query(params): Query<api::PageParams>,
) -> Result<axum::Json<api::Page<api::PasskeyView>>, ApiError> {
    let (org, id) = org_and_user(&app, &caller, &org, &user)?;
    if caller.subject.as_ref() != Some(&id) {
        with_engine(&app, &org, caller.lang, |e| {
            require_root(&app, e, &caller, "iam.member.read")
        })?;
    }
    let revision = app.shared.revision();
    let items = stored(&app, &id, caller.lang)
        .await?
        .into_iter()
        .map(|p| (p.id(), view(&p, None)));
    Ok(axum::Json(page(items, &params, revision)))
}

/// Remove a passkey: it no longer logs in. Users may remove their own; others need
/// `iam.user.write`. Refused (409 `lockout`) when the organisation would be left without a
/// usable administrator (a policy with `passkeys_only` counts passkeys).
#[utoipa::path(delete, path = "/v1/orgs/{org}/users/{user}/passkeys/{passkey}", tag = "principals",
    operation_id = "delete_passkey",
    params(("org" = String, Path, description = "Organisation ID or name"),
           ("user" = String, Path, description = "User ID, `user:NAME` or username"),
           ("passkey" = String, Path, description = "The passkey's ID (its credential ID)"),
           api::MutationParams),
    responses((status = 200, description = "Removed, or the dry run", body = api::OrDryRun<api::Deleted>)))]
pub async fn delete(
    State(app): State<App>,
    caller: Caller,
    Path((org, user, passkey)): Path<(String, String, String)>,
    Query(params): Query<api::MutationParams>,
) -> Result<Response, ApiError> {
    let lang = caller.lang;
    let (org, id) = org_and_user(&app, &caller, &org, &user)?;
    // The passkey is looked up first (its ID is no secret: a login's options list it); who may
    // remove it is the core's to say, as for every change — the user themself, or
    // `iam.user.write` at the root under the organisation's policy — refusals audited.
    let kind = kind_of(&passkey);
    let exists = app
        .store
        .secret(id.as_str(), &kind)
        .await
        .map_err(|e| ApiError::store(&e, lang))?
        .is_some();
    if !exists {
        return Err(not_found(&passkey, lang));
    }
    let request = Request::Org {
        org,
        commands: vec![Command::RemoveCredential {
            user: PrincipalRef::Id(id.clone()),
            kind: CredentialKind::Passkey,
        }],
    };
    let secret = SecretOp {
        owner: SecretOwner::Id(id.clone()),
        kind: kind.clone(),
        value: None,
    };
    // Checked again under the write lock: of two removals of one passkey, one wins.
    let expect = Some(Expectation::Secret(id, kind));
    let outcome =
        perform_with_secrets(&app, &caller, request, vec![secret], params.dry_run, expect).await?;
    Ok(respond_deleted(outcome))
}
