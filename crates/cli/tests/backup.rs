//! Backups end to end (issue 6): a real server on SQLite with every scenario of
//! `tests/scenarios/` played into it (each organisation kept, renamed), backed up while it runs
//! and writes, the file proved by `canopy backup verify`, restored into PostgreSQL and into a
//! fresh SQLite store, both checked by `canopy verify`, servers started on them — and every
//! scenario question answered identically by all three.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use canopy_testkit::Scenario;
use canopy_testkit::http::Http;
use canopy_testkit::scenario_http::{Asked, ask_again, run_over_http_keeping};
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

/// Plays every scenario into the server, each in its own organisation `acme-I`; the questions
/// each asked, by organisation.
async fn play_all(http: &Http, instance: &str) -> Vec<(String, Vec<Asked>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 9, "scenarios missing in {}", dir.display());
    let mut played = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let org = format!("acme-{i}");
        let text = std::fs::read_to_string(f).unwrap().replace("acme", &org);
        let mut s = Scenario::from_yaml(&text).unwrap();
        s.org = org.clone();
        let p = run_over_http_keeping(&s, http, instance)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        played.push((org, p.asked));
    }
    played
}

/// Writes to an organisation of its own until told to stop: the backup is taken under load.
async fn keep_writing(http: Http, instance: String, stop: Arc<AtomicBool>) -> usize {
    let created = http
        .send(
            Some(&instance),
            "POST",
            "/v1/orgs",
            Some(&json!({"name": "busy", "admin": {"username": "boss", "password": "busy-password-1"}})),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let boss = http
        .login(Some("busy"), "boss", "busy-password-1")
        .await
        .unwrap();
    let mut written = 0;
    while !stop.load(Ordering::SeqCst) {
        let a = http
            .send(
                Some(&boss),
                "POST",
                "/v1/orgs/busy/nodes",
                Some(&json!({"kind": "folder", "name": format!("f-{written}"), "parent": "busy"})),
            )
            .await
            .unwrap();
        assert_eq!(a.status, 201, "{}", a.body);
        written += 1;
    }
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_sqlite_server_backed_up_restores_into_postgres_and_sqlite_and_decides_identically()
{
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("live");
    let key = data.join("audit.key");
    let live = ServerProcess::init_and_start(
        &binary(),
        &["--data".into(), path(&data).into()],
        dir.path(),
        "root",
        "root-password-1",
    )
    .unwrap();
    let http = Http::new(&live.url());
    let instance = http.login(None, "root", "root-password-1").await.unwrap();
    let played = play_all(&http, &instance).await;
    let questions: usize = played.iter().map(|(_, a)| a.len()).sum();
    assert!(questions >= 50, "{questions} questions");

    // Backed up from the running server's data directory while it accepts writes.
    let stop = Arc::new(AtomicBool::new(false));
    let busy = tokio::spawn(keep_writing(
        Http::new(&live.url()),
        instance.clone(),
        stop.clone(),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let file = dir.path().join("canopy.backup");
    let (code, out) = canopy(&[
        "backup",
        "create",
        "--data",
        path(&data),
        "--out",
        path(&file),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("10000 sampled decisions"), "{out}");
    stop.store(true, Ordering::SeqCst);
    assert!(busy.await.unwrap() > 0);

    let (code, out) = canopy(&[
        "backup",
        "verify",
        path(&file),
        "--audit-key-file",
        path(&key),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("10000 sampled decisions identical")
            && out.ends_with("the backup restores and proves itself\n"),
        "{out}"
    );

    // Restored into PostgreSQL and into a fresh SQLite store; both verify.
    let url = canopy_testkit::postgres::fresh_database().unwrap();
    let fresh = dir.path().join("fresh");
    let targets: [Vec<String>; 2] = [
        vec!["--database".into(), url.clone()],
        vec!["--data".into(), path(&fresh).into()],
    ];
    let mut servers = Vec::new();
    for target in &targets {
        let mut args = vec!["backup".to_string(), "restore".into(), path(&file).into()];
        args.extend(target.iter().cloned());
        let (code, out) = run(&binary(), &args).unwrap();
        assert_eq!(code, 0, "{out}");
        // Restoring again is refused: the target is no longer empty.
        let (code, out) = run(&binary(), &args).unwrap();
        assert_eq!(code, 2, "{out}");
        assert!(out.contains("not empty"), "{out}");
        let mut store = target.clone();
        store.extend(["--audit-key-file".into(), path(&key).into()]);
        let mut args = vec!["verify".to_string()];
        args.extend(store.iter().cloned());
        let (code, out) = run(&binary(), &args).unwrap();
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("; 0 problems"), "{out}");
        servers.push(ServerProcess::start(&binary(), &store).unwrap());
    }

    // Every scenario question, asked of the three servers, is answered the same.
    let mut answered = 0;
    for (org, asked) in &played {
        let on_live = ask_again(&http, org, asked).await.unwrap();
        for server in &servers {
            let restored = ask_again(&Http::new(&server.url()), org, asked)
                .await
                .unwrap();
            for (i, (a, b)) in on_live.iter().zip(&restored).enumerate() {
                assert_eq!(a, b, "{org}: question {i} {:?}", asked[i]);
            }
            assert_eq!(on_live.len(), restored.len());
        }
        answered += on_live.iter().filter(|a| a["status"] == 200).count();
    }
    // Most questions are real answers, not refusals that would agree trivially.
    assert!(answered * 10 > questions * 8, "{answered} of {questions}");

    // One organisation of the backup restored beside the live ones of the running server.
    let (code, out) = canopy(&[
        "backup",
        "restore",
        path(&file),
        "--org",
        "acme-0",
        "--as",
        "acme-0-copy",
        "--data",
        path(&data),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("as `acme-0-copy`"), "{out}");
    let password = out
        .split("one-time password for investigator: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    let (code, out) = canopy(&["verify", "--data", path(&data)]);
    assert_eq!(code, 0, "{out}");
    // The server follows the log: the investigator logs in to the copy.
    let mut logged_in = Err(String::new());
    for _ in 0..50 {
        logged_in = http
            .login(Some("acme-0-copy"), "investigator", password)
            .await;
        if logged_in.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let token = logged_in.unwrap();
    let copy = http
        .send(Some(&token), "GET", "/v1/orgs/acme-0-copy", None)
        .await
        .unwrap();
    assert_eq!(copy.status, 200, "{}", copy.body);
}

/// Runs SQL on a stopped server's SQLite database.
async fn sql(data: &Path, statement: &'static str) {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", data.join("canopy.db").display());
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let done = sqlx::query(statement).execute(&pool).await.unwrap();
    assert!(done.rows_affected() > 0, "{statement}");
    pool.close().await;
}

/// A server with an organisation and some history, stopped; its data directory.
async fn history(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    let server = ServerProcess::init_and_start(
        &binary(),
        &["--data".into(), path(&data).into()],
        dir,
        "root",
        "root-password-1",
    )
    .unwrap();
    let http = Http::new(&server.url());
    let instance = http.login(None, "root", "root-password-1").await.unwrap();
    for i in 0..6 {
        let a = http
            .send(
                Some(&instance),
                "POST",
                "/v1/orgs",
                Some(&json!({"name": format!("org-{i}"), "admin": {"username": "a", "password": "password-123"}})),
            )
            .await
            .unwrap();
        assert_eq!(a.status, 201, "{}", a.body);
    }
    server.kill();
    data
}

fn backup_and_verify(dir: &Path, data: &Path) -> (i32, String) {
    let file = dir.join("canopy.backup");
    let (code, out) = canopy(&[
        "backup",
        "create",
        "--data",
        path(data),
        "--out",
        path(&file),
    ]);
    assert_eq!(code, 0, "{out}");
    let key = data.join("audit.key");
    canopy(&[
        "backup",
        "verify",
        path(&file),
        "--audit-key-file",
        path(&key),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_is_found_with_where() {
    let dir = tempfile::tempdir().unwrap();
    let data = history(dir.path()).await;
    let (code, out) = backup_and_verify(dir.path(), &data);
    assert_eq!(code, 0, "{out}");
    let file = dir.path().join("canopy.backup");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&file, &bytes).unwrap();
    let key = data.join("audit.key");
    let (code, out) = canopy(&[
        "backup",
        "verify",
        path(&file),
        "--audit-key-file",
        path(&key),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("FAIL  backup is corrupt: "), "{out}");
    assert!(out.contains("line") || out.contains("byte"), "{out}");
    // Nothing is restored from it.
    let target = dir.path().join("target");
    let (code, out) = canopy(&["backup", "restore", path(&file), "--data", path(&target)]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("backup is corrupt"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_row_deleted_in_the_middle_is_found_with_where() {
    let dir = tempfile::tempdir().unwrap();
    let data = history(dir.path()).await;
    // The instance chain: the first administrator, then one event per organisation.
    sql(
        &data,
        "DELETE FROM audit WHERE chain = 'instance' AND seq = 3",
    )
    .await;
    let (code, out) = backup_and_verify(dir.path(), &data);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL  audit chain instance, event 4: event 3 is missing"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_audit_rows_deleted_are_found_with_where() {
    let dir = tempfile::tempdir().unwrap();
    let data = history(dir.path()).await;
    let last: i64 = {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}", data.join("canopy.db").display());
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let n = sqlx::query_scalar("SELECT MAX(seq) FROM audit WHERE chain = 'instance'")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    };
    sql(
        &data,
        "DELETE FROM audit WHERE chain = 'instance' AND seq > (SELECT MAX(seq) - 2 FROM audit WHERE chain = 'instance')",
    )
    .await;
    let (code, out) = backup_and_verify(dir.path(), &data);
    assert_eq!(code, 1, "{out}");
    let kept = last - 2;
    assert!(
        out.contains(&format!(
            "FAIL  audit chain instance ends at event {kept} but the backup's header anchors it at event {last}"
        )),
        "{out}"
    );
}
