//! Reading benchmark tools' result files: pure parsers, bytes in, records out, no database.
//!
//! Every format goes through one interface: a parser calls [`Sink::begin`] for each benchmark
//! in the file (one run each), [`Sink::sample`] for each per-request value, and [`Sink::end`]
//! with what it counted (failed requests, dropped impossible ones, and for aggregate-only files
//! the tool's own statistics). Line-oriented formats (JSONL, NDJSON, CSV) are streamed; a single
//! JSON document is read whole once.
//!
//! Units are normalised here: latencies in ms, token rates in tokens/s, request rates in
//! requests/s. The mapping of each tool's fields is documented in its module and the README.

pub mod genai_bench;
pub mod generic;
pub mod guidellm;
pub mod inference_perf;
pub mod json;
pub mod llm_d;
pub mod llmperf;
pub mod nvidia;
pub mod sglang;
pub mod vllm;

use std::collections::BTreeMap;
use std::io::BufRead;

use anyhow::{anyhow, bail, Result};

use crate::domain::{Direction, MetricKind};

/// The formats `llmrank import --format` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    Vllm,
    Llmperf,
    Guidellm,
    GenaiPerf,
    Aiperf,
    Sglang,
    InferencePerf,
    GenaiBench,
    LlmD,
    Csv,
    Ndjson,
}

impl Format {
    pub const ALL: [Format; 11] = [
        Format::Vllm,
        Format::Llmperf,
        Format::Guidellm,
        Format::GenaiPerf,
        Format::Aiperf,
        Format::Sglang,
        Format::InferencePerf,
        Format::GenaiBench,
        Format::LlmD,
        Format::Csv,
        Format::Ndjson,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Vllm => "vllm",
            Format::Llmperf => "llmperf",
            Format::Guidellm => "guidellm",
            Format::GenaiPerf => "genai-perf",
            Format::Aiperf => "aiperf",
            Format::Sglang => "sglang",
            Format::InferencePerf => "inference-perf",
            Format::GenaiBench => "genai-bench",
            Format::LlmD => "llm-d",
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }

    pub fn allowed() -> String {
        Self::ALL.map(Format::name).join(", ")
    }

    /// Read line by line (whatever the size, memory stays flat), rather than as one document.
    pub fn streamed(self) -> bool {
        matches!(
            self,
            Format::Csv | Format::Ndjson | Format::Aiperf | Format::Sglang
        )
    }
}

/// What the user said about the input, beyond its bytes.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--llm`: the LLM's name, overriding the file's (needed where the file has none).
    pub llm: Option<String>,
    /// `--label`: free text recorded in the workload.
    pub label: Option<String>,
    /// Metric names generic records may use (the catalogue's and llmrank's own).
    pub known_metrics: Vec<String>,
    /// A companion file's bytes: the LLMPerf summary beside individual responses, or the AIPerf
    /// aggregate JSON beside its per-request JSONL (for the model name and workload).
    pub companion: Option<Vec<u8>>,
}

/// One benchmark of a file: becomes one run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Benchmark {
    /// The tool that wrote the file (`vllm`, `llmperf`, ...).
    pub tool: String,
    pub tool_version: Option<String>,
    /// The model as the file writes it (absent in some formats).
    pub model: Option<String>,
    /// When the benchmark ran (Unix seconds), when the file says.
    pub measured_at: Option<i64>,
    /// What the benchmark asked of the server: the key rankings filter on
    /// (`--workload KEY=VALUE`). Values are text.
    pub workload: BTreeMap<String, String>,
    /// Everything else worth keeping about the run (engine, hardware, counts, the tool's
    /// own field names), recorded in the run's params.
    pub details: BTreeMap<String, String>,
    /// How long the benchmark ran (s), when the file says: goodput in requests/s needs it.
    pub duration_secs: Option<f64>,
}

impl Benchmark {
    pub fn new(tool: &str) -> Benchmark {
        let mut b = Benchmark {
            tool: tool.to_string(),
            ..Default::default()
        };
        b.workload.insert("tool".into(), tool.to_string());
        b
    }

