//! Every format and version the importer reads, from fixtures written for these tests (no
//! database), against values worked out by hand in the comments.

use llmrank::domain::MetricKind;
use llmrank::import::{self, Collected, CollectedRun, Format, Options};

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn known() -> Vec<String> {
    MetricKind::ALL
        .iter()
        .map(|m| m.name().to_string())
        .collect()
}

fn opts(llm: Option<&str>) -> Options {
    Options {
        llm: llm.map(String::from),
        known_metrics: known(),
        ..Default::default()
    }
}

/// Detects `name`'s format (it must be `want`) and parses it.
fn parse(name: &str, want: Format, llm: Option<&str>) -> Collected {
    let bytes = fixture(name);
    let format = import::detect(name, &bytes).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    assert_eq!(format, want, "{name} detected as {}", format.name());
    import::collect(format, &bytes, &opts(llm)).unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

fn err(format: Format, bytes: &[u8], llm: Option<&str>) -> String {
    format!(
        "{:#}",
        import::collect(format, bytes, &opts(llm)).unwrap_err()
    )
}

fn approx(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{got:?} vs {want:?}"
        );
    }
}

fn only(c: &Collected) -> &CollectedRun {
    assert_eq!(
        c.runs.len(),
        1,
        "{:?}",
        c.runs.iter().map(|r| &r.benchmark).collect::<Vec<_>>()
    );
    &c.runs[0]
}

#[test]
fn vllm_2024_arrays_become_samples_failed_and_impossible_requests_do_not() {
    let c = parse("vllm_2024_detailed.json", Format::Vllm, None);
    let r = only(&c);
    let llm = "org/model-a";
    assert_eq!(r.benchmark.model.as_deref(), Some(llm));
    assert_eq!(
        r.benchmark.measured_at,
        llmrank::window::parse_rfc3339("2024-09-07T08:30:41Z").ok()
    );
    assert_eq!(
        r.benchmark.workload.get("request_rate").map(String::as_str),
        Some("inf")
    );
    // Request 0: TTFT 0.1 s, gaps 0.01 + 0.03 → latency 0.14 s, 3 tokens.
    // Request 1: TTFT 0.05 s, 4 gaps of 0.02 → latency 0.13 s, 5 tokens.
    // Request 2: 0.0 TTFT, no output, no error: dropped. Request 3: an error: failed.
    approx(r.values(llm, "TTFT"), &[100.0, 50.0]);
    approx(r.values(llm, "e2e_latency"), &[140.0, 130.0]);
    approx(r.values(llm, "TPOT"), &[20.0, 20.0]); // (0.14 − 0.1)/2, (0.13 − 0.05)/4
    approx(r.values(llm, "TPS"), &[3.0 / 0.14, 5.0 / 0.13]);
    approx(r.values(llm, "ITL"), &[10.0, 30.0, 20.0, 20.0, 20.0, 20.0]);
    assert_eq!(r.tally.failed, 1);
    assert_eq!(r.tally.dropped.get(import::EMPTY_SUCCESS), Some(&1));
    assert!(
        r.tally.reported.is_empty(),
        "per-request data: no reported statistics"
    );
}

#[test]
fn vllm_detailed_latencies_and_start_times_are_used_when_present() {
    let c = parse("vllm_detailed_latencies.json", Format::Vllm, None);
    let r = only(&c);
    let llm = "org/model-j";
    approx(r.values(llm, "TTFT"), &[100.0, 200.0]);
    approx(r.values(llm, "e2e_latency"), &[500.0, 600.0]);
    approx(r.values(llm, "TPOT"), &[100.0]); // (0.5 − 0.1)/4; one output token has none
    approx(r.values(llm, "TPS"), &[10.0, 1.0 / 0.6]);
    approx(r.values(llm, "ITL"), &[100.0; 4]);
    assert_eq!(
        r.timed as usize,
        r.sample_count(),
        "every sample has its request's time"
    );
}

