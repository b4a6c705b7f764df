//! Conformance: every real result file in `../shared/import-samples` (when that folder exists)
//! is detected and parsed, and where a file keeps per-request data, the statistics of the
//! samples llmrank takes from it reproduce the file's own aggregates. No database.

use std::path::{Path, PathBuf};

use llmrank::domain::MetricKind;
use llmrank::import::{self, Collected, Format, Options};
use llmrank::stats::{percentile, Summary};
use serde_json::Value;

fn samples_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/import-samples");
    d.is_dir().then_some(d)
}

fn known() -> Vec<String> {
    MetricKind::ALL
        .iter()
        .map(|m| m.name().to_string())
        .collect()
}

/// Detects and parses `rel`; with `--llm` only when the file names no model.
fn load(dir: &Path, rel: &str) -> (Format, Collected) {
    let bytes = std::fs::read(dir.join(rel)).unwrap();
    let format = import::detect(rel, &bytes).unwrap_or_else(|e| panic!("{rel}: {e:#}"));
    let mut opts = Options {
        known_metrics: known(),
        ..Default::default()
    };
    if let Some(s) = rel.strip_suffix("_individual_responses.json") {
        opts.companion = std::fs::read(dir.join(format!("{s}_summary.json"))).ok();
    }
    match import::collect(format, &bytes, &opts) {
        Ok(c) => (format, c),
        Err(e) if format!("{e:#}").contains("--llm") => {
            opts.llm = Some("given-by-flag".into());
            let c =
                import::collect(format, &bytes, &opts).unwrap_or_else(|e| panic!("{rel}: {e:#}"));
            (format, c)
        }
        Err(e) => panic!("{rel}: {e:#}"),
    }
}

fn stats(v: &[f64]) -> Summary {
    Summary::of(&mut v.to_vec()).expect("samples")
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-12)
}

#[test]
fn every_real_file_is_detected_and_parsed() {
    let Some(dir) = samples_dir() else {
        eprintln!("../shared/import-samples is absent: conformance skipped");
        return;
    };
    let mut seen = 0;
    for tool in std::fs::read_dir(&dir).unwrap() {
        let tool = tool.unwrap().path();
        if !tool.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&tool).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            let rel = format!("{}/{name}", tool.file_name().unwrap().to_string_lossy());
            if name == "README.md" || name.ends_with(".yaml") {
                continue;
            }
            let bytes = std::fs::read(&f).unwrap();
            if name.ends_with(".txt") || name.contains("prometheus_metrics") {
                let err = import::detect(&rel, &bytes).and_then(|fmt| {
                    import::collect(
                        fmt,
                        &bytes,
                        &Options {
                            llm: Some("x".into()),
                            known_metrics: known(),
                            ..Default::default()
                        },
                    )
                    .map(|_| fmt)
                });
                assert!(err.is_err(), "{rel} should be refused");
                continue;
            }
            let (format, c) = load(&dir, &rel);
            let dir_tool = tool.file_name().unwrap().to_string_lossy().to_string();
            assert_eq!(
                format.name(),
                dir_tool,
                "{rel} detected as {}",
                format.name()
            );
            assert!(!c.runs.is_empty(), "{rel}: no runs");
            for r in &c.runs {
                let samples = r.sample_count();
                let reported = r.tally.reported.len();
                eprintln!(
                    "{rel}: llm={:?} samples={samples} reported={reported} failed={} dropped={:?} workload={:?}",
                    r.benchmark.model, r.tally.failed, r.tally.dropped, r.benchmark.workload
                );
                assert!(
                    samples > 0 || reported > 0 || r.tally.failed > 0,
                    "{rel}: a run with nothing in it"
                );
            }
            seen += 1;
        }
    }
    assert!(seen >= 30, "only {seen} files checked");
}

