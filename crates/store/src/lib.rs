//! canopy-store: Canopy's memory. The change log is the spine (DESIGN §2): every accepted change
//! is one transaction that appends its effects to `changes`, updates the state tables and appends
//! a hash-chained, HMAC-signed audit event. The same contract runs on SQLite (the embedded
//! default) and PostgreSQL (production and replicas); the SQL that differs is in
//! [`dialect`] and the per-dialect migrations.
//!
//! - [`Store`]: open, migrate, load the installation from the state tables, read the log.
//! - [`WriteTx`]: one transaction at the head, under the installation's write lock.
//! - [`Writer`]: the one writer of a process — group commit, and following other replicas.
//! - [`verify`](Store::verify): the stored invariants, the log replayed, the audit chains.

mod audit;
pub mod backup;
mod ceremonies;
mod clock;
mod devices;
pub mod dialect;
mod digest;
mod error;
mod lease;
mod log;
pub mod messages;
mod retention;
mod sessions;
mod tables;
pub mod verify;
mod writer;

use std::path::{Path, PathBuf};

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

pub use audit::{
    AuditEvent, AuditKey, AuditQuery, ChainProblem, Outcome, SealedEvent, check_exported,
};
pub use backup::{BackupError, BackupReport, RestoreReport, VerifyReport, verify_backup};
pub use ceremonies::{Challenge, PASSKEY_KIND_PREFIX, Taken};
pub use clock::SystemClock;
pub use devices::DEVICE_LIFETIME_MS;
pub use dialect::Dialect;
pub use digest::state_digest;
pub use error::StoreError;
pub use lease::JobsLease;
pub use log::{AuditDraft, WriteTx};
pub use retention::{MIN_RETENTION_DAYS, PRUNE_ACTION, Pruned};
pub use sessions::{SecondFactor, Session, token_hash};
pub use verify::{AuditReport, Report};
pub use writer::{
    Committed, Expectation, SecretOp, SecretOwner, Shared, Submission, SubmitError, Writer,
    actor_label,
};

/// Where a store lives: a data directory (SQLite) or a PostgreSQL URL.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Location {
    /// A directory holding `canopy.db` (SQLite, WAL, synchronous=FULL).
    Data(PathBuf),
    /// `postgres://…`.
    Database(String),
}

/// The file name of the SQLite database inside a data directory.
pub const SQLITE_FILE: &str = "canopy.db";

/// An open store: a connection pool and its dialect.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    /// Objects per query when loading.
    load_page: i64,
}

impl Store {
    /// Connects to the store (creating the SQLite file if it does not exist). Does not migrate.
    pub async fn open(location: &Location) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, dialect) = match location {
            Location::Data(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
                    path: dir.display().to_string(),
                    detail: e.to_string(),
                })?;
                (sqlite_url(&dir.join(SQLITE_FILE)), Dialect::Sqlite)
            }
            Location::Database(url) => (url.clone(), Dialect::Postgres),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(dialect.pool_size())
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    for statement in dialect.session_settings() {
                        sqlx::raw_sql(*statement).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|e| StoreError::Connect {
                location: redact(&url),
                detail: e.to_string(),
            })?;
        Ok(Store {
            pool,
            dialect,
            load_page: tables::PAGE,
        })
    }

    /// Loads this many objects per query (default 10,000): for tests of the paging.
    pub fn with_load_page(mut self, objects: i64) -> Store {
        self.load_page = objects.max(1);
        self
    }

    /// The dialect of this store.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The schema version applied to the store (`None`: an empty store).
    pub async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        let exists: i64 = sqlx::query_scalar(self.dialect.migrations_table_exists())
            .fetch_one(&self.pool)
            .await?;
        if exists == 0 {
            return Ok(None);
        }
        let version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?;
        Ok(version)
    }

    /// The schema version this binary was built with.
    pub fn binary_schema_version(&self) -> i64 {
        self.dialect
            .migrator()
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0)
    }

    /// Applies the migrations the store lacks; refuses a store whose schema is newer than this
    /// binary. Returns the version now applied.
    pub async fn migrate(&self) -> Result<i64, StoreError> {
        let binary = self.binary_schema_version();
        if let Some(store) = self.schema_version().await?
            && store > binary
        {
            return Err(StoreError::SchemaNewer { store, binary });
        }
        self.dialect.migrator().run(&self.pool).await?;
        Ok(binary)
    }

    /// Refuses to go on unless the store's schema is exactly this binary's: a newer one needs a
    /// newer binary, an older one `canopy migrate`, an empty one `canopy init`.
    pub async fn require_current_schema(&self) -> Result<(), StoreError> {
        let binary = self.binary_schema_version();
        match self.schema_version().await? {
            None => Err(StoreError::NotInitialised),
            Some(store) if store > binary => Err(StoreError::SchemaNewer { store, binary }),
            Some(store) if store < binary => Err(StoreError::SchemaOlder { store, binary }),
            Some(_) => Ok(()),
        }
    }
}

fn sqlite_url(file: &Path) -> String {
    format!("sqlite://{}?mode=rwc", file.display())
}

/// A URL without its password, for messages and logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_left_out_of_urls() {
        assert_eq!(
            redact("postgres://canopy:s3cret@db:5432/canopy"),
            "postgres://canopy:***@db:5432/canopy"
        );
        assert_eq!(redact("postgres://db/canopy"), "postgres://db/canopy");
    }
}
