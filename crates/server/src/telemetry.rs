//! What the server tells Prometheus (`GET /metrics`, text format): decisions, HTTP requests,
//! logins, the change log's revisions, and the age of the last backup and restore test. Every
//! server has its own recorder (no global one), so that servers in one process — tests — keep
//! their counts apart. `docs/operations.md` says what each metric means.

use std::sync::Arc;
use std::time::Duration;

use canopy_core::time::Timestamp;
use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use parking_lot::Mutex;

/// The upper bounds of the decision latency histogram, in seconds: from a microsecond (one check
/// in the engine) to a second (a large batch on a busy machine).
pub const DECISION_BUCKETS: &[f64] = &[
    0.000_001,
    0.000_002_5,
    0.000_005,
    0.000_01,
    0.000_025,
    0.000_05,
    0.000_1,
    0.000_25,
    0.000_5,
    0.001,
    0.002_5,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
];

/// How often recorded latencies are folded into the histogram between scrapes, so that they do
/// not pile up in memory when nothing scrapes.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

const DECISIONS: &str = "canopy_decisions_total";
const DECISION_SECONDS: &str = "canopy_decision_duration_seconds";
const HTTP_REQUESTS: &str = "canopy_http_requests_total";
const LOGINS: &str = "canopy_logins_total";
const REVISION: &str = "canopy_revision";
const HEAD: &str = "canopy_store_head_revision";
const LAG: &str = "canopy_replica_lag_revisions";
const STORE_UP: &str = "canopy_store_up";
const BACKUP_AGE: &str = "canopy_last_backup_age_seconds";
const RESTORE_TEST_AGE: &str = "canopy_last_restore_test_age_seconds";

/// The metrics of one server.
pub struct Telemetry {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    allowed: Counter,
    denied: Counter,
    check_seconds: Histogram,
    batch_seconds: Histogram,
    revision: Gauge,
    head: Gauge,
    lag: Gauge,
    store_up: Gauge,
    backup_age: Gauge,
    restore_test_age: Gauge,
    last_backup: Mutex<Option<Timestamp>>,
    last_restore_test: Mutex<Option<Timestamp>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

/// Measures a duration for the metrics and the logs: the one place the server reads the
/// monotonic clock. What it measures decides nothing (time that decides is the [`Clock`]'s).
///
/// [`Clock`]: canopy_core::ids::Clock
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    /// Starts measuring.
    #[allow(clippy::disallowed_methods)] // a duration to report, not a time to decide by
    pub fn start() -> Stopwatch {
        Stopwatch(std::time::Instant::now())
    }

    /// The time since [`Stopwatch::start`].
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Which endpoint a decision was asked through.
#[derive(Clone, Copy, Debug)]
pub enum DecisionEndpoint {
    /// `POST …/check`: one decision.
    Check,
    /// `POST …/check/batch`: many, timed together.
    Batch,
}

/// What the store said when the metrics were read.
#[derive(Clone, Copy, Debug)]
pub enum StoreHead {
    /// Its head revision.
    Reached(u64),
    /// It could not be read.
    Unreachable,
}

fn metadata() -> Metadata<'static> {
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()))
}

