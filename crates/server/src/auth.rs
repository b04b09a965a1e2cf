//! Who is asking: bearer tokens from `POST /v1/auth/login`, resolved to an actor of the engine
//! with the context of their session (second factor, client address); logging in and out, with
//! back-off after failures and an audit event for every attempt. Logging in with a passkey is
//! in [`passkey`].

pub mod cookie;
pub mod passkey;
pub mod refusals;

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use canopy_api::{LoginRequest, LoginResponse};
use canopy_core::engine::Actor;
use canopy_core::ids::{OrgId, PrincipalId};
use canopy_core::messages::Lang;
use canopy_core::model::{RequestContext, canonical_ip};
use canopy_core::time::Timestamp;
use canopy_store::{AuditDraft, Outcome, SecondFactor, Session};
use ipnet::IpNet;

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
    /// Its session's public ID (`ses_…`).
    pub session: String,
}

impl Caller {
    /// How the audit log names the caller (as it names the actor of a change).
    pub fn audit_label(&self) -> String {
        canopy_store::actor_label(&self.actor)
    }
}

/// The client's address: the peer's, or — when the peer is a trusted proxy — the nearest address
/// of `X-Forwarded-For` (read from the right) that is not a trusted proxy. IPv4-mapped IPv6
/// addresses are taken as IPv4. An entry that does not parse ends the walk at the hop before it.
pub fn client_ip(peer: Option<IpAddr>, forwarded: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut client = canonical_ip(peer?);
    if !is_trusted(&client) {
        return Some(client);
    }
    let hops: Vec<&str> = forwarded
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = canonical_ip(ip);
                if !is_trusted(&client) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    Some(client)
}

/// The client's address of a request (see [`client_ip`]).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<App> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientAddr(client_ip(
            peer,
            &parts.headers,
            &app.auth.trusted_proxies,
        )))
    }
}

/// The bearer token of a request, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let Language(lang) = Language::from_request_parts(parts, app)
            .await
            .unwrap_or(Language(Lang::En));
        let unauthenticated = || ApiError::new("unauthenticated", messages::unauthenticated(lang));
        let ClientAddr(source_ip) = ClientAddr::from_request_parts(parts, app)
            .await
            .unwrap_or(ClientAddr(None));
        let Some(presented) = Presented::of(&parts.headers) else {
            return Err(unauthenticated());
        };
        let refused = |reason: &'static str, org: Option<OrgId>| {
            refuse_credential(app, org, presented.kind(), reason, source_ip)
        };
        if let Presented::Bearer(token) = &presented
            && let Some((id, secret)) = api_token_parts(token)
        {
            let caller = match token_caller(app, token, id, secret, source_ip, lang).await? {
                Ok(caller) => caller,
                Err((reason, org)) => {
                    refused(reason, org).await;
                    return Err(unauthenticated());
                }
            };
            if let (Some(org), Some(subject)) = (&caller.org, &caller.subject) {
                mark_if_privileged(app, parts, org, subject, &caller.session, source_ip);
            }
            return Ok(caller);
        }
        let Some(session) = live_session(app, presented.token())
            .await
            .map_err(|e| ApiError::store(&e, lang))?
        else {
            refused("unknown_or_ended_session", None).await;
            return Err(unauthenticated());
        };
        if let Presented::Cookie(token) = &presented
            && let Err(why) = cookie::check_request(parts, token)
        {
            let org = session.org.as_deref().and_then(OrgId::parse);
            refused(why.as_str(), org).await;
            return Err(ApiError::new(
                "forbidden",
                messages::csrf_refused(why, lang),
            ));
        }
        let ctx = RequestContext {
            mfa: session.second_factor.is_some(),
            source_ip,
        };
        let Some(org) = &session.org else {
            let session = touch(app, presented.token(), session, lang).await?;
            return Ok(Caller {
                actor: Actor::instance_admin(&session.username),
                org: None,
                subject: None,
                lang,
                session: session.id,
            });
        };
        let org = OrgId::parse(org).ok_or_else(unauthenticated)?;
        let id = PrincipalId::parse(&session.principal).ok_or_else(unauthenticated)?;
        if let Err(reason) = session_in_force(app, &session, &org, &id, app.clock.now()) {
            refused(reason, Some(org)).await;
            return Err(unauthenticated());
        }
        let session = touch(app, presented.token(), session, lang).await?;
        mark_if_privileged(app, parts, &org, &id, &session.id, source_ip);
        Ok(Caller {
            actor: Actor {
                passkey: session.second_factor == Some(SecondFactor::Passkey),
                ..Actor::subject(id.clone(), ctx)
            },
            org: Some(org),
            subject: Some(id),
            lang,
            session: session.id,
        })
    }
}

