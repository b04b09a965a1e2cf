//! `canopy-bench store`: the store with production durability (SQLite WAL + synchronous=FULL; a
//! PostgreSQL started by testkit with fsync on).
//!
//! - accepted commands per second with N concurrent writers at the store API (the writer, group
//!   commit included), and the same over HTTP through the real router;
//! - engine load time and peak memory for an organisation of 1,000,000 resources and 1,000,000
//!   bindings, measured in a fresh child process (`canopy-bench store-load`);
//! - replica lag on PostgreSQL: from a write's acknowledgement on one writer to its application
//!   by a second one following the log.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canopy_core::command::Command;
use canopy_core::engine::Actor;
use canopy_core::ids::{Clock, OrgId, PrincipalId};
use canopy_core::installation::{Change, Effects, Request};
use canopy_core::model::{RequestContext, Write};
use canopy_core::name::Name;
use canopy_store::{AuditKey, Location, Session, Shared, Store, Submission, SystemClock, Writer};
use serde::Serialize;

use crate::measure::{Stopwatch, memory, percentile};
use crate::workload::{self, Scale};

/// Every failure of the store benchmark, as a line for a person.
pub type BenchError = String;

fn err(e: impl std::fmt::Display) -> BenchError {
    e.to_string()
}

/// What to run.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Seconds each throughput run lasts.
    pub seconds: f64,
    /// Concurrent writers.
    pub writers: usize,
    /// Run on PostgreSQL too (starts a throwaway cluster).
    pub postgres: bool,
    /// The organisation to load: resources and bindings (0: skip the load figures).
    pub load_objects: usize,
}

/// Throughput of one store.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Throughput {
    /// Accepted commands per second at the store API.
    pub commands_per_sec: f64,
    /// Accepted commands per second over HTTP (`POST /v1/orgs/{org}/users`).
    pub http_commands_per_sec: f64,
    /// Mean commands per commit (group commit) during the store-API run.
    pub commands_per_commit: f64,
}

/// The load figures of one store.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadFigures {
    /// `sqlite` or `postgres`.
    pub engine: String,
    /// Resources in the organisation.
    pub resources: usize,
    /// Bindings in the organisation.
    pub bindings: usize,
    /// Seconds it took to write the state (bulk changes of effects).
    pub write_secs: f64,
    /// From opening the store to engines ready, in a fresh process.
    pub load_ms: f64,
    /// That process's peak resident memory.
    pub peak_rss_mib: f64,
}

/// Replica lag, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Lag {
    /// Median.
    pub median_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Writes measured.
    pub samples: usize,
}

/// Everything `canopy-bench store` measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StoreReport {
    /// Concurrent writers.
    pub writers: usize,
    /// SQLite.
    pub sqlite: Throughput,
    /// PostgreSQL, if run.
    pub postgres: Option<Throughput>,
    /// Engine load of the large organisation.
    pub load: Vec<LoadFigures>,
    /// Replica lag on PostgreSQL, if run.
    pub replica_lag: Option<Lag>,
}

/// Runs the store benchmark.
pub async fn run(opts: &StoreOptions) -> Result<StoreReport, BenchError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let mut report = StoreReport {
        writers: opts.writers,
        ..StoreReport::default()
    };
    let sqlite = Location::Data(dir.path().join("throughput"));
    report.sqlite = throughput(&sqlite, opts).await?;
    if opts.postgres {
        let url = canopy_testkit::postgres::fresh_database()?;
        report.postgres = Some(throughput(&Location::Database(url), opts).await?);
        report.replica_lag = Some(replica_lag(opts).await?);
    }
    if opts.load_objects > 0 {
        let data = Location::Data(dir.path().join("large"));
        report
            .load
            .push(load_figures(&data, "sqlite", opts.load_objects).await?);
    }
    Ok(report)
}

/// A writer on a migrated store, with an instance administrator and one organisation.
struct Rig {
    store: Store,
    shared: Arc<Shared>,
    writer: Writer,
    org: OrgId,
    admin: PrincipalId,
}

fn follow_url(location: &Location) -> Option<String> {
    match location {
        Location::Database(url) => Some(url.clone()),
        Location::Data(_) => None,
    }
}

fn name(s: &str) -> Result<Name, BenchError> {
    Name::parse(s).map_err(|e| format!("{s}: {e:?}"))
}

