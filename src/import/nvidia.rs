//! NVIDIA GenAI-Perf and AIPerf.
//!
//! Aggregate JSON (`*_genai_perf.json`, `profile_export_aiperf.json`): one object per metric
//! `{unit, avg, p1…p99, min, max, std[, count]}`, latencies in ms. Mapping:
//! `time_to_first_token` → TTFT; `request_latency` → e2e_latency; `inter_token_latency`
//! → TPOT (both tools define it as (latency − TTFT)/(output tokens − 1), vLLM's TPOT);
//! AIPerf `inter_chunk_latency` → ITL; `output_token_throughput` (system) →
//! output_throughput; `request_throughput` → RPS. `output_token_throughput_per_user` is
//! 1/TPOT, not llmrank's TPS (which includes TTFT), so it is not imported. n =
//! `request_count.avg` (or the metric's `count`). GenAI-Perf's CSV and AIPerf's
//! (`profile_export_aiperf.csv`, told apart by its `sum` column or its name) hold the same table.
//!
//! Per request: GenAI-Perf's raw perf_analyzer export (`experiments[].requests[]`,
//! timestamps in ns): TTFT = first response − request, e2e = last response − request; one run
//! per experiment (concurrency or rate). AIPerf `profile_export.jsonl`: `metrics.<name>.value`
//! in the unit it names; warm-up records are skipped, records with an `error` failed.

use std::io::BufRead;

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use super::json::{self, at, first_text, num, rate_text, text};
use super::{emit, vllm, Benchmark, Options, Reported, Sink, Tally};
use crate::domain::MetricKind;

/// GenAI-Perf: aggregate JSON, its CSV, or the raw perf_analyzer export.
pub fn parse_genai_perf(bytes: &[u8], opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    let head = bytes.trim_ascii_start();
    if head.starts_with(b"Metric,") {
        return csv(bytes, "genai-perf", opts, sink);
    }
    let v = json::parse(bytes)?;
    if v.get("experiments").is_some() {
        return raw_export(&v, opts, sink);
    }
    aggregate(&v, "genai-perf", opts, sink)
}

fn aggregate(v: &Value, tool: &str, opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    if !v.is_object() {
        bail!(
            "expected a {tool} profile export object, found {}",
            vllm::kind(v)
        );
    }
    let mut b = header(v, tool, opts);
    b.llm(opts, &format!("this {tool} export"))?;
    let n =
        num(at(v, &["request_count", "avg"])).or_else(|| num(at(v, &["request_count", "count"])));
    let failed = num(at(v, &["error_request_count", "avg"])).unwrap_or(0.0) as u64;
    b.detail(
        "duration_s",
        num(at(v, &["benchmark_duration", "avg"])).map(super::num_text),
    );
    sink.begin(b)?;
    let mut t = Tally {
        failed,
        ..Default::default()
    };
    if n.unwrap_or(0.0) > 0.0 {
        t.reported = metrics_of(|name| v.get(name).cloned(), n.map(|x| x as u64), tool);
    }
    sink.end(t)
}

