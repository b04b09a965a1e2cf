//! `canopy-bench http`: checks over HTTP (DESIGN §7). The flexorgs-max organisation is written
//! into a fresh SQLite store, loaded and served by the real router on a loopback port in this
//! process; a closed-loop generator in the same process keeps `connections` requests in flight
//! (each task waits for its answer before sending the next), warms up, then measures. The
//! caller is a user holding `iam.access.read` at the root, with a bearer token, and every request
//! names IDs. Before timing, a sample of answers is compared with the engine's own decisions.
//!
//! The caller is an application as DESIGN §5 has them: a service account bound at the root to a
//! role allowing only `iam.access.read` (so it is not privileged, and its requests are not
//! audited one by one), authenticating with an API key — a bearer token whose revocation is
//! enforced on every request. The cost of authenticating one request (a key, and for comparison a
//! login session) is also timed in-process, on the same extractor the router runs.

use std::sync::Arc;

use canopy_core::ids::Clock;
use canopy_core::model::RequestContext;
use canopy_store::{AuditKey, Location, Shared, SystemClock, Writer};
use serde::Serialize;
use serde_json::{Value, json};

use crate::measure::{Stopwatch, percentile};
use crate::store::{BenchError, create_session, serve_router, write_model};
use crate::workload::{self, Request, Scale};

fn err(e: impl std::fmt::Display) -> BenchError {
    e.to_string()
}

/// What to run.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// The workload's seed.
    pub seed: u64,
    /// The workload's size.
    pub scale: Scale,
    /// Requests in flight (one connection each).
    pub connections: usize,
    /// Seconds of warm-up before each measured run.
    pub warmup_secs: f64,
    /// Seconds each run is measured.
    pub seconds: f64,
    /// Checks per batch request.
    pub batch_size: usize,
}

/// One measured run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Run {
    /// HTTP requests answered per second.
    pub requests_per_sec: f64,
    /// Checks decided per second (requests × checks per request).
    pub checks_per_sec: f64,
    /// Median request latency, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile request latency, in milliseconds.
    pub p99_ms: f64,
    /// Requests measured.
    pub requests: usize,
}

/// Everything `canopy-bench http` measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HttpReport {
    /// Requests in flight.
    pub connections: usize,
    /// Seconds measured per run.
    pub seconds: f64,
    /// `POST /v1/orgs/{org}/check`, one check a request.
    pub single: Run,
    /// `POST /v1/orgs/{org}/check/batch`.
    pub batch: Run,
    /// Checks per batch request.
    pub batch_size: usize,
    /// Answers compared with the engine before timing (all agreed, or the run failed).
    pub agreement_checked: usize,
    /// The workload's requests.
    pub requests_generated: usize,
    /// Those the caller may ask about: guardrails cap `iam.access.read` below some nodes too.
    pub requests_askable: usize,
    /// Median time to authenticate one request with the API key (cache warm), whether the caller
    /// is privileged included, in microseconds.
    pub auth_key_us: f64,
    /// The same with a login session's token (the organisation administrator's: privileged), in
    /// microseconds.
    pub auth_session_us: f64,
}

/// The most requests one task sends in a run (the run is also bounded in time).
const MAX_PER_TASK: usize = 10_000_000;

