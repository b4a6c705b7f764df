//! llm-d-benchmark's Benchmark Report (schema v0.2.x, YAML or JSON): one report per run of a
//! harness (inference-perf, vLLM bench, GuideLLM, ...) against an llm-d stack, written by
//! `llmdbenchmark/analysis/benchmark_report`. Aggregate only: `results.request_performance.
//! aggregate` holds the latency statistics (`time_to_first_token`, `time_per_output_token`,
//! `inter_token_latency`, `request_latency`, each with its `units`) and throughputs
//! (`request_rate`, `output_token_rate`), kept as the tool's reported statistics. The load
//! the harness applied (`scenario.load.standardized`: `concurrency`, or `rate_qps`, and its
//! `stage`) goes in the workload with the input/output lengths and the accelerator, so the
//! stages of one sweep line up as its levels; `run.time` gives the time and duration.

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use super::json::{at, num, text};
use super::{Benchmark, Options, Reported, Sink, Tally};
use crate::domain::MetricKind;

pub fn parse(bytes: &[u8], opts: &Options, sink: &mut dyn Sink) -> Result<()> {
    let doc: Value = serde_yaml_ng::from_slice(bytes)
        .map_err(|e| anyhow!("not a Benchmark Report (YAML or JSON): {e}"))?;
    let version = text(doc.get("version")).unwrap_or_default();
    if !version.starts_with("0.2") {
        bail!(
            "Benchmark Report version {version:?}: llmrank reads versions 0.2.x (0.2, 0.2.1); convert older reports with llm-d-benchmark's tools"
        );
    }
    let load = at(&doc, &["scenario", "load", "standardized"]).unwrap_or(&Value::Null);
    let engine = at(&doc, &["scenario", "stack"])
        .and_then(Value::as_array)
        .and_then(|s| {
            s.iter()
                .filter_map(|c| c.get("standardized"))
                .find(|c| text(c.get("kind")).as_deref() == Some("inference_engine"))
        });
    let mut b = Benchmark::new("llm-d");
    b.tool_version = Some(version.clone());
    b.model = engine
        .and_then(|e| text(at(e, &["model", "name"])))
        .or_else(|| {
            text(at(
                &doc,
                &[
                    "scenario",
                    "load",
                    "native",
                    "config",
                    "server",
                    "model_name",
                ],
            ))
        });
    b.set("harness", text(load.get("tool")));
    // An unbounded concurrency (`.inf`) is an open loop driven by its rate.
    match num(load.get("concurrency")).filter(|c| c.is_finite() && *c > 0.0) {
        Some(c) => b.set("concurrency", Some(super::num_text(c))),
        None => b.set(
            "request_rate",
            num(load.get("rate_qps")).map(super::num_text),
        ),
    }
    b.set("stage", text(load.get("stage")));
    b.set(
        "input_len",
        num(at(load, &["input_seq_len", "value"])).map(super::num_text),
    );
    b.set(
        "output_len",
        num(at(load, &["output_seq_len", "value"])).map(super::num_text),
    );
    if let Some(e) = engine {
        b.set("gpu", text(at(e, &["accelerator", "model"])));
        b.set("gpu_count", text(at(e, &["accelerator", "count"])));
        b.set("engine", text(e.get("tool_version")));
        b.set("role", text(e.get("role")));
    }
    b.measured_at = text(at(&doc, &["run", "time", "start"]))
        .and_then(|t| crate::window::parse_rfc3339(&t).ok());
    b.detail(
        "duration_s",
        text(at(&doc, &["run", "time", "duration"]))
            .and_then(|d| iso_seconds(&d))
            .map(super::num_text),
    );
    b.detail("description", text(at(&doc, &["run", "description"])));
    b.label(opts);
    b.llm(opts, "this Benchmark Report")?;
    let agg = at(&doc, &["results", "request_performance", "aggregate"])
        .ok_or_else(|| anyhow!("no results.request_performance.aggregate in the report"))?;
    let requests = at(agg, &["requests", "total"])
        .and_then(|v| num(Some(v)))
        .map(|n| n as u64);
    let mut t = Tally {
        failed: num(at(agg, &["requests", "failures"])).unwrap_or(0.0) as u64,
        ..Default::default()
    };
    for (key, metric) in [
        ("time_to_first_token", MetricKind::Ttft),
        ("time_per_output_token", MetricKind::Tpot),
        ("inter_token_latency", MetricKind::Itl),
        ("request_latency", MetricKind::E2eLatency),
    ] {
        if let Some(s) = at(agg, &["latency", key]) {
            let scale = ms_per(text(s.get("units")).as_deref().unwrap_or("s"))?;
            let r = stats(s, metric, format!("llm-d report: latency.{key}"), requests);
            if r.is_useful() {
                t.reported.push(r.scaled(scale));
            }
        }
    }
    for (key, metric) in [
        ("request_rate", MetricKind::Rps),
        ("output_token_rate", MetricKind::OutputThroughput),
    ] {
        if let Some(v) = num(at(agg, &["throughput", key, "mean"])).filter(|v| *v > 0.0) {
            t.reported.push(Reported::whole(
                metric,
                v,
                format!("llm-d report: throughput.{key}.mean (whole run)"),
            ));
        }
    }
    sink.begin(b)?;
    sink.end(t)
}

