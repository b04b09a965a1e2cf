//! The jobs runner: on the replica holding the jobs lease, every tick it archives the change log,
//! takes the scheduled backup (then proves it restores, copies it off-site and applies
//! retention) and runs the scheduled restore test. Every replica reads the backup directory on
//! each tick, so that each one's metrics tell the age of the last good backup and restore test.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use canopy_core::ids::Clock;
use canopy_core::time::Timestamp;
use canopy_store::backup::{Header, archived_up_to, verify_backup};
use canopy_store::messages::{Lang, backup_problem};
use canopy_store::{AuditDraft, AuditKey, Outcome, Store, Writer};
use time::UtcOffset;

use super::directory::{BackupDir, Entry, RestoreTest};
use super::schedule::Schedule;
use crate::telemetry::Telemetry;

/// Where backups go and when (`backups:` in the configuration file; docs/operations.md).
#[derive(Clone, Debug)]
pub struct BackupSettings {
    /// The backup directory: snapshots, their verification marks, the archived log.
    pub dir: PathBuf,
    /// A second (off-site) directory each backup is copied to once it has proved it restores.
    pub offsite_dir: Option<PathBuf>,
    /// When backups are taken (default: daily at 02:00).
    pub schedule: Schedule,
    /// When the newest off-site copy (else the newest backup) is restored again as a test.
    pub restore_test: Option<Schedule>,
    /// The offset from UTC of the schedules' local times.
    pub utc_offset: UtcOffset,
    /// Days backups are kept (the newest good one is kept whatever its age).
    pub keep_days: u32,
    /// Whether the change log is archived, for point-in-time restore.
    pub archive: bool,
    /// Days of the point-in-time window: archived segments older than the snapshot that starts
    /// it are removed.
    pub pitr_days: u32,
}

/// The actor of the jobs' audit events.
pub const JOBS_ACTOR: &str = "canopy:jobs";

/// What the runner works with.
pub struct Jobs {
    /// The store (backups read it; the lease is taken in it).
    pub store: Store,
    /// Where the jobs' audit events are written.
    pub writer: Writer,
    /// The audit key: the restore test checks the chains with it.
    pub key: AuditKey,
    /// The time.
    pub clock: Arc<dyn Clock + Send + Sync>,
    /// The metrics fed with the last good backup and restore test.
    pub telemetry: Arc<Telemetry>,
    /// None: no backups configured (the runner still trims the credential log).
    pub backups: Option<BackupSettings>,
    /// How often the runner wakes (at most a minute: the archive may lag by no more).
    pub tick: Duration,
}

impl Jobs {
    /// Runs until the task is aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run().await })
    }

    async fn run(self) {
        loop {
            self.report_ages();
            match self.store.try_jobs_lease().await {
                Ok(Some(mut lease)) => {
                    tracing::info!("holding the jobs lease");
                    while lease.still_held().await {
                        self.run_due().await;
                        tokio::time::sleep(self.tick).await;
                    }
                    tracing::warn!("lost the jobs lease");
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not ask for the jobs lease"),
            }
            tokio::time::sleep(self.tick).await;
        }
    }

    /// Feeds the metrics from the backup directory, which every replica can read.
    fn report_ages(&self) {
        if let Some(settings) = &self.backups {
            let dir = BackupDir::new(&settings.dir);
            self.report(&dir, &dir.entries());
        }
    }

    fn report(&self, dir: &BackupDir, entries: &[Entry]) {
        if let Some(good) = entries.iter().rev().find(|e| e.good) {
            self.telemetry.backup_succeeded(good.time);
        }
        if let Some(test) = dir.last_restore_test().filter(|t| t.ok) {
            self.telemetry.restore_test_succeeded(test.time);
        }
    }

    /// One tick on the lease holder: the directory is read once for all the jobs.
    async fn run_due(&self) {
        let Some(settings) = &self.backups else {
            self.trim_credential_log().await;
            return;
        };
        let dir = BackupDir::new(&settings.dir);
        let entries = dir.entries();
        self.report(&dir, &entries);
        let now = self.clock.now();
        if settings.archive {
            let base = entries.iter().rev().find(|e| e.good);
            if let Err(e) = self
                .archive(&dir, base.and_then(|b| b.header.as_ref()))
                .await
            {
                tracing::warn!(error = %e, "could not archive the change log");
            }
        } else {
            self.trim_credential_log().await;
        }
        let last = entries.last().map(|b| b.time);
        if settings.schedule.is_due(last, now, settings.utc_offset) {
            self.back_up(settings, &dir, now).await;
        }
        if let Some(test) = settings.restore_test {
            let last = dir.last_restore_test().map(|t| t.time);
            if test.is_due(last, now, settings.utc_offset) {
                self.restore_test(settings, &dir, now).await;
            }
        }
    }

    /// Without archiving nothing needs the secrets' history.
    async fn trim_credential_log(&self) {
        if let Err(e) = self.store.trim_credential_log(u64::MAX).await {
            tracing::warn!(error = %e, "could not trim the credential log");
        }
    }
}