    /// Records `key` in the workload when `value` is present and not empty.
    pub fn set(&mut self, key: &str, value: Option<String>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.workload.insert(key.to_string(), v);
        }
    }

    /// Records `key` in the details when `value` is present and not empty; `duration_s`, the
    /// benchmark's length, also sets [`Self::duration_secs`].
    pub fn detail(&mut self, key: &str, value: Option<String>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            if key == "duration_s" {
                self.duration_secs = v.parse().ok().filter(|d: &f64| d.is_finite() && *d > 0.0);
            }
            self.details.insert(key.to_string(), v);
        }
    }

    /// The LLM this benchmark's samples belong to: `--llm`, else the model as written.
    pub fn llm(&self, opts: &Options, what: &str) -> Result<String> {
        match (&opts.llm, &self.model) {
            (Some(l), _) => Ok(l.clone()),
            (None, Some(m)) => Ok(m.clone()),
            (None, None) => {
                bail!("{what} names no model; pass --llm NAME to say which LLM it measured")
            }
        }
    }

    pub fn label(&mut self, opts: &Options) {
        self.set("label", opts.label.clone());
    }
}

/// A statistic set as the tool computed it (aggregate-only files).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reported {
    pub metric: Option<MetricKind>,
    pub n: Option<u64>,
    pub mean: Option<f64>,
    pub stddev: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// By the tool's name for them, converted to llmrank's unit: "p50", "p99.9", ...
    pub percentiles: BTreeMap<String, f64>,
    /// The tool's field(s) these came from.
    pub origin: String,
}

impl Reported {
    pub fn new(metric: MetricKind, origin: impl Into<String>) -> Reported {
        Reported {
            metric: Some(metric),
            origin: origin.into(),
            ..Default::default()
        }
    }

    /// A figure of the whole benchmark (a throughput): one value, n = 1.
    pub fn whole(metric: MetricKind, value: f64, origin: impl Into<String>) -> Reported {
        Reported {
            metric: Some(metric),
            n: Some(1),
            mean: Some(value),
            origin: origin.into(),
            ..Default::default()
        }
    }

    pub fn percentile(&self, name: &str) -> Option<f64> {
        self.percentiles.get(name).copied()
    }

    /// Worth keeping: at least a mean or a median.
    pub fn is_useful(&self) -> bool {
        self.mean.is_some() || self.percentiles.contains_key("p50")
    }

    /// Scales every value (unit conversion).
    pub fn scaled(mut self, k: f64) -> Reported {
        for v in [
            &mut self.mean,
            &mut self.stddev,
            &mut self.min,
            &mut self.max,
        ]
        .into_iter()
        .flatten()
        {
            *v *= k;
        }
        for v in self.percentiles.values_mut() {
            *v *= k;
        }
        self
    }
}

/// What a benchmark counted besides its samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tally {
    /// Requests the tool says failed: never samples.
    pub failed: u64,
    /// Requests the tool counted as successful whose values are impossible, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// The tool's own statistics, for files without per-request data.
    pub reported: Vec<Reported>,
}

impl Tally {
    pub fn drop_one(&mut self, reason: &str) {
        *self.dropped.entry(reason.to_string()).or_default() += 1;
    }
}

/// Where parsed records go.
pub trait Sink {
    /// A new benchmark (run) starts; the samples that follow belong to it.
    fn begin(&mut self, benchmark: Benchmark) -> Result<()>;
    /// One value of `metric` for `llm`, taken at `at` (Unix µs) when known.
    fn sample(&mut self, llm: &str, metric: &str, value: f64, at: Option<i64>) -> Result<()>;
    /// A new request starts: the samples that follow, until the next call or the end of the
    /// benchmark, are one request's values (its TTFT, TPOT, e2e, ITL gaps...). Samples sent
    /// before any call belong to no request.
    fn request(&mut self) -> Result<()> {
        Ok(())
    }
    /// The benchmark that began last ends.
    fn end(&mut self, tally: Tally) -> Result<()>;
}