impl Telemetry {
    /// A recorder with Canopy's metrics registered and described (so that each family is shown,
    /// with its help text, before anything happens).
    pub fn new() -> Result<Arc<Telemetry>, String> {
        let recorder = PrometheusBuilder::new()
            .set_buckets(DECISION_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(DECISION_SECONDS.into()), DECISION_BUCKETS)
            })
            .map_err(|e| e.to_string())?
            .build_recorder();
        let describe =
            |name: &'static str, unit: Option<Unit>, help: &'static str| (name, unit, help);
        for (name, unit, help) in [
            describe(
                DECISIONS,
                None,
                "Decisions answered by check and check/batch, by result (allow, deny).",
            ),
            describe(
                HTTP_REQUESTS,
                None,
                "HTTP requests answered, by method, route template and status.",
            ),
            describe(
                LOGINS,
                None,
                "Login attempts, by method (password, passkey), result (success, failure) and reason of a failure.",
            ),
        ] {
            recorder.describe_counter(name.into(), unit, help.into());
        }
        recorder.describe_histogram(
            DECISION_SECONDS.into(),
            Some(Unit::Seconds),
            "Time to answer an authenticated check request (resolving names and deciding; a batch: all its checks), by endpoint.".into(),
        );
        for (name, unit, help) in [
            describe(
                REVISION,
                None,
                "The change-log revision this replica's engines have applied.",
            ),
            describe(
                HEAD,
                None,
                "The store's head revision, read when the metrics were.",
            ),
            describe(
                LAG,
                None,
                "Revisions the store holds that this replica has not applied yet (head minus applied).",
            ),
            describe(
                STORE_UP,
                None,
                "1 when the store answered as the metrics were read, 0 when it did not.",
            ),
            describe(
                BACKUP_AGE,
                Some(Unit::Seconds),
                "Seconds since the last successful backup; +Inf when none is known to this process.",
            ),
            describe(
                RESTORE_TEST_AGE,
                Some(Unit::Seconds),
                "Seconds since the last successful restore test; +Inf when none is known to this process.",
            ),
        ] {
            recorder.describe_gauge(name.into(), unit, help.into());
        }
        let counter = |name: &'static str, labels: Vec<Label>| {
            recorder.register_counter(&Key::from_parts(name, labels), &metadata())
        };
        let histogram = |endpoint: &'static str| {
            recorder.register_histogram(
                &Key::from_parts(DECISION_SECONDS, vec![Label::new("endpoint", endpoint)]),
                &metadata(),
            )
        };
        let gauge =
            |name: &'static str| recorder.register_gauge(&Key::from_name(name), &metadata());
        let telemetry = Telemetry {
            handle: recorder.handle(),
            allowed: counter(DECISIONS, vec![Label::new("result", "allow")]),
            denied: counter(DECISIONS, vec![Label::new("result", "deny")]),
            check_seconds: histogram("check"),
            batch_seconds: histogram("check_batch"),
            revision: gauge(REVISION),
            head: gauge(HEAD),
            lag: gauge(LAG),
            store_up: gauge(STORE_UP),
            backup_age: gauge(BACKUP_AGE),
            restore_test_age: gauge(RESTORE_TEST_AGE),
            last_backup: Mutex::new(None),
            last_restore_test: Mutex::new(None),
            recorder,
        };
        Ok(Arc::new(telemetry))
    }

    /// Counts decisions: `allowed` allowed and `denied` denied.
    pub fn decided(&self, allowed: u64, denied: u64) {
        if allowed > 0 {
            self.allowed.increment(allowed);
        }
        if denied > 0 {
            self.denied.increment(denied);
        }
    }

    /// Records how long a check request took to decide.
    pub fn decision_took(&self, endpoint: DecisionEndpoint, took: Duration) {
        match endpoint {
            DecisionEndpoint::Check => self.check_seconds.record(took),
            DecisionEndpoint::Batch => self.batch_seconds.record(took),
        }
    }

    /// Counts an answered HTTP request. `route` must be a route template (or `unmatched`), never
    /// the path as sent: the label's values must stay few.
    pub fn answered(&self, method: &axum::http::Method, route: &str, status: u16) {
        use axum::http::Method;
        let method = match *method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::PATCH => "PATCH",
            Method::DELETE => "DELETE",
            Method::HEAD => "HEAD",
            Method::OPTIONS => "OPTIONS",
            _ => "other",
        };
        let labels = vec![
            Label::new("method", method),
            Label::new("route", route.to_string()),
            Label::new("status", status.to_string()),
        ];
        self.recorder
            .register_counter(&Key::from_parts(HTTP_REQUESTS, labels), &metadata())
            .increment(1);
    }

    /// Counts a login attempt by `method` (`password`, `passkey`): a success (`reason: None`)
    /// or a failure for `reason` (the reason its audit event gives).
    pub fn login(&self, method: &'static str, reason: Option<&'static str>) {
        let labels = vec![
            Label::new("method", method),
            Label::new(
                "result",
                if reason.is_some() {
                    "failure"
                } else {
                    "success"
                },
            ),
            Label::new("reason", reason.unwrap_or("none")),
        ];
        self.recorder
            .register_counter(&Key::from_parts(LOGINS, labels), &metadata())
            .increment(1);
    }

    /// Records a successful backup finished at `at` (the latest one counts).
    pub fn backup_succeeded(&self, at: Timestamp) {
        latest(&self.last_backup, at);
    }

    /// Records a successful restore test finished at `at` (the latest one counts).
    pub fn restore_test_succeeded(&self, at: Timestamp) {
        latest(&self.last_restore_test, at);
    }

    /// The metrics in Prometheus' text format, with the gauges read now: `applied` the revision
    /// of this replica's engines, `head` what the store said.
    pub fn render(&self, now: Timestamp, applied: u64, head: StoreHead) -> String {
        self.revision.set(applied as f64);
        match head {
            StoreHead::Reached(head) => {
                self.store_up.set(1.0);
                self.head.set(head as f64);
                self.lag.set(head.saturating_sub(applied) as f64);
            }
            // The head and the lag keep what they last were: the store did not say.
            StoreHead::Unreachable => self.store_up.set(0.0),
        }
        self.backup_age.set(age(*self.last_backup.lock(), now));
        self.restore_test_age
            .set(age(*self.last_restore_test.lock(), now));
        self.handle.render()
    }

    /// Folds recorded latencies into the histogram every [`UPKEEP_EVERY`] until the task is
    /// aborted.
    pub fn spawn_upkeep(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let telemetry = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(UPKEEP_EVERY);
            loop {
                every.tick().await;
                telemetry.handle.run_upkeep();
            }
        })
    }
}

