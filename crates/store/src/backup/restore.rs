//! Restoring a backup into an empty store: the whole file is read and checked first (nothing is
//! written before every checksum holds), then read again and inserted in multi-row INSERTs inside
//! one transaction, so that a failure leaves the target as empty as it was.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sqlx::{Any, Transaction};
use tokio::sync::mpsc;

use super::format::{BackupReader, Header, Item, Trailer};
use super::tables::{EPHEMERAL, TABLES, Table};
use super::{BackupError, FORMAT, sample};
use crate::{Dialect, Store};

/// What a restore wrote.
#[derive(Clone, Debug)]
pub struct RestoreReport {
    /// The backup's header.
    pub header: Header,
    /// Rows restored, per table, in the file's order.
    pub rows: Vec<(String, u64)>,
}

impl RestoreReport {
    /// Rows restored in all.
    pub fn total(&self) -> u64 {
        self.rows.iter().map(|(_, n)| n).sum()
    }
}

/// A backup file read to its end with every checksum holding.
#[derive(Clone, Debug)]
pub(crate) struct Checked {
    pub path: PathBuf,
    pub header: Header,
    pub trailer: Trailer,
    /// The decision sample: each row's line and text.
    pub decisions: Vec<(u64, String)>,
}

/// The schema version this binary writes and restores (the same in both dialects).
fn binary_schema() -> i64 {
    Dialect::Sqlite
        .migrator()
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

/// Refuses what this binary cannot restore: another line format, another schema.
fn check_header(h: &Header) -> Result<(), BackupError> {
    if h.format != FORMAT {
        return Err(BackupError::Unsupported {
            detail: format!("line format {} (this canopy reads {FORMAT})", h.format),
        });
    }
    let binary = binary_schema();
    if h.schema_version != binary {
        return Err(BackupError::Unsupported {
            detail: format!(
                "schema {} written by canopy {} (this canopy's schema is {binary}): restore it \
                 with that version, then move the store with `canopy migrate`",
                h.schema_version, h.canopy_version
            ),
        });
    }
    Ok(())
}

/// Reads the whole file and checks every checkpoint, section, the trailer, and that the
/// sections are the tables of this schema in order, then the sample. Blocking.
pub(crate) fn check_file(path: &Path) -> Result<Checked, BackupError> {
    let mut r = BackupReader::open(path)?;
    let header = r.header().clone();
    check_header(&header)?;
    let mut expected = TABLES
        .iter()
        .map(|t| (t.name, t.column_names()))
        .chain([(sample::SECTION, sample::COLUMNS.to_vec())]);
    let mut decisions = Vec::new();
    let mut in_sample = false;
    loop {
        match r.next_item()? {
            Some(Item::Start { name, columns }) => {
                let line = r.line();
                match expected.next() {
                    Some((want, cols)) if want == name && cols == columns => {}
                    Some((want, _)) => {
                        return Err(BackupError::malformed(
                            line,
                            &format!("section {name:?} where {want:?} with its columns belongs"),
                        ));
                    }
                    None => {
                        return Err(BackupError::malformed(
                            line,
                            &format!("an extra section {name:?}"),
                        ));
                    }
                }
                in_sample = name == sample::SECTION;
            }
            Some(Item::Row(text, line)) if in_sample => decisions.push((line, text)),
            Some(Item::Row(..) | Item::End(_)) => {}
            Some(Item::Trailer(trailer)) => {
                if let Some((missing, _)) = expected.next() {
                    return Err(BackupError::malformed(
                        r.line(),
                        &format!("section {missing:?} is missing"),
                    ));
                }
                return Ok(Checked {
                    path: path.to_path_buf(),
                    header,
                    trailer,
                    decisions,
                });
            }
            None => return Err(BackupError::Truncated { line: r.line() }),
        }
    }
}

impl Store {
    /// Restores a backup into this store, which must be empty (its schema is created or
    /// migrated first). The file is checked to its end before anything is written; the rows
    /// are written in one transaction.
    pub async fn restore(&self, file: &Path) -> Result<RestoreReport, BackupError> {
        let path = file.to_path_buf();
        let checked = tokio::task::spawn_blocking(move || check_file(&path)).await??;
        self.restore_checked(&checked).await
    }

    /// Restores a file [`check_file`] has read.
    pub(crate) async fn restore_checked(
        &self,
        checked: &Checked,
    ) -> Result<RestoreReport, BackupError> {
        let mut tx = self.begin_restore().await?;
        let rows = self.insert_snapshot(&mut tx, checked).await?;
        tx.commit().await?;
        Ok(RestoreReport {
            header: checked.header.clone(),
            rows,
        })
    }

    /// Migrates this store, refuses it unless empty, and opens the transaction a restore
    /// writes in.
    pub(crate) async fn begin_restore(&self) -> Result<Transaction<'static, Any>, BackupError> {
        self.migrate().await?;
        self.require_empty().await?;
        let mut tx = self.pool().begin().await?;
        // The migration's head row is replaced by the backup's.
        sqlx::query("DELETE FROM head").execute(&mut *tx).await?;
        Ok(tx)
    }

    /// Writes a checked backup's rows in `tx`; the rows written per table.
    pub(crate) async fn insert_snapshot(
        &self,
        tx: &mut Transaction<'static, Any>,
        checked: &Checked,
    ) -> Result<Vec<(String, u64)>, BackupError> {
        let (send, mut recv) = mpsc::channel(64);
        let (path, dialect) = (checked.path.clone(), self.dialect());
        let reader = tokio::task::spawn_blocking(move || stream_rows(&path, dialect, send));
        let mut rows: Vec<(String, u64)> = Vec::new();
        while let Some((table, batch)) = recv.recv().await {
            let table: &Table = table;
            match rows.last_mut() {
                Some((name, n)) if name == table.name => *n += batch.len() as u64,
                _ => rows.push((table.name.into(), batch.len() as u64)),
            }
            insert(tx, table, &batch).await?;
        }
        reader.await??;
        Ok(rows)
    }

    /// Refuses a store that holds anything: a restore never merges.
    async fn require_empty(&self) -> Result<(), BackupError> {
        let tables = TABLES
            .iter()
            .map(|t| t.name)
            .filter(|t| *t != "head")
            .chain(EPHEMERAL.iter().copied());
        for table in tables {
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT 1) AS t"
            )))
            .fetch_one(self.pool())
            .await?;
            if n > 0 {
                return Err(BackupError::TargetNotEmpty {
                    table: table.into(),
                });
            }
        }
        if self.head().await? > 0 {
            return Err(BackupError::TargetNotEmpty {
                table: "head".into(),
            });
        }
        Ok(())
    }
}

