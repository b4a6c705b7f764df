//! Logging setup and every Prometheus metric name, in one place: prefix `llmrank_`, base
//! units, counters ending in `_total`, labels bounded (route template, method, status, layer).

use anyhow::{anyhow, Result};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogSettings;

pub const HTTP_REQUESTS: &str = "llmrank_http_requests_total";
pub const HTTP_DURATION: &str = "llmrank_http_request_duration_seconds";
pub const CACHE_REQUESTS: &str = "llmrank_cache_requests_total";
pub const CACHE_ERRORS: &str = "llmrank_cache_errors_total";
pub const CACHE_MEMORY_BYTES: &str = "llmrank_cache_memory_bytes";
pub const CACHE_REJECTED: &str = "llmrank_cache_rejected_total";
pub const CONNECTIONS_REFUSED: &str = "llmrank_http_connections_refused_total";
pub const STREAMS_REFUSED: &str = "llmrank_http_streams_refused_total";
pub const WRITES_REFUSED: &str = "llmrank_http_writes_refused_total";
pub const DB_QUERY_DURATION: &str = "llmrank_db_query_duration_seconds";
pub const DB_POOL_CONNECTIONS: &str = "llmrank_db_pool_connections";
pub const SAMPLES_WRITTEN: &str = "llmrank_samples_written_total";
pub const BATCHES_WRITTEN: &str = "llmrank_batches_written_total";
pub const BATCHES_RETRIED: &str = "llmrank_batches_retried_total";
pub const SIMULATE_RUNS: &str = "llmrank_simulate_runs_total";
/// The regression gauges `serve` appends to its exposition (see `regressions::exposition`).
pub const REGRESSION_STATE: &str = "llmrank_regression_state";
pub const REGRESSION_RATIO: &str = "llmrank_regression_ratio";
pub const REGRESSION_SINCE: &str = "llmrank_regression_since_seconds";
pub const REGRESSION_DROPPED: &str = "llmrank_regression_series_dropped";

/// Every series the binary exports (dashboards may use only these).
pub const ALL: &[&str] = &[
    HTTP_REQUESTS,
    HTTP_DURATION,
    CACHE_REQUESTS,
    CACHE_ERRORS,
    CACHE_MEMORY_BYTES,
    CACHE_REJECTED,
    CONNECTIONS_REFUSED,
    STREAMS_REFUSED,
    WRITES_REFUSED,
    DB_QUERY_DURATION,
    DB_POOL_CONNECTIONS,
    SAMPLES_WRITTEN,
    BATCHES_WRITTEN,
    BATCHES_RETRIED,
    SIMULATE_RUNS,
    REGRESSION_STATE,
    REGRESSION_RATIO,
    REGRESSION_SINCE,
    REGRESSION_DROPPED,
];

/// Content type of the Prometheus text exposition.
pub const EXPOSITION_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency buckets, seconds: 0.5 ms to 5 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Starts logging to stderr: text or JSON, filtered by `log.level` (or `RUST_LOG`).
pub fn init_logging(s: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&s.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second call (tests) keeps the first subscriber.
    let _ = if s.format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.compact().try_init()
    };
}

/// Counts one answered request and records its duration. The series' handles are looked up
/// once per label set and kept: the registry's own lookup builds and hashes a key on every
/// call, which showed in the cached path's profile. They are used under the read lock, not
/// cloned out (each clone and drop is a write to a count both worker threads share).
pub fn http_request(route: &'static str, method: &'static str, status: &'static str, secs: f64) {
    use std::collections::HashMap;
    use std::sync::{OnceLock, RwLock};
    type Series = (metrics::Counter, metrics::Histogram);
    type Labels = (&'static str, &'static str, &'static str);
    static SERIES: OnceLock<RwLock<HashMap<Labels, Series>>> = OnceLock::new();
    let map = SERIES.get_or_init(Default::default);
    let key = (route, method, status);
    let record = |(counter, histogram): &Series| {
        counter.increment(1);
        histogram.record(secs);
    };
    if let Some(series) = map.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return record(series);
    }
    let series = (
        metrics::counter!(HTTP_REQUESTS, "route" => route, "method" => method, "status" => status),
        metrics::histogram!(HTTP_DURATION, "route" => route),
    );
    record(&series);
    map.write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, series);
}