#[test]
fn vllm_aggregate_file_is_kept_as_reported_in_ms() {
    let c = parse("vllm_v0.25_aggregate.json", Format::Vllm, None);
    let r = only(&c);
    assert_eq!(r.sample_count(), 0);
    assert_eq!(r.tally.failed, 1);
    assert_eq!(
        r.benchmark.workload.get("label").map(String::as_str),
        Some("nightly")
    );
    assert_eq!(
        r.benchmark
            .workload
            .get("max_concurrency")
            .map(String::as_str),
        Some("2")
    );
    let ttft = r.reported(MetricKind::Ttft).expect("TTFT reported");
    assert_eq!(
        (ttft.n, ttft.mean, ttft.stddev),
        (Some(8), Some(200.0), Some(30.0))
    );
    assert_eq!(ttft.percentile("p50"), Some(50.0));
    assert_eq!(ttft.percentile("p99"), Some(700.0));
    assert_eq!(ttft.percentile("p99.9"), Some(720.0));
    assert_eq!(
        r.reported(MetricKind::E2eLatency).and_then(|e| e.mean),
        Some(500.0)
    );
    assert_eq!(
        r.reported(MetricKind::Tpot)
            .and_then(|e| e.percentile("p50")),
        Some(10.0)
    );
    assert_eq!(
        r.reported(MetricKind::OutputThroughput)
            .and_then(|e| e.mean),
        Some(80.0)
    );
    assert_eq!(r.reported(MetricKind::Rps).and_then(|e| e.mean), Some(5.0));
}

#[test]
fn vllm_append_and_sweep_files_hold_one_run_per_benchmark() {
    let c = parse("vllm_append.jsonl", Format::Vllm, None);
    assert_eq!(c.runs.len(), 2);
    let engines: Vec<_> = c
        .runs
        .iter()
        .map(|r| r.benchmark.workload["engine"].clone())
        .collect();
    assert_eq!(engines, ["vllm", "sgl"]);
    let rates: Vec<_> = c
        .runs
        .iter()
        .map(|r| r.benchmark.workload["request_rate"].clone())
        .collect();
    assert_eq!(rates, ["4", "inf"]);
    let c = parse("vllm_sweep_summary.json", Format::Vllm, None);
    assert_eq!(c.runs.len(), 2);
    assert_eq!(c.runs[1].benchmark.workload["max_concurrency"], "2");
    assert_eq!(
        c.runs[1]
            .reported(MetricKind::E2eLatency)
            .and_then(|e| e.mean),
        Some(120.0)
    );
}

#[test]
fn all_failed_vllm_file_has_no_statistics_only_failures() {
    let c = parse("vllm_all_failed.json", Format::Vllm, None);
    let r = only(&c);
    assert_eq!((r.sample_count(), r.tally.failed), (0, 8));
    assert!(
        r.tally.reported.is_empty(),
        "its 0.0 aggregates are not a 0 ms TTFT"
    );
}

#[test]
fn llmperf_individual_responses_take_model_and_workload_from_the_summary() {
    let mut o = opts(None);
    o.companion = Some(fixture("llmperf_m_550_150_summary.json"));
    let bytes = fixture("llmperf_m_550_150_individual_responses.json");
    assert_eq!(
        import::detect("x_individual_responses.json", &bytes).unwrap(),
        Format::Llmperf
    );
    let c = import::collect(Format::Llmperf, &bytes, &o).unwrap();
    let r = only(&c);
    let llm = "provider/model-b";
    assert_eq!(r.benchmark.model.as_deref(), Some(llm));
    assert_eq!(r.benchmark.workload["input_len"], "550");
    assert_eq!(r.benchmark.workload["concurrency"], "5");
    assert_eq!(r.benchmark.workload["engine"], "groq");
    approx(r.values(llm, "TTFT"), &[100.0, 200.0, 300.0]);
    approx(r.values(llm, "e2e_latency"), &[1000.0, 800.0, 1200.0]);
    approx(r.values(llm, "TPS"), &[150.0, 187.5, 125.0]);
    approx(
        r.values(llm, "TPOT"),
        &[900.0 / 149.0, 600.0 / 149.0, 900.0 / 149.0],
    );
    assert!(
        r.values(llm, "ITL").is_empty(),
        "LLMPerf's inter_token_latency includes TTFT: not an ITL"
    );
    assert_eq!(r.tally.failed, 1);
    // Without its summary and without --llm there is no model.
    let e = err(Format::Llmperf, &bytes, None);
    assert!(e.contains("--llm"), "{e}");
}

