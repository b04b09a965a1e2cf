//! Observability over HTTP against a real server: `GET /metrics` (who may read it, the families,
//! values that move with traffic, route labels that are templates), `/healthz` and `/readyz`,
//! and the request ID that every response, problem and audit event carries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use canopy_server::local::LocalServer;
use canopy_testkit::fixture::{self, Fixture, INSTANCE_ADMIN, PASSWORD, Who};
use canopy_testkit::http::Http;
use serde_json::{Value, json};

async fn start() -> (tempfile::TempDir, LocalServer, Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path(), INSTANCE_ADMIN, fixture::PASSWORD)
        .await
        .unwrap();
    let f = Fixture::build(&server.url()).await.unwrap();
    (dir, server, f)
}

/// One sample of the text format: its name and labels.
type Series = (String, BTreeMap<String, String>);

/// The samples of a scrape, by series. Fails on a line that is not a comment, blank, or
/// `NAME{LABELS} VALUE`.
fn parse(text: &str) -> BTreeMap<Series, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let rest = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                let labels = rest
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once("=\"").unwrap_or_else(|| panic!("{line}"));
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                (name.to_string(), labels)
            }
        };
        out.insert((name, labels), value);
    }
    out
}

struct Scrape(BTreeMap<Series, f64>, String);

impl Scrape {
    /// The value of the series `name{labels}` (0 when absent, as for a counter not yet counted).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.0
            .get(&(name.to_string(), labels))
            .copied()
            .unwrap_or(0.0)
    }

    /// Every series of `name`.
    fn series(&self, name: &str) -> Vec<&BTreeMap<String, String>> {
        self.0
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, l)| l)
            .collect()
    }
}

async fn scrape(f: &Fixture) -> Scrape {
    let a = f
        .send(Who::InstanceAdmin, "GET", "/metrics", None)
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(
        a.content_type
            .as_deref()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        a.content_type
    );
    Scrape(parse(&a.text), a.text)
}