/// The process's Prometheus recorder: installed on first use (describing every series and
/// registering the main ones at zero), shared afterwards.
pub fn recorder() -> Result<PrometheusHandle> {
    static HANDLE: std::sync::Mutex<Option<PrometheusHandle>> = std::sync::Mutex::new(None);
    let mut slot = HANDLE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(h) = slot.as_ref() {
        return Ok(h.clone());
    }
    let handle = install_recorder()?;
    *slot = Some(handle.clone());
    Ok(handle)
}

fn install_recorder() -> Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .map_err(|e| anyhow!("failed to set histogram buckets: {e}"))?
        .install_recorder()
        .map_err(|e| anyhow!("failed to install the metrics recorder: {e}"))?;
    describe();
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status code"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request duration, by route template"
    );
    describe_counter!(
        CACHE_REQUESTS,
        "Ranking cache lookups, by layer (memory, redis) and result (hit, miss)"
    );
    describe_counter!(
        CACHE_ERRORS,
        "Redis cache errors (the answer then comes from PostgreSQL)"
    );
    describe_gauge!(
        CACHE_MEMORY_BYTES,
        Unit::Bytes,
        "Bytes of answers held in the in-memory cache (bounded by cache.memory_bytes)"
    );
    describe_counter!(
        CACHE_REJECTED,
        "Redis cache entries dropped because their signature did not verify (never served)"
    );
    describe_counter!(
        CONNECTIONS_REFUSED,
        "Connections closed at once because their client address held server.max_connections_per_client"
    );
    describe_counter!(
        STREAMS_REFUSED,
        "GET /events answered 503 because server.max_event_streams streams were open"
    );
    describe_counter!(
        WRITES_REFUSED,
        "POST /samples answered 503 because server.max_concurrent_writes writes were in progress"
    );
    describe_histogram!(
        DB_QUERY_DURATION,
        Unit::Seconds,
        "PostgreSQL query duration, by query"
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "PostgreSQL pool connections, by state (in_use, idle)"
    );
    describe_counter!(SAMPLES_WRITTEN, "Samples committed to PostgreSQL");
    describe_counter!(BATCHES_WRITTEN, "Sample batches committed to PostgreSQL");
    describe_counter!(
        BATCHES_RETRIED,
        "Batch attempts retried after a transient database error"
    );
    describe_counter!(SIMULATE_RUNS, "Simulate runs finished, by status");
    for m in [
        SAMPLES_WRITTEN,
        BATCHES_WRITTEN,
        BATCHES_RETRIED,
        CACHE_ERRORS,
        CACHE_REJECTED,
        CONNECTIONS_REFUSED,
        STREAMS_REFUSED,
        WRITES_REFUSED,
    ] {
        metrics::counter!(m).absolute(0);
    }
    for (layer, result) in [
        ("memory", "hit"),
        ("memory", "miss"),
        ("redis", "hit"),
        ("redis", "miss"),
    ] {
        metrics::counter!(CACHE_REQUESTS, "layer" => layer, "result" => result).absolute(0);
    }
    for status in ["completed", "failed", "cancelled"] {
        metrics::counter!(SIMULATE_RUNS, "status" => status).absolute(0);
    }
    for state in ["in_use", "idle"] {
        metrics::gauge!(DB_POOL_CONNECTIONS, "state" => state).set(0.0);
    }
    metrics::gauge!(CACHE_MEMORY_BYTES).set(0.0);
    metrics::counter!(HTTP_REQUESTS, "route" => "/ranking/{metric}", "method" => "GET", "status" => "200").absolute(0);
}
