//! A clock for tests that must see time pass (sessions idle out, tokens expire) without waiting:
//! the system's time plus an offset the test moves on.

use std::sync::atomic::{AtomicI64, Ordering};

use canopy_core::ids::Clock;
use canopy_core::time::Timestamp;

/// The system clock, moved on by [`MovableClock::advance`].
#[derive(Default, Debug)]
pub struct MovableClock {
    offset_ms: AtomicI64,
}

impl MovableClock {
    /// Moves the clock on by `ms` milliseconds (it never goes back).
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms.max(0), Ordering::SeqCst);
    }
}

impl Clock for MovableClock {
    #[allow(clippy::disallowed_methods)] // the system's time is the point, moved on
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Timestamp::from_millis(ms + self.offset_ms.load(Ordering::SeqCst))
    }

    fn fresh_bits(&self) -> u128 {
        rand::random()
    }
}
