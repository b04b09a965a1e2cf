//! Crash safety (issue 3): a real `canopy serve` under concurrent write load is killed with
//! SIGKILL at random moments, with commits in flight, and restarted, 20 times per engine, with
//! production durability (SQLite WAL + synchronous=FULL; PostgreSQL with fsync on). Afterwards
//! every acknowledged change is there, nothing unacknowledged appeared from nowhere, the log is
//! gap-free and replays to the state tables, and `canopy verify` passes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canopy_store::{Location, Store};
use canopy_testkit::server::{ServerProcess, run};
use rand::{Rng, SeedableRng};

const KILLS: usize = 20;
const WRITERS: usize = 8;
/// Each writer stops after this many folders per cycle, to stay under the node limit.
const PER_WRITER: usize = 20;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_canopy"))
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn login(base: &str, body: serde_json::Value) -> String {
    let r: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["token"].as_str().unwrap().to_string()
}

/// What the clients saw in one run.
#[derive(Default)]
struct Seen {
    sent: BTreeSet<String>,
    acked: BTreeSet<String>,
    unexpected: Vec<String>,
}

async fn crash_loop(store_args: Vec<String>, location: Location, seed: u64) {
    let bin = binary();
    let secrets = tempfile::tempdir().unwrap();
    let (code, out) = run(
        &bin,
        &[
            args(&["init", "--admin-user", "root", "--admin-password-file"]),
            vec![password_file(secrets.path())],
            store_args.clone(),
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(code, 0, "{out}");

    // An organisation and its administrator's token (sessions survive restarts).
    let server = ServerProcess::start(&bin, &store_args).unwrap();
    let base = server.url();
    let root = login(
        &base,
        serde_json::json!({"username": "root", "password": "crash-test-pw"}),
    )
    .await;
    let created = reqwest::Client::new()
        .post(format!("{base}/v1/orgs"))
        .bearer_auth(&root)
        .json(&serde_json::json!({"name": "acme", "admin": {"username": "alice", "password": "alice-pw-1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let token = login(
        &base,
        serde_json::json!({"org": "acme", "username": "alice", "password": "alice-pw-1"}),
    )
    .await;
    server.kill();

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut in_flight_at_kill = 0;
    for cycle in 0..KILLS {
        let server = ServerProcess::start(&bin, &store_args).unwrap();
        let base = server.url();
        let client = reqwest::Client::new();
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let (client, base, token, seen) =
                (client.clone(), base.clone(), token.clone(), seen.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    let name = format!("k{cycle}-w{w}-{i}");
                    seen.lock().unwrap().sent.insert(name.clone());
                    let response = client
                        .post(format!("{base}/v1/orgs/acme/nodes"))
                        .bearer_auth(&token)
                        .json(
                            &serde_json::json!({"kind": "folder", "name": name, "parent": "acme"}),
                        )
                        .send()
                        .await;
                    match response {
                        Ok(r) if r.status() == 201 => {
                            seen.lock().unwrap().acked.insert(name);
                        }
                        Ok(r) => {
                            let status = r.status();
                            let body = r.text().await.unwrap_or_default();
                            seen.lock()
                                .unwrap()
                                .unexpected
                                .push(format!("{name}: {status} {body}"));
                            return;
                        }
                        // The server is gone.
                        Err(_) => return,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(30..300))).await;
        server.kill();
        for t in tasks {
            t.await.unwrap();
        }
        let s = seen.lock().unwrap();
        let pending = s
            .sent
            .iter()
            .filter(|n| n.starts_with(&format!("k{cycle}-")) && !s.acked.contains(*n))
            .count();
        in_flight_at_kill += usize::from(pending > 0);
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(seen.unexpected.is_empty(), "{:?}", seen.unexpected);
    assert!(
        in_flight_at_kill >= KILLS / 2,
        "only {in_flight_at_kill} of {KILLS} kills had requests in flight"
    );

    // It restarts, and everything acknowledged is there; nothing else is.
    let server = ServerProcess::start(&bin, &store_args).unwrap();
    server.kill();
    let store = Store::open(&location).await.unwrap();
    let inst = store.load().await.unwrap();
    let org = inst.find_org("acme").unwrap();
    let present: BTreeSet<String> = org
        .model()
        .nodes
        .values()
        .map(|n| n.name.to_string())
        .collect();
    let lost: Vec<_> = seen.acked.difference(&present).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    let phantom: Vec<_> = present.difference(&seen.sent).collect();
    assert!(phantom.is_empty(), "present but never sent: {phantom:?}");
    let head = store.head().await.unwrap();
    assert_eq!(inst.revision(), head);
    // Changes that committed while their client was cut off: the kills landed mid-commit.
    let committed_unacknowledged = present.len() - seen.acked.len();
    println!(
        "{KILLS} kills ({in_flight_at_kill} with requests in flight): {} sent, {} acknowledged, \
         {} present ({committed_unacknowledged} committed but not acknowledged), head {head}",
        seen.sent.len(),
        seen.acked.len(),
        present.len()
    );
    store.close().await;

    let (code, out) = run(&bin, &[args(&["verify"]), store_args].concat()).unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 problems"), "{out}");
}

fn password_file(dir: &Path) -> String {
    let path = dir.join("root-password");
    std::fs::write(&path, "crash-test-pw\n").unwrap();
    path.display().to_string()
}

fn seed() -> u64 {
    std::env::var("CANOPY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let data: &Path = dir.path();
    let store_args = args(&["--data", data.to_str().unwrap()]);
    crash_loop(store_args, Location::Data(data.to_path_buf()), seed()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_sigkill_on_postgres() {
    let url = canopy_testkit::postgres::fresh_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("audit.key");
    let store_args = args(&[
        "--database",
        &url,
        "--audit-key-file",
        key.to_str().unwrap(),
    ]);
    crash_loop(store_args, Location::Database(url), seed() + 1).await;
}