/// The credential a request presents: a bearer token (a login token or an API token), or else
/// the browser's session cookie.
enum Presented {
    Bearer(String),
    Cookie(String),
}

impl Presented {
    fn of(headers: &HeaderMap) -> Option<Presented> {
        if let Some(token) = bearer(headers) {
            return Some(Presented::Bearer(token.to_string()));
        }
        cookie::cookie_value(headers, cookie::SESSION_COOKIE)
            .map(|token| Presented::Cookie(token.to_string()))
    }

    fn token(&self) -> &str {
        match self {
            Presented::Bearer(t) | Presented::Cookie(t) => t,
        }
    }

    /// How the audit log names it.
    fn kind(&self) -> &'static str {
        match self {
            Presented::Bearer(t) if t.starts_with(API_TOKEN_PREFIX) => "api_token",
            Presented::Bearer(_) => "bearer_session",
            Presented::Cookie(_) => "session_cookie",
        }
    }
}

/// Whether a live session of a user of `org` still holds under the organisation's policy and
/// model at `now`: its user exists and is enabled (disabling a user ends their sessions, on each
/// replica once it has applied the change), and it is within the organisation's session lifetime
/// and idle timeout (which may be shorter than the instance's, and apply to sessions already
/// open). The reason it does not, for the audit log.
fn session_in_force(
    app: &App,
    session: &Session,
    org: &OrgId,
    user: &PrincipalId,
    now: Timestamp,
) -> Result<(), &'static str> {
    let inst = app.shared.read();
    let Some(engine) = inst.org(org) else {
        return Err("organisation_gone");
    };
    let m = engine.model();
    if !m.users.get(user).is_some_and(|u| u.enabled) {
        return Err("user_disabled_or_deleted");
    }
    let limits = SessionLimits::of(&app.auth, &m.org.policy);
    if now.millis() >= session.created.millis() + limits.lifetime_ms {
        return Err("session_lifetime_of_organisation");
    }
    if now.millis() - session.last_seen.millis() >= limits.idle_ms {
        return Err("session_idle_of_organisation");
    }
    Ok(())
}

/// The session lifetime and idle timeout of an organisation: its policy's, where shorter than
/// the instance's (the instance's settings are the ceiling).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SessionLimits {
    /// The longest a session lasts, in milliseconds.
    pub lifetime_ms: i64,
    /// How long a session may stay unused, in milliseconds.
    pub idle_ms: i64,
}

impl SessionLimits {
    /// The limits under the instance's `settings` and an organisation's `policy`.
    pub fn of(settings: &crate::state::AuthSettings, policy: &canopy_core::model::Policy) -> Self {
        let minutes = |m: Option<u32>| m.map_or(i64::MAX, |m| i64::from(m) * 60_000);
        SessionLimits {
            lifetime_ms: (settings.session_lifetime.as_millis() as i64)
                .min(minutes(policy.session_lifetime_minutes)),
            idle_ms: (settings.session_idle.as_millis() as i64)
                .min(minutes(policy.session_idle_minutes)),
        }
    }
}

/// Audits a credential refused on a request (within [`refusals::RefusalBudget`]): in the chain
/// of the organisation it belongs to when that is known, else the instance's.
async fn refuse_credential(
    app: &App,
    org: Option<OrgId>,
    kind: &'static str,
    reason: &'static str,
    source: Option<IpAddr>,
) {
    let source_text = source.map(|ip| ip.to_string()).unwrap_or_default();
    match app.refusals.admit(&source_text, app.clock.now()) {
        refusals::Admission::Audit => {
            let detail =
                serde_json::json!({"credential": kind, "reason": reason, "source": source});
            audit(
                app,
                org.as_ref(),
                "anonymous".into(),
                "credential_refused",
                Outcome::Rejected,
                detail,
            )
            .await;
        }
        refusals::Admission::WarnOnce => tracing::warn!(
            source = %source_text,
            "refused credentials from this address are no longer audited this minute"
        ),
        refusals::Admission::Drop => {}
    }
}

