//! canopy-server: the HTTP API of DESIGN §4 over the engine (reads) and the store's writer
//! (changes). Every request is authenticated ([`auth`]); errors are RFC 7807 problems
//! ([`problem`]); reads may wait for `Canopy-Min-Revision`.

pub mod auth;
pub mod body;
pub mod credentials;
pub mod jobs;
pub mod listings;
pub mod local;
pub mod messages;
pub mod notify;
pub mod openapi;
pub mod passkeys;
pub mod problem;
pub mod request;
pub mod routes;
pub mod second_factor;
pub mod state;
pub mod telemetry;
pub mod translate;
pub mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use canopy_api::MIN_REVISION_HEADER;
use canopy_core::ids::Clock;
use canopy_store::{AuditKey, Location, Shared, Store, StoreError, Writer};

use crate::problem::ApiError;
use crate::state::App;

/// How a server runs.
#[derive(Clone)]
pub struct Config {
    /// The store.
    pub location: Location,
    /// Where to listen (loopback by default).
    pub listen: SocketAddr,
    /// The key of the audit chains.
    pub audit_key: AuditKey,
    /// Sessions, client addresses and failed logins.
    pub auth: state::AuthSettings,
    /// How long a read waits for `Canopy-Min-Revision`.
    pub min_revision_wait: Duration,
    /// The SMTP server that login notices are e-mailed through (none: they are not e-mailed).
    pub smtp: Option<notify::SmtpConfig>,
    /// Time and randomness: the system's, except in tests that move time on.
    pub clock: Arc<dyn Clock + Send + Sync>,
    /// Where to serve `GET /metrics` to anyone, for a Prometheus scraper (none: only on
    /// `listen`, to instance administrators).
    pub metrics_listen: Option<SocketAddr>,
    /// Scheduled backups, restore tests and log archiving (none: no backups are taken).
    pub backups: Option<jobs::BackupSettings>,
    /// How often the background jobs wake up: [`jobs::TICK`], shorter in tests.
    pub jobs_tick: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("location", &self.location)
            .field("listen", &self.listen)
            .field("audit_key", &self.audit_key)
            .field("auth", &self.auth)
            .field("min_revision_wait", &self.min_revision_wait)
            .field("smtp", &self.smtp)
            .field("metrics_listen", &self.metrics_listen)
            .field("backups", &self.backups)
            .finish_non_exhaustive()
    }
}

/// The addresses a server listens on (useful with port 0).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Listening {
    /// The API.
    pub api: SocketAddr,
    /// `GET /metrics` without credentials, if configured.
    pub metrics: Option<SocketAddr>,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The listening socket, or another process holding the data directory.
    #[error("{0}")]
    Io(String),
    /// A value given to set the installation up that breaks the rules (a bad name).
    #[error("{0}")]
    Invalid(String),
}

/// Records the installation's first instance administrator, with its password, as a change of
/// `store` (which must be migrated); the loaded state and the writer, for more changes.
/// `canopy init`, the demo and [`local::LocalServer`] use it.
pub async fn add_instance_admin(
    store: &Store,
    audit_key: AuditKey,
    username: &str,
    password: &str,
) -> Result<(Arc<Shared>, Writer), ServerError> {
    let name = canopy_core::name::Name::parse(username)
        .map_err(|p| ServerError::Invalid(format!("{username}: {p:?}")))?;
    let hash = credentials::hash_password(password).map_err(ServerError::Invalid)?;
    let shared = Shared::new(store.load().await?);
    let writer = Writer::start(
        store.clone(),
        shared.clone(),
        Arc::new(canopy_store::SystemClock),
        audit_key,
        None,
    );
    writer
        .submit(canopy_store::Submission {
            actor: canopy_core::engine::Actor::instance_admin("canopy-init"),
            request: canopy_core::installation::Request::CreateInstanceAdmin {
                username: name.clone(),
            },
            request_id: "init".into(),
            secrets: vec![canopy_store::SecretOp {
                owner: canopy_store::SecretOwner::Created(name),
                kind: "password".into(),
                value: Some(hash),
            }],
            expect: None,
        })
        .await
        .map_err(|e| ServerError::Invalid(e.to_string()))?;
    Ok((shared, writer))
}

/// The routes of the API (see [`openapi::routes`]), and the instance's own.
pub fn router(app: App) -> Router {
    let (api, _) = openapi::routes().split_for_parts();
    api.route("/v1/replica", get(replica))
        .route("/metrics", get(metrics_for_admins))
        .layer(middleware::from_fn_with_state(app.clone(), min_revision))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            auth::audit_privileged,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(problems))
        .layer(middleware::from_fn(too_large))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            request::observe,
        ))
        .with_state(app)
}

