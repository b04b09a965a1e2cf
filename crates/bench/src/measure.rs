//! Wall-clock timing, latency statistics and memory use.

use serde::Serialize;
use std::time::Instant;

/// A running wall clock.
///
/// The one place that reads the clock: benchmarks measure wall time, which the rest of the
/// workspace must never read (`clippy.toml` bans `Instant::now` everywhere else).
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts now.
    #[allow(clippy::disallowed_methods)] // benchmarks measure wall time
    pub fn start() -> Stopwatch {
        Stopwatch(Instant::now())
    }

    /// Nanoseconds since the start.
    pub fn ns(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Seconds since the start.
    pub fn secs(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// Runs `f` and returns its result with the wall-clock nanoseconds it took.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let clock = Stopwatch::start();
    let out = f();
    (out, clock.ns())
}

/// Per-check latency and throughput of one engine over a run of requests.
#[derive(Clone, Copy, PartialEq, Debug, Default, Serialize)]
pub struct Latency {
    /// Median time of one check, in nanoseconds.
    pub check_median_ns: f64,
    /// 99th percentile time of one check, in nanoseconds.
    pub check_p99_ns: f64,
    /// Checks per second on one core (timed checks over their total time).
    pub checks_per_sec: f64,
    /// How many requests were timed.
    pub timed_requests: usize,
    /// How many consecutive checks each clock reading covered (see [`time_checks`]).
    pub checks_per_sample: usize,
}

/// Times `check(i)` for `i` in `0..n`, returning the latency and each check's answer.
///
/// Checks are timed in blocks of `block` consecutive calls and each block's time is divided by
/// its length: reading the clock costs some tens of nanoseconds, which would dominate a check of
/// a few hundred if every call were timed on its own. So for `block > 1` the median and the 99th
/// percentile are those of the block means (a single slow call is spread over its block), which
/// is why engines whose checks take microseconds are timed with `block = 1`.
pub fn time_checks(
    n: usize,
    block: usize,
    mut check: impl FnMut(usize) -> bool,
) -> (Latency, Vec<bool>) {
    let block = block.max(1);
    let mut answers = vec![false; n];
    let mut samples: Vec<f64> = Vec::with_capacity(n.div_ceil(block));
    let mut total_ns: u64 = 0;
    let mut start = 0;
    while start < n {
        let end = (start + block).min(n);
        let ((), ns) = timed(|| {
            for (i, answer) in answers[start..end].iter_mut().enumerate() {
                *answer = check(start + i);
            }
        });
        total_ns += ns;
        samples.push(ns as f64 / (end - start) as f64);
        start = end;
    }
    samples.sort_by(f64::total_cmp);
    let latency = Latency {
        check_median_ns: percentile(&samples, 0.5),
        check_p99_ns: percentile(&samples, 0.99),
        checks_per_sec: if total_ns == 0 {
            0.0
        } else {
            n as f64 * 1e9 / total_ns as f64
        },
        timed_requests: n,
        checks_per_sample: block,
    };
    (latency, answers)
}

/// The `q`-quantile of sorted samples (nearest rank).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Resident memory of this process from `/proc/self/status`, in MiB.
#[derive(Clone, Copy, PartialEq, Debug, Default, Serialize)]
pub struct Memory {
    /// Resident set size now (`VmRSS`).
    pub rss_mib: f64,
    /// Peak resident set size so far (`VmHWM`).
    pub peak_rss_mib: f64,
}

/// Reads `VmRSS` and `VmHWM`; zero where they cannot be read (not Linux).
pub fn memory() -> Memory {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map_or(0.0, |kib| kib / 1024.0)
    };
    Memory {
        rss_mib: field("VmRSS:"),
        peak_rss_mib: field("VmHWM:"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 0.5), 50.0);
        assert_eq!(percentile(&s, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn every_check_is_answered_once() {
        let (lat, answers) = time_checks(10, 4, |i| i % 2 == 0);
        assert_eq!(answers, (0..10).map(|i| i % 2 == 0).collect::<Vec<_>>());
        assert_eq!(lat.timed_requests, 10);
    }
}
