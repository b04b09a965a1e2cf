//! Every scenario of `tests/scenarios/` played over HTTP against a real `canopy serve`, on
//! SQLite and on PostgreSQL (issue 4): the same decisions, listings, diffs and refusals as the
//! engine gives them. What cannot be played over HTTP yet is listed and must stay exactly that.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::path::PathBuf;

use canopy_testkit::Scenario;
use canopy_testkit::http::Http;
use canopy_testkit::scenario_http::run_over_http;
use canopy_testkit::server::ServerProcess;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_canopy"))
}

/// Steps that cannot be played over HTTP because the real clock cannot be moved forward.
/// Anything else skipped is a failure.
const EXPECTED_SKIPS: &[&str] = &[
    "expiry-and-conditions.yaml: step 11 (after the expiry the contractor's binding no longer applies) and after",
];

async fn play_all(server: &ServerProcess) {
    let http = Http::new(&server.url());
    let instance = http.login(None, "root", "root-password-1").await.unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 9, "scenarios missing in {}", dir.display());
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let s = Scenario::from_yaml(&std::fs::read_to_string(f).unwrap()).unwrap();
        match run_over_http(&s, &http, &instance).await {
            Ok(played) => skipped.extend(played.skipped.iter().map(|k| format!("{name}: {k}"))),
            Err(e) => failures.push(format!("{name}:\n{e}")),
        }
    }
    assert!(failures.is_empty(), "over HTTP:\n{}", failures.join("\n\n"));
    let unexpected: Vec<_> = skipped
        .iter()
        .filter(|k| !EXPECTED_SKIPS.iter().any(|e| k.starts_with(e)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "skipped unexpectedly: {unexpected:#?}"
    );
    assert_eq!(skipped.len(), EXPECTED_SKIPS.len(), "skipped: {skipped:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_over_http_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = vec![
        "--data".into(),
        dir.path().join("data").display().to_string(),
    ];
    let server =
        ServerProcess::init_and_start(&binary(), &store, dir.path(), "root", "root-password-1")
            .unwrap();
    play_all(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_over_http_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let url = canopy_testkit::postgres::fresh_database().unwrap();
    let key = dir.path().join("audit.key").display().to_string();
    let store = vec!["--database".into(), url, "--audit-key-file".into(), key];
    let server =
        ServerProcess::init_and_start(&binary(), &store, dir.path(), "root", "root-password-1")
            .unwrap();
    play_all(&server).await;
}
