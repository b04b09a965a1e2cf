//! The configuration file: `init` and `serve` take their store and settings from it, a flag wins
//! over it, the database URL can come from a file, and a typo in it is refused in one line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::path::{Path, PathBuf};

use canopy_testkit::http::Http;
use canopy_testkit::server::{ServerProcess, run};

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_canopy"))
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_and_serve_read_the_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("from-file");
    let config = dir.path().join("canopy.yaml");
    std::fs::write(
        &config,
        format!("data: {}\nsession_minutes: 5\n", data.display()),
    )
    .unwrap();
    let password = dir.path().join("pw");
    std::fs::write(&password, "config-root-pw\n").unwrap();

    let init = args(&[
        "init",
        "--config",
        path(&config),
        "--admin-user",
        "root",
        "--admin-password-file",
        path(&password),
    ]);
    let (code, out) = run(&binary(), &init).unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(data.join("audit.key").exists(), "init used {out}");

    let server = ServerProcess::start(&binary(), &args(&["--config", path(&config)])).unwrap();
    let http = Http::new(&server.url());
    let token = http.login(None, "root", "config-root-pw").await.unwrap();
    let login = http
        .send(
            None,
            "POST",
            "/v1/auth/login",
            Some(&serde_json::json!({"username": "root", "password": "config-root-pw"})),
        )
        .await
        .unwrap();
    // The session lifetime of the file (5 minutes), not the default (12 hours).
    let expires = login.body["expires_at"].as_str().unwrap().to_string();
    let now = time::OffsetDateTime::now_utc();
    let at = time::OffsetDateTime::parse(&expires, &time::format_description::well_known::Rfc3339)
        .unwrap();
    let minutes = (at - now).whole_minutes();
    assert!((4..=5).contains(&minutes), "session of {minutes} minutes");
    drop((token, server));

    // A flag wins over the file.
    let other = dir.path().join("from-flag");
    let mut with_flag = init.clone();
    with_flag.extend(args(&["--data", path(&other)]));
    let (code, out) = run(&binary(), &with_flag).unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(other.join("audit.key").exists());
}

#[test]
fn a_typo_in_the_configuration_file_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("canopy.yaml");
    std::fs::write(&config, "dta: /tmp/nowhere\n").unwrap();
    let (code, out) = run(&binary(), &args(&["verify", "--config", path(&config)])).unwrap();
    assert_eq!(code, 2, "{out}");
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    assert!(out.contains("unknown field `dta`"), "{out}");
}

#[test]
fn the_database_url_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("db-url");
    std::fs::write(
        &url,
        canopy_testkit::postgres::fresh_database().unwrap() + "\n",
    )
    .unwrap();
    let (code, out) = run(
        &binary(),
        &args(&[
            "migrate",
            "--database-file",
            path(&url),
            "--audit-key-file",
            path(&dir.path().join("k")),
        ]),
    )
    .unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("the schema is at version"), "{out}");
}

#[test]
fn smtp_in_clear_is_refused_unless_the_server_is_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("canopy.yaml");
    let smtp = |host: &str, extra: &str| {
        format!(
            "data: {}\nlisten: 127.0.0.1:0\nsmtp:\n  host: {host}\n  port: 25\n  security: none\n  from: Canopy <canopy@example.jp>\n{extra}",
            data.display()
        )
    };
    std::fs::write(&config, smtp("mail.example.jp", "")).unwrap();
    let serve = args(&["serve", "--demo", "--config", path(&config)]);
    let (code, out) = run(&binary(), &serve).unwrap();
    assert_eq!(code, 2, "{out}");
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    assert!(
        out.contains("security: none") && out.contains("`mail.example.jp`"),
        "{out}"
    );
    assert!(!data.exists(), "refused before the demo was set up");

    // A typo inside `smtp` is refused like any other; so is a password file that is not there.
    std::fs::write(&config, smtp("127.0.0.1", "  pasword_file: /nowhere\n")).unwrap();
    let (code, out) = run(&binary(), &serve).unwrap();
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("unknown field `pasword_file`"), "{out}");
    std::fs::write(
        &config,
        smtp(
            "127.0.0.1",
            "  username: canopy\n  password_file: /nowhere\n",
        ),
    )
    .unwrap();
    let (code, out) = run(&binary(), &serve).unwrap();
    assert_eq!(code, 2, "{out}");
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    assert!(out.contains("smtp.password_file: /nowhere"), "{out}");
}