async fn rig(location: &Location, key: &AuditKey) -> Result<Rig, BenchError> {
    let store = Store::open(location).await.map_err(err)?;
    store.migrate().await.map_err(err)?;
    let shared = Shared::new(store.load().await.map_err(err)?);
    let writer = Writer::start(
        store.clone(),
        shared.clone(),
        Arc::new(SystemClock),
        key.clone(),
        follow_url(location),
    );
    let submit = |request| Submission {
        actor: Actor::instance_admin("bench"),
        request,
        request_id: "bench".into(),
        secrets: vec![],
        expect: None,
    };
    writer
        .submit(submit(Request::CreateInstanceAdmin {
            username: name("bench")?,
        }))
        .await
        .map_err(err)?;
    let created = writer
        .submit(submit(Request::CreateOrg {
            name: name("bench")?,
            admin: name("alice")?,
            policy: Default::default(),
        }))
        .await
        .map_err(err)?;
    let Effects::Org { org, writes } = &created.change.effects else {
        return Err("create_org changed the instance".into());
    };
    let admin = writes
        .iter()
        .find_map(|w| match w {
            Write::Put(canopy_core::model::Object::User(u)) => Some(u.id.clone()),
            _ => None,
        })
        .ok_or("no administrator")?;
    Ok(Rig {
        store,
        shared,
        writer,
        org: org.clone(),
        admin,
    })
}

fn create_user(rig: &Rig, username: &str) -> Result<Submission, BenchError> {
    Ok(Submission {
        actor: Actor::subject(rig.admin.clone(), RequestContext::default()),
        request: Request::Org {
            org: rig.org.clone(),
            commands: vec![Command::CreateUser {
                username: name(username)?,
                email: None,
                display_name: None,
                password: false,
            }],
        },
        request_id: "bench".into(),
        secrets: vec![],
        expect: None,
    })
}

/// The most commands one writer task submits in a run (the run is also bounded in time).
const MAX_PER_WRITER: usize = 200_000;

/// `writers` tasks calling `one(writer, i)` until `seconds` have passed; the number of accepted
/// commands and the seconds it took.
async fn closed_loop<F, Fut>(
    writers: usize,
    seconds: f64,
    one: F,
) -> Result<(usize, f64), BenchError>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<(), BenchError>> + Send,
{
    let clock = Stopwatch::start();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let one = one.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            for i in 0..MAX_PER_WRITER {
                if clock.secs() >= seconds {
                    break;
                }
                one(w, i).await?;
                done += 1;
            }
            Ok::<usize, BenchError>(done)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.map_err(err)??;
    }
    Ok((total, clock.secs()))
}