/// Parses `input` as `format` into `sink` (errors name places within the input; the caller
/// names the input).
pub fn parse(
    format: Format,
    input: &mut dyn BufRead,
    opts: &Options,
    sink: &mut dyn Sink,
) -> Result<()> {
    if format.streamed() {
        return match format {
            Format::Csv => generic::parse_csv(input, opts, sink),
            Format::Ndjson => generic::parse_ndjson(input, opts, sink),
            Format::Aiperf => nvidia::parse_aiperf(input, opts, sink),
            _ => sglang::parse(input, opts, sink),
        };
    }
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    match format {
        Format::Vllm => vllm::parse(&bytes, opts, sink),
        Format::Llmperf => llmperf::parse(&bytes, opts, sink),
        Format::Guidellm => guidellm::parse(&bytes, opts, sink),
        Format::GenaiPerf => nvidia::parse_genai_perf(&bytes, opts, sink),
        Format::InferencePerf => inference_perf::parse(&bytes, opts, sink),
        Format::GenaiBench => genai_bench::parse(&bytes, opts, sink),
        Format::LlmD => llm_d::parse(&bytes, opts, sink),
        _ => unreachable!("streamed formats are handled above"),
    }
}

/// Guesses the format from a file's name and first bytes; the error says what was found.
pub fn detect(name: &str, head: &[u8]) -> Result<Format> {
    let text = String::from_utf8_lossy(&head[..head.len().min(1 << 20)]);
    let t = text.trim_start_matches('\u{feff}').trim_start();
    let has = |k: &str| t.contains(&format!("\"{k}\""));
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".yaml")
        || lower.ends_with(".yml")
        || t.contains("\nversion: 0.2")
        || t.starts_with("version: 0.2")
    {
        return Ok(Format::LlmD);
    }
    if lower.ends_with(".csv") || (!t.starts_with('{') && !t.starts_with('[')) {
        let first = t.lines().next().unwrap_or("");
        if first.starts_with("Metric,") {
            // AIPerf's table adds a `sum` column to GenAI-Perf's layout.
            let aiperf = lower.contains("aiperf") || first.split(',').any(|c| c.trim() == "sum");
            return Ok(if aiperf {
                Format::Aiperf
            } else {
                Format::GenaiPerf
            });
        }
        let cols: Vec<String> = first
            .split(',')
            .map(|c| c.trim().trim_matches('"').to_ascii_lowercase())
            .collect();
        if cols.iter().any(|c| c == "metric") && cols.iter().any(|c| c == "value") {
            return Ok(Format::Csv);
        }
        let shown: String = first.chars().take(60).collect();
        bail!(
            "not a result file llmrank reads: expected JSON, JSONL or a CSV with a header like llm,metric,value[,time]; found {shown:?}"
        );
    }
    let format = if has("aggregated_metrics")
        && (has("individual_request_metrics") || has("iteration_type"))
    {
        Format::GenaiBench
    } else if has("scenario") && has("results") && has("request_performance") {
        Format::LlmD
    } else if has("benchmarks") && (has("generative_benchmark") || has("type_")) {
        Format::Guidellm
    } else if has("experiments") && has("response_timestamps") {
        Format::GenaiPerf
    } else if has("load_summary")
        || (has("successes") && has("failures"))
        || (t.starts_with('[') && has("start_time") && has("output_token_times"))
    {
        Format::InferencePerf
    } else if has("results_ttft_s_mean") || has("ttft_s") || t.contains("\"2023-08-31\"") {
        Format::Llmperf
    } else if (has("metrics")
        && has("metadata")
        && (has("request_start_ns") || has("benchmark_phase")))
        || (has("input_config")
            && (has("aiperf_version") || has("was_cancelled") || has("error_summary")))
    {
        Format::Aiperf
    } else if has("input_config") && has("time_to_first_token") {
        Format::GenaiPerf
    } else if has("total_output_tokens_retokenized")
        || has("server_info")
        || (has("median_e2e_latency_ms") && !has("model_id"))
    {
        Format::Sglang
    } else if has("model_id") || has("mean_ttft_ms") || has("median_ttft_ms") {
        Format::Vllm
    } else if has("llm") && has("metric") && has("value") {
        Format::Ndjson
    } else if has("vllm:") || (has("metrics") && has("prometheus")) {
        bail!("a server-side metrics scrape (inference-perf prometheus summary?), not benchmark results: import the lifecycle_metrics files instead");
    } else {
        let shown: String = t.chars().take(80).collect();
        bail!(
            "no known benchmark format recognised (expected one of: {}); the file starts {shown:?}; pass --format to say which",
            Format::allowed()
        );
    };
    Ok(format)
}

