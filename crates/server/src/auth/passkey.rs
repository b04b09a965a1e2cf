//! Logging in with a passkey: a whole login (possession of the authenticator and user
//! verification), whose session counts as verified with a second factor, a passkey — which a
//! policy with `mfa_required` and `passkeys_only` asks for. Failures back off and are audited
//! like a password's (`login`, `method: passkey`), and all answer the same 401.

use axum::extract::State;
use canopy_api::{LoginResponse, PasskeyChallenge, PasskeyLoginFinish, PasskeyLoginStart};
use canopy_core::ids::{OrgId, PrincipalId};
use canopy_core::messages::Lang;
use canopy_core::time::Timestamp;
use canopy_store::{Challenge, SecondFactor, Taken};
use webauthn_rs::prelude::{AuthenticationResult, PublicKeyCredential};

use super::{Attempt, ClientAddr, Language};
use crate::messages;
use crate::passkeys::{Purpose, StoredPasskey, challenge, kind_of, passkey_id, user_handle};
use crate::problem::ApiError;
use crate::routes::passkeys::stored;
use crate::state::App;

/// A failure the client cannot act on.
fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "passkey login");
    ApiError::new("internal", e.to_string())
}

/// The organisation named at a start, and its user of that username if enabled.
fn find(app: &App, org: &str, username: Option<&str>) -> (Option<OrgId>, Option<PrincipalId>) {
    let inst = app.shared.read();
    let Some(e) = inst.find_org(org) else {
        return (None, None);
    };
    let m = e.model();
    let user = username.and_then(|name| {
        m.users
            .values()
            .find(|u| u.username.as_str() == name && u.enabled)
            .map(|u| u.id.clone())
    });
    (Some(m.org.id.clone()), user)
}

/// Start a login with a passkey: the options for the authenticator
/// (`navigator.credentials.get`). With `username`, they list that user's passkeys — or, for a
/// username without passkeys, credential IDs that look alike, so the answer tells nothing of
/// the account; without, any passkey the authenticator keeps for this site. Finish within 5
/// minutes with `POST /v1/auth/passkey/finish`.
#[utoipa::path(post, path = "/v1/auth/passkey/start", tag = "auth", operation_id = "start_passkey_login",
    request_body = PasskeyLoginStart,
    responses((status = 200, description = "The options for the authenticator", body = PasskeyChallenge)))]
pub async fn start(
    State(app): State<App>,
    Language(lang): Language,
    crate::body::Json(req): crate::body::Json<PasskeyLoginStart>,
) -> Result<axum::Json<PasskeyChallenge>, ApiError> {
    let now = app.clock.now();
    let (org, user) = find(&app, &req.org, req.username.as_deref());
    let org_id = org.as_ref().map_or("", |o| o.as_str()).to_string();
    let (options, purpose, state) = match &req.username {
        None => {
            let (options, state) = app.passkeys.start_discoverable().map_err(internal)?;
            (options, Purpose::LoginDiscoverable, state)
        }
        Some(username) => {
            let passkeys = match &user {
                Some(id) => stored(&app, id, lang)
                    .await?
                    .into_iter()
                    .map(|p| p.passkey)
                    .collect(),
                None => Vec::new(),
            };
            // Decoys are per account: the organisation by ID when it exists, so that naming it
            // by name or by ID gives the same ones.
            let account = format!(
                "{}/{username}",
                org.as_ref().map_or(req.org.as_str(), |o| o.as_str())
            );
            app.passkeys
                .start_login(&passkeys, &account)
                .map_err(internal)?
        }
    };
    let principal = user.as_ref().map_or("", |u| u.as_str());
    let username = req.username.as_deref().unwrap_or("");
    let c = challenge(
        purpose,
        (&org_id, &req.org),
        principal,
        username,
        state,
        now,
    );
    app.store
        .put_challenge(&c, now)
        .await
        .map_err(|e| ApiError::store(&e, lang))?;
    Ok(axum::Json(PasskeyChallenge {
        challenge_id: c.id,
        options: serde_json::to_value(&options).map_err(internal)?,
    }))
}

/// The user a login is for: named at the start, or — without a username — the one whose user
/// handle the authenticator answered with, among the holders of the credential it used.
async fn whose(
    app: &App,
    c: &Challenge,
    purpose: Purpose,
    credential: Option<&PublicKeyCredential>,
    lang: Lang,
) -> Result<Option<PrincipalId>, ApiError> {
    match purpose {
        Purpose::Login => Ok(PrincipalId::parse(&c.principal)),
        Purpose::LoginDiscoverable => {
            let Some((handle, id)) = credential.and_then(|cr| app.passkeys.identify(cr).ok())
            else {
                return Ok(None);
            };
            let holders = app
                .store
                .secret_holders(&c.org, &kind_of(&id))
                .await
                .map_err(|e| ApiError::store(&e, lang))?;
            Ok(holders
                .iter()
                .filter_map(|h| PrincipalId::parse(h))
                .find(|h| user_handle(h) == handle))
        }
        Purpose::Register | Purpose::LoginDecoy => Ok(None),
    }
}

