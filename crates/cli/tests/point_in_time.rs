//! Point-in-time restore from the command line (issue 6): `canopy serve` with `backups:` in its
//! configuration file takes the first backup and archives the change log as it grows; the data
//! directory is then deleted, and `canopy backup restore --from-dir --to-revision` brings back the
//! organisation made before the point and not the one made after, into a store that verifies
//! and serves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use canopy_testkit::http::Http;
use canopy_testkit::server::{ServerProcess, run};
use serde_json::json;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_canopy"))
}

fn canopy(args: &[&str]) -> (i32, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    run(&binary(), &args).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The revision the archive reaches (0: nothing archived yet).
fn archived_to(backups: &Path) -> u64 {
    canopy_store::backup::segments(&backups.join("log"))
        .unwrap()
        .last()
        .map_or(0, |(_, _, to)| *to)
}

/// Waits (at most 60 s: the jobs wake every 15 s) until `what` holds.
async fn eventually(what: &str, mut holds: impl FnMut() -> bool) {
    for _ in 0..240 {
        if holds() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("never: {what}");
}

async fn org_names(server: &ServerProcess) -> Vec<String> {
    let http = Http::new(&server.url());
    let token = http.login(None, "root", "pitr-root-pw").await.unwrap();
    let a = http
        .send(Some(&token), "GET", "/v1/orgs", None)
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.text);
    let mut names: Vec<String> = a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_installation_comes_back_as_it_was_at_a_revision() {
    let dir = tempfile::tempdir().unwrap();
    let (data, backups) = (dir.path().join("data"), dir.path().join("backups"));
    let config = dir.path().join("canopy.yaml");
    std::fs::write(
        &config,
        format!(
            "data: {}\nbackups:\n  dir: {}\n  schedule: \"02:00\"\n  utc_offset: \"+09:00\"\n",
            data.display(),
            backups.display()
        ),
    )
    .unwrap();
    let password = dir.path().join("pw");
    std::fs::write(&password, "pitr-root-pw\n").unwrap();
    let (code, out) = canopy(&[
        "init",
        "--config",
        path(&config),
        "--admin-user",
        "root",
        "--admin-password-file",
        path(&password),
    ]);
    assert_eq!(code, 0, "{out}");
    let key = dir.path().join("audit.key");
    std::fs::copy(data.join("audit.key"), &key).unwrap();

    let server =
        ServerProcess::start(&binary(), &["--config", path(&config)].map(String::from)).unwrap();
    eventually("the first backup", || {
        archived_to(&backups) > 0 || {
            std::fs::read_dir(&backups).is_ok_and(|d| {
                d.flatten()
                    .any(|e| e.path().to_string_lossy().ends_with(".backup.ok"))
            })
        }
    })
    .await;
    let http = Http::new(&server.url());
    let token = http.login(None, "root", "pitr-root-pw").await.unwrap();
    let mut revisions = Vec::new();
    for name in ["before", "after"] {
        let body =
            json!({"name": name, "admin": {"username": "alice", "password": "alice-pw-123"}});
        let a = http
            .send(Some(&token), "POST", "/v1/orgs", Some(&body))
            .await
            .unwrap();
        assert_eq!(a.status, 201, "{}", a.text);
        let revision = a.body["revision"].as_u64().unwrap();
        eventually("the change archived", || archived_to(&backups) >= revision).await;
        revisions.push(revision);
    }
    drop(server);
    std::fs::remove_dir_all(&data).unwrap();

    let restored = dir.path().join("restored");
    let to = revisions[0].to_string();
    let (code, out) = canopy(&[
        "backup",
        "restore",
        "--from-dir",
        path(&backups),
        "--to-revision",
        &to,
        "--data",
        path(&restored),
        "--audit-key-file",
        path(&key),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("revision {to}")), "{out}");
    let (code, out) = canopy(&[
        "verify",
        "--data",
        path(&restored),
        "--audit-key-file",
        path(&key),
    ]);
    assert_eq!(code, 0, "{out}");

    std::fs::copy(&key, restored.join("audit.key")).unwrap();
    let server =
        ServerProcess::start(&binary(), &["--data", path(&restored)].map(String::from)).unwrap();
    assert_eq!(org_names(&server).await, ["before"]);
    drop(server);

    let beyond = (revisions[1] + 10).to_string();
    let (code, out) = canopy(&[
        "backup",
        "restore",
        "--from-dir",
        path(&backups),
        "--to-revision",
        &beyond,
        "--data",
        path(&dir.path().join("beyond")),
        "--audit-key-file",
        path(&key),
    ]);
    assert_ne!(code, 0, "{out}");
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    assert!(
        out.contains(&format!("reaches revision {}", revisions[1])),
        "{out}"
    );
}