/// Longest line a line-oriented input may have: memory stays bounded whatever the input.
pub const MAX_LINE: usize = 64 << 20;

/// Reads one line (with its `\n`) into `buf` (cleared first); 0 at the end. A line longer
/// than [`MAX_LINE`] is an error naming it, not a reason to hold gigabytes.
pub fn read_line(input: &mut dyn BufRead, buf: &mut Vec<u8>, line_no: usize) -> Result<usize> {
    buf.clear();
    let mut limited = std::io::Read::take(&mut *input, MAX_LINE as u64 + 1);
    let n = limited.read_until(b'\n', buf)?;
    if n > MAX_LINE {
        bail!(
            "line {line_no} is longer than {} MiB: not a line-oriented file, or a broken one",
            MAX_LINE >> 20
        );
    }
    Ok(n)
}

/// Calls `f` with each non-blank line and its number (counting from `after` + 1), streaming;
/// returns how many it was called with.
pub fn each_line(
    input: &mut dyn BufRead,
    after: usize,
    mut f: impl FnMut(usize, &[u8]) -> Result<()>,
) -> Result<usize> {
    let mut line = Vec::new();
    let (mut n, mut seen) = (after, 0);
    while read_line(input, &mut line, n + 1)? > 0 {
        n += 1;
        if !line.trim_ascii().is_empty() {
            f(n, &line)?;
            seen += 1;
        }
    }
    Ok(seen)
}

/// The smallest value above 0 a metric llmrank does not know may have.
pub const VALUE_MIN: f64 = 1e-12;
/// The largest value a metric llmrank does not know may have.
pub const VALUE_MAX: f64 = 1e12;

/// Checks a value about to become a sample of `metric`: finite, not negative, and within
/// the metric's bounds ([`MetricKind::bounds`]; a metric llmrank does not know keeps to
/// [`VALUE_MIN`] to [`VALUE_MAX`]).
pub fn check_value(metric: &str, value: f64) -> std::result::Result<(), String> {
    if !value.is_finite() {
        return Err(format!("{metric} value {value} is not a finite number"));
    }
    if value < 0.0 {
        return Err(format!("{metric} value {value} is negative"));
    }
    let kind = MetricKind::from_name(metric);
    let ((lo, hi), unit) = kind.map_or(((VALUE_MIN, VALUE_MAX), "its unit"), |k| {
        (k.bounds(), k.unit())
    });
    if value != 0.0 && !(lo..=hi).contains(&value) {
        return Err(format!(
            "{metric} value {value:e} is outside {lo:e} to {hi:e} {unit} (the values a {metric} may have; a unit slip?)"
        ));
    }
    if value == 0.0
        && MetricKind::from_name(metric)
            .is_some_and(|m| m.direction() == Direction::Lower && !m.zero_is_real())
    {
        return Err(format!(
            "{metric} value 0 is impossible for a latency (a failed request?)"
        ));
    }
    Ok(())
}

/// The earliest time a sample may carry: 2000-01-01T00:00:00Z (Unix seconds).
pub const TIME_FIRST: i64 = 946_684_800;
/// How far past the clock a sample may be (a benchmark host's clock running ahead): a day.
pub const TIME_AHEAD: i64 = 86_400;

