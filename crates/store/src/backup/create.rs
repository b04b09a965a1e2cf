//! Creating a backup: every kept table read in one read transaction, streamed to a blocking
//! task that writes the file (so reading, compressing and hashing overlap), then the decision
//! sample decided by engines built from the same snapshot's objects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use canopy_core::time::Timestamp;
use futures::TryStreamExt;
use serde_json::Value;
use sqlx::{Any, Transaction};
use tokio::sync::mpsc;

use super::format::{BackupWriter, Header, HeaderAnchor, SectionSum};
use super::tables::{TABLES, Table};
use super::{BackupError, FORMAT, dialect_name, sample};
use crate::audit::{SELECT_ANCHORS, anchor_of_row};
use crate::tables::{ObjectRow, installation_of_rows};
use crate::{Dialect, Store};

/// What a backup holds.
#[derive(Clone, Debug)]
pub struct BackupReport {
    /// The file written.
    pub path: PathBuf,
    /// Its header.
    pub header: Header,
    /// Each section's rows and checksum (the tables, then the decision sample).
    pub sections: Vec<SectionSum>,
    /// The file's size in bytes.
    pub bytes: u64,
}

impl BackupReport {
    /// Rows of the tables (the decision sample not counted).
    pub fn rows(&self) -> u64 {
        self.sections
            .iter()
            .filter(|s| s.name != sample::SECTION)
            .map(|s| s.rows)
            .sum()
    }

    /// Decisions recorded.
    pub fn decisions(&self) -> u64 {
        self.sections
            .iter()
            .find(|s| s.name == sample::SECTION)
            .map_or(0, |s| s.rows)
    }
}

/// Rows read per message to the writing task.
const BATCH: usize = 1000;

/// From the reading transaction to the writing task.
enum Msg {
    Begin(&'static Table),
    Rows(Vec<Vec<Value>>),
    End,
    Done,
}

impl Store {
    /// Writes a backup of the store to `out` (through `OUT.partial`, renamed when complete and
    /// synced; mode 0600): every kept table at one head revision — one read transaction, so a
    /// server may go on writing — and [`sample::SAMPLE`] decisions of the snapshot's engines
    /// at `now`. Needs no audit key: the chains and anchors are copied as stored.
    pub async fn backup(&self, out: &Path, now: Timestamp) -> Result<BackupReport, BackupError> {
        self.require_current_schema().await?;
        let mut tx = self.pool().begin().await?;
        if let Some(statement) = self.dialect().snapshot() {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        let head: i64 = sqlx::query_scalar("SELECT revision FROM head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let mut anchors = Vec::new();
        for r in sqlx::query(SELECT_ANCHORS).fetch_all(&mut *tx).await? {
            let a = anchor_of_row(&r)?;
            anchors.push(HeaderAnchor {
                chain: a.chain,
                seq: a.seq,
                hash: hex::encode(a.hash),
                revision: a.revision,
                base_seq: a.base_seq,
            });
        }
        anchors.sort_by(|a, b| a.chain.as_bytes().cmp(b.chain.as_bytes()));
        let header = Header {
            format: FORMAT,
            schema_version: self.binary_schema_version(),
            canopy_version: env!("CARGO_PKG_VERSION").into(),
            source: dialect_name(self.dialect()).into(),
            head_revision: head as u64,
            created_ms: now.millis(),
            created: now.to_string(),
            anchors,
        };
        let (send, recv) = mpsc::channel(8);
        let (path, written_header) = (out.to_path_buf(), header.clone());
        let writer =
            tokio::task::spawn_blocking(move || write_file(&path, &written_header, recv, now));
        let read = read_tables(&mut tx, self.dialect(), &send).await;
        if let Ok(true) = read {
            let _ = send.send(Msg::Done).await;
        }
        drop(send);
        let written = writer.await?;
        let _ = tx.rollback().await;
        read?;
        let (sections, bytes) = written?;
        Ok(BackupReport {
            path: out.to_path_buf(),
            header,
            sections,
            bytes,
        })
    }
}

/// Reads every table in order into `send`; `Ok(false)` if the writing task stopped (its error
/// says why).
async fn read_tables(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    send: &mpsc::Sender<Msg>,
) -> Result<bool, BackupError> {
    for table in TABLES {
        if send.send(Msg::Begin(table)).await.is_err() {
            return Ok(false);
        }
        // The statement is made of the constant table definitions only.
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(table.select(dialect))).fetch(&mut **tx);
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(r) = rows.try_next().await? {
            batch.push(table.row_of(&r)?);
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if send.send(Msg::Rows(full)).await.is_err() {
                    return Ok(false);
                }
            }
        }
        drop(rows);
        if send.send(Msg::Rows(batch)).await.is_err() || send.send(Msg::End).await.is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The writing task: the file, then the decision sample. The partial file is removed on any
/// failure.
fn write_file(
    out: &Path,
    header: &Header,
    recv: mpsc::Receiver<Msg>,
    now: Timestamp,
) -> Result<(Vec<SectionSum>, u64), BackupError> {
    let mut w = BackupWriter::create(out, header)?;
    match fill(&mut w, header, recv, now) {
        Ok(digest) => w.finish(digest),
        Err(e) => {
            w.abandon();
            Err(e)
        }
    }
}

/// What the writing task keeps of the rows going by, to build the snapshot's engines.
#[derive(Default)]
struct Kept {
    objects: Vec<ObjectRow>,
    revisions: BTreeMap<String, u64>,
}

impl Kept {
    fn keep(&mut self, table: &str, row: Vec<Value>) {
        let text = |v: &mut Value| match v.take() {
            Value::String(s) => s,
            _ => String::new(),
        };
        match (table, row) {
            ("objects", mut r) if r.len() == 5 => {
                let (org, key, kind) = (text(&mut r[0]), text(&mut r[1]), text(&mut r[2]));
                self.objects.push((org, key, kind, text(&mut r[4])));
            }
            ("changes", r) => {
                if let (Some(revision), Some(org)) = (
                    r.first().and_then(Value::as_u64),
                    r.get(2).and_then(Value::as_str),
                ) {
                    let last = self.revisions.entry(org.to_string()).or_default();
                    *last = (*last).max(revision);
                }
            }
            _ => {}
        }
    }
}

/// Writes the sections as they come, then the sample; the state digest for the trailer.
fn fill(
    w: &mut BackupWriter,
    header: &Header,
    mut recv: mpsc::Receiver<Msg>,
    now: Timestamp,
) -> Result<String, BackupError> {
    let mut kept = Kept::default();
    let mut table = None;
    loop {
        match recv.blocking_recv() {
            None => return Err(BackupError::encode("reading the store stopped")),
            Some(Msg::Begin(t)) => {
                w.begin(t.name, &t.column_names())?;
                table = Some(t.name);
            }
            Some(Msg::Rows(rows)) => {
                for row in rows {
                    w.row(&row)?;
                    kept.keep(table.unwrap_or(""), row);
                }
            }
            Some(Msg::End) => {
                w.end()?;
            }
            Some(Msg::Done) => break,
        }
    }
    let inst = installation_of_rows(header.head_revision, &kept.objects, &kept.revisions)?;
    drop(kept);
    let digest = crate::state_digest(&inst).map_err(BackupError::encode)?;
    w.begin(sample::SECTION, sample::COLUMNS)?;
    // Seeded by the head: another backup of the same state asks the same questions.
    for row in sample::sample(&inst, now, header.head_revision ^ 0x6361_6e6f_7079) {
        w.row(&row)?;
    }
    w.end()?;
    Ok(digest)
}