/// The model, tool version, load and time of an aggregate export.
fn header(v: &Value, tool: &str, opts: &Options) -> Benchmark {
    let mut b = Benchmark::new(tool);
    let ic = v.get("input_config").unwrap_or(&Value::Null);
    b.tool_version = text(v.get("aiperf_version"));
    b.model = ic
        .get("models")
        .and_then(|m| m.get("items"))
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find_map(|i| text(i.get("name"))))
        .or_else(|| first_text(ic, &["endpoint", "model_names"]))
        .or_else(|| first_text(ic, &["model_names"]))
        .or_else(|| first_text(ic, &["model"]));
    let stimulus = at(ic, &["perf_analyzer", "stimulus"]);
    let phase = ic.get("phases").and_then(Value::as_array).and_then(|p| {
        p.iter()
            .find(|x| text(x.get("name")).as_deref() == Some("profiling"))
    });
    b.set(
        "concurrency",
        stimulus
            .and_then(|s| text(s.get("concurrency")))
            .or_else(|| phase.and_then(|p| text(p.get("concurrency"))))
            .or_else(|| text(at(ic, &["loadgen", "concurrency"])))
            .or_else(|| text(ic.get("concurrency"))),
    );
    b.set(
        "request_rate",
        stimulus
            .and_then(|s| rate_text(s.get("request_rate")))
            .or_else(|| rate_text(at(ic, &["loadgen", "request_rate"])))
            .or_else(|| rate_text(ic.get("request_rate"))),
    );
    b.set(
        "input_len",
        text(at(ic, &["input", "prompt", "input_tokens", "mean"]))
            .or_else(|| text(at(ic, &["synthetic_input_tokens_mean"]))),
    );
    b.set(
        "output_len",
        text(at(ic, &["input", "prompt", "output_tokens", "mean"]))
            .or_else(|| text(at(ic, &["output_tokens_mean"]))),
    );
    b.set("streaming", text(at(ic, &["endpoint", "streaming"])));
    b.detail("endpoint_backend", text(at(ic, &["endpoint", "backend"])));
    // DCGM telemetry keys its GPUs "0", "1", ...: their count is what the file says of hardware.
    let gpus = v
        .get("telemetry_stats")
        .and_then(Value::as_object)
        .and_then(|t| t.values().find_map(|m| m.as_object()))
        .map(|m| m.keys().filter(|k| k.parse::<u32>().is_ok()).count())
        .filter(|&n| n > 0);
    b.set("gpus", gpus.map(|n| n.to_string()));
    b.measured_at = text(v.get("start_time"))
        .and_then(|s| iso_secs(&s))
        .or_else(|| num(v.get("min_request_timestamp")).map(|ns| (ns / 1e9) as i64));
    b.label(opts);
    b
}

/// An ISO 8601 time with or without offset or fraction, read as UTC.
fn iso_secs(s: &str) -> Option<i64> {
    crate::window::parse_rfc3339(s).ok().or_else(|| {
        let base = s.split('.').next()?;
        crate::window::parse_rfc3339(&format!("{}Z", base.trim_end_matches('Z'))).ok()
    })
}

fn metrics_of(get: impl Fn(&str) -> Option<Value>, n: Option<u64>, tool: &str) -> Vec<Reported> {
    let mut out = Vec::new();
    for (name, metric) in [
        ("time_to_first_token", MetricKind::Ttft),
        ("request_latency", MetricKind::E2eLatency),
        ("inter_token_latency", MetricKind::Tpot),
        ("inter_chunk_latency", MetricKind::Itl),
    ] {
        let Some(m) = get(name) else { continue };
        let scale = unit_to_ms(text(m.get("unit")).as_deref().unwrap_or("ms"));
        let mut r = Reported::new(metric, format!("{tool}: {name}"));
        r.n = num(m.get("count")).map(|c| c as u64).or(n);
        r.mean = num(m.get("avg"));
        r.stddev = num(m.get("std"));
        r.min = num(m.get("min"));
        r.max = num(m.get("max"));
        if let Some(o) = m.as_object() {
            for (k, x) in o {
                if k.starts_with('p') && k[1..].parse::<f64>().is_ok() {
                    if let Some(x) = num(Some(x)) {
                        r.percentiles.insert(k.clone(), x);
                    }
                }
            }
        }
        if r.is_useful() {
            out.push(r.scaled(scale));
        }
    }
    for (name, metric) in [
        ("output_token_throughput", MetricKind::OutputThroughput),
        ("request_throughput", MetricKind::Rps),
    ] {
        if let Some(x) = get(name)
            .and_then(|m| num(m.get("avg")))
            .filter(|x| *x > 0.0)
        {
            out.push(Reported::whole(
                metric,
                x,
                format!("{tool}: {name}.avg (whole benchmark)"),
            ));
        }
    }
    out
}

/// Milliseconds per unit of a time metric.
fn unit_to_ms(unit: &str) -> f64 {
    match unit {
        "ns" => 1e-6,
        "us" | "µs" => 1e-3,
        "s" | "sec" | "seconds" => 1000.0,
        _ => 1.0,
    }
}