#[test]
fn llmperf_summary_alone_is_reported_in_ms_with_string_numbers_read() {
    let c = parse("llmperf_m_550_150_summary.json", Format::Llmperf, None);
    let r = only(&c);
    let t = r.reported(MetricKind::Ttft).unwrap();
    assert_eq!(t.n, Some(3));
    approx(
        &[
            t.mean.unwrap(),
            t.percentile("p90").unwrap(),
            t.percentile("p99").unwrap(),
            t.max.unwrap(),
        ],
        &[200.0, 280.0, 298.0, 300.0],
    );
    assert_eq!(r.reported(MetricKind::Rps).and_then(|x| x.mean), Some(2.0)); // 120 per minute
    assert_eq!(
        r.reported(MetricKind::OutputThroughput)
            .and_then(|x| x.mean),
        Some(600.0)
    );
    assert_eq!(r.tally.failed, 1);
}

#[test]
fn guidellm_v0_3_request_lists_become_samples() {
    let c = parse("guidellm_v0.3.json", Format::Guidellm, None);
    let r = only(&c);
    let llm = "org/model-c";
    assert_eq!(r.benchmark.tool_version.as_deref(), Some("0.3"));
    assert_eq!(r.benchmark.workload["strategy"], "synchronous");
    approx(r.values(llm, "TTFT"), &[20.0, 50.0]);
    approx(r.values(llm, "e2e_latency"), &[500.0, 250.0]); // request_latency is in seconds
                                                           // TPOT is (e2e − TTFT) / (tokens − 1): (500 − 20) / 3, (250 − 50) / 1 — not the file's
                                                           // time_per_output_token_ms (125, latency ÷ tokens with TTFT in it).
    approx(r.values(llm, "TPOT"), &[160.0, 200.0]);
    approx(r.values(llm, "TPS"), &[8.0, 8.0]); // 4 / 0.5, 2 / 0.25
    assert_eq!(r.tally.failed, 1);
    // No request holds the benchmark's throughput: none is reported in this file.
    assert!(r.reported(MetricKind::OutputThroughput).is_none());
}

#[test]
fn guidellm_v0_5_keeps_only_requests_in_the_measurement_window() {
    let c = parse("guidellm_v0.5.json", Format::Guidellm, None);
    let r = only(&c);
    let llm = "org/model-d";
    assert_eq!(r.benchmark.tool_version.as_deref(), Some("0.5.0"));
    assert_eq!(r.benchmark.workload["concurrency"], "4");
    // The warm-up request (started at 50, before the window at 100) is left out.
    approx(r.values(llm, "TTFT"), &[30.0, 40.0]);
    approx(r.values(llm, "e2e_latency"), &[1000.0, 2000.0]);
    approx(r.values(llm, "TPS"), &[10.0, 10.0]);
}

