//! The restore test (`canopy backup verify`): the file's checksums, then a restore into a
//! scratch SQLite store, which must hold as many rows as the backup, pass `verify` (the log
//! replayed, the invariants, every audit chain with its HMACs and anchor), end each audit chain
//! where the backup's header anchors it, hold the same state digest, and decide the recorded
//! sample of decisions identically, at the backup's time.

use std::path::Path;

use canopy_core::installation::Installation;
use canopy_core::time::Timestamp;
use serde_json::Value;
use sqlx::Row;

use super::BackupError;
use super::format::{Header, SectionSum};
use super::restore::{Checked, check_file};
use super::sample::{self, Answer};
use super::tables::TABLES;
use crate::{AuditKey, Location, Report, Store};

/// Something the restore test found wrong.
#[derive(Debug)]
#[allow(missing_docs)] // the fields are named for what they hold
pub enum VerifyProblem {
    /// The file itself: damaged, truncated, not a backup.
    File(BackupError),
    /// A table restored with another number of rows than the backup holds.
    RowCount {
        table: String,
        backup: u64,
        restored: u64,
    },
    /// What `verify` found in the restored store.
    Store(crate::verify::Problem),
    /// An audit chain does not end where the backup's header anchors it.
    ChainEnd {
        chain: String,
        anchored: u64,
        last: Option<u64>,
    },
    /// The restored anchor of a chain is not the one the header recorded.
    AnchorRow { chain: String },
    /// The restored state's digest differs from the one recorded.
    StateDigest { recorded: String, restored: String },
    /// A recorded decision is decided otherwise (or not at all).
    Decision {
        line: u64,
        question: String,
        recorded: Answer,
        now: Result<Answer, String>,
    },
    /// A row of the sample that is not a question.
    BadDecision { line: u64 },
    /// Fewer decisions recorded than a backup of this state must hold.
    TooFewDecisions { found: u64, wanted: u64 },
}

/// What the restore test checked and found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// The backup's header (once the file could be read).
    pub header: Option<Header>,
    /// Its sections, as checked.
    pub sections: Vec<SectionSum>,
    /// Rows restored into the scratch store.
    pub restored_rows: u64,
    /// What `verify` found in it.
    pub store: Option<Report>,
    /// Audit chains compared with the header's anchors.
    pub anchors: usize,
    /// Decisions asked again.
    pub decisions: u64,
    /// Of which allowed.
    pub allowed: u64,
    /// Every difference (empty: the backup restores and proves itself).
    pub problems: Vec<VerifyProblem>,
}

impl VerifyReport {
    /// Whether the backup passed.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Runs the restore test on `file` with the audit key of the store it came from. `Err` only
/// when the test could not run (the file cannot be opened, the scratch store fails); every
/// difference is a problem of the report.
pub async fn verify_backup(file: &Path, key: &AuditKey) -> Result<VerifyReport, BackupError> {
    let mut report = VerifyReport::default();
    let path = file.to_path_buf();
    let checked = match tokio::task::spawn_blocking(move || check_file(&path)).await? {
        Ok(c) => c,
        Err(e @ (BackupError::Io { .. } | BackupError::Store(_))) => return Err(e),
        Err(e) => {
            report.problems.push(VerifyProblem::File(e));
            return Ok(report);
        }
    };
    report.header = Some(checked.header.clone());
    report.sections = checked.trailer.sections.clone();
    let dir = tempfile::tempdir().map_err(|e| BackupError::Io {
        path: std::env::temp_dir().display().to_string(),
        detail: e.to_string(),
    })?;
    let scratch = Store::open(&Location::Data(dir.path().to_path_buf())).await?;
    let result = prove(&scratch, &checked, key, &mut report).await;
    scratch.close().await;
    result?;
    Ok(report)
}

/// Everything after the checksums, on the scratch store.
async fn prove(
    scratch: &Store,
    checked: &Checked,
    key: &AuditKey,
    report: &mut VerifyReport,
) -> Result<(), BackupError> {
    let restored = scratch.restore_checked(checked).await?;
    report.restored_rows = restored.total();
    for table in TABLES {
        let backup = checked
            .trailer
            .sections
            .iter()
            .find(|s| s.name == table.name)
            .map_or(0, |s| s.rows);
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {}",
            table.name
        )))
        .fetch_one(scratch.pool())
        .await?;
        if n as u64 != backup {
            report.problems.push(VerifyProblem::RowCount {
                table: table.name.into(),
                backup,
                restored: n as u64,
            });
        }
    }
    let at = Timestamp::from_millis(checked.header.created_ms);
    let verified = scratch.verify(key, at).await?;
    report
        .problems
        .extend(verified.problems.iter().cloned().map(VerifyProblem::Store));
    report.store = Some(verified);
    check_anchors(scratch, &checked.header, report).await?;
    let inst = scratch.load().await?;
    let restored = crate::state_digest(&inst).map_err(BackupError::encode)?;
    if restored != checked.trailer.state_digest {
        report.problems.push(VerifyProblem::StateDigest {
            recorded: checked.trailer.state_digest.clone(),
            restored,
        });
    }
    check_decisions(&inst, checked, at, report);
    Ok(())
}