/// A request of a principal who holds an admin-class action: it is audited once answered,
/// reads included (seed 001: every use of a privileged user is recorded).
#[derive(Clone, Debug)]
pub struct PrivilegedRequest {
    /// The caller's organisation.
    pub org: OrgId,
    /// The caller.
    pub actor: PrincipalId,
    /// Its session or token.
    pub session: String,
    /// The client's address.
    pub source: Option<IpAddr>,
}

/// Where the caller of a request is noted when it is privileged (see [`audit_privileged`]).
#[derive(Clone, Default)]
pub struct PrivilegedMark(std::sync::Arc<parking_lot::Mutex<Option<PrivilegedRequest>>>);

fn mark_if_privileged(
    app: &App,
    parts: &Parts,
    org: &OrgId,
    subject: &PrincipalId,
    session: &str,
    source: Option<IpAddr>,
) {
    let Some(mark) = parts.extensions.get::<PrivilegedMark>() else {
        return;
    };
    let privileged = {
        let inst = app.shared.read();
        inst.org(org)
            .is_some_and(|e| e.is_privileged(subject, app.clock.now()))
    };
    if privileged {
        *mark.0.lock() = Some(PrivilegedRequest {
            org: org.clone(),
            actor: subject.clone(),
            session: session.to_string(),
            source,
        });
    }
}

/// Records every request of a privileged caller in its organisation's audit log once it is
/// answered: method, path, status, source address, session. (Its changes are audited as changes
/// too; this is the trail of everything it did, reads included.)
pub async fn audit_privileged(
    State(app): State<App>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mark = PrivilegedMark::default();
    req.extensions_mut().insert(mark.clone());
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.to_string());
    let response = next.run(req).await;
    let marked = mark.0.lock().take();
    if let Some(r) = marked {
        let status = response.status();
        let outcome = if status.is_client_error() || status.is_server_error() {
            Outcome::Rejected
        } else {
            Outcome::Ok
        };
        audit(
            &app,
            Some(&r.org),
            r.actor.to_string(),
            "request",
            outcome,
            serde_json::json!({
                "method": method,
                "path": path,
                "status": status.as_u16(),
                "source": r.source,
                "session": r.session,
            }),
        )
        .await;
    }
    response
}

/// Counts a use of a session found in force (see [`canopy_store::Store::touch_session`]).
async fn touch(
    app: &App,
    token: &str,
    mut session: Session,
    lang: Lang,
) -> Result<Session, ApiError> {
    let now = app.clock.now();
    let wrote = app
        .store
        .touch_session(token, &mut session, now)
        .await
        .map_err(|e| ApiError::store(&e, lang))?;
    if wrote {
        app.sessions.remember(token, Some(&session), now);
    }
    Ok(session)
}

/// The live session of a login token (within the instance's limits; the organisation's are
/// [`session_in_force`]): from the cache while fresh, else from the store.
async fn live_session(app: &App, token: &str) -> Result<Option<Session>, canopy_store::StoreError> {
    let now = app.clock.now();
    if let Some(s) = app.sessions.fresh(token, now).filter(|s| s.expires > now) {
        return Ok(Some(s));
    }
    let idle_ms = app.auth.session_idle.as_millis() as i64;
    let session = app.store.session(token, now, idle_ms).await?;
    app.sessions.remember(token, session.as_ref(), now);
    Ok(session)
}

/// The prefix of API tokens: `cnt.ID.SECRET` (a login token is `cnp_…`).
pub const API_TOKEN_PREFIX: &str = "cnt.";

