//! What every request handler shares.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use canopy_core::ids::Clock;
use canopy_core::time::Timestamp;
use canopy_store::{Session, Shared, Store, Writer};
use ipnet::IpNet;
use parking_lot::RwLock;

/// The server's state: the store, the engines readers see, the writer.
#[derive(Clone)]
pub struct App(Arc<AppState>);

impl App {
    /// The state every handler shares. Behind one `Arc`, so that each middleware layer and
    /// handler clones it with one atomic increment, not one per field.
    pub fn new(state: AppState) -> App {
        App(Arc::new(state))
    }
}

impl std::ops::Deref for App {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.0
    }
}

/// What [`App`] holds.
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The engines, at the revision the writer last applied.
    pub shared: Arc<Shared>,
    /// The one writer of this process.
    pub writer: Writer,
    /// Time and randomness.
    pub clock: Arc<dyn Clock + Send + Sync>,
    /// Sessions, client addresses and failed logins.
    pub auth: Arc<AuthSettings>,
    /// How long a read waits for `Canopy-Min-Revision`.
    pub min_revision_wait: Duration,
    /// Sessions recently read from the store, by token.
    pub sessions: Arc<RecentCache<Session>>,
    /// The organisations of API tokens recently verified in the store, by token.
    pub tokens: Arc<RecentCache<String>>,
    /// Delivers login notifications.
    pub notifier: crate::notify::Notifier,
    /// The WebAuthn relying party of passkeys.
    pub passkeys: Arc<crate::passkeys::RelyingParty>,
    /// How many refused credentials are still audited this minute.
    pub refusals: Arc<crate::auth::refusals::RefusalBudget>,
    /// `access` listings kept for their cursors.
    pub access_listings: crate::listings::KeptListings<canopy_core::engine::AccessEntry>,
    /// `who` listings kept for their cursors.
    pub who_listings: crate::listings::KeptListings<canopy_core::engine::WhoEntry>,
    /// The metrics of `GET /metrics`.
    pub telemetry: Arc<crate::telemetry::Telemetry>,
}

/// How long `/readyz` and `/metrics` wait for the store's head revision.
pub const STORE_HEAD_WAIT: Duration = Duration::from_secs(2);

/// The store's head revision, or why it could not be read within [`STORE_HEAD_WAIT`] (a store
/// that does not answer would otherwise hold a probe until the pool gives up).
pub async fn store_head(app: &App) -> Result<u64, canopy_store::StoreError> {
    match tokio::time::timeout(STORE_HEAD_WAIT, app.store.head()).await {
        Ok(head) => head,
        Err(_) => Err(canopy_store::StoreError::Connect {
            location: "the store".into(),
            detail: format!("no answer within {} s", STORE_HEAD_WAIT.as_secs()),
        }),
    }
}

/// How the server authenticates: sessions, client addresses, failed logins.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// How long a login session lasts at most.
    pub session_lifetime: Duration,
    /// A session unused for this long ends.
    pub session_idle: Duration,
    /// Peers whose `X-Forwarded-For` is believed (load balancers, reverse proxies).
    pub trusted_proxies: Vec<IpNet>,
    /// The WebAuthn relying party of passkeys.
    pub webauthn: WebauthnSettings,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            session_lifetime: Duration::from_secs(8 * 3600),
            session_idle: Duration::from_secs(3600),
            trusted_proxies: Vec::new(),
            webauthn: WebauthnSettings::default(),
        }
    }
}

/// The WebAuthn relying party: the domain passkeys are bound to and the origin browsers show.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WebauthnSettings {
    /// The relying party ID: the origin's host or a registrable suffix of it. Passkeys are bound
    /// to it: changing it makes every registered passkey unusable.
    pub rp_id: String,
    /// The origin the browser is at (`https://iam.example.com`); `None`: `http://localhost:PORT`
    /// with the port the server listens on.
    pub origin: Option<String>,
}

impl WebauthnSettings {
    /// The relying party ID when none is configured.
    pub const DEFAULT_RP_ID: &str = "localhost";

    /// The origin: the configured one, or `http://localhost:PORT`.
    pub fn origin_for(&self, port: u16) -> String {
        self.origin
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{port}"))
    }
}

impl Default for WebauthnSettings {
    fn default() -> Self {
        WebauthnSettings {
            rp_id: Self::DEFAULT_RP_ID.into(),
            origin: None,
        }
    }
}

/// Credentials recently read from the store (sessions, API tokens), so that a request does not
/// cost a database round trip (on SQLite, a hop to its worker thread and back). An entry is
/// trusted for [`RecentCache::FRESH_MS`] at most: a session ended or a token revoked in the store
/// is refused by every replica within that time.
pub struct RecentCache<V> {
    entries: RwLock<HashMap<String, (V, Timestamp)>>,
}

impl<V> Default for RecentCache<V> {
    fn default() -> Self {
        RecentCache {
            entries: RwLock::new(HashMap::new()),
        }
    }
}

impl<V: Clone> RecentCache<V> {
    /// How long a value read from the store is trusted without reading it again, in
    /// milliseconds.
    pub const FRESH_MS: i64 = 500;
    /// The most entries kept; beyond, the cache starts afresh (a bound, not a policy).
    const MAX_ENTRIES: usize = 100_000;

    /// The value of `key` if it was read from the store less than [`Self::FRESH_MS`] ago.
    pub fn fresh(&self, key: &str, now: Timestamp) -> Option<V> {
        self.entries
            .read()
            .get(key)
            .filter(|(_, read)| (0..Self::FRESH_MS).contains(&(now.millis() - read.millis())))
            .map(|(v, _)| v.clone())
    }

    /// Remembers what the store said of `key` at `now` (`None`: nothing, so nothing is kept).
    pub fn remember(&self, key: &str, value: Option<&V>, now: Timestamp) {
        let mut entries = self.entries.write();
        match value {
            Some(v) => {
                if entries.len() >= Self::MAX_ENTRIES {
                    entries.clear();
                }
                entries.insert(key.to_string(), (v.clone(), now));
            }
            None => {
                entries.remove(key);
            }
        }
    }

    /// Forgets `key` at once (its session was ended, its token revoked, on this replica).
    pub fn forget(&self, key: &str) {
        self.entries.write().remove(key);
    }
}