/// Each chain's last event against the anchor the header recorded, and the restored anchor row
/// against it: a backup taken after the last events of a chain were removed, or with its
/// anchors swapped, is caught even where the store's own anchor agrees.
async fn check_anchors(
    scratch: &Store,
    header: &Header,
    report: &mut VerifyReport,
) -> Result<(), BackupError> {
    for a in &header.anchors {
        report.anchors += 1;
        let last =
            sqlx::query("SELECT seq, hash FROM audit WHERE chain = $1 ORDER BY seq DESC LIMIT 1")
                .bind(&a.chain)
                .fetch_optional(scratch.pool())
                .await?
                .map(|r| {
                    Ok::<_, sqlx::Error>((
                        r.try_get::<i64, _>(0)? as u64,
                        r.try_get::<Vec<u8>, _>(1)?,
                    ))
                })
                .transpose()?;
        let ends_there = match &last {
            Some((seq, hash)) => *seq == a.seq && hex::encode(hash) == a.hash,
            None => a.seq == a.base_seq,
        };
        if !ends_there {
            report.problems.push(VerifyProblem::ChainEnd {
                chain: a.chain.clone(),
                anchored: a.seq,
                last: last.map(|l| l.0),
            });
        }
        let row = sqlx::query("SELECT seq, hash FROM audit_anchors WHERE chain = $1")
            .bind(&a.chain)
            .fetch_optional(scratch.pool())
            .await?
            .map(|r| {
                Ok::<_, sqlx::Error>((r.try_get::<i64, _>(0)? as u64, r.try_get::<Vec<u8>, _>(1)?))
            })
            .transpose()?;
        if row.is_none_or(|(seq, hash)| seq != a.seq || hex::encode(hash) != a.hash) {
            report.problems.push(VerifyProblem::AnchorRow {
                chain: a.chain.clone(),
            });
        }
    }
    Ok(())
}

/// The recorded decisions, asked again of the restored engines at the backup's time.
fn check_decisions(
    inst: &Installation,
    checked: &Checked,
    at: Timestamp,
    report: &mut VerifyReport,
) {
    for (line, text) in &checked.decisions {
        let row: Option<Vec<Value>> = serde_json::from_str(text).ok();
        let Some(q) = row.as_deref().and_then(sample::recorded) else {
            report
                .problems
                .push(VerifyProblem::BadDecision { line: *line });
            continue;
        };
        report.decisions += 1;
        let now = sample::ask_again(inst, &q, at);
        if now.as_ref() == Ok(&q.answer) {
            report.allowed += u64::from(q.answer.allowed);
            continue;
        }
        report.problems.push(VerifyProblem::Decision {
            line: *line,
            question: format!("{} {} {} in {}", q.principal, q.action, q.target, q.org),
            recorded: q.answer,
            now,
        });
    }
    let askable = inst
        .orgs()
        .any(|e| !e.model().users.is_empty() || !e.model().service_accounts.is_empty());
    let wanted = sample::SAMPLE as u64;
    if askable && report.decisions < wanted {
        report.problems.push(VerifyProblem::TooFewDecisions {
            found: report.decisions,
            wanted,
        });
    }
}
