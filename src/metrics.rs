//! Prometheus metrics: one [`Registry`] per server (never the process's
//! default one: tests run several servers in one process), held by
//! [`crate::auth::Auth`] as `Arc<Metrics>` so every layer can count.
//!
//! Our own metrics are prefixed `mxauth_`; the process metrics
//! (`process_resident_memory_bytes`, `process_cpu_seconds_total`,
//! `process_open_fds`, ...) are the prometheus crate's, with Synapse's
//! names. Every label value is one of a fixed set (route templates, known
//! login types, limiter names, error codes): nothing a client sends
//! becomes a label as it is. Served as text by `http/metrics.rs`, on a
//! `metrics` listener or an `http` listener listing the `metrics`
//! resource, when `enable_metrics` is true.
//!
//! Knows nothing of the rest of the crate: the gauges sampled at scrape
//! time (database pool, homeserver queue) are set by
//! `Auth::sample_metrics` just before the text is made.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latencies of requests and background jobs, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Waits for a pooled connection or a hashing thread, in seconds.
const WAIT_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every metric of one server.
pub struct Metrics {
    registry: Registry,
    /// `mxauth_http_requests_total{method, endpoint, status}`.
    pub http_requests: IntCounterVec,
    /// `mxauth_http_request_duration_seconds{method, endpoint}`.
    pub http_request_duration: HistogramVec,
    /// `mxauth_logins_total{type, outcome}`: `POST /login`.
    pub logins: IntCounterVec,
    /// `mxauth_registrations_total{kind, outcome}`.
    pub registrations: IntCounterVec,
    /// `mxauth_rate_limited_total{limiter}`: requests refused by a limiter.
    pub rate_limited: IntCounterVec,
    /// `mxauth_password_hashing_queue_depth`: hashes waiting for a thread.
    pub password_hashing_queue_depth: IntGauge,
    /// `mxauth_password_hashing_wait_seconds`: how long they waited.
    pub password_hashing_wait: Histogram,
    /// `mxauth_token_cache_hits_total`.
    pub token_cache_hits: IntCounter,
    /// `mxauth_token_cache_misses_total`.
    pub token_cache_misses: IntCounter,
    /// `mxauth_token_cache_invalidations_total`.
    pub token_cache_invalidations: IntCounter,
    /// `mxauth_token_cache_trusted`: 1 while the token cache is trusted, else 0.
    pub token_cache_trusted: IntGauge,
    /// `mxauth_db_pool_connections{state="in_use"|"idle"}`, sampled at scrape time.
    pub db_pool_connections: IntGaugeVec,
    /// `mxauth_db_pool_acquire_wait_seconds`: waits for a pooled connection.
    pub db_pool_acquire_wait: Histogram,
    /// `mxauth_homeserver_queue_jobs`: calls to the homeserver waiting
    /// (all processes'), sampled at scrape time.
    pub homeserver_queue_jobs: IntGauge,
    /// `mxauth_homeserver_queue_oldest_job_age_seconds` (0 when empty).
    pub homeserver_queue_oldest_age: prometheus::Gauge,
    /// `mxauth_homeserver_call_failures_total{outcome="retry"|"dropped"}`.
    pub homeserver_call_failures: IntCounterVec,
    /// `mxauth_background_job_duration_seconds{job}`.
    pub background_job_duration: HistogramVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric, registered on a registry of its own, with the
    /// process collector where the platform has one (Linux).
    pub fn new() -> Self {
        let registry = Registry::new();
        let r = &registry;
        let metrics = Metrics {
            http_requests: counter_vec(
                r,
                "mxauth_http_requests_total",
                "HTTP requests answered, by method, route template and status.",
                &["method", "endpoint", "status"],
            ),
            http_request_duration: histogram_vec(
                r,
                "mxauth_http_request_duration_seconds",
                "Time to answer an HTTP request, by method and route template.",
                &["method", "endpoint"],
                LATENCY_BUCKETS,
            ),
            logins: counter_vec(
                r,
                "mxauth_logins_total",
                "POST /login requests, by login type and outcome (success or the errcode).",
                &["type", "outcome"],
            ),
            registrations: counter_vec(
                r,
                "mxauth_registrations_total",
                "Registration requests, by kind and outcome (success, auth_required \
                 for a UIA step, or the errcode).",
                &["kind", "outcome"],
            ),
            rate_limited: counter_vec(
                r,
                "mxauth_rate_limited_total",
                "Actions refused by a rate limiter, by limiter.",
                &["limiter"],
            ),
            password_hashing_queue_depth: gauge(
                r,
                "mxauth_password_hashing_queue_depth",
                "Password hashes waiting for a hashing thread.",
            ),
            password_hashing_wait: histogram(
                r,
                "mxauth_password_hashing_wait_seconds",
                "Time a password hash waited for a hashing thread.",
                WAIT_BUCKETS,
            ),
            token_cache_hits: counter(
                r,
                "mxauth_token_cache_hits_total",
                "Access tokens answered from the token cache.",
            ),
            token_cache_misses: counter(
                r,
                "mxauth_token_cache_misses_total",
                "Access tokens looked up in the database.",
            ),
            token_cache_invalidations: counter(
                r,
                "mxauth_token_cache_invalidations_total",
                "Entries dropped from the token cache.",
            ),
            token_cache_trusted: gauge(
                r,
                "mxauth_token_cache_trusted",
                "1 while the token cache is trusted, else 0.",
            ),
            db_pool_connections: gauge_vec(
                r,
                "mxauth_db_pool_connections",
                "Database connections of this process's pool, by state (in_use, idle).",
                &["state"],
            ),
            db_pool_acquire_wait: histogram(
                r,
                "mxauth_db_pool_acquire_wait_seconds",
                "Time waited for a connection from the database pool.",
                WAIT_BUCKETS,
            ),
            homeserver_queue_jobs: gauge(
                r,
                "mxauth_homeserver_queue_jobs",
                "Calls to the delegating homeserver waiting in the queue.",
            ),
            homeserver_queue_oldest_age: {
                let g = prometheus::Gauge::new(
                    "mxauth_homeserver_queue_oldest_job_age_seconds",
                    "Age of the oldest call waiting for the homeserver (0 when none).",
                )
                .expect("a valid metric");
                register(r, g.clone());
                g
            },
            homeserver_call_failures: counter_vec(
                r,
                "mxauth_homeserver_call_failures_total",
                "Calls to the homeserver that failed, by outcome (retry, dropped).",
                &["outcome"],
            ),
            background_job_duration: histogram_vec(
                r,
                "mxauth_background_job_duration_seconds",
                "Time a background job took, by job.",
                &["job"],
                LATENCY_BUCKETS,
            ),
            registry,
        };
        #[cfg(target_os = "linux")]
        register(
            &metrics.registry,
            prometheus::process_collector::ProcessCollector::for_self(),
        );
        metrics
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!("could not encode the metrics: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// Counts a refusal of the limiter named `limiter` (a fixed name).
    pub fn count_rate_limited(&self, limiter: &'static str) {
        self.rate_limited.with_label_values(&[limiter]).inc();
    }

    /// Counts a homeserver call that failed (`"retry"` or `"dropped"`).
    pub fn count_homeserver_failure(&self, outcome: &'static str) {
        self.homeserver_call_failures
            .with_label_values(&[outcome])
            .inc();
    }

    /// Records how long the background job `job` (a fixed name) took.
    pub fn observe_job(&self, job: &'static str, seconds: f64) {
        self.background_job_duration
            .with_label_values(&[job])
            .observe(seconds);
    }
}

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An HTTP method as a label: the standard ones, else `other` (a client
/// may send any token as a method).
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        _ => "other",
    }
}

// The definitions below are fixed at compile time: a bad name or a
// duplicate is a programming error, found by the first test that builds
// a server.

fn register(r: &Registry, c: impl prometheus::core::Collector + 'static) {
    r.register(Box::new(c)).expect("metric names are unique");
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("a valid metric");
    register(r, c.clone());
    c
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric");
    register(r, c.clone());
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("a valid metric");
    register(r, g.clone());
    g
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid metric");
    register(r, g.clone());
    g
}

fn histogram(r: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .expect("a valid metric");
    register(r, h.clone());
    h
}

fn histogram_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .expect("a valid metric");
    register(r, h.clone());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_servers_have_registries_of_their_own() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.token_cache_hits.inc();
        a.count_rate_limited("login.address");
        assert!(a.encode().contains("mxauth_token_cache_hits_total 1"));
        assert!(b.encode().contains("mxauth_token_cache_hits_total 0"));
        assert!(a
            .encode()
            .contains("mxauth_rate_limited_total{limiter=\"login.address\"} 1"));
    }

    #[test]
    fn unknown_methods_are_one_label() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("BREW"), "other");
    }
}