#[test]
fn guidellm_v0_8_stripped_lists_keep_the_reports_numbers() {
    let c = parse("guidellm_v0.8.json", Format::Guidellm, None);
    let r = only(&c);
    assert_eq!(r.benchmark.model.as_deref(), Some("org/model-e"));
    assert_eq!(r.benchmark.workload["request_rate"], "2");
    assert_eq!(r.sample_count(), 0);
    assert_eq!(r.tally.failed, 1, "incomplete requests count as failed");
    let t = r.reported(MetricKind::Ttft).unwrap();
    assert_eq!((t.n, t.mean, t.stddev), (Some(5), Some(12.0), Some(2.0)));
    assert_eq!(t.percentile("p1"), Some(9.0)); // GuideLLM's "p01"
    assert_eq!(t.percentile("p99.9"), Some(16.0)); // "p999"
    let e = r.reported(MetricKind::E2eLatency).unwrap();
    approx(
        &[
            e.mean.unwrap(),
            e.percentile("p50").unwrap(),
            e.percentile("p99").unwrap(),
        ],
        &[500.0, 450.0, 900.0],
    );
    // Rates: the mean is the benchmark's throughput, never the median.
    assert_eq!(
        r.reported(MetricKind::OutputThroughput)
            .and_then(|x| x.mean),
        Some(300.0)
    );
    assert_eq!(r.reported(MetricKind::Rps).and_then(|x| x.mean), Some(2.0));
}

#[test]
fn genai_perf_json_csv_and_raw_export() {
    let c = parse(
        "genai_perf_profile_export_genai_perf.json",
        Format::GenaiPerf,
        None,
    );
    let r = only(&c);
    assert_eq!(r.benchmark.model.as_deref(), Some("org/model-f"));
    assert_eq!(r.benchmark.workload["concurrency"], "10");
    let t = r.reported(MetricKind::Ttft).unwrap();
    assert_eq!(
        (t.n, t.mean, t.percentile("p90")),
        (Some(6), Some(100.0), Some(150.0))
    );
    assert_eq!(
        r.reported(MetricKind::Tpot).and_then(|x| x.mean),
        Some(10.0),
        "inter_token_latency is TPOT"
    );
    assert_eq!(
        r.reported(MetricKind::OutputThroughput)
            .and_then(|x| x.mean),
        Some(55.5)
    );
    assert_eq!(r.reported(MetricKind::Rps).and_then(|x| x.mean), Some(0.5));
    assert!(
        r.reported(MetricKind::Tps).is_none(),
        "per-user throughput is not llmrank's TPS"
    );

    let c = parse(
        "genai_perf_profile_export_genai_perf.csv",
        Format::GenaiPerf,
        Some("org/model-f"),
    );
    let r = only(&c);
    let t = r.reported(MetricKind::Ttft).unwrap();
    assert_eq!(
        (t.mean, t.max, t.percentile("p50")),
        (Some(1100.5), Some(2000.0), Some(1000.0))
    );
    assert_eq!(t.n, Some(6));
    assert_eq!(
        r.reported(MetricKind::OutputThroughput)
            .and_then(|x| x.mean),
        Some(51.63)
    );

    let c = parse(
        "genai_perf_raw_export.json",
        Format::GenaiPerf,
        Some("org/model-f"),
    );
    let r = only(&c);
    approx(r.values("org/model-f", "TTFT"), &[100.0, 200.0]); // ns → ms
    approx(r.values("org/model-f", "e2e_latency"), &[500.0, 200.0]);
    assert_eq!(r.tally.failed, 1, "a request without responses");
    assert_eq!(r.benchmark.workload["concurrency"], "2");
    let e = err(
        Format::GenaiPerf,
        &fixture("genai_perf_raw_export.json"),
        None,
    );
    assert!(e.contains("--llm"), "{e}");
}