/// The token ID and secret of an API token's text.
fn api_token_parts(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(API_TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('.')?;
    Some((id, secret))
}

/// The caller an API token stands for, if it is live: its hash is in the store (checked at most
/// every [`crate::state::RecentCache::FRESH_MS`]), and on this replica's revision it is not
/// revoked, not expired, and its owner is enabled. It acts with its narrowing, and never as an
/// MFA-verified session. Else why it is refused (and its organisation, when known).
async fn token_caller(
    app: &App,
    token: &str,
    id: &str,
    secret: &str,
    source_ip: Option<IpAddr>,
    lang: Lang,
) -> Result<Result<Caller, (&'static str, Option<OrgId>)>, ApiError> {
    let now = app.clock.now();
    let org = match app.tokens.fresh(token, now) {
        Some(org) => Some(org),
        None => {
            let org = app
                .store
                .token_org(id, &canopy_store::token_hash(secret))
                .await
                .map_err(|e| ApiError::store(&e, lang))?;
            app.tokens.remember(token, org.as_ref(), now);
            org
        }
    };
    let Some(org) = org.and_then(|o| OrgId::parse(&o)) else {
        return Ok(Err(("unknown_token", None)));
    };
    let inst = app.shared.read();
    let Some(engine) = inst.org(&org) else {
        return Ok(Err(("organisation_gone", None)));
    };
    let m = engine.model();
    let Some(t) = canopy_core::ids::TokenId::parse(id).and_then(|id| m.tokens.get(&id)) else {
        return Ok(Err(("revoked_or_unknown_token", Some(org))));
    };
    let enabled = m
        .users
        .get(&t.owner)
        .map(|u| u.enabled)
        .or_else(|| m.service_accounts.get(&t.owner).map(|s| s.enabled))
        .unwrap_or(false);
    if !enabled {
        return Ok(Err(("owner_disabled", Some(org))));
    }
    if t.expires_at.is_some_and(|e| e <= now) {
        return Ok(Err(("expired_token", Some(org))));
    }
    let ctx = RequestContext {
        mfa: false,
        source_ip,
    };
    Ok(Ok(Caller {
        actor: Actor {
            narrowing: t.narrowing.clone(),
            ..Actor::subject(t.owner.clone(), ctx)
        },
        org: Some(org.clone()),
        subject: Some(t.owner.clone()),
        lang,
        session: t.id.to_string(),
    }))
}

/// The longest password taken, in bytes: longer is refused before it is hashed.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Back-off after failed logins: the failures (within an hour of each other) tolerated per
/// account and per source address, and the longest wait.
const ACCOUNT_FREE_FAILURES: i64 = 5;
const ADDRESS_FREE_FAILURES: i64 = 20;
const FORGET_FAILURES_MS: i64 = 3_600_000;
const LONGEST_BLOCK_MS: i64 = 15 * 60_000;

/// How long logins wait after `failures` failures of which `free` are tolerated: one second
/// after the first one beyond, doubling each time, at most [`LONGEST_BLOCK_MS`].
fn back_off(failures: i64, free: i64) -> i64 {
    if failures < free {
        return 0;
    }
    let doublings = (failures - free).min(20) as u32;
    (1000_i64 << doublings).min(LONGEST_BLOCK_MS)
}

/// Appends an authentication event to the audit chain of `org` (or the instance's). A failure
/// to record it is logged: it must not tell the client anything.
pub(crate) async fn audit(
    app: &App,
    org: Option<&OrgId>,
    actor: String,
    action: &str,
    outcome: Outcome,
    detail: serde_json::Value,
) {
    let draft = AuditDraft {
        chain: org.map_or_else(|| "instance".to_string(), |o| o.to_string()),
        time: app.clock.now(),
        actor,
        request_id: crate::request::id(),
        action: action.into(),
        outcome,
        revision: None,
        detail,
    };
    if let Err(e) = app.writer.record(draft).await {
        tracing::error!(error = %e, action, "cannot record an authentication event");
    }
}

/// One login attempt, whatever its method: the back-off keys it counts against (its account,
/// if it names one, and its address), and what its audit events say of it.
pub(crate) struct Attempt<'a> {
    app: &'a App,
    lang: Lang,
    now: Timestamp,
    /// The organisation whose chain records it (`None`: the instance's).
    org: Option<OrgId>,
    /// `user:ORG/USERNAME` as the client named them (`None`: no username given).
    account_key: Option<String>,
    address_key: String,
    /// `password` or `passkey`.
    method: &'static str,
    /// `org`, `username`, `source` (and `method`) of the attempt, for its audit events.
    detail: serde_json::Value,
}