/// GenAI-Perf's (and AIPerf's) CSV: a metric table, a blank line, then `Metric,Value` system
/// metrics; AIPerf may add GPU telemetry tables under other headers, which are skipped.
fn csv(bytes: &[u8], tool: &str, opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    let text_all = std::str::from_utf8(bytes).map_err(|_| anyhow!("the CSV is not UTF-8"))?;
    let mut header: Vec<String> = Vec::new();
    let mut map = serde_json::Map::new();
    for line in text_all.lines() {
        let cells = split_csv(line);
        if cells.is_empty() || cells.iter().all(|c| c.is_empty()) {
            header.clear();
            continue;
        }
        if cells[0] == "Metric" {
            header = cells;
            continue;
        }
        if header.is_empty() {
            continue; // a table of another kind (AIPerf's GPU telemetry)
        }
        let (name, unit) = match cells[0].rsplit_once(" (") {
            Some((n, u)) => (n.to_string(), u.trim_end_matches(')').to_string()),
            None => (cells[0].clone(), String::new()),
        };
        let key = name.to_ascii_lowercase().replace(' ', "_");
        let mut obj = serde_json::Map::new();
        obj.insert("unit".into(), Value::String(unit));
        for (h, c) in header.iter().zip(&cells).skip(1) {
            let h = if h == "Value" { "avg" } else { h.as_str() };
            if let Some(x) = json::number_text(c) {
                obj.insert(h.to_string(), serde_json::json!(x));
            }
        }
        map.insert(key, Value::Object(obj));
    }
    if map.is_empty() {
        bail!("a {tool} CSV without metric rows");
    }
    aggregate(&Value::Object(map), tool, opts, sink)
}

/// Splits one CSV line, honouring double quotes.
pub fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_string()).collect()
}

fn raw_export(v: &Value, opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    let experiments = v
        .get("experiments")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("expected \"experiments\" to be an array"))?;
    for (e, exp) in experiments.iter().enumerate() {
        let mut b = Benchmark::new("genai-perf");
        let mode = text(at(exp, &["experiment", "mode"])).unwrap_or_default();
        let value = text(at(exp, &["experiment", "value"]));
        match mode.as_str() {
            "request_rate" => b.set("request_rate", value),
            _ => b.set("concurrency", value),
        }
        b.detail("service_kind", text(v.get("service_kind")));
        b.label(opts);
        let llm = b.llm(opts, "a perf_analyzer profile export")?;
        let requests = exp
            .get("requests")
            .and_then(Value::as_array)
            .map_or(&[][..], |r| r.as_slice());
        b.measured_at = requests
            .first()
            .and_then(|r| num(r.get("timestamp")))
            .map(|ns| (ns / 1e9) as i64);
        sink.begin(b)?;
        let mut t = Tally::default();
        for (i, r) in requests.iter().enumerate() {
            let sent = num(r.get("timestamp"))
                .ok_or_else(|| anyhow!("experiments[{e}].requests[{i}]: no timestamp"))?;
            let stamps: Vec<f64> = r
                .get("response_timestamps")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|x| num(Some(x))).collect())
                .unwrap_or_default();
            let (Some(&first), Some(&last)) = (stamps.first(), stamps.last()) else {
                t.failed += 1;
                continue;
            };
            if first <= sent {
                t.drop_one("first response not after the request");
                continue;
            }
            let at = Some((sent / 1e3) as i64);
            let ctx = |err: anyhow::Error| err.context(format!("experiments[{e}].requests[{i}]"));
            sink.request()?;
            emit(sink, &llm, MetricKind::Ttft, (first - sent) / 1e6, at).map_err(ctx)?;
            emit(sink, &llm, MetricKind::E2eLatency, (last - sent) / 1e6, at).map_err(ctx)?;
        }
        sink.end(t)?;
    }
    Ok(())
}

/// AIPerf: the aggregate JSON, or the per-request JSONL streamed line by line.
pub fn parse_aiperf(input: &mut dyn BufRead, opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    let mut first = Vec::new();
    // Skip blank lines to the first record or the document's start.
    loop {
        if super::read_line(input, &mut first, 1)? == 0 {
            bail!("empty input: no AIPerf export in it");
        }
        if !first.trim_ascii().is_empty() {
            break;
        }
    }
    if first.trim_ascii_start().starts_with(b"Metric,") {
        // `profile_export_aiperf.csv`: the aggregate table, GenAI-Perf's layout.
        let mut all = first;
        input.read_to_end(&mut all)?;
        return csv(&all, "aiperf", opts, sink);
    }
    let one_line: Option<Value> = serde_json::from_slice(&json::lenient(&first)).ok();
    match one_line {
        Some(v) if v.get("metrics").is_some() && v.get("metadata").is_some() => {
            records(v, input, opts, sink)
        }
        _ => {
            // A pretty-printed aggregate document: read the rest.
            let mut all = first;
            input.read_to_end(&mut all)?;
            let v = json::parse(&all)?;
            aggregate(&v, "aiperf", opts, sink)
        }
    }
}