#[test]
fn vllm_2024_per_request_file_reproduces_its_aggregates_without_the_impossible_request() {
    let Some(dir) = samples_dir() else { return };
    let rel = "vllm/lambdalabs_Mistral-7B-Instruct-v0.3_tp1_len2048.json";
    let (_, c) = load(&dir, rel);
    let run = &c.runs[0];
    let file: Value = serde_json::from_slice(&std::fs::read(dir.join(rel)).unwrap()).unwrap();
    assert_eq!(
        run.tally.dropped.values().sum::<u64>(),
        1,
        "{:?}",
        run.tally.dropped
    );
    let llm = "mistralai/Mistral-7B-Instruct-v0.3";
    // ITL: the impossible request has no gaps, so the file's own numbers hold exactly.
    let itl = stats(run.values(llm, "ITL"));
    assert!(close(itl.mean, file["mean_itl_ms"].as_f64().unwrap(), 1e-9));
    assert!(close(
        itl.p50,
        file["median_itl_ms"].as_f64().unwrap(),
        1e-9
    ));
    assert!(close(itl.p99, file["p99_itl_ms"].as_f64().unwrap(), 1e-9));
    // TTFT: vLLM counted the 0.0 TTFT. Its arrays with that request reproduce its numbers;
    // without it, they give ours.
    let ttfts: Vec<f64> = file["ttfts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() * 1000.0)
        .collect();
    let with_zero = stats(&ttfts);
    assert!(close(
        with_zero.mean,
        file["mean_ttft_ms"].as_f64().unwrap(),
        1e-9
    ));
    assert!(close(
        with_zero.p50,
        file["median_ttft_ms"].as_f64().unwrap(),
        1e-9
    ));
    let without: Vec<f64> = ttfts.iter().copied().filter(|&x| x > 0.0).collect();
    let ours = stats(run.values(llm, "TTFT"));
    assert_eq!(ours.n, 9);
    assert!(close(ours.mean, stats(&without).mean, 1e-12));
    assert!(close(
        ours.p99,
        percentile(
            &{
                let mut w = without.clone();
                w.sort_by(f64::total_cmp);
                w
            }[..],
            0.99
        ),
        1e-12
    ));
}

#[test]
fn llmperf_individual_responses_reproduce_their_summary() {
    let Some(dir) = samples_dir() else { return };
    for name in ["groq_70b", "bedrock_70b", "replicate_70b"] {
        let rel = format!("llmperf/leaderboard_{name}_individual_responses.json");
        let (_, c) = load(&dir, &rel);
        let run = &c.runs[0];
        let summary: Value = serde_json::from_slice(
            &std::fs::read(dir.join(format!("llmperf/leaderboard_{name}_summary.json"))).unwrap(),
        )
        .unwrap();
        let llm = summary["model"].as_str().unwrap();
        assert_eq!(
            run.benchmark.model.as_deref(),
            Some(llm),
            "paired with its summary"
        );
        assert_eq!(
            run.tally.failed,
            summary["results_number_errors"].as_f64().unwrap() as u64
        );
        for (metric, key, scale) in [
            ("TTFT", "ttft_s", 1000.0),
            ("e2e_latency", "end_to_end_latency_s", 1000.0),
            ("TPS", "request_output_throughput_token_per_s", 1.0),
        ] {
            let s = stats(run.values(llm, metric));
            let want = |k: &str| summary[format!("results_{key}_{k}")].as_f64().unwrap() * scale;
            assert!(
                close(s.mean, want("mean"), 1e-9),
                "{name} {metric} mean {} vs {}",
                s.mean,
                want("mean")
            );
            assert!(
                close(s.p50, want("quantiles_p50"), 1e-9),
                "{name} {metric} p50"
            );
            assert!(
                close(s.p90, want("quantiles_p90"), 1e-9),
                "{name} {metric} p90"
            );
            assert!(
                close(s.p99, want("quantiles_p99"), 1e-9),
                "{name} {metric} p99"
            );
        }
    }
}

#[test]
fn guidellm_request_lists_reproduce_the_report_where_complete() {
    let Some(dir) = samples_dir() else { return };
    let rel = "guidellm/danielkorat_v0.5.0.dev0_Qwen3-4B-Thinking_concurrent4_benchmarks.json";
    let (_, c) = load(&dir, rel);
    let file: Value = serde_json::from_slice(&std::fs::read(dir.join(rel)).unwrap()).unwrap();
    let m = &file["benchmarks"][0]["metrics"];
    let run = &c.runs[0];
    let llm = "Qwen/Qwen3-4B-Thinking-2507";
    let ttft = stats(run.values(llm, "TTFT"));
    assert!(close(
        ttft.mean,
        m["time_to_first_token_ms"]["successful"]["mean"]
            .as_f64()
            .unwrap(),
        1e-9
    ));
    let e2e = stats(run.values(llm, "e2e_latency"));
    assert!(close(
        e2e.mean,
        m["request_latency"]["successful"]["mean"].as_f64().unwrap() * 1000.0,
        1e-9
    ));
    // Stripped or sampled lists: the report's numbers, as reported.
    let (_, c) = load(
        &dir,
        "guidellm/rsevilla87_v0.3_llm-d-sim_benchmarks_TRUNCATED.json",
    );
    assert!(c
        .runs
        .iter()
        .all(|r| r.sample_count() == 0 && r.reported(MetricKind::Ttft).is_some()));
}

#[test]
fn genai_perf_raw_export_reproduces_its_request_latency() {
    let Some(dir) = samples_dir() else { return };
    let (_, c) = load(&dir, "genai-perf/egham7_simple_medium_response_c1.json");
    let agg: Value = serde_json::from_slice(
        &std::fs::read(dir.join("genai-perf/egham7_simple_medium_response_c1_genai_perf.json"))
            .unwrap(),
    )
    .unwrap();
    let e2e = stats(c.runs[0].values("given-by-flag", "e2e_latency"));
    assert!(
        close(
            e2e.mean,
            agg["request_latency"]["avg"].as_f64().unwrap(),
            1e-6
        ),
        "{} vs {}",
        e2e.mean,
        agg["request_latency"]["avg"]
    );
}

#[test]
fn all_failed_files_import_no_samples_and_say_so() {
    let Some(dir) = samples_dir() else { return };
    let (_, c) = load(
        &dir,
        "vllm/er0080_bench_serve_all_requests_failed_v0.25.1.json",
    );
    let run = &c.runs[0];
    assert_eq!(run.sample_count(), 0);
    assert!(
        run.tally.reported.is_empty(),
        "0.0 aggregates of a failed run are not statistics"
    );
    assert_eq!(run.tally.failed, 8);
}

#[test]
fn aiperf_record_identities_hold() {
    let Some(dir) = samples_dir() else { return };
    let (_, c) = load(
        &dir,
        "aiperf/anud18_w0_chatbot_c1_profile_export_FIRST_RECORD.jsonl",
    );
    let run = &c.runs[0];
    let llm = "given-by-flag";
    let (ttft, e2e) = (
        run.values(llm, "TTFT")[0],
        run.values(llm, "e2e_latency")[0],
    );
    let itl_sum: f64 = run.values(llm, "ITL").iter().sum();
    assert!(
        close(itl_sum, e2e - ttft, 1e-6),
        "Σ chunk gaps {itl_sum} vs latency − TTFT {}",
        e2e - ttft
    );
}
