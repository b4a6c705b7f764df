//! The benchmark tools' current releases, run for real: GuideLLM 0.8.1, AIPerf 0.13.0 and
//! inference-perf 0.7.0 against a local streaming server (`tests/fixtures/import/real`, made
//! by `scripts/fixtures/run-tools.sh`). llmrank reads each file as the tool means it: the
//! tool's own aggregates come back from the per-request data where the definitions agree, and
//! where they do not, llmrank's one definition (README, "What each tool's fields become")
//! holds. No database. Each test prints its comparison (`cargo test --test tool_releases --
//! --nocapture`).

use llmrank::domain::MetricKind;
use llmrank::import::{self, Collected, CollectedRun, Format, Options};
use llmrank::stats::Summary;
use serde_json::Value;

fn path(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import/real")
        .join(rel)
}

fn bytes(rel: &str) -> Vec<u8> {
    std::fs::read(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_slice(&bytes(rel)).unwrap()
}

fn options(llm: Option<&str>, companion: Option<&str>) -> Options {
    Options {
        llm: llm.map(String::from),
        known_metrics: MetricKind::ALL.iter().map(|m| m.name().into()).collect(),
        companion: companion.map(bytes),
        ..Default::default()
    }
}

/// Detects `rel` (it must be `want`) and parses it.
fn load(rel: &str, want: Format, opts: &Options) -> Collected {
    let b = bytes(rel);
    let format = import::detect(rel, &b).unwrap_or_else(|e| panic!("{rel}: {e:#}"));
    assert_eq!(format, want, "{rel} detected as {}", format.name());
    import::collect(format, &b, opts).unwrap_or_else(|e| panic!("{rel}: {e:#}"))
}

fn stats(run: &CollectedRun, llm: &str, metric: &str) -> Summary {
    Summary::of(&mut run.values(llm, metric).to_vec()).unwrap_or_else(|| panic!("no {metric}"))
}

fn f(v: &Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("{path:?} is not a number: {cur}"))
}

/// `a` within `rel` of `b`.
fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-12)
}

fn compare(tool: &str, what: &str, theirs: f64, ours: f64) {
    eprintln!(
        "{tool:<15} {what:<44} tool {theirs:>12.6}  llmrank {ours:>12.6}  ratio {:.4}",
        ours / theirs
    );
}

#[test]
fn guidellm_requests_reproduce_its_aggregates_and_tpot_is_e2e_minus_ttft_per_token() {
    let rel = "guidellm/fast_concurrent2.json";
    let file = json(rel);
    let c = load(rel, Format::Guidellm, &options(None, None));
    assert_eq!(c.runs.len(), 1);
    let run = &c.runs[0];
    assert_eq!(run.benchmark.tool_version.as_deref(), Some("0.8.1"));
    assert_eq!(run.benchmark.workload["concurrency"], "2");
    let m = &file["benchmarks"][0]["metrics"];
    let llm = "fast-model";
    let ttft = stats(run, llm, "TTFT");
    let want = &m["time_to_first_token_ms"]["successful"];
    assert_eq!(ttft.n, f(want, &["count"]) as u64);
    compare("guidellm", "TTFT mean (ms)", f(want, &["mean"]), ttft.mean);
    assert!(close(ttft.mean, f(want, &["mean"]), 1e-9));
    assert!(close(
        stats(run, llm, "e2e_latency").mean,
        f(m, &["request_latency", "successful", "mean"]) * 1000.0,
        1e-9
    ));
    // TPOT: per request (e2e − TTFT) / (tokens − 1). GuideLLM's inter_token_latency_ms is the
    // same idea to the last token's arrival (not the request's end): within a few percent.
    // Its time_per_output_token_ms (latency ÷ tokens, TTFT in it) is another quantity.
    let tpot = stats(run, llm, "TPOT");
    let itl = f(m, &["inter_token_latency_ms", "successful", "mean"]);
    let other = f(m, &["time_per_output_token_ms", "successful", "mean"]);
    compare(
        "guidellm",
        "TPOT mean vs inter_token_latency_ms",
        itl,
        tpot.mean,
    );
    compare(
        "guidellm",
        "TPOT mean vs time_per_output_token_ms",
        other,
        tpot.mean,
    );
    assert!(close(tpot.mean, itl, 0.03), "{} vs {itl}", tpot.mean);
    assert!(other > tpot.mean * 1.05, "{other} vs {}", tpot.mean);
    for r in file["benchmarks"][0]["requests"]["successful"]
        .as_array()
        .unwrap()
    {
        let want = (f(r, &["request_latency"]) * 1000.0 - f(r, &["time_to_first_token_ms"]))
            / (f(r, &["output_tokens"]) - 1.0);
        assert!(
            run.values(llm, "TPOT")
                .iter()
                .any(|x| close(*x, want, 1e-12)),
            "{want}"
        );
    }
    // The benchmark's throughput, which no request holds, is kept as the tool reported it.
    let otps = run.reported(MetricKind::OutputThroughput).expect("kept");
    let rps = run.reported(MetricKind::Rps).expect("kept");
    assert_eq!(
        otps.mean,
        Some(f(m, &["output_tokens_per_second", "successful", "mean"]))
    );
    assert_eq!(
        rps.mean,
        Some(f(m, &["requests_per_second", "successful", "mean"]))
    );

    // A sweep: one run per benchmark, each at its concurrency; the slow model ranks slower.
    let sweep = load(
        "guidellm/slow_sweep.json",
        Format::Guidellm,
        &options(None, None),
    );
    let loads: Vec<&str> = sweep
        .runs
        .iter()
        .map(|r| r.benchmark.workload["concurrency"].as_str())
        .collect();
    assert_eq!(loads, ["1", "4"]);
    for r in &sweep.runs {
        assert!(stats(r, "slow-model", "TTFT").mean > ttft.mean);
    }
}