fn records(
    first: Value,
    input: &mut dyn BufRead,
    opts: &Options,
    sink: &mut dyn Sink,
) -> Result<()> {
    let companion = match &opts.companion {
        Some(c) => {
            Some(json::parse(c).map_err(|e| anyhow!("its profile_export_aiperf.json: {e}"))?)
        }
        None => None,
    };
    let mut b = match &companion {
        Some(c) => {
            let mut b = header(c, "aiperf", opts);
            b.detail(
                "duration_s",
                num(at(c, &["benchmark_duration", "avg"])).map(super::num_text),
            );
            b
        }
        None => {
            let mut b = Benchmark::new("aiperf");
            b.label(opts);
            b
        }
    };
    b.measured_at = b
        .measured_at
        .or_else(|| num(at(&first, &["metadata", "request_start_ns"])).map(|ns| (ns / 1e9) as i64));
    let llm = b.llm(
        opts,
        "this AIPerf per-request export (and no profile_export_aiperf.json beside it)",
    )?;
    sink.begin(b)?;
    let mut t = Tally::default();
    record(&first, 1, &llm, sink, &mut t)?;
    super::each_line(input, 1, |n, line| {
        let v = json::parse(line).map_err(|e| anyhow!("line {n}: {e}"))?;
        record(&v, n, &llm, sink, &mut t)
    })?;
    sink.end(t)
}

fn record(v: &Value, line: usize, llm: &str, sink: &mut dyn Sink, t: &mut Tally) -> Result<()> {
    if !v.get("error").is_none_or(Value::is_null) {
        t.failed += 1;
        return Ok(());
    }
    if text(at(v, &["metadata", "benchmark_phase"])).is_some_and(|p| p != "profiling") {
        return Ok(()); // warm-up: not part of the measurement
    }
    let metrics = v
        .get("metrics")
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("line {line}: a record without \"metrics\""))?;
    let value_ms = |name: &str| -> Option<f64> {
        let m = metrics.get(name)?;
        let scale = unit_to_ms(text(m.get("unit")).as_deref().unwrap_or("ms"));
        num(m.get("value")).map(|x| x * scale)
    };
    let ctx = |e: anyhow::Error| e.context(format!("line {line}"));
    let at_us = num(at(v, &["metadata", "request_start_ns"])).map(|ns| (ns / 1e3) as i64);
    let (Some(ttft), Some(latency)) =
        (value_ms("time_to_first_token"), value_ms("request_latency"))
    else {
        // A non-streaming record has no TTFT: its latency alone.
        if let Some(l) = value_ms("request_latency") {
            sink.request()?;
            emit(sink, llm, MetricKind::E2eLatency, l, at_us).map_err(ctx)?;
        }
        return Ok(());
    };
    let osl = metrics
        .get("output_sequence_length")
        .and_then(|m| num(m.get("value")))
        .unwrap_or(0.0);
    if ttft <= 0.0 && osl <= 0.0 {
        t.drop_one(super::EMPTY_SUCCESS);
        return Ok(());
    }
    if ttft <= 0.0 || latency < ttft {
        t.drop_one("0 ms TTFT, or end-to-end latency shorter than TTFT");
        return Ok(());
    }
    sink.request()?;
    emit(sink, llm, MetricKind::Ttft, ttft, at_us).map_err(ctx)?;
    emit(sink, llm, MetricKind::E2eLatency, latency, at_us).map_err(ctx)?;
    if let Some(tpot) = value_ms("inter_token_latency").filter(|x| *x > 0.0) {
        emit(sink, llm, MetricKind::Tpot, tpot, at_us).map_err(ctx)?;
    }
    if osl > 0.0 {
        emit(sink, llm, MetricKind::Tps, osl / (latency / 1000.0), at_us).map_err(ctx)?;
    }
    if let Some(chunks) = metrics.get("inter_chunk_latency") {
        let scale = unit_to_ms(text(chunks.get("unit")).as_deref().unwrap_or("ms"));
        if let Some(gaps) = chunks.get("value").and_then(Value::as_array) {
            let gaps = gaps
                .iter()
                .map(|g| num(Some(g)).map_or(f64::NAN, |g| g * scale));
            super::emit_gaps(sink, llm, gaps, at_us, t).map_err(ctx)?;
        }
    }
    Ok(())
}
