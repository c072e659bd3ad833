//! Prometheus metrics: HTTP traffic, storage commits and the job queue.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::jobs::{JobObserver, JobState};
use crate::storage::StorageObserver;

/// Labels of HTTP request metrics. `route` is the matched pattern, never the raw path, so
/// cardinality stays bounded.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// HTTP method.
    pub method: String,
    /// Route pattern, or `unmatched`.
    pub route: String,
    /// Status code.
    pub status: u16,
}

/// Labels of per-route latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// HTTP method.
    pub method: String,
    /// Route pattern.
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DepthLabels {
    state: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    kind: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

fn latency_histogram() -> Histogram {
    // 0.1 ms … ~13 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

fn batch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 12))
}

/// All process metrics, shared by the HTTP layer and the observers.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    commit_duration: Histogram,
    commit_batch: Histogram,
    commit_failures: Counter,
    job_depth: Family<DepthLabels, Gauge>,
    job_oldest_ready: Gauge<f64, std::sync::atomic::AtomicU64>,
    payments_flagged: Gauge,
    job_outcomes: Family<OutcomeLabels, Counter>,
    job_duration: Family<KindLabels, Histogram, fn() -> Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("shopd");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            http_requests.clone(),
        );
        let http_duration: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "HTTP request latency by method and route",
            Unit::Seconds,
            http_duration.clone(),
        );
        let commit_duration = latency_histogram();
        registry.register_with_unit(
            "storage_commit_duration",
            "Time from a group-commit batch's start to its durable commit",
            Unit::Seconds,
            commit_duration.clone(),
        );
        let commit_batch = batch_histogram();
        registry.register(
            "storage_commit_batch_size",
            "Write requests folded into one durable commit",
            commit_batch.clone(),
        );
        let commit_failures = Counter::default();
        registry.register(
            "storage_commit_failures",
            "Commits that failed (the store then refuses writes until restart)",
            commit_failures.clone(),
        );
        let job_depth = Family::<DepthLabels, Gauge>::default();
        registry.register(
            "jobs_queue_depth",
            "Jobs in the queue by state and kind",
            job_depth.clone(),
        );
        let job_oldest_ready = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "jobs_oldest_ready_age_seconds",
            "How long the oldest due job has waited (0 when none is due): the queue falling behind",
            job_oldest_ready.clone(),
        );
        let payments_flagged = Gauge::default();
        registry.register(
            "payments_flagged",
            "Payments held for staff review (an amount that differs from the order's, an authorization about to lapse)",
            payments_flagged.clone(),
        );
        let job_outcomes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "jobs_outcomes",
            "Job attempts by kind and outcome (succeeded, retried, dead)",
            job_outcomes.clone(),
        );
        let job_duration: Family<KindLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "jobs_run_duration",
            "Job handler run time by kind",
            Unit::Seconds,
            job_duration.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
            })
            .set(1);
        registry.register("build_info", "shopd build information", build);
        Arc::new(Metrics {
            registry,
            http_requests,
            http_duration,
            commit_duration,
            commit_batch,
            commit_failures,
            job_depth,
            job_oldest_ready,
            payments_flagged,
            job_outcomes,
            job_duration,
        })
    }

    /// Records one answered HTTP request.
    pub fn http_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Sets the queue depth gauges from a fresh count.
    pub fn set_queue_depth(&self, rows: &[(JobState, String, u64)]) {
        for (state, kind, n) in rows {
            self.job_depth
                .get_or_create(&DepthLabels {
                    state: state.as_str().to_owned(),
                    kind: kind.clone(),
                })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
    }

    /// Sets the age of the oldest due job, in milliseconds.
    pub fn set_oldest_ready_age(&self, ms: u64) {
        self.job_oldest_ready.set(ms as f64 / 1000.0);
    }

    /// Sets how many payments wait for staff review.
    pub fn set_payments_flagged(&self, n: u64) {
        self.payments_flagged
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// The OpenMetrics text exposition (for scrapers that ask for it).
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// The classic Prometheus text format (0.0.4), which every scraper and `promtool` reads.
    pub fn render(&self) -> String {
        to_prometheus_text(&self.render_openmetrics())
    }
}

impl StorageObserver for Metrics {
    fn commit(&self, batch_size: usize, elapsed: Duration, ok: bool) {
        self.commit_duration.observe(elapsed.as_secs_f64());
        self.commit_batch.observe(batch_size as f64);
        if !ok {
            self.commit_failures.inc();
        }
    }
}

impl JobObserver for Metrics {
    fn outcome(&self, kind: &str, outcome: &'static str, elapsed: Duration) {
        self.job_outcomes
            .get_or_create(&OutcomeLabels {
                kind: kind.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.job_duration
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }
}

/// Converts OpenMetrics text to the Prometheus 0.0.4 text format: counters are declared under
/// their `_total` sample name, and `# UNIT` / `# EOF` lines (unknown to 0.0.4) are dropped.
pub fn to_prometheus_text(om: &str) -> String {
    let counters: std::collections::HashSet<&str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_declared_under_total_names() {
        let m = Metrics::new();
        m.http_request("GET", "/x", 200, Duration::from_millis(3));
        let text = m.render();
        assert!(
            text.contains("# TYPE shopd_http_requests_total counter"),
            "{text}"
        );
        assert!(
            text.contains(
                "shopd_http_requests_total{method=\"GET\",route=\"/x\",status=\"200\"} 1"
            )
        );
        assert!(!text.contains("# EOF"));
        assert!(!text.contains("# UNIT"));
    }
}