#[test]
fn aiperf_records_reproduce_its_aggregate_zero_gaps_included_and_its_csv_is_aiperf() {
    let dir = "aiperf/fast-model";
    let agg = json(&format!("{dir}/profile_export_aiperf.json"));
    let c = load(
        &format!("{dir}/profile_export.jsonl"),
        Format::Aiperf,
        &options(None, Some(&format!("{dir}/profile_export_aiperf.json"))),
    );
    let run = &c.runs[0];
    assert_eq!(run.benchmark.tool, "aiperf");
    assert_eq!(run.benchmark.workload["concurrency"], "2");
    let llm = "fast-model";
    for (metric, name) in [
        ("TTFT", "time_to_first_token"),
        ("e2e_latency", "request_latency"),
        ("TPOT", "inter_token_latency"),
        ("ITL", "inter_chunk_latency"),
    ] {
        let s = stats(run, llm, metric);
        let m = &agg[name];
        compare(
            "aiperf",
            &format!("{metric} mean vs {name}.avg"),
            f(m, &["avg"]),
            s.mean,
        );
        assert!(close(s.mean, f(m, &["avg"]), 1e-9), "{metric}");
        assert!(close(s.p50, f(m, &["p50"]), 1e-9), "{metric} p50");
        assert!(close(s.p99, f(m, &["p99"]), 1e-9), "{metric} p99");
        assert!(close(s.min, f(m, &["min"]), 1e-9), "{metric} min");
        if let Some(n) = m["count"].as_f64() {
            assert_eq!(s.n, n as u64, "{metric} n");
        }
    }
    // Chunks that arrive in one read are 0.0 ms apart: real, and kept.
    let itl = run.values(llm, "ITL");
    assert!(itl.contains(&0.0), "zero gaps kept");
    assert_eq!(run.tally.dropped.values().sum::<u64>(), 0);

    // The CSV: AIPerf's, not GenAI-Perf's, with the same numbers (rounded to 2 places).
    let csv = format!("{dir}/profile_export_aiperf.csv");
    let c = load(&csv, Format::Aiperf, &options(Some(llm), None));
    let run = &c.runs[0];
    assert_eq!(run.benchmark.tool, "aiperf");
    let ttft = run.reported(MetricKind::Ttft).expect("TTFT");
    let want = f(&agg, &["time_to_first_token", "avg"]);
    assert!((ttft.mean.unwrap() - want).abs() <= 0.005 + 1e-9);
    assert_eq!(ttft.n, Some(12));
    assert!(run.reported(MetricKind::Itl).is_some());
    assert!(run.reported(MetricKind::OutputThroughput).is_some());
    // Named otherwise, the table's `sum` column still tells AIPerf's apart.
    let b = bytes(&csv);
    assert_eq!(import::detect("export.csv", &b).unwrap(), Format::Aiperf);
    assert_eq!(
        import::detect(
            "x.csv",
            &bytes("../genai_perf_profile_export_genai_perf.csv")
        )
        .unwrap(),
        Format::GenaiPerf
    );
}

#[test]
fn inference_perf_concurrency_stages_keep_their_concurrency_and_requests_match() {
    for (i, want) in [(0, "1"), (1, "4")] {
        let rel = format!("inference-perf/stage_{i}_lifecycle_metrics.json");
        let c = load(
            &rel,
            Format::InferencePerf,
            &options(Some("fast-model"), None),
        );
        let w = &c.runs[0].benchmark.workload;
        assert_eq!(
            w.get("concurrency").map(String::as_str),
            Some(want),
            "{w:?}"
        );
        // Its requested_rate holds the stage's request count, not a rate.
        assert!(!w.contains_key("request_rate"), "{w:?}");
    }
    let summary = json("inference-perf/summary_lifecycle_metrics.json");
    let lat = &summary["successes"]["latency"];
    let c = load(
        "inference-perf/per_request_lifecycle_metrics.json",
        Format::InferencePerf,
        &options(Some("fast-model"), None),
    );
    let run = &c.runs[0];
    let llm = "fast-model";
    for (metric, name) in [
        ("TTFT", "time_to_first_token"),
        ("e2e_latency", "request_latency"),
        ("ITL", "inter_token_latency"),
    ] {
        let s = stats(run, llm, metric);
        let theirs = f(lat, &[name, "mean"]) * 1000.0;
        compare(
            "inference-perf",
            &format!("{metric} mean vs {name}.mean"),
            theirs,
            s.mean,
        );
        assert!(close(s.mean, theirs, 1e-9), "{metric}");
        assert!(close(s.max, f(lat, &[name, "max"]) * 1000.0, 1e-9));
        assert!(close(s.p50, f(lat, &[name, "median"]) * 1000.0, 1e-9));
    }
    assert_eq!(
        stats(run, llm, "TTFT").n,
        f(&summary, &["successes", "count"]) as u64
    );
    // Zero gaps (tokens of one chunk) are inference-perf's ITL too: kept.
    assert_eq!(stats(run, llm, "ITL").min, 0.0);
    // TPOT: to the request's end here, to the last token there; the same token count.
    let tpot = stats(run, llm, "TPOT");
    let theirs = f(lat, &["time_per_output_token", "mean"]) * 1000.0;
    compare(
        "inference-perf",
        "TPOT mean vs time_per_output_token.mean",
        theirs,
        tpot.mean,
    );
    assert!(close(tpot.mean, theirs, 0.05), "{} vs {theirs}", tpot.mean);
}