/// A statistics block: mean, stddev, min, max and percentiles named `p50`, `p0p1`, `p99p9`.
fn stats(s: &Value, metric: MetricKind, origin: String, n: Option<u64>) -> Reported {
    let mut r = Reported::new(metric, origin);
    r.n = n;
    r.mean = num(s.get("mean"));
    r.stddev = num(s.get("stddev"));
    r.min = num(s.get("min"));
    r.max = num(s.get("max"));
    if let Some(o) = s.as_object() {
        for (k, v) in o {
            let Some(rest) = k.strip_prefix('p') else {
                continue;
            };
            if rest.is_empty() || !rest.bytes().all(|c| c.is_ascii_digit() || c == b'p') {
                continue;
            }
            if let Some(x) = num(Some(v)) {
                r.percentiles
                    .insert(format!("p{}", rest.replace('p', ".")), x);
            }
        }
    }
    r
}

/// Milliseconds per unit of a latency block (`s`, `s/token`, `ms`, `ms/token`).
fn ms_per(units: &str) -> Result<f64> {
    match units.split('/').next().unwrap_or("").trim() {
        "s" => Ok(1_000.0),
        "ms" => Ok(1.0),
        "us" | "µs" => Ok(1e-3),
        other => bail!("latency units {other:?}: expected s, ms or us"),
    }
}

/// `PT49.97S`, `PT1H2M3S`: an ISO 8601 duration in seconds.
fn iso_seconds(d: &str) -> Option<f64> {
    let rest = d.strip_prefix("PT")?;
    let (mut total, mut number) = (0.0, String::new());
    for c in rest.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'H' | 'M' | 'S' => {
                let v: f64 = number.parse().ok()?;
                total += v * match c {
                    'H' => 3_600.0,
                    'M' => 60.0,
                    _ => 1.0,
                };
                number.clear();
            }
            _ => return None,
        }
    }
    number.is_empty().then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations_read_as_seconds() {
        assert_eq!(iso_seconds("PT49.5S"), Some(49.5));
        assert_eq!(iso_seconds("PT1H2M3S"), Some(3_723.0));
        assert_eq!(iso_seconds("49s"), None);
    }

    #[test]
    fn a_report_gives_its_load_and_the_tools_statistics_in_ms() {
        let bytes = include_bytes!("../../tests/fixtures/import/llm_d_report_v0.2.1.yaml");
        let c = crate::import::collect(crate::import::Format::LlmD, bytes, &Options::default())
            .unwrap();
        let run = &c.runs[0];
        assert_eq!(run.benchmark.workload["tool"], "llm-d");
        assert_eq!(run.benchmark.workload["request_rate"], "10");
        assert_eq!(run.benchmark.workload["harness"], "inference-perf");
        assert_eq!(run.benchmark.model.as_deref(), Some("Qwen/Qwen3-0.6B"));
        assert_eq!(run.benchmark.duration_secs, Some(49.97));
        let ttft = run.reported(MetricKind::Ttft).unwrap();
        assert!((ttft.mean.unwrap() - 36.857).abs() < 1e-3);
        assert!((ttft.percentile("p99.9").unwrap() - 57.015).abs() < 1e-3);
        assert_eq!(ttft.n, Some(500));
        assert_eq!(run.tally.failed, 2);
        assert!(run.reported(MetricKind::Rps).is_some());
        let e = crate::import::collect(
            crate::import::Format::LlmD,
            b"version: '0.1'\n",
            &Options::default(),
        )
        .unwrap_err();
        assert!(format!("{e}").contains("0.2.x"), "{e}");
    }
}
