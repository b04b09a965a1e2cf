//! Continuous archiving of the change log and point-in-time restore (docs/backups.md).
//!
//! A **segment** is a file of the backup format (`LOG_DIR/TIME-rAFTER-rTO.seg`) holding what the
//! store gained since the previous segment: the changes of revisions `(AFTER, TO]`, the audit
//! events written since (per chain, after the last one archived), and the credentials set or
//! removed by those changes (`credential_log`, trimmed once archived). Its header is a backup
//! header whose `head_revision` is `TO` and whose anchors are each chain's last archived event.
//!
//! **Point-in-time restore** takes the newest snapshot at or before the point, then replays the
//! segments after it up to the point — all in one transaction, so that a failure leaves the
//! target empty — and signs each audit chain's new end as its anchor. It reads only the backup
//! directory: the original database may be gone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use canopy_core::installation::Change;
use canopy_core::time::Timestamp;
use serde_json::Value;
use sqlx::{Any, Transaction};

use super::format::{BackupReader, BackupWriter, Header, HeaderAnchor, Item};
use super::restore::{Checked, check_file, insert};
use super::tables::{Col, Table, table};
use super::{BackupError, FORMAT, dialect_name};
use crate::log::WriteTx;
use crate::{AuditKey, Store};

/// The extension of archived segments; snapshots are `.backup`.
pub const SEGMENT_EXTENSION: &str = "seg";

/// The extension of snapshots in a backup directory.
pub const BACKUP_EXTENSION: &str = "backup";

/// The section that says which revisions a segment covers: one row `[after, to]`.
const RANGE: &str = "segment";
const RANGE_COLUMNS: &[&str] = &["after_revision", "to_revision"];

/// Credentials as they changed, with the change that changed them.
pub static CREDENTIAL_LOG: Table = Table {
    name: "credential_log",
    columns: &[
        ("revision", Col::Int),
        ("seq", Col::Int),
        ("org_id", Col::Text),
        ("principal_id", Col::Text),
        ("kind", Col::Text),
        ("secret", Col::OptText),
    ],
    order: &["revision", "seq"],
};

/// A segment's tables, in the file's order, after its range: the backup's own definitions.
fn segment_tables() -> Result<[&'static Table; 3], BackupError> {
    let of = |name| table(name).ok_or_else(|| BackupError::encode(format!("no table {name}")));
    Ok([of("changes")?, of("audit")?, &CREDENTIAL_LOG])
}

/// A segment written.
#[derive(Clone, Debug)]
pub struct Segment {
    /// Its file.
    pub path: PathBuf,
    /// The revisions it covers: `(after, to]`.
    pub after: u64,
    /// See `after`.
    pub to: u64,
    /// Changes in it.
    pub changes: u64,
    /// Audit events in it.
    pub events: u64,
    /// Credentials set or removed in it.
    pub credentials: u64,
}

/// Where archiving resumes: the revision and each chain's last event archived so far.
#[derive(Clone, Debug)]
pub struct ArchivedUpTo {
    /// The last revision archived (or held by the snapshot archiving starts after).
    pub revision: u64,
    /// Each chain's last archived event: its position and hash (hex).
    pub chains: BTreeMap<String, (u64, String)>,
}

impl ArchivedUpTo {
    /// From a snapshot's or a segment's header.
    pub fn of(header: &Header) -> ArchivedUpTo {
        ArchivedUpTo {
            revision: header.head_revision,
            chains: header
                .anchors
                .iter()
                .map(|a| (a.chain.clone(), (a.seq, a.hash.clone())))
                .collect(),
        }
    }
}

/// A segment's file name: sorts by time, says its range.
fn segment_name(now: Timestamp, after: u64, to: u64) -> String {
    format!(
        "{:015}-r{after}-r{to}.{SEGMENT_EXTENSION}",
        now.millis().max(0)
    )
}

/// The revisions a segment's name says it covers.
fn range_of_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(&format!(".{SEGMENT_EXTENSION}"))?;
    let mut parts = stem.split('-');
    let (_, after, to) = (parts.next()?, parts.next()?, parts.next()?);
    Some((
        after.strip_prefix('r')?.parse().ok()?,
        to.strip_prefix('r')?.parse().ok()?,
    ))
}

/// The segments of a log directory, oldest first: each file and the revisions `(after, to]` its
/// name says it covers.
pub fn segments(log_dir: &Path) -> Result<Vec<(PathBuf, u64, u64)>, BackupError> {
    let mut found: Vec<(String, PathBuf, u64, u64)> = files(log_dir)?
        .into_iter()
        .filter_map(|(name, path)| range_of_name(&name).map(|(a, t)| (name, path, a, t)))
        .collect();
    found.sort();
    Ok(found.into_iter().map(|(_, p, a, t)| (p, a, t)).collect())
}