impl<'a> Attempt<'a> {
    /// An attempt from `source` on the account `org_ref/username` as the client named it.
    pub(crate) fn new(
        app: &'a App,
        lang: Lang,
        org: Option<OrgId>,
        org_ref: Option<&str>,
        username: Option<&str>,
        source: Option<IpAddr>,
        method: &'static str,
    ) -> Attempt<'a> {
        let source_text = source.map(|ip| ip.to_string()).unwrap_or_default();
        Attempt {
            app,
            lang,
            now: app.clock.now(),
            org,
            account_key: username.map(|u| format!("user:{}/{u}", org_ref.unwrap_or(""))),
            address_key: format!("ip:{source_text}"),
            method,
            detail: serde_json::json!({
                "org": org_ref,
                "username": username,
                "source": source,
                "method": method,
            }),
        }
    }

    fn keys(&self) -> Vec<&str> {
        let mut keys = vec![self.address_key.as_str()];
        keys.extend(self.account_key.as_deref());
        keys
    }

    /// An audit event of this attempt refused for `reason`, and the failure counted in the
    /// metrics.
    async fn audit_refusal(&self, reason: &'static str) {
        self.app.telemetry.login(self.method, Some(reason));
        let mut detail = self.detail.clone();
        detail["reason"] = reason.into();
        audit(
            self.app,
            self.org.as_ref(),
            "anonymous".into(),
            "login",
            Outcome::Rejected,
            detail,
        )
        .await;
    }

    /// 429 `rate-limited` with `Retry-After` (audited) while the account or the address is
    /// blocked after repeated failures.
    pub(crate) async fn check_blocked(&self) -> Result<(), ApiError> {
        let Some(until) = self
            .app
            .store
            .login_blocked_until(&self.keys(), self.now)
            .await
            .map_err(|e| ApiError::store(&e, self.lang))?
        else {
            return Ok(());
        };
        self.audit_refusal("rate_limited").await;
        let wait_s = (until.millis() - self.now.millis() + 999) / 1000;
        let mut e = ApiError::new(
            "rate-limited",
            messages::login_rate_limited(wait_s, self.lang),
        );
        e.retry_after = Some(wait_s.max(1) as u64);
        Err(e)
    }

    /// A failure: counts against the account and the address, and is audited with its reason.
    pub(crate) async fn failed(&self, reason: &'static str) -> Result<(), ApiError> {
        let keys = [
            (self.account_key.as_ref(), ACCOUNT_FREE_FAILURES),
            (Some(&self.address_key), ADDRESS_FREE_FAILURES),
        ];
        for (key, free) in keys {
            let Some(key) = key else { continue };
            self.app
                .store
                .record_login_failure(key, self.now, FORGET_FAILURES_MS, |n| back_off(n, free))
                .await
                .map_err(|e| ApiError::store(&e, self.lang))?;
        }
        self.audit_refusal(reason).await;
        Ok(())
    }

    /// A success: the account's failures are forgotten, a session is opened for `principal`
    /// (an instance administrator when the attempt has no organisation) and audited with
    /// `extra` details (and whether it is a break-glass login). A user of an organisation also
    /// gets the warning of a privileged login while MFA is optional, and the login notices
    /// (DESIGN §5) are sent: the headers set the browser's device cookie.
    pub(crate) async fn succeeded(
        self,
        principal: &str,
        username: &str,
        second_factor: Option<SecondFactor>,
        extra: serde_json::Value,
        browser: &crate::notify::Browser,
        cookie: bool,
    ) -> Result<(HeaderMap, LoginResponse), ApiError> {
        let (app, lang, now) = (self.app, self.lang, self.now);
        let user = match (&self.org, PrincipalId::parse(principal)) {
            (Some(org), Some(id)) => Some((org.clone(), standing_of(app, org, &id, now), id)),
            _ => None,
        };
        if let Some(key) = &self.account_key {
            app.store
                .clear_login_failures(key)
                .await
                .map_err(|e| ApiError::store(&e, lang))?;
        }
        let token = format!("cnp_{}", hex::encode(rand::random::<[u8; 32]>()));
        let lifetime_ms = match &self.org {
            Some(org) => {
                let inst = app.shared.read();
                let policy = inst.org(org).map(|e| e.model().org.policy.clone());
                SessionLimits::of(&app.auth, &policy.unwrap_or_default()).lifetime_ms
            }
            None => app.auth.session_lifetime.as_millis() as i64,
        };
        let session = Session {
            id: format!("ses_{}", hex::encode(rand::random::<[u8; 10]>())),
            org: self.org.as_ref().map(|o| o.to_string()),
            principal: principal.to_string(),
            username: username.to_string(),
            second_factor,
            source: self.detail["source"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            created: now,
            expires: now.plus_millis(lifetime_ms),
            last_seen: now,
        };
        app.store
            .create_session(&token, &session)
            .await
            .map_err(|e| ApiError::store(&e, lang))?;
        let actor = match &self.org {
            Some(_) => principal.to_string(),
            None => format!("instance:{username}"),
        };
        let mut detail = serde_json::json!({
            "session": session.id,
            "source": self.detail["source"],
            "second_factor": session.second_factor.map(SecondFactor::as_str),
            "method": self.detail["method"],
        });
        if let (Some(d), serde_json::Value::Object(more)) = (detail.as_object_mut(), extra) {
            d.extend(more);
        }
        if let Some((_, standing, _)) = &user {
            detail["break_glass"] = standing.break_glass.into();
        }
        audit(app, self.org.as_ref(), actor, "login", Outcome::Ok, detail).await;
        app.telemetry.login(self.method, None);
        let (mut headers, warnings) = match &user {
            Some((org, standing, id)) => (
                crate::notify::after_login(app, browser, org, id).await,
                (standing.privileged && !standing.mfa_required)
                    .then(|| messages::mfa_not_required(lang))
                    .into_iter()
                    .collect(),
            ),
            None => (HeaderMap::new(), Vec::new()),
        };
        // A browser session gets the token in an HttpOnly cookie, never in the body, so that no
        // script of the page can read it; the body carries its CSRF token instead.
        let (token, csrf_token) = if cookie {
            if let Some(c) = cookie::set_session_cookie(&token, lifetime_ms / 1000) {
                headers.append(header::SET_COOKIE, c);
            }
            (None, Some(cookie::csrf_token(&token).into()))
        } else {
            (Some(token.into()), None)
        };
        Ok((
            headers,
            LoginResponse {
                token,
                csrf_token,
                expires_at: session.expires.to_string(),
                warnings,
            },
        ))
    }
}

