//! GuideLLM `benchmarks.json`: v0.2–v0.3 (`{"benchmarks": [...]}`), v0.4 (`args` added),
//! v0.5–v0.6 (`metadata.version` 1), v0.7+ (`metadata.version` 2, `config.spec`). Each
//! benchmark of the report (one per rate or concurrency of a sweep) is one run.
//!
//! Per request, when the report lists every request it measured (`requests.successful`, in
//! v0.4+ filtered to the measurement window, since warm-up and cool-down requests are listed
//! too): TTFT = `time_to_first_token_ms`; e2e_latency = `request_latency`·1000 (seconds in the
//! file); TPOT = (e2e − TTFT) / (output tokens − 1), llmrank's (and vLLM's) definition — not
//! GuideLLM's `time_per_output_token_ms`, which is latency ÷ tokens *with* TTFT in it, 7–10%
//! higher; TPS = output tokens / request latency. A request list keeps no token times, so no
//! ITL. Errored and incomplete requests count as failed. The benchmark's throughput, which no
//! request holds, is kept as reported: the *mean* of `output_tokens_per_second`
//! (output_throughput, GuideLLM's headline) and of `requests_per_second` (RPS).
//!
//! Otherwise (lists sampled or stripped) the report's `metrics.<name>.successful` are kept as
//! reported: `time_to_first_token_ms` (TTFT), `request_latency` (×1000, e2e),
//! `inter_token_latency_ms` as TPOT (per request (last token − first token) / (tokens − 1); GuideLLM
//! weights its distribution by tokens, so its mean is the per-request mean when output lengths
//! are equal; n = successful requests) and as ITL (the token-weighted mean is exactly the mean
//! gap; its percentiles are of per-request mean gaps; n = `count`, the gaps), and the two
//! throughputs as above. `time_per_output_token_ms` is not read (another definition).

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use super::json::{self, at, num, rate_text, text};
use super::{emit, Benchmark, Options, Reported, Sink, Tally};
use crate::domain::MetricKind;

pub fn parse(bytes: &[u8], opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    let doc = json::parse(bytes)?;
    let benchmarks = doc
        .get("benchmarks")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("expected a GuideLLM report with a \"benchmarks\" array"))?;
    if benchmarks.is_empty() {
        bail!("the GuideLLM report holds no benchmarks");
    }
    let version = text(at(&doc, &["metadata", "guidellm_version"])).or_else(|| {
        Some(
            if doc.get("args").is_some() {
                "0.4"
            } else {
                "0.3"
            }
            .to_string(),
        )
    });
    for (i, bench) in benchmarks.iter().enumerate() {
        one(&doc, bench, version.clone(), opts, sink)
            .map_err(|e| e.context(format!("benchmarks[{i}]")))?;
    }
    Ok(())
}

fn one(
    doc: &Value,
    bench: &Value,
    version: Option<String>,
    opts: &Options,
    sink: &mut dyn Sink,
) -> Result<()> {
    let mut b = Benchmark::new("guidellm");
    b.tool_version = version;
    b.model = text(at(bench, &["worker", "backend_model"]))
        .or_else(|| text(at(bench, &["config", "backend", "model"])))
        .or_else(|| text(at(doc, &["args", "model"])))
        .or_else(|| text(at(doc, &["config", "spec", "backend", "model"])));
    b.measured_at = num(bench.get("start_time")).map(|t| t as i64);
    let strategy = at(bench, &["config", "strategy"]).or_else(|| at(bench, &["args", "strategy"]));
    if let Some(s) = strategy {
        b.set("strategy", text(s.get("type_")));
        b.set(
            "request_rate",
            rate_text(s.get("rate")).filter(|r| r != "-1"),
        );
        b.set(
            "concurrency",
            text(s.get("streams"))
                .or_else(|| text(s.get("max_concurrency")).filter(|_| s.get("rate").is_none())),
        );
    }
    b.detail(
        "target",
        text(at(bench, &["worker", "backend_target"]))
            .or_else(|| text(at(doc, &["args", "target"]))),
    );
    b.detail("duration_s", text(bench.get("duration")));
    b.label(opts);
    let llm = b.llm(opts, "this GuideLLM benchmark")?;
    let at_us = b.measured_at.map(|s| s * 1_000_000);

    let totals = bench
        .get("request_totals")
        .or_else(|| at(bench, &["metrics", "request_totals"]));
    let count = |k: &str| totals.and_then(|t| num(t.get(k))).unwrap_or(0.0) as u64;
    let (ok, failed) = (count("successful"), count("errored") + count("incomplete"));
    let listed: Vec<&Value> = at(bench, &["requests", "successful"])
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    // v0.4+ lists warm-up and cool-down requests too: keep the measured window's.
    let window = at(bench, &["scheduler_metrics"]).and_then(|m| {
        Some((
            num(m.get("measure_start_time"))?,
            num(m.get("measure_end_time"))?,
        ))
    });
    let measured: Vec<&Value> = listed
        .into_iter()
        .filter(|r| match (window, start_of(r)) {
            (Some((lo, hi)), Some(t)) => t >= lo - 1e-6 && t <= hi + 1e-6,
            _ => true,
        })
        .collect();
    let metrics = bench.get("metrics").unwrap_or(&Value::Null);
    sink.begin(b)?;
    let mut t = Tally {
        failed,
        ..Default::default()
    };
    if ok > 0 && measured.len() as u64 == ok {
        for (i, r) in measured.iter().enumerate() {
            request(r, &llm, at_us, sink, &mut t).map_err(|e| e.context(format!("request {i}")))?;
        }
        t.reported = throughputs(metrics);
    } else if ok > 0 {
        t.reported = aggregates(metrics, ok);
    }
    sink.end(t)
}