/// One batch of rows of a table, checked against its columns.
type Batch = (&'static Table, Vec<Vec<Value>>);

/// Reads the file again and sends the tables' rows in batches (the sample is not restored).
/// Every checksum is checked again on the way: a file changed since it was checked fails here,
/// before the commit.
fn stream_rows(
    path: &Path,
    dialect: Dialect,
    send: mpsc::Sender<Batch>,
) -> Result<(), BackupError> {
    let mut r = BackupReader::open(path)?;
    let mut table: Option<&'static Table> = None;
    let mut batch = Vec::new();
    let flush = |t: Option<&'static Table>, batch: &mut Vec<Vec<Value>>| -> bool {
        match t {
            Some(t) if !batch.is_empty() => send.blocking_send((t, std::mem::take(batch))).is_ok(),
            _ => true,
        }
    };
    while let Some(item) = r.next_item()? {
        match item {
            Item::Start { name, .. } => table = super::tables::table(&name),
            Item::Row(text, line) => {
                let Some(t) = table else { continue };
                let row: Vec<Value> = serde_json::from_str(&text)
                    .map_err(|e| BackupError::malformed(line, &e.to_string()))?;
                t.check_row(&row, line)?;
                batch.push(row);
                if batch.len() >= t.batch(dialect) && !flush(table, &mut batch) {
                    // The restore stopped (its own error says why).
                    return Ok(());
                }
            }
            Item::End(_) => {
                if !flush(table, &mut batch) {
                    return Ok(());
                }
                table = None;
            }
            Item::Trailer(_) => {}
        }
    }
    Ok(())
}

/// One multi-row INSERT.
pub(crate) async fn insert(
    tx: &mut sqlx::AnyConnection,
    table: &Table,
    rows: &[Vec<Value>],
) -> Result<(), BackupError> {
    // The statement is made of the constant table definitions only.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(table.insert(rows.len())));
    for row in rows {
        q = table.bind(q, row);
    }
    q.execute(&mut *tx).await?;
    Ok(())
}