#[test]
fn aiperf_new_and_old_aggregates_and_per_request_jsonl() {
    let c = parse(
        "aiperf_new_profile_export_aiperf.json",
        Format::Aiperf,
        None,
    );
    let r = only(&c);
    assert_eq!(r.benchmark.model.as_deref(), Some("org/model-g"));
    assert_eq!(r.benchmark.tool_version.as_deref(), Some("0.10.0"));
    assert_eq!(
        r.benchmark.workload["concurrency"], "1",
        "the profiling phase's, not warm-up's"
    );
    assert_eq!(
        r.benchmark.measured_at,
        llmrank::window::parse_rfc3339("2026-01-15T10:00:00Z").ok()
    );
    let t = r.reported(MetricKind::Ttft).unwrap();
    assert_eq!(
        (t.n, t.mean, t.percentile("p99")),
        (Some(20), Some(80.0), Some(99.0))
    );
    assert_eq!(
        r.reported(MetricKind::Itl).and_then(|x| x.mean),
        Some(30.0),
        "inter_chunk_latency is ITL"
    );
    assert_eq!(r.reported(MetricKind::Itl).and_then(|x| x.n), Some(2000));
    assert_eq!(
        r.reported(MetricKind::Tpot).and_then(|x| x.mean),
        Some(25.0)
    );

    let c = parse(
        "aiperf_old_profile_export_aiperf.json",
        Format::Aiperf,
        None,
    );
    let r = only(&c);
    assert_eq!(r.benchmark.model.as_deref(), Some("org/model-h"));
    assert_eq!(r.benchmark.workload["input_len"], "200");
    assert_eq!(r.benchmark.workload["output_len"], "300");
    assert_eq!(r.reported(MetricKind::Ttft).and_then(|x| x.n), Some(100));

    let c = parse(
        "aiperf_profile_export.jsonl",
        Format::Aiperf,
        Some("org/model-g"),
    );
    let r = only(&c);
    let llm = "org/model-g";
    // The warm-up record is skipped, the errored one failed; units converted (0.5 sec).
    approx(r.values(llm, "TTFT"), &[100.0]);
    approx(r.values(llm, "e2e_latency"), &[500.0]);
    approx(r.values(llm, "TPOT"), &[100.0]);
    approx(r.values(llm, "TPS"), &[10.0]);
    approx(r.values(llm, "ITL"), &[100.0; 4]);
    assert_eq!(r.tally.failed, 1);
}

#[test]
fn sglang_lines_with_bare_infinity_need_an_llm() {
    let bytes = fixture("sglang_output.jsonl");
    let e = err(Format::Sglang, &bytes, None);
    assert!(e.contains("--llm"), "{e}");
    let c = parse("sglang_output.jsonl", Format::Sglang, Some("org/llama"));
    assert_eq!(c.runs.len(), 2);
    let (a, b) = (&c.runs[0], &c.runs[1]);
    assert_eq!(a.benchmark.workload["request_rate"], "inf");
    assert_eq!(a.benchmark.workload["engine"], "sglang");
    assert_eq!(a.benchmark.workload["input_len"], "1024");
    assert_eq!(
        a.reported(MetricKind::Ttft)
            .and_then(|x| x.percentile("p50")),
        Some(300.0)
    );
    assert_eq!(
        a.reported(MetricKind::Itl)
            .and_then(|x| x.percentile("p50")),
        Some(15.0)
    );
    assert_eq!(a.reported(MetricKind::Rps).and_then(|x| x.mean), Some(10.0)); // 100 / 10 s
    assert_eq!(b.reported(MetricKind::Rps).and_then(|x| x.mean), Some(2.0)); // 50 / 25 s
    assert_eq!(
        b.reported(MetricKind::E2eLatency).and_then(|x| x.mean),
        Some(1000.0)
    );
}

#[test]
fn sglang_output_details_become_samples_with_the_server_model() {
    let c = parse("sglang_output_details.jsonl", Format::Sglang, None);
    let r = only(&c);
    let llm = "org/model-i";
    approx(r.values(llm, "TTFT"), &[100.0, 200.0]);
    approx(r.values(llm, "e2e_latency"), &[150.0, 300.0]);
    approx(r.values(llm, "TPOT"), &[50.0, 50.0]);
    approx(r.values(llm, "ITL"), &[50.0, 50.0, 50.0]);
}

