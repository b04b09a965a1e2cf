//! Observability of a real `canopy serve` process: JSON logs that carry the request ID, the
//! metrics listener, and `/readyz` refusing while the replica is behind its PostgreSQL store or
//! cannot reach it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use canopy_testkit::http::Http;
use canopy_testkit::server::{ServerProcess, run};
use serde_json::Value;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_canopy"))
}

fn init(data: &Path, dir: &Path) {
    let password = dir.join("pw");
    std::fs::write(&password, "observability-pw\n").unwrap();
    let (code, out) = run(
        &binary(),
        &[
            "init".to_string(),
            "--data".into(),
            data.display().to_string(),
            "--admin-password-file".into(),
            password.display().to_string(),
        ],
    )
    .unwrap();
    assert_eq!(code, 0, "{out}");
}

/// How a test asks for a log format: its name, the arguments and the environment of `serve`.
type Way<'a> = (&'a str, Vec<String>, Vec<(&'a str, &'a str)>);

/// Serves `args` with the log on a pipe; sends `GET /healthz` with the request ID `id`, stops
/// the server and returns its log lines.
async fn logs_of_one_request(args: &[String], envs: &[(&str, &str)], id: &str) -> Vec<String> {
    let mut child = Command::new(binary())
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .envs(envs.iter().copied())
        .env("RUST_LOG", "info,canopy_server=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base = format!("http://{}", line.split("http://").nth(1).unwrap().trim());
    let http = Http::new(&base);
    let a = http
        .send_with(None, "GET", "/healthz", None, &[("x-request-id", id)])
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    // The request's log line is written before its answer is sent: stopping now loses nothing.
    child.kill().unwrap();
    child.wait().unwrap();
    BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line_and_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data, dir.path());
    let data_arg = vec!["--data".to_string(), data.display().to_string()];
    let config = dir.path().join("canopy.yaml");
    std::fs::write(
        &config,
        format!("data: {}\nlog_format: json\n", data.display()),
    )
    .unwrap();

    // The flag, the variable and the configuration file each ask for JSON.
    let flag = [data_arg.clone(), vec!["--log-format".into(), "json".into()]].concat();
    let file = vec!["--config".to_string(), config.display().to_string()];
    let ways: [Way; 3] = [
        ("flag", flag, vec![]),
        (
            "variable",
            data_arg.clone(),
            vec![("CANOPY_LOG_FORMAT", "json")],
        ),
        ("file", file, vec![]),
    ];
    for (way, args, envs) in ways {
        let id = format!("json-log-{way}");
        let lines = logs_of_one_request(&args, &envs, &id).await;
        assert!(lines.len() >= 2, "{way}: {lines:?}");
        let events: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{way}: {l}: {e}")))
            .collect();
        assert!(
            events
                .iter()
                .all(|e| e["level"].is_string() && e["timestamp"].is_string())
        );
        let answered = events
            .iter()
            .find(|e| e["fields"]["message"] == "answered")
            .unwrap_or_else(|| panic!("{way}: no `answered` line: {lines:?}"));
        assert_eq!(answered["span"]["request_id"], id.as_str(), "{answered}");
        assert_eq!(answered["span"]["route"], "/healthz", "{answered}");
        assert_eq!(answered["fields"]["status"], 200, "{answered}");
    }

    // Text stays the default: the same line for a person, with the request ID in its span.
    let lines = logs_of_one_request(&data_arg, &[], "text-log").await;
    assert!(
        lines
            .iter()
            .all(|l| serde_json::from_str::<Value>(l).is_err()),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("request_id=text-log") && l.contains("answered")),
        "{lines:?}"
    );
}

/// A metric's value in a scrape (`NAME VALUE` lines without labels).
fn gauge(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .parse()
        .unwrap()
}

