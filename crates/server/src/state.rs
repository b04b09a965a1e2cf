//! What every request handler shares.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use canopy_core::ids::Clock;
use canopy_core::time::Timestamp;
use canopy_store::{Session, Shared, Store, StoreError, Writer};
use parking_lot::RwLock;

/// The server's state: the store, the engines readers see, the writer.
#[derive(Clone)]
pub struct App {
    /// The store.
    pub store: Store,
    /// The engines, at the revision the writer last applied.
    pub shared: Arc<Shared>,
    /// The one writer of this process.
    pub writer: Writer,
    /// Time and randomness.
    pub clock: Arc<dyn Clock + Send + Sync>,
    /// How long a login session lasts.
    pub session_lifetime: Duration,
    /// How long a read waits for `Canopy-Min-Revision`.
    pub min_revision_wait: Duration,
    /// Sessions recently read from the store.
    pub sessions: Arc<SessionCache>,
    /// Delivers login notifications.
    pub notifier: crate::notify::Notifier,
}

/// Sessions recently read from the store, so that a request does not cost a database round
/// trip (on SQLite, a hop to its worker thread and back). An entry is trusted for
/// [`SessionCache::FRESH_MS`] at most: a session ended in the store is refused by every replica
/// within that time.
#[derive(Default)]
pub struct SessionCache {
    entries: RwLock<HashMap<String, (Session, Timestamp)>>,
}

impl SessionCache {
    /// How long a session read from the store is trusted without reading it again, in
    /// milliseconds.
    pub const FRESH_MS: i64 = 500;
    /// The most sessions kept; beyond, the cache starts afresh (a bound, not a policy).
    const MAX_ENTRIES: usize = 100_000;

    /// The live session of `token` at `now`, from the cache while fresh, else from the store.
    pub async fn get(
        &self,
        store: &Store,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        if let Some((session, read)) = self.entries.read().get(token)
            && (0..Self::FRESH_MS).contains(&(now.millis() - read.millis()))
            && session.expires > now
        {
            return Ok(Some(session.clone()));
        }
        let session = store.session(token, now).await?;
        let mut entries = self.entries.write();
        match &session {
            Some(s) => {
                if entries.len() >= Self::MAX_ENTRIES {
                    entries.clear();
                }
                entries.insert(token.to_string(), (s.clone(), now));
            }
            None => {
                entries.remove(token);
            }
        }
        Ok(session)
    }
}