/// The user's username if they exist and are enabled.
fn enabled_username(app: &App, org: Option<&OrgId>, user: &PrincipalId) -> Option<String> {
    let inst = app.shared.read();
    let u = inst.org(org?)?.model().users.get(user)?.clone();
    u.enabled.then(|| u.username.to_string())
}

/// Verifies the answer against the ceremony's state and the user's passkeys as they are now (a
/// passkey removed since the start does not log in): the passkey used, with its counter and
/// last use brought up to date.
async fn verify(
    app: &App,
    c: &Challenge,
    purpose: Purpose,
    user: &PrincipalId,
    credential: &PublicKeyCredential,
    now: Timestamp,
    lang: Lang,
) -> Result<Option<StoredPasskey>, ApiError> {
    let passkeys = stored(app, user, lang).await?;
    let result: Option<AuthenticationResult> = match purpose {
        Purpose::Login => app.passkeys.finish_login(&c.state, credential).ok(),
        Purpose::LoginDiscoverable => {
            let used = passkey_id(&credential.raw_id);
            match passkeys.iter().find(|p| p.id() == used) {
                Some(p) => app
                    .passkeys
                    .finish_discoverable(&c.state, credential, &p.passkey)
                    .ok(),
                None => None,
            }
        }
        Purpose::Register | Purpose::LoginDecoy => None,
    };
    let Some(result) = result else {
        return Ok(None);
    };
    let used = passkey_id(result.cred_id());
    let Some(mut passkey) = passkeys.into_iter().find(|p| p.id() == used) else {
        return Ok(None);
    };
    passkey.passkey.update_credential(&result);
    passkey.last_used_at = Some(now);
    app.store
        .update_secret(
            user.as_str(),
            &kind_of(&used),
            &passkey.to_secret().map_err(internal)?,
        )
        .await
        .map_err(|e| ApiError::store(&e, lang))?;
    Ok(Some(passkey))
}

/// Finish a login with a passkey: a bearer token whose session is verified with a passkey.
/// The challenge is used up whatever happens: the same answer sent again is a replay. Every
/// failure answers the same 401; after repeated failures for the account or from the address,
/// 429 with `Retry-After`.
#[utoipa::path(post, path = "/v1/auth/passkey/finish", tag = "auth", operation_id = "finish_passkey_login",
    request_body = PasskeyLoginFinish,
    responses((status = 200, description = "A bearer token", body = LoginResponse)))]
pub async fn finish(
    State(app): State<App>,
    Language(lang): Language,
    ClientAddr(source): ClientAddr,
    browser: crate::notify::Browser,
    crate::body::Json(req): crate::body::Json<PasskeyLoginFinish>,
) -> Result<(axum::http::HeaderMap, axum::Json<LoginResponse>), ApiError> {
    let bad = || ApiError::new("unauthenticated", messages::bad_passkey_login(lang));
    let now = app.clock.now();
    let taken = app
        .store
        .take_challenge(&req.challenge_id, now)
        .await
        .map_err(|e| ApiError::store(&e, lang))?;
    let (c, refusal) = match taken {
        Taken::Fresh(c) => (Some(c), None),
        Taken::Expired(c) => (Some(c), Some("expired_challenge")),
        Taken::Replayed(c) => (Some(c), Some("replayed_challenge")),
        Taken::Unknown => (None, Some("bad_credentials")),
    };
    let cookie = req.cookie;
    let credential: Option<PublicKeyCredential> = serde_json::from_value(req.credential).ok();
    let purpose = c.as_ref().and_then(|c| Purpose::parse(&c.purpose));
    let org = c.as_ref().and_then(|c| OrgId::parse(&c.org));
    let user = match (&c, purpose) {
        (Some(c), Some(p)) => whose(&app, c, p, credential.as_ref(), lang).await?,
        _ => None,
    };
    let username = user
        .as_ref()
        .and_then(|u| enabled_username(&app, org.as_ref(), u));
    // The account as the client named it at the start, or as the answer identified it.
    let named = c.as_ref().map(|c| c.username.as_str()).unwrap_or("");
    let account = (!named.is_empty()).then_some(named).or(username.as_deref());
    let mut attempt = Attempt::new(
        &app,
        lang,
        org.clone(),
        c.as_ref().map(|c| c.org_ref.as_str()),
        account,
        source,
        "passkey",
    );
    if let Some(cr) = &credential {
        attempt.detail["passkey"] = passkey_id(&cr.raw_id).into();
    }
    attempt.check_blocked().await?;
    if let Some(reason) = refusal {
        attempt.failed(reason).await?;
        return Err(bad());
    }
    let verified = match (&c, purpose, &user, &username, &credential) {
        (Some(c), Some(p), Some(user), Some(_), Some(cr)) => {
            verify(&app, c, p, user, cr, now, lang).await?
        }
        _ => None,
    };
    let (Some(passkey), Some(user), Some(username)) = (verified, user, username) else {
        attempt.failed("bad_credentials").await?;
        return Err(bad());
    };
    let extra = serde_json::json!({ "passkey": passkey.id() });
    let (headers, answer) = attempt
        .succeeded(
            user.as_str(),
            &username,
            Some(SecondFactor::Passkey),
            extra,
            &browser,
            cookie,
        )
        .await?;
    Ok((headers, axum::Json(answer)))
}
