//! What can go wrong in the store.

use crate::messages::{self, Lang};

/// A store failure. Its message (English by default; see [`StoreError::message`]) says what to
/// do about it.
#[derive(Debug, thiserror::Error)]
#[error("{}", messages::store_error(self, Lang::En))]
#[allow(missing_docs)] // the fields are named for what they hold
pub enum StoreError {
    /// The database could not be reached or opened.
    Connect { location: String, detail: String },
    /// A statement failed.
    Database(#[from] sqlx::Error),
    /// A migration failed.
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The store was written by a newer Canopy.
    SchemaNewer { store: i64, binary: i64 },
    /// The store needs `canopy migrate`.
    SchemaOlder { store: i64, binary: i64 },
    /// The store has no schema yet: `canopy init`.
    NotInitialised,
    /// A stored row cannot be read back, or the log does not replay.
    Corrupt { detail: String },
    /// A file could not be read or written.
    Io { path: String, detail: String },
    /// The audit key is missing or malformed.
    AuditKey { detail: String },
    /// A prune asked to keep audit events fewer days than the least retention.
    Retention { days: u32, minimum: u32 },
    /// A prune found the audit log broken and kept it as evidence.
    AuditBroken { detail: String },
}

impl StoreError {
    /// The message in the given language.
    pub fn message(&self, lang: Lang) -> String {
        messages::store_error(self, lang)
    }

    pub(crate) fn corrupt(detail: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            detail: detail.to_string(),
        }
    }
}