fn check(action: &str) -> Value {
    json!({"principal": "user:viewer", "action": action, "target": "acme/eng/payments/vm-1"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_for_instance_administrators_on_the_api_listener() {
    let (_dir, _server, f) = start().await;
    for (who, status) in [
        (Who::Anonymous, 401),
        (Who::OrgAdmin, 403),
        (Who::Viewer, 403),
        (Who::InstanceAdmin, 200),
    ] {
        let a = f.send(who, "GET", "/metrics", None).await.unwrap();
        assert_eq!(a.status, status, "{who:?}: {}", a.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_decisions_logins_and_requests() {
    let (_dir, server, f) = start().await;
    let before = scrape(&f).await;
    // Every family is there, with its help.
    for family in [
        "canopy_decisions_total counter",
        "canopy_decision_duration_seconds histogram",
        "canopy_http_requests_total counter",
        "canopy_logins_total counter",
        "canopy_revision gauge",
        "canopy_store_head_revision gauge",
        "canopy_replica_lag_revisions gauge",
        "canopy_store_up gauge",
        "canopy_last_backup_age_seconds gauge",
        "canopy_last_restore_test_age_seconds gauge",
    ] {
        assert!(
            before.1.contains(&format!("# TYPE {family}\n")),
            "{family}:\n{}",
            before.1
        );
        let name = family.split(' ').next().unwrap();
        assert!(before.1.contains(&format!("# HELP {name} ")), "{name}");
    }

    // One decision allowed, one denied, one batch of both and a typo (not a decision).
    let allow = f
        .send(
            Who::OrgAdmin,
            "POST",
            "/v1/orgs/acme/check",
            Some(&check("vm.read")),
        )
        .await
        .unwrap();
    assert_eq!(allow.body["allowed"], true, "{}", allow.body);
    let deny = f
        .send(
            Who::OrgAdmin,
            "POST",
            "/v1/orgs/acme/check",
            Some(&check("vm.power")),
        )
        .await
        .unwrap();
    assert_eq!(deny.body["allowed"], false, "{}", deny.body);
    let batch = json!({"checks": [check("vm.read"), check("vm.power"), check("vm.nothing")]});
    let b = f
        .send(
            Who::OrgAdmin,
            "POST",
            "/v1/orgs/acme/check/batch",
            Some(&batch),
        )
        .await
        .unwrap();
    assert_eq!(b.status, 200, "{}", b.body);
    // A login that fails and one that succeeds.
    let http = Http::new(&server.url());
    assert!(
        http.login(Some("acme"), "viewer", "wrong-password")
            .await
            .is_err()
    );
    http.login(Some("acme"), "viewer", PASSWORD).await.unwrap();
    // A route with two parameters, and a path that matches no route.
    let node = f
        .send(Who::OrgAdmin, "GET", "/v1/orgs/acme/nodes/acme%2Feng", None)
        .await
        .unwrap();
    assert_eq!(node.status, 200);
    let nowhere = f
        .send(Who::OrgAdmin, "GET", "/v1/no/such/route-xyz", None)
        .await
        .unwrap();
    assert_eq!(nowhere.status, 404);

    let after = scrape(&f).await;
    let delta =
        |name: &str, labels: &[(&str, &str)]| after.get(name, labels) - before.get(name, labels);
    assert_eq!(delta("canopy_decisions_total", &[("result", "allow")]), 2.0);
    assert_eq!(delta("canopy_decisions_total", &[("result", "deny")]), 2.0);
    let seconds = "canopy_decision_duration_seconds_count";
    assert_eq!(delta(seconds, &[("endpoint", "check")]), 2.0);
    assert_eq!(delta(seconds, &[("endpoint", "check_batch")]), 1.0);
    // Explicit buckets: a histogram, not a summary.
    let buckets = after.series("canopy_decision_duration_seconds_bucket");
    assert!(
        buckets.len() >= 2 * canopy_server::telemetry::DECISION_BUCKETS.len(),
        "{buckets:?}"
    );
    assert_eq!(
        after.get(
            "canopy_decision_duration_seconds_bucket",
            &[("endpoint", "check"), ("le", "+Inf")]
        ),
        after.get(seconds, &[("endpoint", "check")])
    );

    let logins = "canopy_logins_total";
    let failure = [
        ("method", "password"),
        ("reason", "bad_credentials"),
        ("result", "failure"),
    ];
    let success = [
        ("method", "password"),
        ("reason", "none"),
        ("result", "success"),
    ];
    assert_eq!(delta(logins, &failure), 1.0);
    assert_eq!(delta(logins, &success), 1.0);

    let requests = "canopy_http_requests_total";
    let checks = [
        ("method", "POST"),
        ("route", "/v1/orgs/{org}/check"),
        ("status", "200"),
    ];
    assert_eq!(delta(requests, &checks), 2.0);
    let nodes = [
        ("method", "GET"),
        ("route", "/v1/orgs/{org}/nodes/{node}"),
        ("status", "200"),
    ];
    assert_eq!(delta(requests, &nodes), 1.0);
    let unmatched = [("method", "GET"), ("route", "unmatched"), ("status", "404")];
    assert_eq!(delta(requests, &unmatched), 1.0);
    // Route labels are templates: no path as sent, no name of an object.
    for labels in after.series(requests) {
        let route = &labels["route"];
        assert!(route == "unmatched" || route.starts_with('/'), "{labels:?}");
        assert!(
            !route.contains("acme") && !route.contains("xyz"),
            "{labels:?}"
        );
    }

    // The revisions: this server is the only writer, at the head.
    let replica = f.replica().await.unwrap();
    let revision = replica["revision"].as_u64().unwrap() as f64;
    assert_eq!(after.get("canopy_revision", &[]), revision);
    assert_eq!(after.get("canopy_store_head_revision", &[]), revision);
    assert_eq!(after.get("canopy_replica_lag_revisions", &[]), 0.0);
    assert_eq!(after.get("canopy_store_up", &[]), 1.0);
    // No backup nor restore test is known: an age of +Inf, so that "too old" alerts fire.
    assert_eq!(
        after.get("canopy_last_backup_age_seconds", &[]),
        f64::INFINITY
    );
    assert_eq!(
        after.get("canopy_last_restore_test_age_seconds", &[]),
        f64::INFINITY
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_readyz_answer_a_replica_at_the_head() {
    let (_dir, _server, f) = start().await;
    let health = f
        .send(Who::Anonymous, "GET", "/healthz", None)
        .await
        .unwrap();
    assert_eq!((health.status, health.text.as_str()), (200, "ok"));
    let ready = f
        .send(Who::Anonymous, "GET", "/readyz", None)
        .await
        .unwrap();
    assert_eq!(ready.status, 200, "{}", ready.text);
    let replica = f.replica().await.unwrap();
    assert_eq!(ready.body["revision"], replica["revision"]);
    assert_eq!(ready.body["head"], replica["revision"]);
}

fn is_generated(id: &str) -> bool {
    id.len() == 20 && id.starts_with("req_") && id[4..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The audit events of acme with this request ID (read as acme's administrator).
async fn audited(f: &Fixture, request_id: &str) -> Vec<Value> {
    let a = f
        .send(Who::OrgAdmin, "GET", "/v1/orgs/acme/audit?limit=1000", None)
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["request_id"] == request_id)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_a_request_id_that_the_audit_log_keeps() {
    let (_dir, server, f) = start().await;
    let http = Http::new(&server.url());

    // Made by the server when the client sends none, or one that is not well formed.
    let a = http.send(None, "GET", "/healthz", None).await.unwrap();
    assert!(
        is_generated(a.request_id.as_deref().unwrap()),
        "{:?}",
        a.request_id
    );
    let b = http.send(None, "GET", "/healthz", None).await.unwrap();
    assert_ne!(a.request_id, b.request_id);
    for bad in ["two words", "quote\"d", &"x".repeat(65)] {
        let a = http
            .send_with(None, "GET", "/healthz", None, &[("x-request-id", bad)])
            .await
            .unwrap();
        assert!(
            is_generated(a.request_id.as_deref().unwrap()),
            "{bad}: {:?}",
            a.request_id
        );
    }

    // A change: the answer, the change's audit event and the privileged caller's request event
    // all carry the client's ID.
    let id = "trace-0001.acme:node";
    let token = f.token(Who::OrgAdmin);
    let folder = json!({"kind": "folder", "name": "traced", "parent": "acme"});
    let a = http
        .send_with(
            token,
            "POST",
            "/v1/orgs/acme/nodes",
            Some(&folder),
            &[("x-request-id", id)],
        )
        .await
        .unwrap();
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.request_id.as_deref(), Some(id));
    let events = audited(&f, id).await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"create_node"), "{events:?}");
    assert!(actions.contains(&"request"), "{events:?}");

    // A problem names the request too, in its body and its header.
    let id = "trace-0002";
    let a = http
        .send_with(
            token,
            "POST",
            "/v1/orgs/acme/check",
            Some(&check("vm.nothing")),
            &[("x-request-id", id)],
        )
        .await
        .unwrap();
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["request_id"], id);
    assert_eq!(a.request_id.as_deref(), Some(id));
    // And one that no handler answers.
    let a = http
        .send_with(
            None,
            "GET",
            "/v1/nowhere",
            None,
            &[("x-request-id", "trace-0003")],
        )
        .await
        .unwrap();
    assert_eq!(
        (a.status, a.body["request_id"].as_str()),
        (404, Some("trace-0003"))
    );

    // A failed login: its audit event carries the ID.
    let id = "trace-0004-login";
    let login = json!({"org": "acme", "username": "viewer", "password": "wrong-password"});
    let a = http
        .send_with(
            None,
            "POST",
            "/v1/auth/login",
            Some(&login),
            &[("x-request-id", id)],
        )
        .await
        .unwrap();
    assert_eq!(a.status, 401);
    let events = audited(&f, id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["action"], "login");
    assert_eq!(events[0]["outcome"], "rejected");
}