#[test]
fn inference_perf_stage_and_per_request_reports() {
    let c = parse(
        "inference_perf_stage_0_lifecycle_metrics.json",
        Format::InferencePerf,
        Some("meta-llama/Meta-Llama-3-8B-Instruct"),
    );
    let r = only(&c);
    assert_eq!(r.benchmark.workload["request_rate"], "1");
    assert_eq!(r.tally.failed, 1);
    let t = r.reported(MetricKind::Ttft).unwrap();
    approx(
        &[
            t.mean.unwrap(),
            t.percentile("p50").unwrap(),
            t.percentile("p99").unwrap(),
        ],
        &[50.0, 40.0, 90.0],
    );
    assert_eq!(t.n, Some(9));
    approx(
        &[r.reported(MetricKind::E2eLatency)
            .unwrap()
            .percentile("p99.9")
            .unwrap()],
        &[710.0],
    );
    approx(
        &[r.reported(MetricKind::Tpot).unwrap().mean.unwrap()],
        &[7.0],
    );
    assert_eq!(
        r.reported(MetricKind::OutputThroughput)
            .and_then(|x| x.mean),
        Some(640.0)
    );
    assert_eq!(r.reported(MetricKind::Rps).and_then(|x| x.mean), Some(0.9));

    let c = parse(
        "inference_perf_per_request_lifecycle_metrics.json",
        Format::InferencePerf,
        Some("m"),
    );
    let r = only(&c);
    approx(r.values("m", "TTFT"), &[100.0]);
    approx(r.values("m", "e2e_latency"), &[500.0]);
    approx(r.values("m", "TPOT"), &[200.0]); // (10.5 − 10.1)/2
    approx(r.values("m", "TPS"), &[6.0]);
    approx(r.values("m", "ITL"), &[100.0, 100.0]);
    assert_eq!(r.tally.failed, 1);
}

#[test]
fn csv_and_ndjson_records() {
    let c = parse("records.csv", Format::Csv, None);
    let r = only(&c);
    approx(r.values("org/model-a", "TTFT"), &[12.5, 13.5]);
    approx(r.values("org/model,b", "TPS"), &[40.0]);
    assert_eq!(r.timed, 2, "the row without a time takes the import's");
    let c = parse("records.ndjson", Format::Ndjson, None);
    let r = only(&c);
    approx(r.values("org/model-a", "TTFT"), &[12.5]);
    approx(r.values("org/model-a", "e2e_latency"), &[100.0]);
    // --llm overrides the records' names.
    let c = import::collect(Format::Csv, &fixture("records.csv"), &opts(Some("one"))).unwrap();
    assert_eq!(c.runs[0].values("one", "TTFT").len(), 2);
}

