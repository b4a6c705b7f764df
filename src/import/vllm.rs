//! vLLM `benchmark_serving.py` / `vllm bench serve --save-result` (one JSON object),
//! `--append-result` (one object per line), `vllm bench sweep` (`run=N.json`, and
//! `summary.json`, an array of them). SGLang's `bench_serving` writes the same keys.
//!
//! Mapping (per request, arrays in seconds; `--save-detailed` or 2024-era files):
//! TTFT = `ttfts[i]`·1000; e2e_latency = `latencies[i]`·1000, or TTFT + Σ `itls[i]` where the
//! file keeps no latencies (the last chunk's arrival); TPOT = (latency − TTFT)/(output − 1);
//! TPS = output tokens / latency (per request); ITL = every gap in `itls` (one per stream
//! chunk, pooled over requests, as vLLM computes it). Requests with a non-empty `errors[i]`
//! are failed; a "successful" one with 0 TTFT and no output is dropped.
//!
//! Aggregate-only files: `{mean,median,std,pNN}_{ttft,tpot,itl,e2el}_ms` (2024: `_latency_ms`)
//! are kept as reported, n = `completed`; `output_throughput` (system tok/s) is
//! output_throughput, `request_throughput` is RPS.

use anyhow::{anyhow, Result};
use serde::Deserialize;
use serde_json::Value;

use super::json::{self, num, rate_text, text};
use super::{Benchmark, Options, Reported, Requests, Sink, Tally};
use crate::domain::MetricKind;

#[derive(Debug, Default, Deserialize)]
struct Arrays {
    ttfts: Option<Vec<f64>>,
    #[serde(default)]
    itls: Vec<Vec<f64>>,
    #[serde(default)]
    output_lens: Vec<f64>,
    latencies: Option<Vec<f64>>,
    errors: Option<Vec<String>>,
    start_times: Option<Vec<f64>>,
}

/// The scalar keys a run is described by (read without holding the arrays twice).
#[derive(Debug, Default, Deserialize)]
struct Header {
    date: Option<Value>,
    model_id: Option<Value>,
    backend: Option<Value>,
    endpoint_type: Option<Value>,
    label: Option<Value>,
    num_prompts: Option<Value>,
    request_rate: Option<Value>,
    burstiness: Option<Value>,
    max_concurrency: Option<Value>,
    completed: Option<Value>,
    failed: Option<Value>,
    duration: Option<Value>,
    framework: Option<Value>,
    run_number: Option<Value>,
    random_input_len: Option<Value>,
    random_output_len: Option<Value>,
    dataset_name: Option<Value>,
    vllm_version: Option<Value>,
    /// `--metadata` keys naming the hardware, where a user gave them.
    hardware: Option<Value>,
    gpu: Option<Value>,
    gpu_type: Option<Value>,
}

pub fn parse(bytes: &[u8], opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    let fixed = json::lenient(bytes);
    let trimmed = fixed.trim_ascii_start();
    if trimmed.starts_with(b"[") {
        // `vllm bench sweep` summary.json: an array of run objects.
        let all: Vec<Value> =
            serde_json::from_slice(&fixed).map_err(|e| anyhow!("invalid JSON: {e}"))?;
        if all.is_empty() {
            anyhow::bail!("an empty array: no benchmark in it");
        }
        for (i, v) in all.iter().enumerate() {
            object(v.clone(), opts, sink).map_err(|e| e.context(format!("element {i}")))?;
        }
        return Ok(());
    }
    // One object, or several one per line (--append-result).
    let mut stream =
        serde_json::Deserializer::from_slice(&fixed).into_iter::<serde::de::IgnoredAny>();
    match stream.next() {
        None => anyhow::bail!("empty input: no benchmark in it"),
        Some(Err(e)) => anyhow::bail!("invalid JSON: {e}"),
        Some(Ok(_)) => {}
    }
    if fixed[stream.byte_offset()..].trim_ascii().is_empty() {
        return single(&fixed, opts, sink);
    }
    for (i, line) in fixed.split(|&b| b == b'\n').enumerate() {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_slice(line)
            .map_err(|e| anyhow!("line {}: invalid JSON: {e}", i + 1))?;
        object(v, opts, sink).map_err(|e| e.context(format!("line {}", i + 1)))?;
    }
    Ok(())
}

