//! `canopy-bench backup`: the "flexorgs" workload written into a SQLite store (with its audit
//! events, so that it verifies), then `backup create` and the restore test (`backup verify`)
//! timed, the file's size, and a restore into a fresh SQLite store (and PostgreSQL) timed.

use canopy_core::ids::Clock;
use canopy_store::{AuditKey, Location, Store, SystemClock, verify_backup};
use serde::Serialize;

use crate::measure::Stopwatch;
use crate::store::{BenchError, write_model};
use crate::workload::{self, Scale};

fn err(e: impl std::fmt::Display) -> BenchError {
    e.to_string()
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BackupOptions {
    /// The workload's seed.
    pub seed: u64,
    /// The workload.
    pub scale: Scale,
    /// Also time a restore into PostgreSQL (starts a throwaway cluster).
    pub postgres: bool,
}

/// The figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BackupFigures {
    /// Objects of the organisation.
    pub objects: u64,
    /// Rows backed up (every table).
    pub rows: u64,
    /// Decisions recorded.
    pub decisions: u64,
    /// Seconds to write the workload into the store.
    pub write_secs: f64,
    /// `backup create`: seconds.
    pub create_secs: f64,
    /// The file's size in bytes.
    pub bytes: u64,
    /// The same in MiB.
    pub mib: f64,
    /// `backup verify` (the restore test, into a scratch SQLite store): seconds.
    pub verify_secs: f64,
    /// A restore into a fresh SQLite store: seconds.
    pub restore_sqlite_secs: f64,
    /// A restore into a fresh PostgreSQL database: seconds (`--postgres`).
    pub restore_postgres_secs: Option<f64>,
}

/// Runs it.
pub async fn run(opts: &BackupOptions) -> Result<BackupFigures, BenchError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let source = Location::Data(dir.path().join("source"));
    let key = AuditKey::generate();
    let model = workload::generate(opts.seed, &opts.scale)
        .map_err(err)?
        .model;
    let objects = (2
        + model.nodes.len()
        + model.resources.len()
        + model.users.len()
        + model.groups.len()
        + model.memberships.len()
        + model.roles.len()
        + model.bindings.len()
        + model.guardrails.len()) as u64;
    let clock = Stopwatch::start();
    let store = write_model(&source, model, Some(&key)).await?;
    let write_secs = clock.secs();

    let file = dir.path().join("flexorgs.backup");
    let clock = Stopwatch::start();
    let made = store.backup(&file, SystemClock.now()).await.map_err(err)?;
    let create_secs = clock.secs();
    store.close().await;

    let clock = Stopwatch::start();
    let report = verify_backup(&file, &key).await.map_err(err)?;
    let verify_secs = clock.secs();
    if !report.is_ok() {
        let lines =
            canopy_store::messages::backup_report(&report, canopy_store::messages::Lang::En);
        return Err(lines.join("\n"));
    }

    let target = Store::open(&Location::Data(dir.path().join("target")))
        .await
        .map_err(err)?;
    let clock = Stopwatch::start();
    target.restore(&file).await.map_err(err)?;
    let restore_sqlite_secs = clock.secs();
    target.close().await;

    let restore_postgres_secs = match opts.postgres {
        false => None,
        true => {
            let url = canopy_testkit::postgres::fresh_database()?;
            let target = Store::open(&Location::Database(url)).await.map_err(err)?;
            let clock = Stopwatch::start();
            target.restore(&file).await.map_err(err)?;
            let secs = clock.secs();
            target.close().await;
            Some(secs)
        }
    };
    Ok(BackupFigures {
        objects,
        rows: made.rows(),
        decisions: made.decisions(),
        write_secs,
        create_secs,
        bytes: made.bytes,
        mib: made.bytes as f64 / (1024.0 * 1024.0),
        verify_secs,
        restore_sqlite_secs,
        restore_postgres_secs,
    })
}
