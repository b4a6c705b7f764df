//! kubernetes-sigs/inference-perf reports: `stage_N_lifecycle_metrics.json` (one load stage,
//! the natural run) and `summary_lifecycle_metrics.json` (the whole sweep), all latencies in
//! seconds; and the opt-in `per_request_lifecycle_metrics.json` (a list of requests). The load
//! is `load_summary.concurrency` for a concurrency stage, else `load_summary.requested_rate`.
//! No result file names the model (only the run's `config.yaml`): `--llm` names it.
//!
//! Mapping (aggregates, kept as reported, n = `successes.count`): `successes.latency`
//! `time_to_first_token` → TTFT, `request_latency` → e2e_latency, `time_per_output_token` →
//! TPOT, `inter_token_latency` → ITL (all ×1000); `successes.throughput.output_tokens_per_sec`
//! → output_throughput, `requests_per_sec` → RPS; `failures.count` failed. Per request:
//! TTFT = first output token time − start, e2e = end − start, TPOT = (e2e − TTFT) / (output
//! tokens − 1) with the tool's `response_metrics.output_tokens` (inference-perf's own TPOT ends
//! at the last token time instead of the request's end), ITL = every gap between output token
//! times, the zeros within a chunk too (inference-perf's ITL).

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use super::json::{self, at, num, rate_text, text};
use super::{emit, vllm, Benchmark, Options, Reported, Sink, Tally};
use crate::domain::MetricKind;

pub fn parse(bytes: &[u8], opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    let v = json::parse(bytes)?;
    match &v {
        Value::Array(items) => per_request(items, opts, sink),
        Value::Object(_) if v.get("successes").is_some() || v.get("load_summary").is_some() => {
            lifecycle(&v, opts, sink)
        }
        other => bail!(
            "expected an inference-perf lifecycle report (load_summary, successes, failures) or a per-request list, found {}",
            vllm::kind(other)
        ),
    }
}

fn benchmark(v: Option<&Value>, opts: &Options) -> Benchmark {
    let mut b = Benchmark::new("inference-perf");
    if let Some(v) = v {
        // A concurrency stage (load.type concurrent) writes `load_summary.concurrency`, and its
        // `requested_rate` then holds the stage's request count (inference-perf runs it as
        // "rate" num_requests over a duration of 1 s), not a rate: the load is the concurrency.
        match text(at(v, &["load_summary", "concurrency"])) {
            Some(c) => b.set("concurrency", Some(c)),
            None => b.set(
                "request_rate",
                rate_text(at(v, &["load_summary", "requested_rate"])),
            ),
        }
        b.detail(
            "achieved_rate",
            rate_text(at(v, &["load_summary", "achieved_rate"])),
        );
    }
    b.label(opts);
    b
}

fn lifecycle(v: &Value, opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    if at(v, &["successes", "count"]).is_some_and(|c| num(Some(c)).unwrap_or(0.0) > 0.0)
        && at(v, &["successes", "latency"]).is_none()
    {
        bail!("a server-side Prometheus summary (no successes.latency), not the client's lifecycle metrics: import the *_lifecycle_metrics.json files");
    }
    let b = benchmark(Some(v), opts);
    b.llm(
        opts,
        "an inference-perf report (the model is only in its config.yaml)",
    )?;
    let n = num(at(v, &["successes", "count"])).map(|c| c as u64);
    let failed = num(at(v, &["failures", "count"])).unwrap_or(0.0) as u64;
    sink.begin(b)?;
    let mut t = Tally {
        failed,
        ..Default::default()
    };
    if n.unwrap_or(0) > 0 {
        for (name, metric) in [
            ("time_to_first_token", MetricKind::Ttft),
            ("request_latency", MetricKind::E2eLatency),
            ("time_per_output_token", MetricKind::Tpot),
            ("inter_token_latency", MetricKind::Itl),
        ] {
            let Some(d) = at(v, &["successes", "latency", name]) else {
                continue;
            };
            let mut r = Reported::new(metric, format!("inference-perf: successes.latency.{name}"));
            r.n = n;
            r.mean = num(d.get("mean"));
            r.min = num(d.get("min"));
            r.max = num(d.get("max"));
            if let Some(o) = d.as_object() {
                for (k, x) in o {
                    let key = if k == "median" {
                        "p50".to_string()
                    } else {
                        k.clone()
                    };
                    if key.starts_with('p') && key[1..].parse::<f64>().is_ok() {
                        if let Some(x) = num(Some(x)) {
                            r.percentiles.insert(key, x);
                        }
                    }
                }
            }
            if r.is_useful() {
                t.reported.push(r.scaled(1000.0));
            }
        }
        for (name, metric) in [
            ("output_tokens_per_sec", MetricKind::OutputThroughput),
            ("requests_per_sec", MetricKind::Rps),
        ] {
            if let Some(x) = num(at(v, &["successes", "throughput", name])).filter(|x| *x > 0.0) {
                t.reported.push(Reported::whole(
                    metric,
                    x,
                    format!("inference-perf: successes.throughput.{name} (whole stage)"),
                ));
            }
        }
    }
    sink.end(t)
}

fn per_request(items: &[Value], opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    let b = benchmark(None, opts);
    let llm = b.llm(opts, "an inference-perf per-request report")?;
    sink.begin(b)?;
    let mut t = Tally::default();
    for (i, r) in items.iter().enumerate() {
        if !r.get("error").is_none_or(Value::is_null) {
            t.failed += 1;
            continue;
        }
        let start =
            num(r.get("start_time")).ok_or_else(|| anyhow!("request {i}: no start_time"))?;
        let end = num(r.get("end_time")).ok_or_else(|| anyhow!("request {i}: no end_time"))?;
        let times: Vec<f64> = at(r, &["info", "response_metrics", "output_token_times"])
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| num(Some(x))).collect())
            .unwrap_or_default();
        let Some(&first) = times.first() else {
            t.drop_one(super::EMPTY_SUCCESS);
            continue;
        };
        if first <= start || end < first {
            t.drop_one("0 ms TTFT, or end-to-end latency shorter than TTFT");
            continue;
        }
        // perf_counter times: no wall clock, so the import's time stamps them.
        let ctx = |e: anyhow::Error| e.context(format!("request {i}"));
        sink.request()?;
        emit(sink, &llm, MetricKind::Ttft, (first - start) * 1000.0, None).map_err(ctx)?;
        emit(
            sink,
            &llm,
            MetricKind::E2eLatency,
            (end - start) * 1000.0,
            None,
        )
        .map_err(ctx)?;
        // The tool's own count (the whole response re-tokenized) when it keeps one: the
        // token times repeat each chunk's time per token of it, a count of another tokenising.
        let out = num(at(r, &["info", "response_metrics", "output_tokens"]))
            .filter(|n| *n > 0.0)
            .unwrap_or(times.len() as f64);
        if out > 1.0 {
            emit(
                sink,
                &llm,
                MetricKind::Tpot,
                (end - first) / (out - 1.0) * 1000.0,
                None,
            )
            .map_err(ctx)?;
        }
        emit(sink, &llm, MetricKind::Tps, out / (end - start), None).map_err(ctx)?;
        let gaps = times.windows(2).map(|w| (w[1] - w[0]) * 1000.0);
        super::emit_gaps(sink, &llm, gaps, None, &mut t).map_err(ctx)?;
    }
    sink.end(t)
}
