//! The jobs lease (DESIGN §2.1): background jobs — scheduled backups, restore tests, log
//! archiving — run on the one replica that holds it. On PostgreSQL it is a session advisory lock
//! held by a connection kept out of the pool, so it is released when that process dies or its
//! connection breaks; on SQLite the process holding the data directory's lock is the only one.

use sqlx::AnyConnection;
use sqlx::{Any, Connection, pool::PoolConnection};

use crate::{Dialect, Store, StoreError};

/// The advisory lock's key: "canopyjb" as eight bytes, unlikely to meet another application's.
const LEASE_KEY: i64 = i64::from_be_bytes(*b"canopyjb");

/// The jobs lease, held while this value lives.
#[derive(Debug)]
pub struct JobsLease {
    /// PostgreSQL: the connection whose session holds the advisory lock. SQLite: none needed.
    holder: Option<AnyConnection>,
}

impl Store {
    /// Takes the jobs lease if no other process holds it (`None`: another replica does).
    pub async fn try_jobs_lease(&self) -> Result<Option<JobsLease>, StoreError> {
        if self.dialect() == Dialect::Sqlite {
            return Ok(Some(JobsLease { holder: None }));
        }
        let conn: PoolConnection<Any> = self.pool().acquire().await?;
        // Detached: the lock belongs to this session, which must not go back to the pool and be
        // shared, nor be closed by the pool's idle timeout.
        let mut conn = conn.detach();
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEASE_KEY)
            .fetch_one(&mut conn)
            .await?;
        if taken {
            Ok(Some(JobsLease { holder: Some(conn) }))
        } else {
            let _ = conn.close().await;
            Ok(None)
        }
    }
}

impl JobsLease {
    /// Whether the lease is still held: the holding connection still answers. A broken
    /// connection has lost its lock to whichever replica asks next.
    pub async fn still_held(&mut self) -> bool {
        match &mut self.holder {
            None => true,
            Some(conn) => conn.ping().await.is_ok(),
        }
    }

    /// Gives the lease up at once (dropping it also does, when the connection closes).
    pub async fn release(self) {
        if let Some(conn) = self.holder {
            let _ = conn.close().await;
        }
    }
}