/// The snapshots of a backup directory with their headers, oldest revision first.
pub fn snapshots(dir: &Path) -> Result<Vec<(PathBuf, Header)>, BackupError> {
    let suffix = format!(".{BACKUP_EXTENSION}");
    let mut found = Vec::new();
    for (name, path) in files(dir)? {
        if name.ends_with(&suffix) {
            let header = BackupReader::open(&path)?.header().clone();
            found.push((path, header));
        }
    }
    found.sort_by_key(|(_, h)| (h.head_revision, h.created_ms));
    Ok(found)
}

fn files(dir: &Path) -> Result<Vec<(String, PathBuf)>, BackupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, e))?;
        found.push((
            entry.file_name().to_string_lossy().to_string(),
            entry.path(),
        ));
    }
    Ok(found)
}

/// Where archiving resumes in `log_dir`: after its newest segment, else after `snapshot`.
pub fn archived_up_to(
    log_dir: &Path,
    snapshot: Option<&Header>,
) -> Result<Option<ArchivedUpTo>, BackupError> {
    match segments(log_dir)?.last() {
        Some((path, _, _)) => Ok(Some(ArchivedUpTo::of(BackupReader::open(path)?.header()))),
        None => Ok(snapshot.map(ArchivedUpTo::of)),
    }
}

