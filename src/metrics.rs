//! What `GET /metrics` says, in the Prometheus text format: requests by endpoint, API
//! form, Status and reason; latency; signing; push attempts; the audit queue's losses.
//! Gauges that belong to the database (pool, outbox depth, whether each department's
//! database answers) are read when scraped.
//!
//! One registry per process: the server, the pusher and the issuing path count into it.

use std::sync::OnceLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub signatures: IntCounter,
    pub signing_seconds: Histogram,
    pub push_attempts: IntCounterVec,
    pub audit_dropped: IntGauge,
    pub pool: IntGaugeVec,
    pub outbox_queued: IntGauge,
    pub outbox_oldest_seconds: IntGauge,
    pub department_up: IntGaugeVec,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new();
    let requests = IntCounterVec::new(
        Opts::new("dlrepo_requests_total", "Pull URI and Pull Doc answers"),
        &["endpoint", "api", "status", "reason"],
    )?;
    let latency = HistogramVec::new(
        HistogramOpts::new(
            "dlrepo_request_duration_seconds",
            "Time from the request's arrival to its answer",
        )
        .buckets(vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ]),
        &["endpoint"],
    )?;
    let signatures = IntCounter::new("dlrepo_signatures_total", "PDF signatures made")?;
    let signing_seconds = Histogram::with_opts(
        HistogramOpts::new("dlrepo_signing_seconds", "Time to sign one PDF")
            .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1]),
    )?;
    let push_attempts = IntCounterVec::new(
        Opts::new("dlrepo_push_attempts_total", "Push attempts by outcome"),
        &["outcome"],
    )?;
    let audit_dropped = IntGauge::new(
        "dlrepo_audit_dropped_records",
        "Audit records lost to a full queue or a refusing database since start",
    )?;
    let pool = IntGaugeVec::new(
        Opts::new("dlrepo_db_pool_connections", "Database pool connections"),
        &["state"],
    )?;
    let outbox_queued = IntGauge::new(
        "dlrepo_outbox_queued_rows",
        "Outbox rows not yet pushed (queued or in a file not yet acknowledged)",
    )?;
    let outbox_oldest_seconds = IntGauge::new(
        "dlrepo_outbox_oldest_queued_seconds",
        "Age of the oldest outbox row not yet pushed",
    )?;
    let department_up = IntGaugeVec::new(
        Opts::new(
            "dlrepo_department_up",
            "1 when the department database of a doc type served from its table answers, else 0",
        ),
        &["doctype"],
    )?;
    let build_info = IntGaugeVec::new(
        Opts::new("dlrepo_build_info", "The running build"),
        &["version"],
    )?;
    build_info
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
    registry.register(Box::new(requests.clone()))?;
    registry.register(Box::new(latency.clone()))?;
    registry.register(Box::new(signatures.clone()))?;
    registry.register(Box::new(signing_seconds.clone()))?;
    registry.register(Box::new(push_attempts.clone()))?;
    registry.register(Box::new(audit_dropped.clone()))?;
    registry.register(Box::new(pool.clone()))?;
    registry.register(Box::new(outbox_queued.clone()))?;
    registry.register(Box::new(outbox_oldest_seconds.clone()))?;
    registry.register(Box::new(department_up.clone()))?;
    registry.register(Box::new(build_info))?;
    Ok(Metrics {
        registry,
        requests,
        latency,
        signatures,
        signing_seconds,
        push_attempts,
        audit_dropped,
        pool,
        outbox_queued,
        outbox_oldest_seconds,
        department_up,
    })
}

/// The process's metrics; None only if the registry could not be built (then nothing
/// is counted, and `/metrics` says so).
pub fn get() -> Option<&'static Metrics> {
    static METRICS: OnceLock<Option<Metrics>> = OnceLock::new();
    METRICS
        .get_or_init(|| {
            build()
                .map_err(|e| tracing::error!(error = %e, "metrics unavailable"))
                .ok()
        })
        .as_ref()
}

/// The text exposition of everything registered.
pub fn render() -> String {
    let Some(m) = get() else {
        return "# metrics unavailable\n".into();
    };
    let mut out = Vec::new();
    if TextEncoder::new()
        .encode(&m.registry.gather(), &mut out)
        .is_err()
    {
        return "# metrics could not be encoded\n".into();
    }
    String::from_utf8(out).unwrap_or_default()
}
