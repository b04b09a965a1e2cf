//! What every request handler shares.

use std::sync::Arc;
use std::time::Duration;

use canopy_core::ids::Clock;
use canopy_store::{Shared, Store, Writer};

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
}