fn io(path: &Path, e: std::io::Error) -> BackupError {
    BackupError::Io {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// What a segment holds, read back and checked.
struct SegmentRows {
    /// When it was written (its header's time).
    created_ms: i64,
    after: u64,
    to: u64,
    changes: Vec<Vec<Value>>,
    events: Vec<Vec<Value>>,
    credentials: Vec<Vec<Value>>,
}

impl Store {
    /// Archives what the store gained since `from` into a new segment of `log_dir`, read in one
    /// read transaction; then trims the credential log up to the segment's end. `None`: nothing
    /// new, no segment written.
    pub async fn archive(
        &self,
        log_dir: &Path,
        from: &ArchivedUpTo,
        now: Timestamp,
    ) -> Result<Option<Segment>, BackupError> {
        let [changes_t, audit_t, credentials_t] = segment_tables()?;
        let mut tx = self.pool().begin().await?;
        if let Some(statement) = self.dialect().snapshot() {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        let head: i64 = sqlx::query_scalar("SELECT revision FROM head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let after = from.revision as i64;
        let changes = select(&mut tx, changes_t, "revision > $1", &[after.into()]).await?;
        let filter = "revision > $1 AND revision <= $2";
        let credentials =
            select(&mut tx, credentials_t, filter, &[after.into(), head.into()]).await?;
        let mut chains: Vec<String> = sqlx::query_scalar("SELECT chain FROM audit_anchors")
            .fetch_all(&mut *tx)
            .await?;
        chains.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut events = Vec::new();
        let mut ends = from.chains.clone();
        for chain in chains {
            let last = from.chains.get(&chain).map_or(0, |(seq, _)| *seq) as i64;
            let rows = select(
                &mut tx,
                audit_t,
                "chain = $1 AND seq > $2",
                &[chain.as_str().into(), last.into()],
            )
            .await?;
            if let Some(row) = rows.last() {
                let seq = row[1].as_u64().unwrap_or(0);
                ends.insert(
                    chain,
                    (seq, row[9].as_str().unwrap_or_default().to_string()),
                );
            }
            events.extend(rows);
        }
        let _ = tx.rollback().await;
        if changes.is_empty() && events.is_empty() && credentials.is_empty() {
            return Ok(None);
        }
        let to = head as u64;
        std::fs::create_dir_all(log_dir).map_err(|e| io(log_dir, e))?;
        let segment = Segment {
            path: log_dir.join(segment_name(now, from.revision, to)),
            after: from.revision,
            to,
            changes: changes.len() as u64,
            events: events.len() as u64,
            credentials: credentials.len() as u64,
        };
        let header = Header {
            format: FORMAT,
            schema_version: self.binary_schema_version(),
            canopy_version: env!("CARGO_PKG_VERSION").into(),
            source: dialect_name(self.dialect()).into(),
            head_revision: to,
            created_ms: now.millis(),
            created: now.to_string(),
            anchors: ends
                .into_iter()
                .map(|(chain, (seq, hash))| HeaderAnchor {
                    chain,
                    seq,
                    hash,
                    revision: to,
                    base_seq: 0,
                })
                .collect(),
        };
        let rows = SegmentRows {
            created_ms: now.millis(),
            after: from.revision,
            to,
            changes,
            events,
            credentials,
        };
        let path = segment.path.clone();
        tokio::task::spawn_blocking(move || write_segment(&path, &header, &rows)).await??;
        self.trim_credential_log(to).await?;
        Ok(Some(segment))
    }

    /// Forgets the credentials set or removed up to `revision`: archived, or not archived at all.
    pub async fn trim_credential_log(&self, revision: u64) -> Result<u64, BackupError> {
        let revision = revision.min(i64::MAX as u64) as i64;
        // Looked at first without the write lock: an idle server asks every tick, and on SQLite
        // a DELETE would queue behind (and hold up) the writer even with nothing to delete.
        let any: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM credential_log WHERE revision <= $1 LIMIT 1) AS t",
        )
        .bind(revision)
        .fetch_one(self.pool())
        .await?;
        if any == 0 {
            return Ok(0);
        }
        let done = sqlx::query("DELETE FROM credential_log WHERE revision <= $1")
            .bind(revision)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Restores the state at `point` from the snapshots and archived segments of `dir` into
    /// this store, which must be empty: the newest snapshot at or before the point, then the
    /// segments' changes, audit events and credentials up to it, in one transaction. The audit
    /// chains' new ends are anchored with `key` (the key of the store they came from).
    pub async fn restore_to_point(
        &self,
        dir: &Path,
        point: Point,
        key: &AuditKey,
    ) -> Result<PointReport, BackupError> {
        let (dir_for_read, p) = (dir.to_path_buf(), point);
        let plan = tokio::task::spawn_blocking(move || plan_point(&dir_for_read, p)).await??;
        let mut tx = self.begin_restore().await?;
        self.insert_snapshot(&mut tx, &plan.snapshot).await?;
        let mut w = WriteTx::resume(tx, self, plan.snapshot.header.head_revision);
        for change in &plan.changes {
            w.append(change).await?;
        }
        let audit_t = table("audit").ok_or_else(|| BackupError::encode("no table audit"))?;
        let mut events = 0;
        let mut chains = Vec::new();
        for (chain, rows) in &plan.events {
            let last: Option<i64> =
                sqlx::query_scalar("SELECT MAX(seq) FROM audit WHERE chain = $1")
                    .bind(chain)
                    .fetch_one(w.conn())
                    .await?;
            let mut next = last.unwrap_or(0) as u64 + 1;
            let mut added = false;
            for (file, row) in rows {
                let seq = row[1].as_u64().unwrap_or(0);
                if seq < next {
                    continue; // already in the snapshot
                }
                if seq > next {
                    return Err(BackupError::ArchiveGap {
                        detail: format!("audit chain {chain} misses events {next} to {}", seq - 1),
                        file: file.display().to_string(),
                    });
                }
                insert(w.conn(), audit_t, std::slice::from_ref(row)).await?;
                next += 1;
                events += 1;
                added = true;
            }
            if added {
                chains.push(chain.clone());
            }
        }
        for op in &plan.credentials {
            let text = |i: usize| op[i].as_str().unwrap_or_default().to_string();
            match op[5].as_str() {
                Some(secret) => {
                    sqlx::query(
                        "INSERT INTO credentials (org_id, principal_id, kind, secret) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (principal_id, kind) \
                         DO UPDATE SET secret = excluded.secret",
                    )
                    .bind(text(2))
                    .bind(text(3))
                    .bind(text(4))
                    .bind(secret.to_string())
                    .execute(w.conn())
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM credentials WHERE principal_id = $1 AND kind = $2")
                        .bind(text(3))
                        .bind(text(4))
                        .execute(w.conn())
                        .await?;
                }
            }
        }
        for chain in &chains {
            w.chain_head(chain).await?;
        }
        w.anchor_with(key);
        let revision = w.head();
        w.commit().await?;
        Ok(PointReport {
            snapshot: plan.snapshot.path.clone(),
            snapshot_revision: plan.snapshot.header.head_revision,
            revision,
            segments: plan.segments,
            changes: plan.changes.len() as u64,
            events,
            credentials: plan.credentials.len() as u64,
        })
    }
}

/// Where a point-in-time restore goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Point {
    /// The state right after this revision.
    Revision(u64),
    /// The state at this time: every change made at or before it.
    Time(Timestamp),
}

/// What a point-in-time restore did.
#[derive(Clone, Debug)]
pub struct PointReport {
    /// The snapshot it started from.
    pub snapshot: PathBuf,
    /// Its revision.
    pub snapshot_revision: u64,
    /// The revision reached.
    pub revision: u64,
    /// Segments read.
    pub segments: usize,
    /// Changes replayed.
    pub changes: u64,
    /// Audit events restored from segments.
    pub events: u64,
    /// Credentials set or removed from segments.
    pub credentials: u64,
}

/// Per audit chain, the events to add, in order, each with the segment it was read from.
type ChainEvents = BTreeMap<String, Vec<(PathBuf, Vec<Value>)>>;

/// Everything a point-in-time restore writes, read and checked before anything is written.
struct PointPlan {
    snapshot: Checked,
    segments: usize,
    changes: Vec<Change>,
    /// Per chain: the events to add after the snapshot's, in order, with where each was read.
    events: ChainEvents,
    credentials: Vec<Vec<Value>>,
}

/// Reads the directory: the snapshot to start from, then every segment after it, keeping what
/// comes at or before the point. Blocking.
fn plan_point(dir: &Path, point: Point) -> Result<PointPlan, BackupError> {
    let snapshots = snapshots(dir)?;
    let before = |h: &Header| match point {
        Point::Revision(n) => h.head_revision <= n,
        Point::Time(t) => h.created_ms <= t.millis(),
    };
    let Some((path, _)) = snapshots.iter().rev().find(|(_, h)| before(h)) else {
        return Err(BackupError::NoSnapshot {
            point: point_text(point),
        });
    };
    let snapshot = check_file(path)?;
    let start = snapshot.header.head_revision;
    let mut reached = start;
    let mut reached_ms = snapshot.header.created_ms;
    let mut all: Vec<(PathBuf, SegmentRows)> = Vec::new();
    for (path, after, to) in segments(&dir.join("log"))? {
        if to <= start && after < to {
            continue; // wholly in the snapshot
        }
        let rows = read_segment(&path)?;
        if (rows.after, rows.to) != (after, to) {
            return Err(BackupError::malformed(
                1,
                "the segment's name and range differ",
            ));
        }
        if rows.after > reached {
            return Err(BackupError::ArchiveGap {
                detail: format!(
                    "revisions {} to {} were not archived",
                    reached + 1,
                    rows.after
                ),
                file: path.display().to_string(),
            });
        }
        reached = reached.max(rows.to);
        reached_ms = reached_ms.max(rows.created_ms);
        all.push((path, rows));
    }
    // The point, as a revision and a time.
    let changes: Vec<Change> = all
        .iter()
        .flat_map(|(path, s)| s.changes.iter().map(move |r| (path, r)))
        .map(|(path, r)| change_of(path, r))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|c| c.revision > start)
        .collect();
    let (revision, cut_ms) = match point {
        Point::Revision(n) => {
            if n > reached {
                return Err(BackupError::BeyondArchive {
                    point: point_text(point),
                    reached: format!("revision {reached}"),
                });
            }
            let at = changes.iter().find(|c| c.revision == n);
            (n, at.map_or(i64::MIN, |c| c.time.millis()))
        }
        Point::Time(t) => {
            if t.millis() > reached_ms {
                return Err(BackupError::BeyondArchive {
                    point: point_text(point),
                    reached: Timestamp::from_millis(reached_ms).to_string(),
                });
            }
            let n = changes
                .iter()
                .filter(|c| c.time <= t)
                .map(|c| c.revision)
                .max()
                .unwrap_or(start);
            (n, t.millis())
        }
    };
    let mut events = ChainEvents::new();
    let mut closed: Vec<String> = Vec::new();
    for (path, s) in &all {
        for row in &s.events {
            let chain = row[0].as_str().unwrap_or_default().to_string();
            if closed.contains(&chain) {
                continue;
            }
            let time = row[2].as_i64().unwrap_or(i64::MAX);
            let past = row[6].as_u64().is_some_and(|r| r > revision) || time > cut_ms;
            if past {
                // A chain is a sequence: it stops at its first event after the point.
                closed.push(chain);
                continue;
            }
            events
                .entry(chain)
                .or_default()
                .push((path.clone(), row.clone()));
        }
    }
    let credentials = all
        .iter()
        .flat_map(|(_, s)| s.credentials.iter())
        .filter(|r| {
            r[0].as_u64()
                .is_some_and(|rev| rev > start && rev <= revision)
        })
        .cloned()
        .collect();
    Ok(PointPlan {
        snapshot,
        segments: all.len(),
        changes: changes
            .into_iter()
            .filter(|c| c.revision <= revision)
            .collect(),
        events,
        credentials,
    })
}

fn point_text(point: Point) -> String {
    match point {
        Point::Revision(n) => format!("revision {n}"),
        Point::Time(t) => t.to_string(),
    }
}

fn change_of(path: &Path, r: &[Value]) -> Result<Change, BackupError> {
    let bad = |what: &str| BackupError::Malformed {
        line: 0,
        detail: format!("{}: a change's {what}", path.display()),
    };
    let text = |i: usize| r.get(i).and_then(Value::as_str).map(str::to_string);
    Ok(Change {
        revision: r
            .first()
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("revision"))?,
        time: Timestamp::from_millis(
            r.get(1)
                .and_then(Value::as_i64)
                .ok_or_else(|| bad("time"))?,
        ),
        actor: text(3).ok_or_else(|| bad("actor"))?,
        request_id: text(4).ok_or_else(|| bad("request id"))?,
        command: text(5).ok_or_else(|| bad("command"))?,
        effects: serde_json::from_str(&text(6).ok_or_else(|| bad("effects"))?)
            .map_err(|e| bad(&format!("effects ({e})")))?,
    })
}

