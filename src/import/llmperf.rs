//! LLMPerf (`token_benchmark_ray.py --results-dir`): `<name>_summary.json` (flat aggregates)
//! and `<name>_individual_responses.json` (a list, one object per request, seconds).
//! The individual file has no model name: `llmrank import` pairs it with its summary (given
//! with it, or beside it) for the model and workload; `--llm` works too.
//!
//! Mapping per request (`error_code` null; others are failed): TTFT = `ttft_s`·1000;
//! e2e_latency = `end_to_end_latency_s`·1000; TPS = `request_output_throughput_token_per_s`
//! (output tokens / e2e latency, per request, the same definition as llmrank's); TPOT =
//! (e2e − TTFT)/(output tokens − 1). LLMPerf's `inter_token_latency_s` is not an ITL: it
//! divides e2e latency *including TTFT* by the chunk count, so it is not imported.
//!
//! Summary alone: `results_{ttft_s,end_to_end_latency_s,request_output_throughput_token_per_s}_*`
//! (mean, min, max, stddev, quantiles p25–p99) as reported, n = `results_num_completed_requests`;
//! `results_mean_output_throughput_token_per_s` (system) is output_throughput;
//! `results_num_completed_requests_per_min` / 60 is RPS.

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use super::json::{self, num, text};
use super::{emit, vllm, Benchmark, Options, Reported, Sink, Tally};
use crate::domain::MetricKind;

pub fn parse(bytes: &[u8], opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    let v = json::parse(bytes)?;
    match &v {
        Value::Array(items) => {
            let summary = match &opts.companion {
                Some(c) => Some(json::parse(c).map_err(|e| anyhow!("its summary: {e}"))?),
                None => None,
            };
            individual(items, summary.as_ref(), opts, sink)
        }
        Value::Object(o) if o.keys().any(|k| k.starts_with("results_")) => {
            let mut b = benchmark(&v, opts);
            b.llm(opts, "this LLMPerf summary")?;
            let n = num(v.get("results_num_completed_requests")).map(|x| x as u64);
            let failed = num(v.get("results_number_errors")).unwrap_or(0.0) as u64;
            b.detail("error_code_frequency", text(v.get("results_error_code_frequency")));
            sink.begin(b)?;
            let mut t = Tally {
                failed,
                ..Default::default()
            };
            if n.unwrap_or(0) > 0 {
                t.reported = aggregates(&v, n);
            }
            sink.end(t)
        }
        other => bail!(
            "expected an LLMPerf summary object (results_* keys) or a list of individual responses, found {}",
            vllm::kind(other)
        ),
    }
}

fn benchmark(summary: &Value, opts: &Options) -> Benchmark {
    let mut b = Benchmark::new("llmperf");
    b.tool_version = text(summary.get("version"));
    b.model = text(summary.get("model"));
    b.measured_at = num(summary.get("timestamp")).map(|t| t as i64);
    b.set("input_len", text(summary.get("mean_input_tokens")));
    b.set("output_len", text(summary.get("mean_output_tokens")));
    b.set("concurrency", text(summary.get("num_concurrent_requests")));
    // Leaderboard files name the provider in `framework` (groq, bedrock, ...).
    b.set("engine", text(summary.get("framework")));
    b.label(opts);
    b.detail("name", text(summary.get("name")));
    b.detail("model_size", text(summary.get("model_size")));
    b
}

