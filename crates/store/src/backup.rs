//! Backups (DESIGN §6, docs/backups.md): one portable, checksummed, compressed file, the same
//! for SQLite and PostgreSQL.
//!
//! - [`Store::backup`]: every kept table read in one read transaction (one snapshot at one head
//!   revision, while a server keeps writing), streamed into the file, with a sample of decisions
//!   made by the snapshot's engines.
//! - [`Store::restore`]: the whole file checked first, then restored into an empty store in one
//!   transaction — so a backup also moves an installation between SQLite and PostgreSQL.
//! - [`verify_backup`]: the restore test — restored into a scratch SQLite store and proved.
//! - [`Store::restore_org`]: one organisation of a backup beside the live ones, under another
//!   name, as one change.

mod archive;
mod check;
mod copy;
mod create;
pub mod format;
mod restore;
pub mod sample;
pub mod tables;

pub use archive::{
    ArchivedUpTo, BACKUP_EXTENSION, CREDENTIAL_LOG, Point, PointReport, SEGMENT_EXTENSION, Segment,
    archived_up_to, segments, snapshots,
};
pub use check::{VerifyProblem, VerifyReport, verify_backup};
pub use copy::{COPY_COMMAND, CopyRequest, OrgCopy};
pub use create::BackupReport;
pub use format::{Header, HeaderAnchor, SectionSum, Trailer};
pub use restore::RestoreReport;

use crate::StoreError;
use crate::messages::{self, Lang};

/// The version of the line format this binary writes and reads.
pub const FORMAT: u32 = 1;

/// Why a backup could not be written, read or restored. Its message says where.
#[derive(Debug, thiserror::Error)]
#[error("{}", messages::backup_error(self, Lang::En))]
#[allow(missing_docs)] // the fields are named for what they hold
pub enum BackupError {
    /// The store failed.
    Store(#[from] StoreError),
    /// A file could not be read or written.
    Io { path: String, detail: String },
    /// The file is not a backup at all.
    NotABackup { path: String },
    /// A backup of a container format this binary does not know.
    UnknownFormat { found: String },
    /// A backup of a line format or schema this binary cannot restore.
    Unsupported { detail: String },
    /// The compressed stream is damaged (around this byte of the file).
    Decompress { offset: u64, detail: String },
    /// The stream ends before its trailer.
    Truncated { line: u64 },
    /// A line is not what the format says.
    Malformed { line: u64, detail: String },
    /// A section's rows between two lines do not match their checksum or count.
    SectionDiffers { section: String, from: u64, to: u64 },
    /// The trailer's checksum of the whole stream differs.
    TrailerDiffers { line: u64 },
    /// A restore into a store that holds something.
    TargetNotEmpty { table: String },
    /// `--org`: no such organisation in the backup.
    NoSuchOrg { org: String },
    /// `--as`: the name is refused or taken.
    CopyRefused { detail: String },
    /// Point-in-time restore: no snapshot is old enough.
    NoSnapshot { point: String },
    /// Point-in-time restore: the archive does not reach the point.
    BeyondArchive { point: String, reached: String },
    /// Point-in-time restore: the archive has a hole.
    ArchiveGap { file: String, detail: String },
    /// Writing the backup failed on the way (serialising, a task).
    Internal { detail: String },
}

impl BackupError {
    /// The message in the given language.
    pub fn message(&self, lang: Lang) -> String {
        messages::backup_error(self, lang)
    }

    pub(crate) fn malformed(line: u64, detail: &str) -> BackupError {
        BackupError::Malformed {
            line,
            detail: detail.into(),
        }
    }

    pub(crate) fn encode(detail: impl std::fmt::Display) -> BackupError {
        BackupError::Internal {
            detail: detail.to_string(),
        }
    }
}

impl From<sqlx::Error> for BackupError {
    fn from(e: sqlx::Error) -> BackupError {
        BackupError::Store(StoreError::Database(e))
    }
}

impl From<tokio::task::JoinError> for BackupError {
    fn from(e: tokio::task::JoinError) -> BackupError {
        BackupError::encode(e)
    }
}

/// `sqlite` or `postgres`.
pub(crate) fn dialect_name(d: crate::Dialect) -> &'static str {
    match d {
        crate::Dialect::Sqlite => "sqlite",
        crate::Dialect::Postgres => "postgres",
    }
}