fn latest(slot: &Mutex<Option<Timestamp>>, at: Timestamp) {
    let mut last = slot.lock();
    if last.is_none_or(|l| l < at) {
        *last = Some(at);
    }
}

/// Seconds from `last` to `now`; +Inf when there is no `last` (an alert on "too old" fires).
fn age(last: Option<Timestamp>, now: Timestamp) -> f64 {
    match last {
        Some(t) => (now.millis() - t.millis()).max(0) as f64 / 1000.0,
        None => f64::INFINITY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_count_from_the_latest_success_and_are_infinite_before_any() {
        let t = Telemetry::new().unwrap_or_else(|e| unreachable!("{e}"));
        let now = Timestamp::from_millis(1_800_000_000_000);
        let text = t.render(now, 5, StoreHead::Reached(7));
        assert!(
            text.contains("\ncanopy_last_backup_age_seconds inf\n"),
            "{text}"
        );
        assert!(
            text.contains("\ncanopy_last_restore_test_age_seconds inf\n"),
            "{text}"
        );
        assert!(
            text.contains("\ncanopy_replica_lag_revisions 2\n"),
            "{text}"
        );
        assert!(text.contains("\ncanopy_store_up 1\n"), "{text}");

        t.backup_succeeded(now.plus_millis(-90_000));
        t.backup_succeeded(now.plus_millis(-200_000)); // older than the one known: ignored
        t.restore_test_succeeded(now.plus_millis(-1_500));
        let text = t.render(now, 7, StoreHead::Unreachable);
        assert!(
            text.contains("\ncanopy_last_backup_age_seconds 90\n"),
            "{text}"
        );
        assert!(
            text.contains("\ncanopy_last_restore_test_age_seconds 1.5\n"),
            "{text}"
        );
        assert!(text.contains("\ncanopy_store_up 0\n"), "{text}");
        // The store did not say: the head and the lag keep what they were.
        assert!(text.contains("\ncanopy_store_head_revision 7\n"), "{text}");
        assert!(
            text.contains("\ncanopy_replica_lag_revisions 2\n"),
            "{text}"
        );
        assert!(text.contains("\ncanopy_revision 7\n"), "{text}");
    }
}