fn write_segment(path: &Path, header: &Header, rows: &SegmentRows) -> Result<(), BackupError> {
    let mut w = BackupWriter::create(path, header)?;
    match fill_segment(&mut w, rows) {
        Ok(()) => w.finish(String::new()).map(|_| ()),
        Err(e) => {
            w.abandon();
            Err(e)
        }
    }
}

fn fill_segment(w: &mut BackupWriter, rows: &SegmentRows) -> Result<(), BackupError> {
    w.begin(RANGE, RANGE_COLUMNS)?;
    w.row(&[rows.after, rows.to])?;
    w.end()?;
    let [changes, audit, credentials] = segment_tables()?;
    for (t, section) in [
        (changes, &rows.changes),
        (audit, &rows.events),
        (credentials, &rows.credentials),
    ] {
        w.begin(t.name, &t.column_names())?;
        for row in section {
            w.row(row)?;
        }
        w.end()?;
    }
    Ok(())
}

/// Reads a segment to its end, checking every sum on the way. Blocking.
fn read_segment(path: &Path) -> Result<SegmentRows, BackupError> {
    let mut r = BackupReader::open(path)?;
    let mut rows = SegmentRows {
        created_ms: r.header().created_ms,
        after: 0,
        to: 0,
        changes: Vec::new(),
        events: Vec::new(),
        credentials: Vec::new(),
    };
    let tables = segment_tables()?;
    let mut section = String::new();
    while let Some(item) = r.next_item()? {
        match item {
            Item::Start { name, .. } => section = name,
            Item::Row(text, line) => {
                let row: Vec<Value> = serde_json::from_str(&text)
                    .map_err(|e| BackupError::malformed(line, &e.to_string()))?;
                if section == RANGE {
                    rows.after = row.first().and_then(Value::as_u64).unwrap_or(0);
                    rows.to = row.get(1).and_then(Value::as_u64).unwrap_or(0);
                    continue;
                }
                let Some(t) = tables.iter().find(|t| t.name == section) else {
                    return Err(BackupError::malformed(
                        line,
                        &format!("a section {section:?}"),
                    ));
                };
                t.check_row(&row, line)?;
                match t.name {
                    "changes" => rows.changes.push(row),
                    "audit" => rows.events.push(row),
                    _ => rows.credentials.push(row),
                }
            }
            Item::End(_) | Item::Trailer(_) => {}
        }
    }
    Ok(rows)
}

/// A parameter of [`select`].
enum Param<'a> {
    Int(i64),
    Text(&'a str),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

/// A table's rows where `filter` holds, in the table's order, as JSON values.
async fn select(
    tx: &mut Transaction<'static, Any>,
    t: &Table,
    filter: &str,
    params: &[Param<'_>],
) -> Result<Vec<Vec<Value>>, BackupError> {
    let sql = format!(
        "SELECT {} FROM {} WHERE {filter} ORDER BY {}",
        t.column_names().join(", "),
        t.name,
        t.order.join(", ")
    );
    // The statement is made of the constant table definitions and filters of this file.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for p in params {
        q = match p {
            Param::Int(v) => q.bind(*v),
            Param::Text(v) => q.bind(v.to_string()),
        };
    }
    let rows = q.fetch_all(&mut **tx).await?;
    rows.iter().map(|r| t.row_of(r)).collect()
}