/// Runs the HTTP benchmark.
pub async fn run(opts: &HttpOptions) -> Result<HttpReport, BenchError> {
    let workload = workload::generate(opts.seed, &opts.scale).map_err(err)?;
    let generated = workload.requests.len();
    let dir = tempfile::tempdir().map_err(err)?;
    let location = Location::Data(dir.path().join("data"));
    let store = write_model(&location, workload.model, None).await?;
    let shared = Shared::new(store.load().await.map_err(err)?);
    let writer = Writer::start(
        store.clone(),
        shared.clone(),
        Arc::new(SystemClock),
        AuditKey::generate(),
        None,
    );
    let (org, admin) = first_allowed_at_root(&shared, "iam.role.write")?;
    let (caller, token) = application_key(&writer, &org, &admin).await?;
    let requests = askable(&shared, &caller, workload.requests)?;
    let session = create_session(&store, &org, &admin, "bench").await?;
    let (app, addr) = serve_router(&store, &shared, &writer).await?;
    let auth_key_us = time_authentication(&app, &token).await?;
    let auth_session_us = time_authentication(&app, &session).await?;
    let base = format!("http://{addr}/v1/orgs/{org}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(opts.connections)
        .build()
        .map_err(err)?;
    let http = Arc::new(Target {
        client,
        base,
        token,
    });

    let agreement_checked = agree(&http, &shared, &org, &requests).await?;

    let single = measure(opts, &http, &requests, 1).await?;
    let batch = measure(opts, &http, &requests, opts.batch_size).await?;
    Ok(HttpReport {
        connections: opts.connections,
        seconds: opts.seconds,
        single,
        batch,
        batch_size: opts.batch_size,
        agreement_checked,
        requests_generated: generated,
        requests_askable: requests.len(),
        auth_key_us,
        auth_session_us,
    })
}

/// A service account bound at the root to a role that allows `iam.access.read` only, and an
/// API key of its own, made by `admin` through the writer as any client would.
async fn application_key(
    writer: &Writer,
    org: &canopy_core::ids::OrgId,
    admin: &canopy_core::ids::PrincipalId,
) -> Result<(canopy_core::ids::PrincipalId, String), BenchError> {
    use canopy_core::action::{ActionPattern, Effect, Statement};
    use canopy_core::command::{Command, NamedRef, PrincipalRef, TargetRef};
    use canopy_core::model::{Conditions, Object, PrincipalKind, Write};
    use canopy_core::name::Name;
    let name = |n: &str| Name::parse(n).map_err(|e| format!("{n}: {e:?}"));
    let app = PrincipalRef::Named(PrincipalKind::ServiceAccount, name("bench-app")?);
    let reads = Statement {
        effect: Effect::Allow,
        actions: vec![ActionPattern::parse("iam.access.read").ok_or("iam.access.read")?],
        classes: vec![],
    };
    let commands = vec![
        Command::CreateRole {
            name: name("bench-access-reader")?,
            statements: vec![reads],
        },
        Command::CreateServiceAccount {
            name: name("bench-app")?,
        },
        Command::CreateBinding {
            principal: app.clone(),
            role: NamedRef::Name(name("bench-access-reader")?),
            scope: TargetRef::Node(org.clone()),
            expires_at: None,
            conditions: Conditions::default(),
        },
        Command::CreateToken {
            owner: app,
            name: name("bench")?,
            narrowing: None,
            expires_at: None,
        },
    ];
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let committed = writer
        .submit(canopy_store::Submission {
            actor: canopy_core::engine::Actor::subject(admin.clone(), RequestContext::default()),
            request: canopy_core::installation::Request::Org {
                org: org.clone(),
                commands,
            },
            request_id: "bench".into(),
            secrets: vec![canopy_store::SecretOp {
                owner: canopy_store::SecretOwner::CreatedToken,
                kind: "token".into(),
                value: Some(canopy_store::token_hash(&secret)),
            }],
            expect: None,
        })
        .await
        .map_err(err)?;
    let canopy_core::installation::Effects::Org { writes, .. } = &committed.change.effects else {
        return Err("the key was not made in the organisation".into());
    };
    let token = writes
        .iter()
        .find_map(|w| match w {
            Write::Put(Object::Token(t)) => Some(t.clone()),
            _ => None,
        })
        .ok_or("no key was made")?;
    let text = format!(
        "{}{}.{secret}",
        canopy_server::auth::API_TOKEN_PREFIX,
        token.id
    );
    Ok((token.owner, text))
}

/// The median time the router's authentication (`Caller` extraction: the bearer token checked
/// against the store — then the cache — and the replica's revision) takes for `token`, over
/// 20,000 requests, in microseconds.
async fn time_authentication(
    app: &canopy_server::state::App,
    token: &str,
) -> Result<f64, BenchError> {
    use axum::extract::FromRequestParts;
    let request = |token: &str| {
        axum::http::Request::builder()
            .uri("/v1/orgs/x/check")
            .header("authorization", format!("Bearer {token}"))
            // As the router's middleware does: authentication then also asks whether the caller
            // is privileged (its requests are audited), which is part of the cost.
            .extension(canopy_server::auth::PrivilegedMark::default())
            .extension(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                40000,
            ))))
            .body(())
            .map_err(err)
    };
    let mut samples = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let (mut parts, ()) = request(token)?.into_parts();
        let watch = Stopwatch::start();
        canopy_server::auth::Caller::from_request_parts(&mut parts, app)
            .await
            .map_err(|e| format!("authentication failed: {}", e.detail))?;
        samples.push(watch.ns() as f64);
    }
    samples.sort_by(f64::total_cmp);
    Ok(percentile(&samples, 0.5) / 1000.0)
}

