//! Who is asking: bearer tokens from `POST /v1/auth/login`, resolved to an actor of the engine.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use canopy_api::{LoginRequest, LoginResponse};
use canopy_core::engine::Actor;
use canopy_core::ids::{OrgId, PrincipalId};
use canopy_core::messages::Lang;
use canopy_core::model::{RequestContext, canonical_ip};
use canopy_store::Session;

use crate::credentials::verify_password;
use crate::messages;
use crate::problem::ApiError;
use crate::state::App;

/// The language of the request (`Accept-Language`).
#[derive(Clone, Copy, Debug)]
pub struct Language(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for Language {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        Ok(Language(messages::lang_of(header)))
    }
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// As the engine sees it.
    pub actor: Actor,
    /// Its organisation (`None`: an instance administrator).
    pub org: Option<OrgId>,
    /// Its user or service account (`None`: an instance administrator).
    pub subject: Option<PrincipalId>,
    /// The language it asked for.
    pub lang: Lang,
}

/// The client's address (IPv4-mapped IPv6 as IPv4), if the connection's is known.
pub(crate) fn source_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| canonical_ip(c.0.ip()))
}

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let Language(lang) = Language::from_request_parts(parts, app)
            .await
            .unwrap_or(Language(Lang::En));
        let unauthenticated = || ApiError::new("unauthenticated", messages::unauthenticated(lang));
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(unauthenticated)?;
        let session = app
            .sessions
            .get(&app.store, token.trim(), app.clock.now())
            .await
            .map_err(|e| ApiError::store(&e, lang))?
            .ok_or_else(unauthenticated)?;
        let ctx = RequestContext {
            mfa: false,
            source_ip: source_ip(parts),
        };
        match session.org {
            None => Ok(Caller {
                actor: Actor::instance_admin(&session.username),
                org: None,
                subject: None,
                lang,
            }),
            Some(org) => {
                let org = OrgId::parse(&org).ok_or_else(unauthenticated)?;
                let id = PrincipalId::parse(&session.principal).ok_or_else(unauthenticated)?;
                Ok(Caller {
                    actor: Actor::subject(id.clone(), ctx),
                    org: Some(org),
                    subject: Some(id),
                    lang,
                })
            }
        }
    }
}

/// A bearer token for a user of an organisation, or for an instance administrator (`org`
/// omitted). Every failure answers the same 401. A user's login renews its browser's device
/// cookie and may send login notices (privileged, break-glass, new device).
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", operation_id = "login",
    request_body = LoginRequest,
    responses((status = 200, description = "A bearer token", body = LoginResponse,
        headers(("Set-Cookie" = String,
            description = "For a user of an organisation: `canopy_device`, the browser's long-lived device cookie")))))]
pub async fn login(
    State(app): State<App>,
    Language(lang): Language,
    browser: crate::notify::Browser,
    crate::body::Json(req): crate::body::Json<LoginRequest>,
) -> Result<(axum::http::HeaderMap, axum::Json<LoginResponse>), ApiError> {
    let bad = || ApiError::new("unauthenticated", messages::bad_login(lang));
    // Who, as the engines know them: (organisation, principal ID), if it exists and is enabled.
    let who: Option<(Option<OrgId>, PrincipalId)> = {
        let inst = app.shared.read();
        match &req.org {
            None => inst
                .admin_named(&req.username)
                .filter(|a| a.enabled)
                .map(|a| (None, a.id.clone())),
            Some(org) => inst.find_org(org).and_then(|e| {
                let m = e.model();
                m.users
                    .values()
                    .find(|u| u.username.as_str() == req.username && u.enabled)
                    .map(|u| (Some(m.org.id.clone()), u.id.clone()))
            }),
        }
    };
    let hash = match &who {
        Some((_, id)) => app
            .store
            .secret(id.as_str(), "password")
            .await
            .map_err(|e| ApiError::store(&e, lang))?,
        None => None,
    };
    if !verify_password(req.password, hash).await {
        return Err(bad());
    }
    let (org, id) = who.ok_or_else(bad)?;
    let token = format!("cnp_{}", hex::encode(rand::random::<[u8; 32]>()));
    let now = app.clock.now();
    let expires = now.plus_millis(app.session_lifetime.as_millis() as i64);
    app.store
        .create_session(
            &token,
            &Session {
                org: org.as_ref().map(|o| o.to_string()),
                principal: id.to_string(),
                username: req.username,
                created: now,
                expires,
            },
        )
        .await
        .map_err(|e| ApiError::store(&e, lang))?;
    let headers = match &org {
        Some(org) => crate::notify::after_login(&app, &browser, org, &id).await,
        None => Default::default(),
    };
    Ok((
        headers,
        axum::Json(LoginResponse {
            token,
            expires_at: expires.to_string(),
        }),
    ))
}