fn individual(
    items: &[Value],
    summary: Option<&Value>,
    opts: &Options,
    sink: &mut dyn Sink,
) -> Result<()> {
    let mut b = match summary {
        Some(s) => benchmark(s, opts),
        None => {
            let mut b = Benchmark::new("llmperf");
            b.label(opts);
            b
        }
    };
    let llm = b.llm(
        opts,
        "this LLMPerf individual-responses file (and no summary beside it)",
    )?;
    let at = b.measured_at.map(|s| s * 1_000_000);
    if !b.workload.contains_key("concurrency") {
        b.detail("requests", Some(items.len().to_string()));
    }
    sink.begin(b)?;
    let mut t = Tally::default();
    for (i, r) in items.iter().enumerate() {
        let ctx = |e: anyhow::Error| e.context(format!("request {i}"));
        if !r.is_object() {
            bail!("request {i}: expected an object, found {}", vllm::kind(r));
        }
        if !r.get("error_code").is_none_or(Value::is_null) {
            t.failed += 1;
            continue;
        }
        let field = |k: &str| -> Result<f64> {
            match r.get(k) {
                None => bail!("request {i}: field {k:?} is missing"),
                Some(x) => num(Some(x)).ok_or_else(|| {
                    anyhow!(
                        "request {i}: field {k:?} is {}, expected a number",
                        vllm::kind(x)
                    )
                }),
            }
        };
        let ttft = field("ttft_s")?;
        let e2e = field("end_to_end_latency_s")?;
        let out = num(r.get("number_output_tokens")).unwrap_or(0.0);
        if ttft <= 0.0 && out <= 0.0 {
            t.drop_one(super::EMPTY_SUCCESS);
            continue;
        }
        if ttft <= 0.0 || e2e < ttft {
            t.drop_one("0 ms TTFT, or end-to-end latency shorter than TTFT");
            continue;
        }
        sink.request()?;
        emit(sink, &llm, MetricKind::Ttft, ttft * 1000.0, at).map_err(ctx)?;
        emit(sink, &llm, MetricKind::E2eLatency, e2e * 1000.0, at).map_err(ctx)?;
        if let Some(tps) = num(r.get("request_output_throughput_token_per_s")).filter(|x| *x > 0.0)
        {
            emit(sink, &llm, MetricKind::Tps, tps, at).map_err(ctx)?;
        }
        if out > 1.0 && e2e > ttft {
            emit(
                sink,
                &llm,
                MetricKind::Tpot,
                (e2e - ttft) / (out - 1.0) * 1000.0,
                at,
            )
            .map_err(ctx)?;
        }
    }
    sink.end(t)
}

fn aggregates(v: &Value, n: Option<u64>) -> Vec<Reported> {
    let mut out = Vec::new();
    for (key, metric, scale) in [
        ("ttft_s", MetricKind::Ttft, 1000.0),
        ("end_to_end_latency_s", MetricKind::E2eLatency, 1000.0),
        (
            "request_output_throughput_token_per_s",
            MetricKind::Tps,
            1.0,
        ),
    ] {
        let g = |s: &str| num(v.get(format!("results_{key}_{s}").as_str()));
        let mut r = Reported::new(metric, format!("llmperf: results_{key}_*"));
        r.n = n;
        r.mean = g("mean");
        r.stddev = g("stddev");
        r.min = g("min");
        r.max = g("max");
        for p in ["p25", "p50", "p75", "p90", "p95", "p99"] {
            if let Some(x) = g(&format!("quantiles_{p}")) {
                r.percentiles.insert(p.to_string(), x);
            }
        }
        if r.is_useful() {
            out.push(r.scaled(scale));
        }
    }
    if let Some(x) = num(v.get("results_mean_output_throughput_token_per_s")).filter(|x| *x > 0.0) {
        out.push(Reported::whole(
            MetricKind::OutputThroughput,
            x,
            "llmperf: results_mean_output_throughput_token_per_s (whole benchmark)",
        ));
    }
    if let Some(x) = num(v.get("results_num_completed_requests_per_min")).filter(|x| *x > 0.0) {
        out.push(Reported::whole(
            MetricKind::Rps,
            x / 60.0,
            "llmperf: results_num_completed_requests_per_min / 60 (whole benchmark)",
        ));
    }
    out
}

/// The summary file that goes with an individual-responses file name, if the name says.
pub fn summary_name(individual: &str) -> Option<String> {
    individual
        .strip_suffix("_individual_responses.json")
        .map(|stem| format!("{stem}_summary.json"))
}