/// Where the requests go, and as whom.
struct Target {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Target {
    /// Sends `checks` (one: `/check`; more: `/check/batch`); the `allowed` answers.
    async fn check(&self, checks: &[&Request]) -> Result<Vec<bool>, BenchError> {
        let item =
            |r: &Request| json!({"principal": r.principal, "action": r.action, "target": r.target});
        let (url, body) = match checks {
            [one] => (format!("{}/check", self.base), item(one)),
            many => (
                format!("{}/check/batch", self.base),
                json!({"checks": many.iter().map(|r| item(r)).collect::<Vec<_>>()}),
            ),
        };
        let answer = self
            .client
            .post(url)
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(err)?;
        let status = answer.status();
        let value: Value = answer.json().await.map_err(err)?;
        if status != 200 {
            return Err(format!("HTTP {status}: {value}"));
        }
        let allowed = |v: &Value| {
            v["allowed"]
                .as_bool()
                .ok_or_else(|| format!("no decision in {v}"))
        };
        match checks {
            [_] => Ok(vec![allowed(&value)?]),
            _ => value["results"]
                .as_array()
                .ok_or_else(|| format!("no results in {value}"))?
                .iter()
                .map(allowed)
                .collect(),
        }
    }
}

/// The organisation, and its first user allowed `action` at the root.
fn first_allowed_at_root(
    shared: &Shared,
    action: &str,
) -> Result<(canopy_core::ids::OrgId, canopy_core::ids::PrincipalId), BenchError> {
    let inst = shared.read();
    let engine = inst.orgs().next().ok_or("no organisation")?;
    let root = engine.model().org.id.to_string();
    let now = SystemClock.now();
    let mut users: Vec<_> = engine.model().users.keys().collect();
    users.sort();
    for id in users {
        let decision = engine
            .check(id.as_str(), action, &root, &RequestContext::default(), now)
            .map_err(|e| format!("{e:?}"))?;
        if decision.allowed {
            return Ok((engine.model().org.id.clone(), id.clone()));
        }
    }
    Err(format!("no user may {action} at the root"))
}

/// The requests whose target the caller may ask questions about.
fn askable(
    shared: &Shared,
    caller: &canopy_core::ids::PrincipalId,
    requests: Vec<Request>,
) -> Result<Vec<Request>, BenchError> {
    let inst = shared.read();
    let engine = inst.orgs().next().ok_or("no organisation")?;
    let now = SystemClock.now();
    let mut kept = Vec::with_capacity(requests.len());
    for r in requests {
        let may = engine
            .check(
                caller.as_str(),
                "iam.access.read",
                &r.target,
                &RequestContext::default(),
                now,
            )
            .map_err(|e| format!("{e:?}"))?;
        if may.allowed {
            kept.push(r);
        }
    }
    Ok(kept)
}

/// Compares the first requests' answers over HTTP (single and batched) with the engine's.
async fn agree(
    http: &Target,
    shared: &Shared,
    org: &canopy_core::ids::OrgId,
    requests: &[Request],
) -> Result<usize, BenchError> {
    let sample: Vec<&Request> = requests.iter().take(2_000).collect();
    let expected: Vec<bool> = {
        let inst = shared.read();
        let engine = inst.org(org).ok_or("no organisation")?;
        let now = SystemClock.now();
        sample
            .iter()
            .map(|r| {
                engine
                    .check(
                        &r.principal,
                        &r.action,
                        &r.target,
                        &RequestContext::default(),
                        now,
                    )
                    .map(|d| d.allowed)
                    .map_err(|e| format!("{e:?}"))
            })
            .collect::<Result<_, _>>()?
    };
    let batched = http.check(&sample).await?;
    for (i, r) in sample.iter().enumerate().take(200) {
        let one = http.check(&[r]).await?;
        if one[0] != expected[i] {
            return Err(format!("HTTP and the engine disagree on {r:?}"));
        }
    }
    if batched != expected {
        return Err("the batch endpoint and the engine disagree".into());
    }
    Ok(sample.len())
}

/// The request bodies of a run, serialised before timing so that the generator spends its
/// time sending: one check each, or `per_request` checks each (at most 1,000 distinct bodies).
fn bodies(requests: &[Request], per_request: usize) -> Vec<bytes::Bytes> {
    let item =
        |r: &Request| json!({"principal": r.principal, "action": r.action, "target": r.target});
    if per_request == 1 {
        return requests
            .iter()
            .map(|r| bytes::Bytes::from(item(r).to_string()))
            .collect();
    }
    requests
        .chunks(per_request)
        .filter(|c| c.len() == per_request)
        .take(1_000)
        .map(|c| {
            let checks: Vec<Value> = c.iter().map(item).collect();
            bytes::Bytes::from(json!({ "checks": checks }).to_string())
        })
        .collect()
}

/// A closed loop of `connections` tasks sending `per_request` checks a request: warm-up, then
/// the measured run.
async fn measure(
    opts: &HttpOptions,
    http: &Arc<Target>,
    requests: &[Request],
    per_request: usize,
) -> Result<Run, BenchError> {
    let url = if per_request == 1 {
        format!("{}/check", http.base)
    } else {
        format!("{}/check/batch", http.base)
    };
    let bodies = Arc::new(bodies(requests, per_request));
    if bodies.is_empty() {
        return Err("not enough requests for one batch".into());
    }
    let run = |seconds| loop_for(opts.connections, seconds, &url, http, &bodies);
    run(opts.warmup_secs).await?;
    let clock = Stopwatch::start();
    let latencies = run(opts.seconds).await?;
    let secs = clock.secs();
    let mut ms: Vec<f64> = latencies.into_iter().flatten().collect();
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    Ok(Run {
        requests_per_sec: n as f64 / secs,
        checks_per_sec: (n * per_request) as f64 / secs,
        p50_ms: percentile(&ms, 0.5),
        p99_ms: percentile(&ms, 0.99),
        requests: n,
    })
}

/// Runs the tasks for `seconds`, each on its own keep-alive HTTP/1.1 connection sending the
/// bodies in turn (raw hyper: a pooled client would cost the shared cores more than the server
/// does); each task's request latencies in milliseconds. Any answer but 200 fails the run.
async fn loop_for(
    connections: usize,
    seconds: f64,
    url: &str,
    http: &Arc<Target>,
    bodies: &Arc<Vec<bytes::Bytes>>,
) -> Result<Vec<Vec<f64>>, BenchError> {
    let uri: hyper::Uri = url.parse().map_err(err)?;
    let authority = uri.authority().ok_or("no authority")?.to_string();
    let clock = Stopwatch::start();
    let mut tasks = Vec::new();
    for t in 0..connections {
        let (bodies, uri, authority) = (bodies.clone(), uri.clone(), authority.clone());
        let bearer = format!("Bearer {}", http.token);
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(&authority)
                .await
                .map_err(err)?;
            stream.set_nodelay(true).map_err(err)?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(err)?;
            let driver = tokio::spawn(connection);
            let mut latencies = Vec::new();
            let mut next = t * 7_919 % bodies.len();
            for _ in 0..MAX_PER_TASK {
                if clock.secs() >= seconds {
                    break;
                }
                let body = bodies[next].clone();
                next = (next + 1) % bodies.len();
                let request = hyper::Request::post(uri.clone())
                    .header(hyper::header::HOST, &authority)
                    .header(hyper::header::AUTHORIZATION, &bearer)
                    .header(hyper::header::CONTENT_TYPE, "application/json")
                    .body(http_body_util::Full::new(body))
                    .map_err(err)?;
                let sent = Stopwatch::start();
                sender.ready().await.map_err(err)?;
                let answer = sender.send_request(request).await.map_err(err)?;
                let status = answer.status();
                let text = http_body_util::BodyExt::collect(answer.into_body())
                    .await
                    .map_err(err)?
                    .to_bytes();
                latencies.push(sent.ns() as f64 / 1e6);
                if status != 200 {
                    return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&text)));
                }
            }
            drop(sender);
            driver.abort();
            Ok::<Vec<f64>, BenchError>(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.push(t.await.map_err(err)??);
    }
    Ok(all)
}