/// A single (possibly huge) object: typed passes, no tree of values for the arrays.
fn single(bytes: &[u8], opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    let header: Header =
        serde_json::from_slice(bytes).map_err(|e| anyhow!("unexpected shape: {e}"))?;
    let arrays: Arrays =
        serde_json::from_slice(bytes).map_err(|e| anyhow!("unexpected shape: {e}"))?;
    if arrays.ttfts.is_some() {
        return run(header, Some(arrays), None, "vllm", opts, sink);
    }
    let v: Value = serde_json::from_slice(bytes)?;
    run(header, None, Some(&v), "vllm", opts, sink)
}

fn object(v: Value, opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    if !v.is_object() {
        anyhow::bail!(
            "expected a JSON object of a vLLM benchmark, found {}",
            kind(&v)
        );
    }
    let header: Header =
        serde_json::from_value(v.clone()).map_err(|e| anyhow!("unexpected shape: {e}"))?;
    let arrays: Arrays =
        serde_json::from_value(v.clone()).map_err(|e| anyhow!("unexpected shape: {e}"))?;
    if arrays.ttfts.is_some() {
        run(header, Some(arrays), None, "vllm", opts, sink)
    } else {
        run(header, None, Some(&v), "vllm", opts, sink)
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `%Y%m%d-%H%M%S` (vLLM's `date`, local time of the machine; read as UTC) to Unix seconds.
pub fn vllm_date(s: &str) -> Option<i64> {
    let (d, t) = s.split_once('-')?;
    if d.len() != 8 || t.len() != 6 {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &d[..4],
        &d[4..6],
        &d[6..],
        &t[..2],
        &t[2..4],
        &t[4..]
    );
    crate::window::parse_rfc3339(&iso).ok()
}

fn run(
    h: Header,
    arrays: Option<Arrays>,
    aggregates: Option<&Value>,
    tool: &str,
    opts: &Options,
    sink: &mut dyn Sink,
) -> Result<()> {
    let mut b = Benchmark::new(tool);
    b.model = text(h.model_id.as_ref());
    b.measured_at = text(h.date.as_ref()).and_then(|d| vllm_date(&d));
    b.tool_version = text(h.vllm_version.as_ref());
    b.set("request_rate", rate_text(h.request_rate.as_ref()));
    b.set("max_concurrency", text(h.max_concurrency.as_ref()));
    b.set("burstiness", text(h.burstiness.as_ref()));
    b.set("input_len", text(h.random_input_len.as_ref()));
    b.set("output_len", text(h.random_output_len.as_ref()));
    b.set("dataset", text(h.dataset_name.as_ref()));
    // `backend` is the client's request type; the server engine appears only as metadata.
    b.set("engine", text(h.framework.as_ref()));
    b.set(
        "hardware",
        text(h.hardware.as_ref())
            .or_else(|| text(h.gpu_type.as_ref()))
            .or_else(|| text(h.gpu.as_ref())),
    );
    b.set(
        "label",
        opts.label.clone().or_else(|| text(h.label.as_ref())),
    );
    b.detail(
        "client_backend",
        text(h.backend.as_ref()).or(text(h.endpoint_type.as_ref())),
    );
    b.detail("num_prompts", text(h.num_prompts.as_ref()));
    b.detail("duration_s", text(h.duration.as_ref()));
    b.detail("run_number", text(h.run_number.as_ref()));
    let llm = b.llm(opts, &format!("this {tool} result"))?;
    let at = b.measured_at.map(|s| s * 1_000_000);
    let completed = num(h.completed.as_ref());
    let failed = num(h.failed.as_ref()).unwrap_or(0.0) as u64;
    sink.begin(b)?;
    let tally = match (arrays, aggregates) {
        (Some(a), _) => {
            let ttfts = a.ttfts.unwrap_or_default();
            let reqs = Requests {
                ttfts: &ttfts,
                itls: &a.itls,
                output_lens: &a.output_lens,
                latencies: a.latencies.as_deref(),
                errors: a.errors.as_deref(),
                start_times: a.start_times.as_deref(),
            };
            reqs.emit(&llm, at, sink)?
        }
        (None, Some(v)) => {
            let mut t = Tally {
                failed,
                ..Default::default()
            };
            if completed.unwrap_or(0.0) > 0.0 {
                t.reported = aggregates_of(v, completed.map(|c| c as u64), tool);
            }
            t
        }
        (None, None) => Tally::default(),
    };
    sink.end(tally)
}

/// The tool's own statistics of a vLLM-style object (vLLM and SGLang).
pub fn aggregates_of(v: &Value, n: Option<u64>, tool: &str) -> Vec<Reported> {
    let mut out = Vec::new();
    let latency = |key: &str, metric: MetricKind| {
        let r = style(v, key, metric, n, tool);
        r.filter(Reported::is_useful)
    };
    out.extend(latency("ttft", MetricKind::Ttft));
    out.extend(latency("tpot", MetricKind::Tpot));
    out.extend(latency("itl", MetricKind::Itl));
    out.extend(
        latency("e2el", MetricKind::E2eLatency)
            .or_else(|| latency("e2e_latency", MetricKind::E2eLatency))
            .or_else(|| latency("latency", MetricKind::E2eLatency)),
    );
    let system = |key: &str, metric: MetricKind| {
        num(v.get(key))
            .filter(|x| x.is_finite() && *x > 0.0)
            .map(|x| Reported::whole(metric, x, format!("{tool}: {key} (whole benchmark)")))
    };
    out.extend(system("output_throughput", MetricKind::OutputThroughput));
    let rps = system("request_throughput", MetricKind::Rps).or_else(|| {
        let (c, d) = (num(v.get("completed"))?, num(v.get("duration"))?);
        (c > 0.0 && d > 0.0).then(|| {
            Reported::whole(
                MetricKind::Rps,
                c / d,
                format!("{tool}: completed / duration (whole benchmark)"),
            )
        })
    });
    out.extend(rps);
    out
}

/// `mean_K_ms`, `median_K_ms`, `std_K_ms`, `pNN_K_ms` of one metric.
fn style(v: &Value, key: &str, metric: MetricKind, n: Option<u64>, tool: &str) -> Option<Reported> {
    let obj = v.as_object()?;
    let suffix = format!("_{key}_ms");
    let mut r = Reported::new(metric, format!("{tool}: *{suffix}"));
    r.n = n;
    let mut any = false;
    for (k, val) in obj {
        let Some(stem) = k.strip_suffix(&suffix) else {
            continue;
        };
        let Some(x) = num(Some(val)).filter(|x| x.is_finite()) else {
            continue;
        };
        any = true;
        match stem {
            "mean" => r.mean = Some(x),
            "median" => {
                r.percentiles.insert("p50".into(), x);
            }
            "std" => r.stddev = Some(x),
            "min" => r.min = Some(x),
            "max" => r.max = Some(x),
            p if p.starts_with('p') && p[1..].parse::<f64>().is_ok() => {
                r.percentiles.insert(p.to_string(), x);
            }
            _ => {}
        }
    }
    any.then_some(r)
}

/// Reads the same `Header` from an SGLang line (shared with `sglang`).
pub(super) fn run_value(v: &Value, tool: &str, opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    let header: Header =
        serde_json::from_value(v.clone()).map_err(|e| anyhow!("unexpected shape: {e}"))?;
    let arrays: Arrays =
        serde_json::from_value(v.clone()).map_err(|e| anyhow!("unexpected shape: {e}"))?;
    if arrays.ttfts.is_some() {
        run(header, Some(arrays), None, tool, opts, sink)
    } else {
        run(header, None, Some(v), tool, opts, sink)
    }
}