/// A bearer token for a user of an organisation, or for an instance administrator (`org`
/// omitted); with `cookie: true`, a browser session instead (an HttpOnly cookie, and the CSRF
/// token that its changes must carry in `Canopy-CSRF-Token`). Every failure answers the same 401; after repeated failures for the account or
/// from the address, 429 with `Retry-After` (before the password is even looked at). A user's
/// login renews its browser's device cookie and may send login notices (privileged, break-glass,
/// new device).
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", operation_id = "login",
    request_body = LoginRequest,
    responses((status = 200, description = "A bearer token", body = LoginResponse,
        headers(("Set-Cookie" = String,
            description = "For a user of an organisation: `canopy_device`, the browser's long-lived device cookie; for a browser session (`cookie: true`), also `__Host-canopy_session`")))))]
pub async fn login(
    State(app): State<App>,
    Language(lang): Language,
    ClientAddr(source): ClientAddr,
    browser: crate::notify::Browser,
    crate::body::Json(req): crate::body::Json<LoginRequest>,
) -> Result<(axum::http::HeaderMap, axum::Json<LoginResponse>), ApiError> {
    let bad = || ApiError::new("unauthenticated", messages::bad_login(lang));
    // Who, as the engines know them: the organisation (if it exists), and the principal if it
    // exists and is enabled.
    let (org, who): (Option<OrgId>, Option<PrincipalId>) = {
        let inst = app.shared.read();
        match &req.org {
            None => (
                None,
                inst.admin_named(&req.username)
                    .filter(|a| a.enabled)
                    .map(|a| a.id.clone()),
            ),
            Some(name) => match inst.find_org(name) {
                None => (None, None),
                Some(e) => {
                    let m = e.model();
                    let user = m
                        .users
                        .values()
                        .find(|u| u.username.as_str() == req.username && u.enabled)
                        .map(|u| u.id.clone());
                    (Some(m.org.id.clone()), user)
                }
            },
        }
    };
    let attempt = Attempt::new(
        &app,
        lang,
        org,
        req.org.as_deref(),
        Some(&req.username),
        source,
        "password",
    );
    attempt.check_blocked().await?;
    // Refused before any lookup, so the answer says nothing about the account.
    if req.password.expose().len() > MAX_PASSWORD_BYTES {
        attempt.failed("oversized_password").await?;
        return Err(ApiError::new(
            "invalid-field",
            messages::password_too_long(MAX_PASSWORD_BYTES, lang),
        ));
    }
    let hash = match &who {
        Some(id) => app
            .store
            .secret(id.as_str(), "password")
            .await
            .map_err(|e| ApiError::store(&e, lang))?,
        None => None,
    };
    if !verify_password(req.password.0, hash).await {
        attempt.failed("bad_credentials").await?;
        return Err(bad());
    }
    let id = who.ok_or_else(bad)?;
    let org = attempt.org.clone();
    let now = app.clock.now();
    let break_glass = org
        .as_ref()
        .is_some_and(|o| standing_of(&app, o, &id, now).break_glass);
    let second_factor = match org.as_ref() {
        Some(o) if has_totp(&app, o, &id) => {
            let checked = check_second_factor(&app, &id, &req.totp, &req.recovery_code, now)
                .await
                .map_err(|e| ApiError::store(&e, lang))?;
            match checked {
                Checked::Missing => {
                    attempt.audit_refusal("second_factor_required").await;
                    return Err(ApiError::new(
                        "second-factor-required",
                        messages::second_factor_needed(lang),
                    ));
                }
                Checked::Refused(reason) => {
                    attempt.failed(reason).await?;
                    return Err(ApiError::new(
                        "unauthenticated",
                        messages::bad_second_factor(lang),
                    ));
                }
                Checked::Verified(factor) => Some(factor),
            }
        }
        _ => None,
    };
    // A break-glass account is MFA-protected: without a second factor it does not log in.
    if break_glass && second_factor.is_none() {
        attempt
            .audit_refusal("break_glass_without_second_factor")
            .await;
        return Err(ApiError::new(
            "unauthenticated",
            messages::break_glass_needs_second_factor(lang),
        ));
    }
    let (headers, answer) = attempt
        .succeeded(
            id.as_str(),
            &req.username,
            second_factor,
            serde_json::Value::Null,
            &browser,
            req.cookie,
        )
        .await?;
    Ok((headers, axum::Json(answer)))
}