impl Jobs {
    /// Takes a backup, proves it restores, copies it off-site, applies retention; each step
    /// audited on the instance chain.
    async fn back_up(&self, settings: &BackupSettings, dir: &BackupDir, now: Timestamp) {
        let path = dir.new_backup_path(now);
        if let Err(e) = std::fs::create_dir_all(&settings.dir) {
            tracing::error!(dir = %settings.dir.display(), error = %e, "no backup directory");
        }
        let created = match self.store.backup(&path, now).await {
            Ok(report) => report,
            Err(e) => {
                tracing::error!(error = %e, "scheduled backup failed");
                dir.mark_failed(&path, now, &e.to_string());
                self.audit(
                    "backup",
                    Outcome::Failed,
                    serde_json::json!({
                        "file": path.display().to_string(), "error": e.to_string(),
                    }),
                )
                .await;
                return;
            }
        };
        let verified = verify_backup(&path, &self.key).await;
        let problems: Vec<String> = match &verified {
            Ok(report) => report
                .problems
                .iter()
                .map(|p| backup_problem(p, Lang::En))
                .collect(),
            Err(e) => vec![e.to_string()],
        };
        let ok = problems.is_empty();
        let detail = serde_json::json!({
            "file": path.display().to_string(),
            "revision": created.header.head_revision,
            "bytes": created.bytes,
            "rows": created.rows(),
            "decisions": created.decisions(),
            "problems": problems,
        });
        if ok {
            dir.mark_good(&path, &detail);
            self.telemetry.backup_succeeded(now);
            self.telemetry.restore_test_succeeded(now);
            tracing::info!(file = %path.display(), bytes = created.bytes, "backup taken and verified");
        } else {
            dir.mark_failed(&path, now, &problems.join("; "));
            tracing::error!(file = %path.display(), ?problems, "a backup did not verify");
        }
        let outcome = if ok { Outcome::Ok } else { Outcome::Failed };
        self.audit("backup", outcome, detail).await;
        if ok
            && let Some(offsite) = &settings.offsite_dir
            && let Err(e) = BackupDir::new(offsite).copy_in(&path, &dir.mark_path(&path))
        {
            tracing::error!(error = %e, "could not copy the backup off-site");
            let detail = serde_json::json!({"file": path.display().to_string(), "error": e});
            self.audit("backup_offsite", Outcome::Failed, detail).await;
        }
        for d in
            std::iter::once(dir.clone()).chain(settings.offsite_dir.as_deref().map(BackupDir::new))
        {
            for removed in d.apply_retention(now, settings.keep_days, settings.pitr_days) {
                tracing::info!(file = %removed.display(), "removed by retention");
            }
        }
    }
}

impl Jobs {
    /// Restores the newest good off-site copy (else the newest good backup) again into a
    /// scratch store and proves it; records the result.
    async fn restore_test(&self, settings: &BackupSettings, dir: &BackupDir, now: Timestamp) {
        let offsite = settings.offsite_dir.as_deref().map(BackupDir::new);
        let newest = offsite
            .as_ref()
            .and_then(BackupDir::newest_good)
            .or_else(|| dir.newest_good());
        let Some(backup) = newest else {
            dir.record_restore_test(&RestoreTest {
                time: now,
                file: None,
                ok: false,
                problems: vec!["no good backup to test".into()],
            });
            self.audit(
                "restore_test",
                Outcome::Failed,
                serde_json::json!({"problems": ["no good backup to test"]}),
            )
            .await;
            return;
        };
        let problems: Vec<String> = match verify_backup(&backup.path, &self.key).await {
            Ok(report) => report
                .problems
                .iter()
                .map(|p| backup_problem(p, Lang::En))
                .collect(),
            Err(e) => vec![e.to_string()],
        };
        let ok = problems.is_empty();
        if ok {
            self.telemetry.restore_test_succeeded(now);
        } else {
            tracing::error!(file = %backup.path.display(), ?problems, "the restore test failed");
        }
        let file = backup.path.display().to_string();
        dir.record_restore_test(&RestoreTest {
            time: now,
            file: Some(file.clone()),
            ok,
            problems: problems.clone(),
        });
        let outcome = if ok { Outcome::Ok } else { Outcome::Failed };
        self.audit(
            "restore_test",
            outcome,
            serde_json::json!({"file": file, "problems": problems}),
        )
        .await;
    }

    /// Appends the change log's news to the archive, after the newest segment or the newest
    /// good backup; trims what the credential log no longer needs to keep.
    async fn archive(&self, dir: &BackupDir, base: Option<&Header>) -> Result<(), String> {
        let log = dir.log_dir();
        let from = archived_up_to(&log, base).map_err(|e| e.to_string())?;
        let Some(from) = from else {
            return Ok(()); // no snapshot yet: the first backup comes first
        };
        let now = self.clock.now();
        if let Some(segment) = self
            .store
            .archive(&log, &from, now)
            .await
            .map_err(|e| e.to_string())?
        {
            tracing::debug!(file = %segment.path.display(), to = segment.to, "archived");
        }
        Ok(())
    }

    async fn audit(&self, action: &str, outcome: Outcome, detail: serde_json::Value) {
        let draft = AuditDraft {
            chain: "instance".into(),
            time: self.clock.now(),
            actor: JOBS_ACTOR.into(),
            request_id: crate::request::id(),
            action: action.into(),
            outcome,
            revision: None,
            detail,
        };
        if let Err(e) = self.writer.record(draft).await {
            tracing::error!(error = %e, action, "cannot record a job's audit event");
        }
    }
}
