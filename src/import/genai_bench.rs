//! sgl-project genai-bench: one JSON file per run of a traffic scenario at one concurrency (or
//! batch size), `{"aggregated_metrics": {...}, "individual_request_metrics": [...],
//! "_time_unit": "s" | "ms"}` (`AggregatedMetricsCollector.save`), beside the experiment's
//! `experiment_metadata.json` (model, engine, GPU type and count), read as its companion.
//!
//! Per request (`RequestLevelMetrics`): `ttft`, `tpot` = (e2e − TTFT) / (output tokens − 1),
//! `e2e_latency`, in `_time_unit`; a request with an `error_code` failed. TPS is output tokens
//! ÷ e2e latency (llmrank's definition; genai-bench's `output_inference_speed` is 1 / TPOT).
//! The run's `requests_per_second` and `mean_output_throughput_tokens_per_s` are kept as the
//! tool reported them, its `run_duration` as the run's duration. The load (`num_concurrency`,
//! or `batch_size` for embedding runs) and the scenario go in the workload: the runs of one
//! experiment at several concurrencies are the levels of one sweep.

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use super::json::{self, num, text};
use super::{emit, Benchmark, Options, Reported, Sink, Tally};
use crate::domain::MetricKind;

pub fn parse(bytes: &[u8], opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    let doc = json::parse(bytes)?;
    let agg = doc
        .get("aggregated_metrics")
        .ok_or_else(|| anyhow!("no \"aggregated_metrics\": not a genai-bench run file"))?;
    let meta = match &opts.companion {
        Some(c) => Some(json::parse(c).map_err(|e| anyhow!("its experiment_metadata.json: {e}"))?),
        None => None,
    };
    let meta = meta.as_ref();
    let unit_ms = match doc.get("_time_unit").and_then(Value::as_str).unwrap_or("s") {
        "s" => 1_000.0,
        "ms" => 1.0,
        other => bail!("\"_time_unit\" is {other:?}; genai-bench writes \"s\" or \"ms\""),
    };
    let mut b = Benchmark::new("genai-bench");
    let from_meta = |k: &str| meta.and_then(|m| text(m.get(k)));
    b.tool_version = from_meta("benchmark_version");
    b.model = from_meta("api_model_name").or_else(|| from_meta("model"));
    b.set("scenario", text(agg.get("scenario")));
    let iteration = text(agg.get("iteration_type")).unwrap_or_else(|| "num_concurrency".into());
    if iteration == "batch_size" {
        b.set("batch_size", text(agg.get("batch_size")));
    } else {
        b.set("concurrency", text(agg.get("num_concurrency")));
    }
    b.set("engine", from_meta("server_engine"));
    b.set("engine_version", from_meta("server_version"));
    b.set("gpu", from_meta("server_gpu_type"));
    b.set("gpu_count", from_meta("server_gpu_count"));
    b.set("task", from_meta("task"));
    b.detail(
        "duration_s",
        num(agg.get("run_duration")).map(super::num_text),
    );
    b.detail("num_requests", text(agg.get("num_requests")));
    b.label(opts);
    let llm = b.llm(
        opts,
        "this genai-bench run file (and no experiment_metadata.json beside it)",
    )?;
    let items = doc
        .get("individual_request_metrics")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    sink.begin(b)?;
    let mut t = Tally::default();
    for (i, r) in items.iter().enumerate() {
        request(r, &llm, unit_ms, sink, &mut t).map_err(|e| e.context(format!("request {i}")))?;
    }
    if items.is_empty() {
        t.failed = num(agg.get("num_error_requests")).unwrap_or(0.0) as u64;
    }
    for (key, metric) in [
        ("requests_per_second", MetricKind::Rps),
        (
            "mean_output_throughput_tokens_per_s",
            MetricKind::OutputThroughput,
        ),
    ] {
        if let Some(v) = num(agg.get(key)).filter(|v| *v > 0.0) {
            t.reported.push(Reported::whole(
                metric,
                v,
                format!("genai-bench: {key} (whole run)"),
            ));
        }
    }
    sink.end(t)
}

fn request(r: &Value, llm: &str, unit_ms: f64, sink: &mut dyn Sink, t: &mut Tally) -> Result<()> {
    if !r.get("error_code").is_none_or(Value::is_null) {
        t.failed += 1;
        return Ok(());
    }
    let field = |k: &str| num(r.get(k));
    let (Some(ttft), Some(e2e)) = (field("ttft"), field("e2e_latency")) else {
        bail!("a successful request without \"ttft\" and \"e2e_latency\"");
    };
    let (ttft, e2e) = (ttft * unit_ms, e2e * unit_ms);
    let out = field("num_output_tokens").unwrap_or(0.0);
    if ttft <= 0.0 && out <= 0.0 {
        t.drop_one(super::EMPTY_SUCCESS);
        return Ok(());
    }
    if ttft <= 0.0 || e2e < ttft {
        t.drop_one("0 ms TTFT, or end-to-end latency shorter than TTFT");
        return Ok(());
    }
    sink.request()?;
    emit(sink, llm, MetricKind::Ttft, ttft, None)?;
    emit(sink, llm, MetricKind::E2eLatency, e2e, None)?;
    if out > 1.0 && e2e > ttft {
        emit(
            sink,
            llm,
            MetricKind::Tpot,
            (e2e - ttft) / (out - 1.0),
            None,
        )?;
    }
    if out > 0.0 {
        emit(sink, llm, MetricKind::Tps, out / (e2e / 1_000.0), None)?;
    }
    Ok(())
}
