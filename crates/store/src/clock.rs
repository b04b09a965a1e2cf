//! The system clock and randomness, for the writer. The core never reads them itself.

use canopy_core::ids::Clock;
use canopy_core::time::Timestamp;

/// Wall-clock time and operating-system randomness.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place the product reads the wall clock
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Timestamp::from_millis(ms)
    }

    fn fresh_bits(&self) -> u128 {
        rand::random()
    }
}
