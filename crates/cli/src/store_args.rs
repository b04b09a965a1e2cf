//! `--data DIR` or `--database URL`, and the audit key: the same for every command that opens a
//! store.

use std::path::PathBuf;

use canopy_store::{AuditKey, Location, StoreError};
use clap::Args;

/// Where the store is.
#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// The data directory (SQLite, the default).
    #[arg(long, env = "CANOPY_DATA", conflicts_with = "database")]
    pub data: Option<PathBuf>,
    /// A PostgreSQL URL (`postgres://…`) instead of a data directory.
    #[arg(long, env = "CANOPY_DATABASE")]
    pub database: Option<String>,
    /// The audit key file (default: `audit.key` in the data directory).
    #[arg(long, env = "CANOPY_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<PathBuf>,
}

impl StoreArgs {
    /// The data directory when none is given.
    fn data_dir(&self) -> PathBuf {
        self.data
            .clone()
            .unwrap_or_else(|| PathBuf::from("canopy-data"))
    }

    /// The store's location.
    pub fn location(&self) -> Location {
        match &self.database {
            Some(url) => Location::Database(url.clone()),
            None => Location::Data(self.data_dir()),
        }
    }

    /// How the store is named in messages (without a password).
    pub fn describe(&self) -> String {
        match &self.database {
            Some(_) => "the PostgreSQL database".into(),
            None => self.data_dir().display().to_string(),
        }
    }

    /// The audit key: from `CANOPY_AUDIT_KEY` (hex), or the key file (created if `create`).
    pub fn audit_key(&self, create: bool) -> Result<AuditKey, StoreError> {
        if let Ok(hex) = std::env::var("CANOPY_AUDIT_KEY") {
            return AuditKey::from_hex(&hex);
        }
        let path = match (&self.audit_key_file, &self.database) {
            (Some(p), _) => p.clone(),
            (None, None) => self.data_dir().join("audit.key"),
            (None, Some(_)) => {
                return Err(StoreError::AuditKey {
                    detail: "with --database, give --audit-key-file or CANOPY_AUDIT_KEY".into(),
                });
            }
        };
        if create {
            AuditKey::read_or_create(&path)
        } else {
            AuditKey::read(&path)
        }
    }
}