async fn throughput(location: &Location, opts: &StoreOptions) -> Result<Throughput, BenchError> {
    let key = AuditKey::generate();
    let rig = Arc::new(rig(location, &key).await?);

    let before = rig.writer.stats();
    let r = rig.clone();
    let (done, secs) = closed_loop(opts.writers, opts.seconds, move |w, i| {
        let r = r.clone();
        async move {
            let s = create_user(&r, &format!("u-{w}-{i}"))?;
            r.writer.submit(s).await.map(|_| ()).map_err(err)
        }
    })
    .await?;
    let commands_per_sec = done as f64 / secs;
    let after = rig.writer.stats();
    let commits = after.commits - before.commits;

    let addr = serve_http(&rig).await?;
    let token = session(&rig).await?;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/v1/orgs/{}/users", rig.org);
    let (http_done, http_secs) = closed_loop(opts.writers, opts.seconds, move |w, i| {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        async move {
            let r = client
                .post(&url)
                .bearer_auth(&token)
                .json(&serde_json::json!({"username": format!("h-{w}-{i}")}))
                .send()
                .await
                .map_err(err)?;
            if r.status() == 201 {
                Ok(())
            } else {
                Err(format!(
                    "HTTP {}: {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                ))
            }
        }
    })
    .await?;
    Ok(Throughput {
        commands_per_sec,
        http_commands_per_sec: http_done as f64 / http_secs,
        commands_per_commit: if commits == 0 {
            0.0
        } else {
            done as f64 / commits as f64
        },
    })
}

/// Serves the real router on a free loopback port, over the rig's writer.
async fn serve_http(rig: &Rig) -> Result<SocketAddr, BenchError> {
    serve_router(&rig.store, &rig.shared, &rig.writer)
        .await
        .map(|(_, addr)| addr)
}

/// Serves the real router on a free loopback port, in this process: its state and address.
pub(crate) async fn serve_router(
    store: &Store,
    shared: &Arc<Shared>,
    writer: &Writer,
) -> Result<(canopy_server::state::App, SocketAddr), BenchError> {
    let clock = Arc::new(SystemClock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let auth = canopy_server::state::AuthSettings::default();
    let passkeys = canopy_server::passkeys::RelyingParty::new(
        &auth.webauthn,
        addr.port(),
        &canopy_store::AuditKey::generate(),
    )
    .map_err(err)?;
    let app = canopy_server::state::App::new(canopy_server::state::AppState {
        store: store.clone(),
        shared: shared.clone(),
        writer: writer.clone(),
        clock: clock.clone(),
        auth: Arc::new(auth),
        min_revision_wait: Duration::from_secs(5),
        sessions: Default::default(),
        tokens: Default::default(),
        notifier: canopy_server::notify::Notifier::new(None, clock).map_err(err)?,
        passkeys: Arc::new(passkeys),
        refusals: Default::default(),
        access_listings: Default::default(),
        who_listings: Default::default(),
        telemetry: canopy_server::telemetry::Telemetry::new().map_err(err)?,
    });
    app.telemetry.spawn_upkeep();
    let service =
        canopy_server::router(app.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    Ok((app, addr))
}

/// A session for the organisation's administrator, made directly in the store (a login would
/// time argon2, not the store).
async fn session(rig: &Rig) -> Result<String, BenchError> {
    create_session(&rig.store, &rig.org, &rig.admin, "alice").await
}

/// A bearer token for `principal` of `org`, made directly in the store.
pub(crate) async fn create_session(
    store: &Store,
    org: &OrgId,
    principal: &PrincipalId,
    username: &str,
) -> Result<String, BenchError> {
    let token = format!("cnp_bench{}", hex::encode(rand::random::<[u8; 16]>()));
    let now = SystemClock.now();
    store
        .create_session(
            &token,
            &Session {
                id: format!("ses_bench{}", hex::encode(rand::random::<[u8; 8]>())),
                org: Some(org.to_string()),
                principal: principal.to_string(),
                username: username.into(),
                second_factor: None,
                source: String::new(),
                created: now,
                expires: now.plus_millis(3_600_000),
                last_seen: now,
            },
        )
        .await
        .map_err(err)?;
    Ok(token)
}

/// Replica lag on PostgreSQL: writes on one writer, applied by a second that follows the log.
async fn replica_lag(opts: &StoreOptions) -> Result<Lag, BenchError> {
    let url = canopy_testkit::postgres::fresh_database()?;
    let location = Location::Database(url.clone());
    let key = AuditKey::generate();
    let a = Arc::new(rig(&location, &key).await?);
    // The second replica: its own pool, engines and writer, following the log.
    let store_b = Store::open(&location).await.map_err(err)?;
    let shared_b = Shared::new(store_b.load().await.map_err(err)?);
    let _writer_b = Writer::start(
        store_b,
        shared_b.clone(),
        Arc::new(SystemClock),
        key,
        Some(url),
    );

    let clock = Stopwatch::start();
    // When replica B reached each revision.
    let reached: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let mut rx = shared_b.subscribe();
    let log = reached.clone();
    let recorder = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let r = *rx.borrow_and_update();
            if let Ok(mut l) = log.lock() {
                l.push((r, clock.ns()));
            }
        }
    });
    let acks: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let (rr, acked) = (a.clone(), acks.clone());
    closed_loop(opts.writers, opts.seconds, move |w, i| {
        let (r, acked) = (rr.clone(), acked.clone());
        async move {
            let s = create_user(&r, &format!("l-{w}-{i}"))?;
            let c = r.writer.submit(s).await.map_err(err)?;
            if let Ok(mut l) = acked.lock() {
                l.push((c.change.revision, clock.ns()));
            }
            Ok(())
        }
    })
    .await?;
    let head = a.store.head().await.map_err(err)?;
    if !shared_b.wait_for(head, Duration::from_secs(30)).await {
        return Err("the second replica did not catch up within 30 s".into());
    }
    recorder.abort();
    let reached = reached.lock().map_err(err)?.clone();
    let acks = acks.lock().map_err(err)?.clone();
    let mut lags: Vec<f64> = acks
        .iter()
        .filter_map(|(rev, at)| {
            let i = reached.partition_point(|(r, _)| r < rev);
            reached
                .get(i)
                .map(|(_, t)| t.saturating_sub(*at) as f64 / 1e6)
        })
        .collect();
    lags.sort_by(f64::total_cmp);
    Ok(Lag {
        median_ms: percentile(&lags, 0.5),
        p99_ms: percentile(&lags, 0.99),
        samples: lags.len(),
    })
}

/// The large organisation: 1,000,000 resources and as many bindings over the flexorgs tree.
fn large_scale(objects: usize) -> Scale {
    Scale {
        resources: objects,
        bindings: objects,
        resource_binding_share: 0.5,
        requests: 0,
        ..Scale::MAX
    }
}

/// Writes the large organisation into a fresh store as changes of effects, then loads it in a
/// child process.
async fn load_figures(
    location: &Location,
    engine: &str,
    objects: usize,
) -> Result<LoadFigures, BenchError> {
    let scale = large_scale(objects);
    let model = workload::generate(42, &scale).map_err(err)?.model;
    let (resources, bindings) = (model.resources.len(), model.bindings.len());
    let clock = Stopwatch::start();
    let store = write_model(location, model, None).await?;
    let write_secs = clock.secs();
    store.close().await;

    let exe = std::env::current_exe().map_err(err)?;
    let arg = match location {
        Location::Data(d) => vec!["--data".to_string(), d.display().to_string()],
        Location::Database(u) => vec!["--database".to_string(), u.clone()],
    };
    let out = tokio::process::Command::new(exe)
        .arg("store-load")
        .args(arg)
        .output()
        .await
        .map_err(err)?;
    if !out.status.success() {
        return Err(format!(
            "store-load failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let child: ChildLoad = serde_json::from_slice(&out.stdout).map_err(err)?;
    if child.resources != resources || child.bindings != bindings {
        return Err(format!(
            "the loaded organisation has {} resources and {} bindings, not {resources} and \
             {bindings}",
            child.resources, child.bindings
        ));
    }
    Ok(LoadFigures {
        engine: engine.into(),
        resources,
        bindings,
        write_secs,
        load_ms: child.load_ms,
        peak_rss_mib: child.peak_rss_mib,
    })
}

/// Writes an organisation into a fresh store as changes of effects (no commands: the workload
/// is already valid), each with its audit event when an audit key is given (so that the store
/// verifies), and returns the store.
pub async fn write_model(
    location: &Location,
    model: canopy_core::model::OrgModel,
    audit: Option<&AuditKey>,
) -> Result<Store, BenchError> {
    let store = Store::open(location).await.map_err(err)?;
    store.migrate().await.map_err(err)?;
    let org = model.org.id.clone();
    let writes = canopy_core::engine::model_writes(model);
    for chunk in writes.chunks(20_000) {
        let mut tx = store.begin_write().await.map_err(err)?;
        let change = Change {
            revision: tx.head() + 1,
            time: SystemClock.now(),
            actor: "bench".into(),
            request_id: "bench-load".into(),
            command: "import".into(),
            effects: Effects::Org {
                org: org.clone(),
                writes: chunk.to_vec(),
            },
        };
        tx.append(&change).await.map_err(err)?;
        if let Some(key) = audit {
            let draft = canopy_store::AuditDraft {
                chain: org.to_string(),
                time: change.time,
                actor: change.actor.clone(),
                request_id: change.request_id.clone(),
                action: change.command.clone(),
                outcome: canopy_store::Outcome::Ok,
                revision: Some(change.revision),
                detail: serde_json::Value::Null,
            };
            tx.audit(key, draft).await.map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
    }
    Ok(store)
}

/// What the child process reports.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ChildLoad {
    /// Milliseconds from opening the store to engines ready.
    pub load_ms: f64,
    /// Peak resident memory of the process.
    pub peak_rss_mib: f64,
    /// Resources loaded.
    pub resources: usize,
    /// Bindings loaded.
    pub bindings: usize,
}

/// `canopy-bench store-load`: opens the store, loads the engines, reports time and memory.
pub async fn load_in_this_process(location: &Location) -> Result<ChildLoad, BenchError> {
    let clock = Stopwatch::start();
    let store = Store::open(location).await.map_err(err)?;
    let inst = store.load().await.map_err(err)?;
    let load_ms = clock.ns() as f64 / 1e6;
    let (mut resources, mut bindings) = (0, 0);
    for e in inst.orgs() {
        resources += e.model().resources.len();
        bindings += e.model().bindings.len();
    }
    Ok(ChildLoad {
        load_ms,
        peak_rss_mib: memory().peak_rss_mib,
        resources,
        bindings,
    })
}

/// Where the child's store is.
pub fn location(data: Option<PathBuf>, database: Option<String>) -> Result<Location, BenchError> {
    match (data, database) {
        (Some(d), None) => Ok(Location::Data(d)),
        (None, Some(u)) => Ok(Location::Database(u)),
        _ => Err("give --data or --database".into()),
    }
}