/// The routes of the metrics listener (`metrics_listen`): `GET /metrics`, without credentials.
pub fn metrics_router(app: App) -> Router {
    Router::new()
        .route("/metrics", get(metrics_for_anyone))
        .layer(middleware::from_fn(problems))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            request::observe,
        ))
        .with_state(app)
}

/// The largest request body (DESIGN §4).
pub const MAX_BODY: usize = 1024 * 1024;
/// How much of a body declared too large is read and discarded before the refusal, so that the
/// client, still sending, reads the problem rather than a reset connection. Beyond it the
/// connection is closed after the answer.
const MAX_DISCARDED: usize = 64 * 1024 * 1024;

/// The largest body a path takes: [`MAX_BODY`], except `plan` and `apply`, which may carry a
/// whole organisation's document ([`routes::plans::MAX_DOCUMENT_BODY`]; with `commands` they
/// refuse more than [`MAX_BODY`] themselves).
fn max_body(path: &str) -> usize {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        ["", "v1", "orgs", _, "plan" | "apply"] => routes::plans::MAX_DOCUMENT_BODY,
        _ => MAX_BODY,
    }
}

/// A body whose declared length is over [`MAX_BODY`] is read and discarded, then refused with
/// 413 `payload-too-large` (DESIGN §4). Bodies without a declared length are cut at the limit by
/// the extractors.
async fn too_large(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_none_or(|n| n <= max_body(req.uri().path())) {
        return next.run(req).await;
    }
    let lang = messages::lang_of(
        req.headers()
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    // Read chunk by chunk and dropped: nothing of it is kept in memory.
    let mut stream = req.into_body().into_data_stream();
    let mut read = 0;
    while read <= MAX_DISCARDED {
        match futures::StreamExt::next(&mut stream).await {
            Some(Ok(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
    ApiError::new("payload-too-large", messages::too_large(lang)).into_response()
}

/// Every error leaves as a problem: what axum refuses before a handler runs (a query string or
/// a path segment that does not parse, an unknown route, a method the route does not take)
/// comes back as plain text, and is answered here as the problem of its status instead.
async fn problems(req: Request, next: Next) -> Response {
    let lang = messages::lang_of(
        req.headers()
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let response = next.run(req).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == canopy_api::PROBLEM_JSON.as_bytes());
    if is_problem || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::new("not-found", messages::no_route(lang)),
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::new("method-not-allowed", messages::method_not_allowed(lang))
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new("payload-too-large", messages::too_large(lang))
        }
        s if s.is_server_error() => {
            tracing::error!(status = %s, detail = %text, "an error that is not a problem");
            ApiError::new("internal", messages::unavailable(lang))
        }
        _ => ApiError::new("invalid-field", messages::bad_request(&text, lang)),
    };
    error.with_status(status).into_response()
}

/// `GET /v1/replica` (instance administrators): the revision this replica's engines are at and
/// a digest of their state, so that replicas can be compared. Hashes the whole state: an
/// operator's check, not a health probe.
async fn replica(State(app): State<App>, caller: auth::Caller) -> Response {
    if caller.org.is_some() {
        return ApiError::new("forbidden", messages::instance_admins_only(caller.lang))
            .into_response();
    }
    let inst = app.shared.read();
    match canopy_store::state_digest(&inst) {
        Ok(digest) => axum::Json(serde_json::json!({
            "revision": inst.revision(),
            "digest": digest,
        }))
        .into_response(),
        Err(e) => ApiError::new("internal", e.to_string()).into_response(),
    }
}

/// `GET /metrics` on the API's listener: instance administrators only (the metrics listener
/// serves them to anyone who reaches it).
async fn metrics_for_admins(State(app): State<App>, caller: auth::Caller) -> Response {
    if caller.org.is_some() {
        return ApiError::new("forbidden", messages::instance_admins_only(caller.lang))
            .into_response();
    }
    metrics_for_anyone(State(app)).await
}

/// The metrics in Prometheus' text format (see [`telemetry`]).
async fn metrics_for_anyone(State(app): State<App>) -> Response {
    let head = match state::store_head(&app).await {
        Ok(head) => telemetry::StoreHead::Reached(head),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot read the store's head");
            telemetry::StoreHead::Unreachable
        }
    };
    let text = app
        .telemetry
        .render(app.clock.now(), app.shared.revision(), head);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `Canopy-Min-Revision: N`: wait (bounded) until this replica has applied N.
async fn min_revision(State(app): State<App>, req: Request, next: Next) -> Response {
    if let Some(value) = req.headers().get(MIN_REVISION_HEADER) {
        let lang = messages::lang_of(
            req.headers()
                .get(axum::http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        );
        let Some(wanted) = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        else {
            return ApiError::new(
                "invalid-field",
                messages::bad_value(MIN_REVISION_HEADER, lang),
            )
            .with_status(StatusCode::BAD_REQUEST)
            .into_response();
        };
        if !app.shared.wait_for(wanted, app.min_revision_wait).await {
            let mut e = ApiError::new(
                "revision-not-reached",
                messages::revision_not_reached(wanted, app.shared.revision(), lang),
            );
            e.retry_after = Some(1);
            return e.into_response();
        }
    }
    next.run(req).await
}

/// Holds the data directory for this process: two servers on one SQLite file would both think
/// they are the only writer.
fn lock_data_dir(location: &Location) -> Result<Option<std::fs::File>, ServerError> {
    let Location::Data(dir) = location else {
        return Ok(None);
    };
    std::fs::create_dir_all(dir).map_err(|e| ServerError::Io(e.to_string()))?;
    let path = dir.join("canopy.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| ServerError::Io(format!("{}: {e}", path.display())))?;
    file.try_lock().map_err(|_| {
        ServerError::Io(format!(
            "{} is in use by another canopy process",
            dir.display()
        ))
    })?;
    Ok(Some(file))
}

/// Opens the store, loads the engines, starts the writer and serves until `shutdown` resolves.
/// `on_ready` receives the addresses actually bound (useful with port 0).
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(Listening),
) -> Result<(), ServerError> {
    let clock = config.clock.clone();
    let notifier =
        notify::Notifier::new(config.smtp.as_ref(), clock.clone()).map_err(ServerError::Invalid)?;
    let _lock = lock_data_dir(&config.location)?;
    let store = Store::open(&config.location).await?;
    store.require_current_schema().await?;
    // Chains written before anchors existed get theirs now (logged: a chain whose anchor was
    // removed is anchored again here, and `verify` no longer sees that it was missing).
    for chain in store.anchor_chains(&config.audit_key).await? {
        tracing::warn!(chain, "anchored an audit chain that had no anchor");
    }
    let installation = store.load().await?;
    let shared = Shared::new(installation);
    let follow = match &config.location {
        Location::Database(url) => Some(url.clone()),
        Location::Data(_) => None,
    };
    let writer = Writer::start(
        store.clone(),
        shared.clone(),
        clock.clone(),
        config.audit_key.clone(),
        follow,
    );
    let (listener, addr) = bind(config.listen).await?;
    let metrics_listener = match config.metrics_listen {
        Some(at) => Some(bind(at).await?),
        None => None,
    };
    // The default origin names the port actually bound (port 0 in tests).
    let passkeys =
        passkeys::RelyingParty::new(&config.auth.webauthn, addr.port(), &config.audit_key)
            .map_err(ServerError::Invalid)?;
    tracing::info!(rp_id = %config.auth.webauthn.rp_id, origin = %passkeys.origin(), "passkeys");
    let app = App::new(state::AppState {
        store,
        shared: shared.clone(),
        writer,
        clock,
        auth: Arc::new(config.auth),
        min_revision_wait: config.min_revision_wait,
        sessions: Default::default(),
        tokens: Default::default(),
        notifier,
        passkeys: Arc::new(passkeys),
        refusals: Default::default(),
        access_listings: Default::default(),
        who_listings: Default::default(),
        telemetry: telemetry::Telemetry::new().map_err(ServerError::Invalid)?,
    });
    let upkeep = app.telemetry.spawn_upkeep();
    let jobs = jobs::Jobs {
        store: app.store.clone(),
        writer: app.writer.clone(),
        key: config.audit_key.clone(),
        clock: app.clock.clone(),
        telemetry: app.telemetry.clone(),
        backups: config.backups.clone(),
        tick: config.jobs_tick,
    }
    .spawn();
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let metrics = metrics_listener.map(|(listener, at)| {
        tracing::info!(addr = %at, "serving metrics");
        let service = metrics_router(app.clone()).into_make_service();
        let server = axum::serve(listener, service).with_graceful_shutdown(shutdown.clone());
        (tokio::spawn(async move { server.await }), at)
    });
    tracing::info!(%addr, revision = shared.revision(), "serving");
    on_ready(Listening {
        api: addr,
        metrics: metrics.as_ref().map(|(_, at)| *at),
    });
    let served = axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| ServerError::Io(e.to_string()));
    upkeep.abort();
    jobs.abort();
    if let Some((task, _)) = metrics {
        task.abort();
    }
    served
}

/// A listening socket on `at`, and the address it actually bound.
async fn bind(at: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), ServerError> {
    let listener = tokio::net::TcpListener::bind(at)
        .await
        .map_err(|e| ServerError::Io(format!("{at}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServerError::Io(e.to_string()))?;
    Ok((listener, addr))
}