/// Checks a sample's time (Unix seconds) against 2000-01-01 to now + 1 day: outside it, a
/// time is a unit slip or a broken clock, and one such sample would stretch every trend.
pub fn check_time(secs: i64) -> std::result::Result<(), String> {
    if (TIME_FIRST..=crate::window::now() + TIME_AHEAD).contains(&secs) {
        return Ok(());
    }
    // Years 0001 to 9999 read as a date; beyond, as the number they are.
    let shown = if (-62_135_596_800..=253_402_300_799).contains(&secs) {
        crate::window::rfc3339(secs)
    } else {
        format!("{secs} Unix seconds")
    };
    Err(format!("{shown} is outside {}", time_range()))
}

/// The times a sample may have, in words.
pub fn time_range() -> String {
    format!(
        "the times a sample may have: {} to {} (now + 1 day)",
        crate::window::rfc3339(TIME_FIRST),
        crate::window::rfc3339(crate::window::now() + TIME_AHEAD)
    )
}

/// Emits a sample of a known metric after checking it.
pub fn emit(
    sink: &mut dyn Sink,
    llm: &str,
    metric: MetricKind,
    value: f64,
    at: Option<i64>,
) -> Result<()> {
    check_value(metric.name(), value).map_err(|e| anyhow!(e))?;
    if let Some(at) = at {
        check_time(at.div_euclid(1_000_000))
            .map_err(|e| anyhow!("{} sample time {e}", metric.name()))?;
    }
    sink.sample(llm, metric.name(), value, at)
}

/// Why an inter-token gap is not kept (gaps are counted, not requests).
pub const BAD_GAP: &str = "ITL gaps (not requests) negative or not a number";

/// Emits a request's inter-token gaps (ms) as ITL: every finite, non-negative one (0 is two
/// chunks in one read, and real); the others are counted in the tally under [`BAD_GAP`].
pub fn emit_gaps(
    sink: &mut dyn Sink,
    llm: &str,
    gaps_ms: impl IntoIterator<Item = f64>,
    at: Option<i64>,
    tally: &mut Tally,
) -> Result<()> {
    for g in gaps_ms {
        if g.is_finite() && g >= 0.0 {
            emit(sink, llm, MetricKind::Itl, g, at)?;
        } else {
            tally.drop_one(BAD_GAP);
        }
    }
    Ok(())
}

/// Formats a number as workload text: integers without a fraction.
pub fn num_text(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// Per-request values of one benchmark, in seconds (the shape vLLM and SGLang write with
/// `--save-detailed` / `--output-details`), turned into samples.
#[derive(Debug, Default)]
pub struct Requests<'a> {
    pub ttfts: &'a [f64],
    pub itls: &'a [Vec<f64>],
    pub output_lens: &'a [f64],
    pub latencies: Option<&'a [f64]>,
    pub errors: Option<&'a [String]>,
    /// Request start times (Unix s), when the file has them.
    pub start_times: Option<&'a [f64]>,
}

/// Reason recorded for a "successful" request with nothing in it.
pub const EMPTY_SUCCESS: &str =
    "0 ms TTFT and no output tokens: a failed request the tool counted as successful";

