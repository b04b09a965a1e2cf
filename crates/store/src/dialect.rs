//! What differs between SQLite and PostgreSQL. Everything else is one SQL text for both (with
//! `$N` parameters, which both accept).

use sqlx::migrate::Migrator;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// The database engine behind a store.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dialect {
    /// The embedded default: one file under the data directory.
    Sqlite,
    /// PostgreSQL 13 or later: production and replicas.
    Postgres,
}

impl Dialect {
    /// The migrations of this dialect (numbered alike in both).
    pub(crate) fn migrator(self) -> &'static Migrator {
        match self {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    pub(crate) fn pool_size(self) -> u32 {
        match self {
            // One writer at a time anyway; a few readers beside it (WAL).
            Dialect::Sqlite => 4,
            Dialect::Postgres => 8,
        }
    }

    /// Run on every new connection. SQLite: write-ahead log and a full sync on every commit, so
    /// that an acknowledged change survives power loss; wait for the writer instead of failing.
    /// PostgreSQL's defaults (`synchronous_commit = on`, `fsync = on`) are already durable.
    pub(crate) fn session_settings(self) -> &'static [&'static str] {
        match self {
            Dialect::Sqlite => &[
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = FULL",
                "PRAGMA busy_timeout = 10000",
            ],
            Dialect::Postgres => &[],
        }
    }

    pub(crate) fn migrations_table_exists(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Dialect::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
            }
        }
    }

    /// One page of an organisation's objects between two keys (exclusive), as one row: the page's last key and
    /// its objects as `kind TAB json` lines (JSON text holds no raw tab or newline).
    pub(crate) fn object_page(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "SELECT MAX(object_key), group_concat(kind || char(9) || value, char(10)) \
                 FROM (SELECT object_key, kind, value FROM objects \
                       WHERE org_id = $1 AND object_key > $2 AND object_key < $3 \
                       ORDER BY object_key LIMIT $4)"
            }
            Dialect::Postgres => {
                "SELECT MAX(object_key), string_agg(kind || chr(9) || value, chr(10)) \
                 FROM (SELECT object_key, kind, value FROM objects \
                       WHERE org_id = $1 AND object_key > $2 AND object_key < $3 \
                       ORDER BY object_key LIMIT $4) AS page"
            }
        }
    }

    /// Run first in a backup's read transaction, so that every table is read at one snapshot.
    /// SQLite's deferred transaction already reads one snapshot of the WAL from its first
    /// `SELECT` to its end.
    pub(crate) fn snapshot(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
        }
    }

    /// Tells the other replicas that the log grew (delivered when the transaction commits).
    pub(crate) fn notify_changes(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some("SELECT pg_notify('canopy_changes', $1)"),
        }
    }
}

/// The PostgreSQL channel on which writers announce new revisions.
pub const CHANGES_CHANNEL: &str = "canopy_changes";