/// What a login needs to know of the user it logs in.
#[derive(Clone, Copy)]
struct Standing {
    break_glass: bool,
    privileged: bool,
    mfa_required: bool,
}

fn standing_of(
    app: &App,
    org: &OrgId,
    user: &PrincipalId,
    now: canopy_core::time::Timestamp,
) -> Standing {
    let inst = app.shared.read();
    let engine = inst.org(org);
    Standing {
        break_glass: engine
            .and_then(|e| e.model().users.get(user))
            .is_some_and(|u| u.break_glass),
        privileged: engine.is_some_and(|e| e.is_privileged(user, now)),
        mfa_required: engine.is_some_and(|e| e.model().org.policy.mfa_required),
    }
}

/// Whether the user has enrolled TOTP (the model knows; the secret is in the store).
fn has_totp(app: &App, org: &OrgId, user: &PrincipalId) -> bool {
    let inst = app.shared.read();
    inst.org(org)
        .and_then(|e| e.model().users.get(user))
        .is_some_and(|u| u.credentials.totp)
}

/// What a login's second factor came to.
enum Checked {
    /// None was sent.
    Missing,
    /// Wrong, or already used: the reason for the audit log.
    Refused(&'static str),
    /// Verified, and now spent.
    Verified(SecondFactor),
}

/// Checks the TOTP code (once per time step, on every replica) or else the recovery code (once
/// each, even when replicas race) of a user who enrolled TOTP.
async fn check_second_factor(
    app: &App,
    user: &PrincipalId,
    totp: &Option<canopy_api::Secret>,
    recovery_code: &Option<canopy_api::Secret>,
    now: canopy_core::time::Timestamp,
) -> Result<Checked, canopy_store::StoreError> {
    use crate::second_factor::{RECOVERY_KIND, TOTP_KIND, spend_recovery_code, totp_step};
    if let Some(code) = totp {
        let secret = app.store.secret(user.as_str(), TOTP_KIND).await?;
        let step = secret.and_then(|s| totp_step(&s, code.expose(), (now.millis() / 1000) as u64));
        return Ok(match step {
            None => Checked::Refused("bad_second_factor"),
            Some(step) if app.store.use_totp_step(user.as_str(), step).await? => {
                Checked::Verified(SecondFactor::Totp)
            }
            Some(_) => Checked::Refused("replayed_totp"),
        });
    }
    if let Some(code) = recovery_code {
        let stored = app.store.secret(user.as_str(), RECOVERY_KIND).await?;
        let spent = stored
            .as_deref()
            .and_then(|s| spend_recovery_code(s, code.expose()).map(|left| (s.to_string(), left)));
        return Ok(match spent {
            Some((old, left))
                if app
                    .store
                    .swap_secret(user.as_str(), RECOVERY_KIND, &old, &left)
                    .await? =>
            {
                Checked::Verified(SecondFactor::RecoveryCode)
            }
            _ => Checked::Refused("bad_second_factor"),
        });
    }
    Ok(Checked::Missing)
}

/// Ends the caller's session: its token is refused at once here, and by every other replica
/// within [`crate::state::RecentCache::FRESH_MS`]. A dry run changes no one's access and ends
/// nothing.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", operation_id = "logout",
    params(canopy_api::MutationParams),
    responses((status = 204, description = "The session is ended (a browser's session cookie is cleared)"),
              (status = 200, description = "The dry run", body = canopy_api::DryRun)))]
