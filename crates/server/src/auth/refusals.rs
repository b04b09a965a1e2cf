//! Audit events for credentials refused on an ordinary request (an unknown, ended, expired or
//! tampered session cookie or token, a cookie request without its CSRF token), with a bound:
//! a browser left open on an expired session, or someone trying tokens, must not be able to
//! flood the audit log. Each replica records at most [`PER_SOURCE`] such events per client
//! address and [`IN_ALL`] in all per minute; what is over the bound is counted in the server's
//! log instead (a warning per address and minute).

use std::collections::HashMap;

use canopy_core::time::Timestamp;
use parking_lot::Mutex;

/// Refusals audited per client address and minute, on one replica.
pub const PER_SOURCE: u32 = 10;
/// Refusals audited per minute in all, on one replica.
pub const IN_ALL: u32 = 200;
const WINDOW_MS: i64 = 60_000;

/// The refusals audited in the current minute (see the module's documentation).
#[derive(Default)]
pub struct RefusalBudget {
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    start_ms: i64,
    in_all: u32,
    by_source: HashMap<String, u32>,
}

/// Whether a refusal is audited.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Admission {
    /// Within the bound: audit it.
    Audit,
    /// The first one over the bound for its address in this minute: log a warning.
    WarnOnce,
    /// Over the bound, already warned of.
    Drop,
}

impl RefusalBudget {
    /// Takes one refusal from `source` (its address as text) at `now`.
    pub fn admit(&self, source: &str, now: Timestamp) -> Admission {
        let mut w = self.window.lock();
        if now.millis() - w.start_ms >= WINDOW_MS || now.millis() < w.start_ms {
            *w = Window {
                start_ms: now.millis(),
                ..Window::default()
            };
        }
        let over_in_all = w.in_all >= IN_ALL;
        let seen = w.by_source.entry(source.to_string()).or_insert(0);
        *seen = seen.saturating_add(1);
        let seen = *seen;
        if seen > PER_SOURCE || over_in_all {
            // Warn once per address and minute: at the first refusal that was not audited.
            let first_over = if over_in_all {
                seen == 1 || seen == PER_SOURCE + 1
            } else {
                seen == PER_SOURCE + 1
            };
            return if first_over {
                Admission::WarnOnce
            } else {
                Admission::Drop
            };
        }
        w.in_all += 1;
        Admission::Audit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_is_audited_up_to_its_bound_per_minute() {
        let budget = RefusalBudget::default();
        let t = Timestamp::from_millis(1_000_000);
        for _ in 0..PER_SOURCE {
            assert_eq!(budget.admit("192.0.2.1", t), Admission::Audit);
        }
        assert_eq!(budget.admit("192.0.2.1", t), Admission::WarnOnce);
        assert_eq!(budget.admit("192.0.2.1", t), Admission::Drop);
        // Another address has its own bound; a minute later, so does the first.
        assert_eq!(budget.admit("192.0.2.2", t), Admission::Audit);
        let later = Timestamp::from_millis(1_000_000 + WINDOW_MS);
        assert_eq!(budget.admit("192.0.2.1", later), Admission::Audit);
    }

    #[test]
    fn all_addresses_together_have_a_bound_too() {
        let budget = RefusalBudget::default();
        let t = Timestamp::from_millis(5);
        let audited = (0..IN_ALL + 50)
            .filter(|i| budget.admit(&format!("198.51.100.{}", i % 250), t) == Admission::Audit)
            .count();
        assert_eq!(audited, IN_ALL as usize);
    }
}