fn start_of(r: &Value) -> Option<f64> {
    num(r.get("request_start_time"))
        .or_else(|| num(at(r, &["info", "timings", "request_start"])))
        .or_else(|| num(r.get("start_time")))
}

fn request(
    r: &Value,
    llm: &str,
    at_us: Option<i64>,
    sink: &mut dyn Sink,
    t: &mut Tally,
) -> Result<()> {
    let ttft = num(r.get("time_to_first_token_ms"));
    let latency_s = num(r.get("request_latency"));
    let out = num(r.get("output_tokens"))
        .or_else(|| num(at(r, &["output_metrics", "text_tokens"])))
        .unwrap_or(0.0);
    let (Some(ttft), Some(latency_s)) = (ttft, latency_s) else {
        bail!("a request without time_to_first_token_ms or request_latency");
    };
    if ttft <= 0.0 && out <= 0.0 {
        t.drop_one(super::EMPTY_SUCCESS);
        return Ok(());
    }
    if ttft <= 0.0 || latency_s * 1000.0 < ttft {
        t.drop_one("0 ms TTFT, or end-to-end latency shorter than TTFT");
        return Ok(());
    }
    let at = start_of(r).map(|s| (s * 1e6) as i64).or(at_us);
    sink.request()?;
    emit(sink, llm, MetricKind::Ttft, ttft, at)?;
    emit(sink, llm, MetricKind::E2eLatency, latency_s * 1000.0, at)?;
    let e2e = latency_s * 1000.0;
    if out > 1.0 && e2e > ttft {
        emit(sink, llm, MetricKind::Tpot, (e2e - ttft) / (out - 1.0), at)?;
    }
    if out > 0.0 && latency_s > 0.0 {
        emit(sink, llm, MetricKind::Tps, out / latency_s, at)?;
    }
    Ok(())
}

fn distribution(m: &Value, name: &str, metric: MetricKind, scale: f64) -> Option<Reported> {
    let s = at(m, &[name, "successful"])?;
    let mut r = Reported::new(metric, format!("guidellm: metrics.{name}.successful"));
    r.n = num(s.get("count")).map(|c| c as u64);
    r.mean = num(s.get("mean"));
    r.stddev = num(s.get("std_dev"));
    r.min = num(s.get("min"));
    r.max = num(s.get("max"));
    if let Some(p) = s.get("percentiles").and_then(Value::as_object) {
        for (k, v) in p {
            // GuideLLM names p0.1 "p001", p1 "p01", p99.9 "p999".
            let name = match k.as_str() {
                "p001" => "p0.1".to_string(),
                "p01" => "p1".to_string(),
                "p05" => "p5".to_string(),
                "p999" => "p99.9".to_string(),
                other => other.to_string(),
            };
            if let Some(x) = num(Some(v)) {
                r.percentiles.insert(name, x);
            }
        }
    }
    if let Some(med) = num(s.get("median")) {
        r.percentiles.entry("p50".into()).or_insert(med);
    }
    r.is_useful().then(|| r.scaled(scale))
}

fn aggregates(m: &Value, requests: u64) -> Vec<Reported> {
    let mut out = Vec::new();
    out.extend(distribution(
        m,
        "time_to_first_token_ms",
        MetricKind::Ttft,
        1.0,
    ));
    out.extend(distribution(
        m,
        "request_latency",
        MetricKind::E2eLatency,
        1000.0,
    ));
    out.extend(
        distribution(m, "inter_token_latency_ms", MetricKind::Tpot, 1.0).map(|mut r| {
            r.n = Some(requests);
            r.origin.push_str(" (token-weighted)");
            r
        }),
    );
    out.extend(distribution(
        m,
        "inter_token_latency_ms",
        MetricKind::Itl,
        1.0,
    ));
    out.extend(throughputs(m));
    out
}

/// The benchmark's throughputs. Rates over time: only their mean is the benchmark's throughput
/// (the median is not).
fn throughputs(m: &Value) -> Vec<Reported> {
    let mut out = Vec::new();
    for (name, metric) in [
        ("output_tokens_per_second", MetricKind::OutputThroughput),
        ("requests_per_second", MetricKind::Rps),
    ] {
        if let Some(mean) = num(at(m, &[name, "successful", "mean"])).filter(|x| *x > 0.0) {
            out.push(Reported::whole(
                metric,
                mean,
                format!("guidellm: metrics.{name}.successful.mean (whole benchmark)"),
            ));
        }
    }
    out
}
