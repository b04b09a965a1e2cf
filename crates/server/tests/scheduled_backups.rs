//! Scheduled backups against a real server whose clock the test moves on: the first backup is
//! taken at once, proved by a restore, copied off-site and audited; the change log is archived
//! as it grows; the weekly restore test runs and is recorded; the metrics tell the ages; a day
//! later the next backup comes, and 100 days later retention removes what is older than 90 days
//! but never the newest good backup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use canopy_server::jobs::BackupSettings;
use canopy_server::jobs::directory::BackupDir;
use canopy_server::jobs::schedule::{Schedule, parse_offset};
use canopy_server::local::LocalServer;
use canopy_testkit::clock::MovableClock;
use canopy_testkit::fixture::{self, Fixture, INSTANCE_ADMIN, Who};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Waits (at most 60 s: the jobs wake every 200 ms) until `what` holds.
async fn eventually(what: &str, mut holds: impl FnMut() -> bool) {
    for _ in 0..600 {
        if holds() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never: {what}");
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|e| e.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    found.retain(|p| p.to_string_lossy().ends_with(suffix));
    found.sort();
    found
}

async fn metric(f: &Fixture, name: &str) -> f64 {
    let a = f
        .send(Who::InstanceAdmin, "GET", "/metrics", None)
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.text);
    a.text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name}"))
        .parse()
        .unwrap()
}

/// The jobs' events in the instance's audit chain, read from the store beside the server.
async fn audit_actions(data: &Path) -> Vec<(String, String)> {
    let store = canopy_store::Store::open(&canopy_store::Location::Data(data.to_path_buf()))
        .await
        .unwrap();
    let query = canopy_store::AuditQuery {
        chain: "instance".into(),
        actor: Some("canopy:jobs".into()),
        limit: 1000,
        ..Default::default()
    };
    let events = store.audit_events(&query).await.unwrap();
    store.close().await;
    events
        .into_iter()
        .map(|e| (e.event.action, e.event.outcome.as_str().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_are_taken_proved_copied_archived_tested_and_pruned_on_schedule() {
    let data = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let offsite = tempfile::tempdir().unwrap();
    let clock = Arc::new(MovableClock::default());
    let settings = BackupSettings {
        dir: backups.path().to_path_buf(),
        offsite_dir: Some(offsite.path().to_path_buf()),
        schedule: Schedule::parse("02:00").unwrap(),
        restore_test: Some(Schedule::parse("sun 03:00").unwrap()),
        utc_offset: parse_offset("+09:00").unwrap(),
        keep_days: 90,
        archive: true,
        pitr_days: 10,
    };
    let server = LocalServer::start_with_backups(
        data.path(),
        INSTANCE_ADMIN,
        fixture::PASSWORD,
        clock.clone(),
        settings,
    )
    .await
    .unwrap();

    // Never backed up: due at once, verified, copied off-site.
    let dir = backups.path();
    eventually("a first verified backup, copied off-site", || {
        files(dir, ".backup.ok").len() == 1 && files(offsite.path(), ".backup.ok").len() == 1
    })
    .await;
    let first = files(dir, ".backup").remove(0);
    assert_eq!(
        std::fs::read(&first).unwrap(),
        std::fs::read(offsite.path().join(first.file_name().unwrap())).unwrap(),
        "the off-site copy is the same file"
    );
    eventually("the weekly restore test, never run, runs at once", || {
        BackupDir::new(dir)
            .last_restore_test()
            .is_some_and(|t| t.ok)
    })
    .await;

    // Changes are archived within a tick or two.
    let f = Fixture::build(&server.url()).await.unwrap();
    let head = f.replica().await.unwrap()["revision"].as_u64().unwrap();
    eventually("the log archived up to the head", || {
        canopy_store::backup::segments(&dir.join("log"))
            .unwrap()
            .last()
            .is_some_and(|(_, _, to)| *to == head)
    })
    .await;

    assert!(metric(&f, "canopy_last_backup_age_seconds").await < 600.0);
    assert!(metric(&f, "canopy_last_restore_test_age_seconds").await < 600.0);
    let audited = audit_actions(data.path()).await;
    for action in ["backup", "restore_test"] {
        assert!(
            audited.contains(&(action.to_string(), "ok".to_string())),
            "{audited:?}"
        );
    }

    // Not again the same day; the next day, once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(files(dir, ".backup").len(), 1);
    clock.advance(DAY_MS);
    eventually("the next day's backup", || {
        files(dir, ".backup.ok").len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(files(dir, ".backup").len(), 2, "once, not once per tick");

    // 100 days later: the two old ones go, here and off-site; the new one stays.
    clock.advance(100 * DAY_MS);
    eventually("retention after the next backup", || {
        files(dir, ".backup").len() == 1 && files(offsite.path(), ".backup").len() == 1
    })
    .await;
    let kept = files(dir, ".backup").remove(0);
    assert_ne!(kept, first);
    assert!(files(dir, ".backup.ok").len() == 1);
    server.stop().await.unwrap();
}

/// Without archiving nothing needs the history of secrets: the jobs empty the credential log
/// (which every password set writes to) within a tick or two — with no backups configured, and
/// with backups but no archive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_archiving_no_history_of_secrets_is_kept() {
    no_history_kept(false).await;
    no_history_kept(true).await;
}

async fn no_history_kept(backups_without_archive: bool) {
    let data = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let server = match backups_without_archive {
        false => LocalServer::start(data.path(), INSTANCE_ADMIN, fixture::PASSWORD).await,
        true => {
            let settings = BackupSettings {
                dir: backups.path().to_path_buf(),
                offsite_dir: None,
                schedule: Schedule::parse("02:00").unwrap(),
                restore_test: None,
                utc_offset: parse_offset("Z").unwrap(),
                keep_days: 90,
                archive: false,
                pitr_days: 10,
            };
            let clock = Arc::new(MovableClock::default());
            LocalServer::start_with_backups(
                data.path(),
                INSTANCE_ADMIN,
                fixture::PASSWORD,
                clock,
                settings,
            )
            .await
        }
    }
    .unwrap();
    Fixture::build(&server.url()).await.unwrap();
    let url = format!("sqlite://{}", data.path().join("canopy.db").display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let mut left = i64::MAX;
    for _ in 0..100 {
        left = sqlx::query_scalar("SELECT COUNT(*) FROM credential_log")
            .fetch_one(&pool)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "secrets' history kept");
    let secrets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credentials")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(secrets > 1, "the secrets themselves stay");
    pool.close().await;
    server.stop().await.unwrap();
}