/// Waits (up to 30 s) until `/readyz` answers `status`: a replica that was refused comes back
/// once the store is back.
async fn readyz_becomes(http: &Http, status: u16) -> canopy_testkit::http::Answer {
    for _ in 0..300 {
        let a = http.send(None, "GET", "/readyz", None).await.unwrap();
        if a.status == status {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz never answered {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_refuses_a_replica_behind_its_store_or_cut_off_from_it() {
    let url = canopy_testkit::postgres::fresh_database().unwrap();
    let database = url.rsplit('/').next().unwrap().to_string();
    let cluster = canopy_testkit::postgres::cluster().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("audit.key");
    let password = dir.path().join("pw");
    std::fs::write(&password, "observability-pw\n").unwrap();
    let store = vec![
        "--database".to_string(),
        url.clone(),
        "--audit-key-file".into(),
        key.display().to_string(),
    ];
    let init = [
        vec!["init".to_string(), "--admin-password-file".into()],
        vec![password.display().to_string()],
        store.clone(),
    ]
    .concat();
    let (code, out) = run(&binary(), &init).unwrap();
    assert_eq!(code, 0, "{out}");
    let serve = [store, vec!["--metrics-listen".into(), "127.0.0.1:0".into()]].concat();
    let server = ServerProcess::start(&binary(), &serve).unwrap();
    let api = Http::new(&server.url());
    let metrics = Http::new(&format!("http://{}", server.metrics.unwrap()));
    let scrape = || async {
        let a = metrics.send(None, "GET", "/metrics", None).await.unwrap();
        assert_eq!(a.status, 200, "{}", a.text);
        a.text
    };

    // At the head: ready. The metrics listener answers anyone; the API's, only administrators.
    let a = api.send(None, "GET", "/readyz", None).await.unwrap();
    assert_eq!(a.status, 200, "{}", a.text);
    let head = a.body["head"].as_u64().unwrap();
    assert_eq!(a.body["revision"].as_u64(), Some(head));
    assert_eq!(
        api.send(None, "GET", "/metrics", None)
            .await
            .unwrap()
            .status,
        401
    );
    let text = scrape().await;
    assert_eq!(gauge(&text, "canopy_replica_lag_revisions"), 0.0);
    assert_eq!(gauge(&text, "canopy_store_up"), 1.0);

    // The store's head moves two revisions past what this replica can apply: not ready, and the
    // lag says by how much.
    cluster
        .psql(&database, "UPDATE head SET revision = revision + 2")
        .unwrap();
    let a = api.send(None, "GET", "/readyz", None).await.unwrap();
    assert_eq!(
        (a.status, a.slug()),
        (503, "unavailable".into()),
        "{}",
        a.text
    );
    let detail = a.body["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("revision {head}")), "{detail}");
    assert!(detail.contains(&(head + 2).to_string()), "{detail}");
    let text = scrape().await;
    assert_eq!(
        gauge(&text, "canopy_store_head_revision"),
        (head + 2) as f64
    );
    assert_eq!(gauge(&text, "canopy_revision"), head as f64);
    assert_eq!(gauge(&text, "canopy_replica_lag_revisions"), 2.0);
    cluster
        .psql(&database, "UPDATE head SET revision = revision - 2")
        .unwrap();
    readyz_becomes(&api, 200).await;

    // The database refuses connections and drops the open ones: not ready, the store is down.
    cluster
        .psql(
            "postgres",
            &format!("ALTER DATABASE {database} ALLOW_CONNECTIONS false"),
        )
        .unwrap();
    cluster
        .psql(
            "postgres",
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
            ),
        )
        .unwrap();
    let a = readyz_becomes(&api, 503).await;
    assert_eq!(a.slug(), "unavailable", "{}", a.text);
    let text = scrape().await;
    assert_eq!(gauge(&text, "canopy_store_up"), 0.0);
    // The process is alive all the same.
    assert_eq!(
        api.send(None, "GET", "/healthz", None)
            .await
            .unwrap()
            .status,
        200
    );

    // Back: ready again.
    cluster
        .psql(
            "postgres",
            &format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true"),
        )
        .unwrap();
    readyz_becomes(&api, 200).await;
    assert_eq!(gauge(&scrape().await, "canopy_store_up"), 1.0);
}