impl Requests<'_> {
    /// TTFT, e2e latency, TPOT, TPS per request and every ITL gap; counts failures and drops
    /// impossible requests. `at` stamps requests without their own start time.
    pub fn emit(&self, llm: &str, at: Option<i64>, sink: &mut dyn Sink) -> Result<Tally> {
        let mut tally = Tally::default();
        let n = self.ttfts.len();
        for i in 0..n {
            let failed = self
                .errors
                .and_then(|e| e.get(i))
                .is_some_and(|e| !e.is_empty());
            if failed {
                tally.failed += 1;
                continue;
            }
            let ttft = self.ttfts[i];
            let out = self.output_lens.get(i).copied().unwrap_or(0.0);
            let gaps: &[f64] = self.itls.get(i).map_or(&[], |v| v.as_slice());
            let latency_given = self.latencies.and_then(|l| l.get(i)).copied();
            for (what, x) in [("TTFT", Some(ttft)), ("latency", latency_given)]
                .into_iter()
                .chain(gaps.iter().map(|&g| ("ITL gap", Some(g))))
            {
                if let Some(x) = x.filter(|x| !x.is_finite() || *x < 0.0) {
                    bail!("request {i}: {what} {x} s is negative or not a number: a corrupt file");
                }
            }
            if ttft <= 0.0 && out <= 0.0 {
                tally.drop_one(EMPTY_SUCCESS);
                continue;
            }
            if ttft == 0.0 {
                tally.drop_one("0 ms TTFT with output tokens");
                continue;
            }
            let latency = match latency_given {
                Some(l) => l,
                // Older files keep no latency: the last chunk's arrival, TTFT + Σ gaps.
                None => ttft + gaps.iter().sum::<f64>(),
            };
            if !latency.is_finite() || latency < ttft {
                tally.drop_one("end-to-end latency shorter than TTFT");
                continue;
            }
            let at = self
                .start_times
                .and_then(|s| s.get(i))
                .map(|&s| (s * 1e6) as i64)
                .or(at);
            sink.request()?;
            emit(sink, llm, MetricKind::Ttft, ttft * 1000.0, at)?;
            emit(sink, llm, MetricKind::E2eLatency, latency * 1000.0, at)?;
            if out > 1.0 && latency > ttft {
                emit(
                    sink,
                    llm,
                    MetricKind::Tpot,
                    (latency - ttft) / (out - 1.0) * 1000.0,
                    at,
                )?;
            }
            if out > 0.0 {
                emit(sink, llm, MetricKind::Tps, out / latency, at)?;
            }
            emit_gaps(sink, llm, gaps.iter().map(|g| g * 1000.0), at, &mut tally)?;
        }
        Ok(tally)
    }
}

/// A sink that keeps everything in memory: for tests and `--dry-run`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Collected {
    pub runs: Vec<CollectedRun>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct CollectedRun {
    pub benchmark: Benchmark,
    /// (llm, metric) → values in order.
    pub samples: BTreeMap<(String, String), Vec<f64>>,
    pub tally: Tally,
    /// Samples with a time of their own.
    pub timed: u64,
}

impl CollectedRun {
    pub fn values(&self, llm: &str, metric: &str) -> &[f64] {
        self.samples
            .get(&(llm.to_string(), metric.to_string()))
            .map_or(&[], |v| v.as_slice())
    }

    pub fn sample_count(&self) -> usize {
        self.samples.values().map(Vec::len).sum()
    }

    pub fn reported(&self, m: MetricKind) -> Option<&Reported> {
        self.tally.reported.iter().find(|r| r.metric == Some(m))
    }
}

impl Sink for Collected {
    fn begin(&mut self, benchmark: Benchmark) -> Result<()> {
        self.runs.push(CollectedRun {
            benchmark,
            ..Default::default()
        });
        Ok(())
    }

    fn sample(&mut self, llm: &str, metric: &str, value: f64, at: Option<i64>) -> Result<()> {
        let run = self
            .runs
            .last_mut()
            .ok_or_else(|| anyhow!("a sample before any benchmark began"))?;
        run.timed += u64::from(at.is_some());
        run.samples
            .entry((llm.to_string(), metric.to_string()))
            .or_default()
            .push(value);
        Ok(())
    }

    fn end(&mut self, tally: Tally) -> Result<()> {
        let run = self
            .runs
            .last_mut()
            .ok_or_else(|| anyhow!("a benchmark ended before it began"))?;
        run.tally = tally;
        Ok(())
    }
}

/// Parses bytes fully into memory (tests, `--dry-run` of small files).
pub fn collect(format: Format, bytes: &[u8], opts: &Options) -> Result<Collected> {
    let mut out = Collected::default();
    parse(format, &mut &bytes[..], opts, &mut out)?;
    Ok(out)
}