#[test]
fn bad_input_gets_an_error_naming_the_place_and_what_is_allowed() {
    // Truncated JSON.
    let e = err(Format::Vllm, br#"{"model_id": "m", "ttfts": [0.1, "#, None);
    assert!(e.contains("invalid JSON"), "{e}");
    // Wrong type of a record's field, with its line.
    let e = err(Format::Ndjson, b"{\"llm\":\"a\",\"metric\":\"TTFT\",\"value\":1}\n{\"llm\":\"a\",\"metric\":\"TTFT\",\"value\":\"abc\"}\n", None);
    assert!(
        e.contains("line 2") && e.contains("\"value\"") && e.contains("number"),
        "{e}"
    );
    // Negative latency, NaN, a 0.0 TTFT.
    let e = err(Format::Csv, b"llm,metric,value\na,TTFT,-3\n", None);
    assert!(e.contains("line 2") && e.contains("negative"), "{e}");
    let e = err(
        Format::Ndjson,
        b"{\"llm\":\"a\",\"metric\":\"TTFT\",\"value\":NaN}\n",
        None,
    );
    assert!(e.contains("line 1") && e.contains("finite"), "{e}");
    let e = err(Format::Csv, b"llm,metric,value\na,TTFT,0.0\n", None);
    assert!(e.contains("line 2") && e.contains("impossible"), "{e}");
    let e = err(Format::Vllm, br#"{"model_id": "m", "ttfts": [0.1, -0.2], "output_lens": [2, 2], "itls": [[0.1], [0.1]]}"#, None);
    assert!(e.contains("request 1") && e.contains("negative"), "{e}");
    // Unknown metric: the valid ones are named.
    let e = err(Format::Csv, b"llm,metric,value\na,TTFX,3\n", None);
    assert!(
        e.contains("TTFX") && e.contains("valid metrics: TTFT"),
        "{e}"
    );
    // Unknown format.
    let e = format!(
        "{:#}",
        import::detect("notes.txt", b"hello world").unwrap_err()
    );
    assert!(
        e.contains("llm,metric,value") && e.contains("hello world"),
        "{e}"
    );
    let e = format!(
        "{:#}",
        import::detect("x.json", br#"{"some": "thing"}"#).unwrap_err()
    );
    assert!(
        e.contains("no known benchmark format") && e.contains("vllm"),
        "{e}"
    );
    // A line-oriented file without lines.
    let huge = vec![b'{'; import::MAX_LINE + 10];
    let e = err(Format::Ndjson, &huge, None);
    assert!(e.contains("line 1 is longer than"), "{e}");
}

#[test]
fn sample_times_and_values_outside_what_a_sample_may_have_are_refused_with_line_and_field() {
    let times = [
        "\"0000-01-01T00:00:00Z\"",
        "\"9999-12-31T23:59:59Z\"",
        "\"1999-12-31T23:59:59Z\"",
        "1e18",
        "-1e18",
        "\"NaN\"",
        "0",
        "4102444800", // 2100-01-01
    ];
    for t in times {
        let body = format!(
            "{{\"llm\":\"a\",\"metric\":\"TTFT\",\"value\":1}}\n{{\"llm\":\"a\",\"metric\":\"TTFT\",\"value\":1,\"time\":{t}}}\n"
        );
        let e = err(Format::Ndjson, body.as_bytes(), None);
        assert!(
            e.contains("line 2") && e.contains("\"time\"") && e.contains("2000-01-01T00:00:00Z"),
            "{t}: {e}"
        );
    }
    // The same bound in CSV, and on a tool's own per-request times.
    let e = err(
        Format::Csv,
        b"llm,metric,value,time\na,TTFT,1,1970-01-01T00:00:00Z\n",
        None,
    );
    assert!(e.contains("line 2") && e.contains("\"time\""), "{e}");
    // In range: kept.
    let ok = import::collect(
        Format::Ndjson,
        b"{\"llm\":\"a\",\"metric\":\"TTFT\",\"value\":1,\"time\":\"2001-02-03T04:05:06Z\"}\n",
        &opts(None),
    )
    .unwrap();
    assert_eq!(only(&ok).timed, 1);
    // Values: a unit slip either way, per the metric's unit.
    for (metric, v) in [
        ("TTFT", "1e308"),
        ("TTFT", "5e-324"),
        ("TTFT", "1e9"),
        ("TPS", "1e12"),
        ("RPS", "1e-9"),
    ] {
        let body = format!("{{\"llm\":\"a\",\"metric\":\"{metric}\",\"value\":{v}}}\n");
        let e = err(Format::Ndjson, body.as_bytes(), None);
        assert!(
            e.contains("line 1") && e.contains("\"value\"") && e.contains("outside"),
            "{metric} {v}: {e}"
        );
    }
    let ok = import::collect(
        Format::Ndjson,
        b"{\"llm\":\"a\",\"metric\":\"e2e_latency\",\"value\":3600000}\n",
        &opts(None),
    );
    assert!(ok.is_ok(), "an hour-long request is real: {:?}", ok.err());
}