pub async fn logout(
    State(app): State<App>,
    caller: Caller,
    headers: HeaderMap,
    axum::extract::Query(params): axum::extract::Query<canopy_api::MutationParams>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    if params.dry_run {
        return Ok(axum::Json(canopy_api::DryRun {
            dry_run: true,
            diff: canopy_api::Diff {
                gained: vec![],
                lost: vec![],
            },
            revision: app.shared.revision(),
        })
        .into_response());
    }
    let presented = Presented::of(&headers);
    let token = presented.as_ref().map(Presented::token).unwrap_or_default();
    app.store
        .end_session(token)
        .await
        .map_err(|e| ApiError::store(&e, caller.lang))?;
    app.sessions.forget(token);
    audit(
        &app,
        caller.org.as_ref(),
        caller.audit_label(),
        "logout",
        Outcome::Ok,
        serde_json::json!({
            "session": caller.session,
            "source": caller.actor.ctx.source_ip,
        }),
    )
    .await;
    let mut answer_headers = HeaderMap::new();
    if matches!(presented, Some(Presented::Cookie(_))) {
        cookie::clear_session_cookie(&mut answer_headers);
    }
    Ok((StatusCode::NO_CONTENT, answer_headers).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                "x-forwarded-for",
                v.parse().unwrap_or_else(|_| unreachable!()),
            );
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn the_client_address_is_the_peers_unless_the_peer_is_a_trusted_proxy() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())];
        // An untrusted peer: its own address, whatever it claims.
        assert_eq!(
            client_ip(ip("192.0.2.7"), &xff(&["203.0.113.9"]), &trusted),
            ip("192.0.2.7")
        );
        // A trusted proxy: the nearest untrusted hop, read from the right.
        assert_eq!(
            client_ip(
                ip("10.0.0.1"),
                &xff(&["198.51.100.1, 203.0.113.9", "10.0.0.2"]),
                &trusted
            ),
            ip("203.0.113.9")
        );
        // IPv4-mapped IPv6 addresses are IPv4, for the peer and for the hops.
        assert_eq!(
            client_ip(
                ip("::ffff:10.0.0.1"),
                &xff(&["::ffff:203.0.113.9"]),
                &trusted
            ),
            ip("203.0.113.9")
        );
        // Garbage ends the walk at the last good hop; no header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.0.0.1"), &xff(&["nonsense"]), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &xff(&[]), &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn back_off_doubles_from_one_second_to_a_ceiling() {
        assert_eq!(back_off(4, 5), 0);
        assert_eq!(back_off(5, 5), 1000);
        assert_eq!(back_off(6, 5), 2000);
        assert_eq!(back_off(9, 5), 16_000);
        assert_eq!(back_off(60, 5), LONGEST_BLOCK_MS);
    }
}
