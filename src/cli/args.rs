//! The subcommands' flags (clap), their value parsers, and the plain requests they become:
//! nothing below `cli` sees a clap type.

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::cmd;
use crate::stats::Statistic;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Rows for the simulate and server-side COPY phases.
    #[arg(long, default_value_t = 10_000_000)]
    pub rows: u64,
    /// Rows for the 100-row INSERT phase.
    #[arg(long, default_value_t = 200_000)]
    pub insert_rows: u64,
    /// Scratch database, dropped and recreated.
    #[arg(long, default_value = "llmrank_bench")]
    pub database: String,
    /// Instead: rankings' cost as samples grow (loads --sizes in turn, times summaries against
    /// the raw scan, serve's peak RSS in a burst of cache misses).
    #[arg(long)]
    pub scale: bool,
    /// Instead: `llmrank import` of a generated vLLM --save-detailed file next to simulate
    /// writing the same rows, and the importer's peak RSS on NDJSON and CSV files.
    #[arg(long, conflicts_with = "scale")]
    pub import: bool,
    /// Instead: how often regressions and compare catch TTFT drifts of 1.05x to 2x, and how
    /// often they flag what did not move, over --seeds simulated fortnights.
    #[arg(long, conflicts_with_all = ["scale", "import"])]
    pub detection: bool,
    /// With --detection: how many seeds (each 14 days of 400 requests a day per LLM).
    #[arg(long, default_value_t = 20, requires = "detection", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub seeds: u64,
    /// With --import: requests in the generated vLLM file (four samples each).
    #[arg(long, default_value_t = 1_000_000, requires = "import")]
    pub requests: u64,
    /// With --import: records of the largest NDJSON and CSV files.
    #[arg(long, default_value_t = 8_000_000, requires = "import")]
    pub records: u64,
    /// With --scale: the sizes to measure at, in samples.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000000,10000000,100000000",
        requires = "scale"
    )]
    pub sizes: Vec<u64>,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Seed of the random streams: the same seed writes the same values.
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
    pub seed: Option<u64>,
    /// Samples per LLM × metric.
    #[arg(long)]
    pub samples: Option<u64>,
    /// Concurrent generators and writers (0 = one per core).
    #[arg(long)]
    pub workers: Option<u64>,
    /// Rows per batch (one transaction each).
    #[arg(long, value_name = "ROWS")]
    pub batch_rows: Option<u64>,
    /// Complete a failed or interrupted run: write only its missing batches.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["seed", "samples", "batch_rows", "force"])]
    pub resume: Option<i32>,
    /// Write even when a completed run already holds the same data.
    #[arg(long)]
    pub force: bool,
    /// Continuous mode: start a new run every SECS seconds, each with its own derived seed.
    #[arg(long, value_name = "SECS", conflicts_with = "resume")]
    pub interval: Option<u64>,
    /// Continuous mode: serve Prometheus /metrics on this address (e.g. 0.0.0.0:9100).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<String>,
    /// Spread sample timestamps evenly over this past span (e.g. 24h, 7d), so a fresh install
    /// shows history; by default samples keep the time they were generated.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with_all = ["resume", "interval"])]
    pub span: Option<i64>,
    /// A load sweep: one run per level, e.g. concurrency=1,2,4,8,16,32,64; each LLM's profile
    /// has a capacity past which requests queue (TTFT and e2e grow, throughput flattens).
    #[arg(long, value_name = "concurrency=N,N,...", value_parser = sweep_arg, conflicts_with = "resume")]
    pub sweep: Option<SweepLevels>,
    /// Move one LLM's metric by a share from some time before the end of --span, e.g.
    /// 'GPT-4o:TTFT=+25%@2d' (TTFT, TPOT, TPS, e2e_latency or RPS; repeatable): a regression
    /// to catch.
    #[arg(long, value_name = "LLM:METRIC=±N%@DURATION", value_parser = crate::sim::drift::parse, requires = "span")]
    pub drift: Vec<crate::sim::drift::Drift>,
}

fn parse_duration(s: &str) -> Result<i64, String> {
    crate::window::parse_duration(s)
}

fn parse_time(s: &str) -> Result<i64, String> {
    crate::window::parse_rfc3339(s)
}

/// A time window: its length, or its ends (RFC 3339); default all time.
#[derive(Debug, Clone, Args)]
pub struct WindowArgs {
    /// Length of the window, ending with the current hour unless --from or --to says otherwise
    /// (e.g. 1h, 24h, 7d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub window: Option<i64>,
    /// Start of the window (RFC 3339, e.g. 2026-11-28T00:00:00Z); rounded down to the hour.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub from: Option<i64>,
    /// End of the window (RFC 3339); rounded up to the hour.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub to: Option<i64>,
}

impl WindowArgs {
    pub(super) fn request(&self) -> crate::window::Request {
        crate::window::Request {
            window: self.window,
            from: self.from,
            to: self.to,
        }
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 0.0.0.0:8080.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Result files (- for stdin).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// The file format; auto detects it from the content.
    #[arg(long, default_value = "auto", value_parser = parse_format)]
    pub format: FormatChoice,
    /// The LLM's name, overriding the file's model (needed where a file has none, and to tell
    /// two providers of one model apart).
    #[arg(long, value_name = "NAME")]
    pub llm: Option<String>,
    /// Free text recorded in the runs' workload (filter with --workload label=TEXT).
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,
    /// Parse and report what would be written; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import a file again even though the same file was imported before.
    #[arg(long)]
    pub force: bool,
}

/// `--format`: `auto` or a format's name.
#[derive(Debug, Clone, Copy)]
pub struct FormatChoice(pub Option<crate::import::Format>);

fn parse_format(s: &str) -> Result<FormatChoice, String> {
    if s == "auto" {
        return Ok(FormatChoice(None));
    }
    crate::import::Format::parse(s)
        .map(|f| FormatChoice(Some(f)))
        .ok_or_else(|| {
            format!(
                "unknown format {s:?}; allowed: auto, {}",
                crate::import::Format::allowed()
            )
        })
}

/// How wide tables print.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct WidthArgs {
    /// Print names whole, whatever the terminal's width (tables are fitted to a terminal,
    /// or to COLUMNS when set).
    #[arg(long)]
    pub wide: bool,
}

impl WidthArgs {
    /// The width tables fit, or `None` to print them whole.
    pub(super) fn width(self) -> Option<usize> {
        crate::terminal::table_width(self.wide)
    }
}

fn source_list(s: &str) -> Result<String, String> {
    crate::domain::RunFilter::default().add_sources(s)?;
    Ok(s.to_string())
}

/// Which runs to cover: like with like.
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Only runs of these sources, a comma list of simulate, import, api (default: the
    /// measured ones, import and api, when they hold data, else simulate: never both unasked).
    #[arg(long, value_name = "SOURCE[,SOURCE]", value_parser = source_list)]
    pub source: Option<String>,
    /// Only runs whose workload has KEY=VALUE (repeatable; e.g. tool=vllm, concurrency=4,
    /// input_len=550); `llmrank runs` shows each run's workload.
    #[arg(long, value_name = "KEY=VALUE")]
    pub workload: Vec<String>,
}

impl FilterArgs {
    pub(super) fn filter(&self) -> anyhow::Result<crate::domain::RunFilter> {
        let mut f = crate::domain::RunFilter::default();
        if let Some(list) = &self.source {
            f.add_sources(list).map_err(anyhow::Error::msg)?;
        }
        for pair in &self.workload {
            f.add_workload(pair).map_err(anyhow::Error::msg)?;
        }
        Ok(f)
    }
}

#[derive(Debug, Args)]
pub struct RankArgs {
    /// Metric name as the catalogue spells it: TTFT, TPS, e2e_latency, RPS (imports add TPOT,
    /// ITL and output_throughput).
    pub metric: String,
    #[arg(long, value_enum, default_value = "table")]
    pub format: FormatArg,
    /// Statistic that orders the ranking.
    #[arg(long, value_enum, default_value = "mean")]
    pub by: By,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Also list the statistics aggregate-only imports reported (the tool's own numbers,
    /// marked [reported], never merged with computed ones).
    #[arg(long)]
    pub include_reported: bool,
    /// Compute from the raw samples instead of the summaries (exact percentiles; the cost grows
    /// with the samples in the window).
    #[arg(long, conflicts_with = "server")]
    pub exact: bool,
    /// With METRIC goodput: the SLO a request must meet, every constraint at once, e.g.
    /// 'TTFT<=200ms,TPOT<=40ms,e2e_latency<=5s' (metrics TTFT, TPOT, e2e_latency; units us,
    /// ms, s; only <=). Failed requests count as not meeting it.
    #[arg(long, value_name = "SLO", value_parser = slo_arg, required_if_eq("metric", "goodput"))]
    pub slo: Option<crate::slo::Slo>,
    /// Ask a running `llmrank serve` (http://HOST:PORT) instead of the database.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// API key for --server (else LLMRANK_CLIENT__API_KEY or client.api_key).
    #[arg(long, value_name = "KEY", requires = "server")]
    pub api_key: Option<String>,
    #[command(flatten)]
    pub width: WidthArgs,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The base side: KEY=VALUE items joined by commas, from run (repeatable), window, until,
    /// from, to, workload (repeatable), source; e.g. run=12, 'window=7d,until=1d',
    /// workload=engine=vllm-0.10.
    #[arg(long, value_name = "SIDE")]
    pub base: String,
    /// The candidate side, as --base; e.g. run=15, window=1d, workload=engine=vllm-0.11.
    #[arg(long, value_name = "SIDE")]
    pub cand: String,
    /// Compare only this metric (repeatable); default every metric both sides hold.
    #[arg(long, value_name = "METRIC")]
    pub metric: Vec<String>,
    /// The statistic compared (p50 is the median).
    #[arg(long, value_enum, default_value = "p50")]
    pub by: By,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    #[arg(long, value_enum, default_value = "table")]
    pub format: CompareFormat,
}

/// When a change is a regression.
#[derive(Debug, Args)]
pub struct ThresholdArgs {
    /// The ratio (cand ÷ base, or a day ÷ its baseline) past which a lower-is-better metric
    /// (latency) regresses; above 1.
    #[arg(long, default_value_t = 1.20, value_name = "RATIO")]
    pub latency_threshold: f64,
    /// The ratio past which a higher-is-better metric (throughput) regresses; between 0 and 1.
    #[arg(long, default_value_t = 0.80, value_name = "RATIO")]
    pub throughput_threshold: f64,
}

impl ThresholdArgs {
    fn thresholds(&self) -> Result<crate::regress::Thresholds> {
        crate::regress::Thresholds::new(self.latency_threshold, self.throughput_threshold)
            .map_err(|e| anyhow::anyhow!("--latency-threshold/--throughput-threshold: {e}"))
    }
}

#[derive(Debug, Args)]
pub struct RegressionsArgs {
    /// The days judged, ending with today (e.g. 30d, 12w).
    #[arg(long, default_value = "30d", value_name = "DURATION", value_parser = parse_duration)]
    pub window: i64,
    /// Judge only this metric (repeatable); default every metric.
    #[arg(long, value_name = "METRIC")]
    pub metric: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Earlier days whose median is a point's baseline.
    #[arg(long, default_value_t = 7, value_name = "DAYS", value_parser = clap::value_parser!(u16).range(1..=365))]
    pub baseline: u16,
    /// Days a series needs for any verdict (fewer: insufficient_data).
    #[arg(long, default_value_t = 7, value_name = "DAYS", value_parser = clap::value_parser!(u16).range(2..=365))]
    pub min_points: u16,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    /// table or json.
    #[arg(long, value_enum, default_value = "table")]
    pub format: CompareFormat,
}

impl RegressionsArgs {
    pub fn request(&self) -> Result<cmd::regressions::Request> {
        let thresholds = self.thresholds.thresholds()?;
        Ok(cmd::regressions::Request {
            window: self.window,
            metrics: self.metric.clone(),
            filter: self.filter.filter()?,
            rule: crate::regress::Rule {
                thresholds,
                baseline: usize::from(self.baseline),
                min_points: usize::from(self.min_points),
            },
        })
    }

    pub fn format(&self) -> Result<crate::regressions::Format> {
        match self.format {
            CompareFormat::Table => Ok(crate::regressions::Format::Table),
            CompareFormat::Json => Ok(crate::regressions::Format::Json),
            CompareFormat::Markdown => {
                anyhow::bail!("--format markdown is for compare; regressions prints table or json")
            }
        }
    }
}

/// Output formats of `compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompareFormat {
    Table,
    Json,
    /// A table for a pull-request comment.
    Markdown,
}

impl CompareArgs {
    /// The plain request; a bad side or threshold is an error naming it.
    pub fn request(&self) -> Result<cmd::compare::Request> {
        let side = |flag: &str, text: &str| {
            text.parse::<crate::compare::Side>()
                .map_err(|e| anyhow::anyhow!("{flag}: {e}"))
        };
        Ok(cmd::compare::Request {
            base: side("--base", &self.base)?,
            cand: side("--cand", &self.cand)?,
            metrics: self.metric.clone(),
            by: self.by.into(),
            thresholds: self.thresholds.thresholds()?,
        })
    }

    pub fn format(&self) -> crate::compare::Format {
        match self.format {
            CompareFormat::Table => crate::compare::Format::Table,
            CompareFormat::Json => crate::compare::Format::Json,
            CompareFormat::Markdown => crate::compare::Format::Markdown,
        }
    }
}

#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// The SLO a request must meet, e.g. 'TTFT<=200ms,TPOT<=40ms' (as for `rank goodput`).
    #[arg(long, value_name = "SLO", value_parser = slo_arg)]
    pub slo: crate::slo::Slo,
    /// The share of requests that must meet it, in (0, 1].
    #[arg(long, default_value = "0.99", value_parser = cmd::capacity::parse_attainment)]
    pub attainment: f64,
    /// Also estimate the load between the capacity level and the first failing one where the
    /// attainment crosses the target (linear; the measured level stays the answer).
    #[arg(long)]
    pub interpolate: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: FormatArg,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Count from the raw requests instead of the summaries.
    #[arg(long)]
    pub exact: bool,
    #[command(flatten)]
    pub width: WidthArgs,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The metric whose p50 and p99 are drawn per level (TTFT, TPOT, e2e_latency, ...).
    pub metric: String,
    /// Also the attainment of this SLO per level, and the capacity marked.
    #[arg(long, value_name = "SLO", value_parser = slo_arg)]
    pub slo: Option<crate::slo::Slo>,
    /// The attainment target of the capacity mark, in (0, 1].
    #[arg(long, default_value = "0.99", value_parser = cmd::capacity::parse_attainment)]
    pub attainment: f64,
    /// Each LLM's output tokens/s (per GPU where known) at this many tokens/s per user,
    /// linear between the levels around it.
    #[arg(long, value_name = "TOKENS_PER_S", value_parser = crate::sweep::parse_interactivity)]
    pub at_interactivity: Option<f64>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: FormatArg,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub width: WidthArgs,
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Metric name as the catalogue spells it (the x axis of a trade-off).
    pub metric: String,
    #[arg(long, value_enum, default_value = "ranking")]
    pub kind: cmd::plot::Kind,
    /// Statistic drawn (and that orders a ranking).
    #[arg(long, value_enum, default_value = "mean")]
    pub by: By,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// The y metric of --kind tradeoff.
    #[arg(long, default_value = "TPS", value_name = "METRIC")]
    pub y: String,
    /// With METRIC goodput: the SLO whose attainment the bars show; with --kind sweep: mark
    /// each LLM's capacity under it (e.g. 'TTFT<=200ms,TPOT<=40ms').
    #[arg(long, value_name = "SLO", value_parser = slo_arg, required_if_eq("metric", "goodput"))]
    pub slo: Option<crate::slo::Slo>,
    /// --kind sweep: the attainment target of the capacity mark, in (0, 1].
    #[arg(long, default_value = "0.99", value_parser = cmd::capacity::parse_attainment)]
    pub attainment: f64,
    /// --kind interactivity: match each LLM's output tokens/s at this many tokens/s per user.
    #[arg(long, value_name = "TOKENS_PER_S", value_parser = crate::sweep::parse_interactivity)]
    pub at_interactivity: Option<f64>,
    /// Width in pixels, 320 to 1600 (below 600 the layout is a phone's).
    #[arg(long, default_value_t = crate::plot::DEFAULT_WIDTH,
          value_parser = clap::value_parser!(u32)
              .range(i64::from(crate::plot::MIN_WIDTH)..=i64::from(crate::plot::MAX_WIDTH)))]
    pub width: u32,
    /// The file to write: .svg, or .png (drawn at twice the size; needs an installed font).
    #[arg(short, long, value_name = "FILE")]
    pub output: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Metric name as the catalogue spells it.
    pub metric: String,
    /// Bucket size: 1h, 1d, or auto (hours up to a week, days beyond; with no window, all
    /// time from the first day with data).
    #[arg(long, default_value = "1h", value_parser = ["1h", "1d", "auto"])]
    pub bucket: String,
    #[command(flatten)]
    pub window: WindowArgs,
    /// Only this LLM.
    #[arg(long, value_name = "NAME")]
    pub llm: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[arg(long, value_enum, default_value = "table")]
    pub format: FormatArg,
    #[command(flatten)]
    pub width: WidthArgs,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// URL to probe (default: /healthz at 127.0.0.1 on the port of server.admin_listen, else server.listen).
    #[arg(long)]
    pub url: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub action: Option<RunsAction>,
    /// How many runs to show.
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
    #[command(flatten)]
    pub width: WidthArgs,
}

#[derive(Debug, Subcommand)]
pub enum RunsAction {
    /// Delete a run's samples and reported statistics, and rebuild the summaries it touched
    /// (refused once its raw samples have aged out).
    Delete {
        /// The run's id (see `llmrank runs`).
        id: i32,
    },
}

/// `--format`: how an answer is printed.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    Table,
    Json,
    Csv,
}

impl From<FormatArg> for crate::ranking::Format {
    fn from(f: FormatArg) -> Self {
        use crate::ranking::Format;
        match f {
            FormatArg::Table => Format::Table,
            FormatArg::Json => Format::Json,
            FormatArg::Csv => Format::Csv,
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum By {
    Mean,
    P50,
    P90,
    P95,
    P99,
}

impl From<By> for Statistic {
    fn from(b: By) -> Self {
        match b {
            By::Mean => Statistic::Mean,
            By::P50 => Statistic::P50,
            By::P90 => Statistic::P90,
            By::P95 => Statistic::P95,
            By::P99 => Statistic::P99,
        }
    }
}

impl SimulateArgs {
    pub(super) fn options(&self) -> cmd::simulate::Options {
        cmd::simulate::Options {
            resume: self.resume,
            force: self.force,
            progress: true,
            span_secs: self.span.map_or(0, |s| s as u64),
            sweep: self.sweep.clone().map(|s| s.0).unwrap_or_default(),
            concurrency: None,
            drift: self.drift.clone(),
        }
    }
}

/// The levels of `--sweep` (one value on the command line).
#[derive(Debug, Clone)]
pub struct SweepLevels(pub Vec<u32>);

fn sweep_arg(text: &str) -> Result<SweepLevels, String> {
    crate::sim::plan::parse_sweep(text).map(SweepLevels)
}

fn slo_arg(text: &str) -> Result<crate::slo::Slo, String> {
    text.parse()
}

impl RankArgs {
    pub(super) fn request(&self) -> Result<cmd::rank::Request> {
        Ok(cmd::rank::Request {
            metric: self.metric.clone(),
            by: self.by.into(),
            window: self.window.request(),
            filter: self.filter.filter()?,
            include_reported: self.include_reported,
            exact: self.exact,
            server: self.server.clone(),
        })
    }
}

impl HistoryArgs {
    pub(super) fn request(&self) -> Result<cmd::history::Request> {
        Ok(cmd::history::Request {
            metric: self.metric.clone(),
            bucket: crate::history::parse_bucket(&self.bucket).map_err(anyhow::Error::msg)?,
            window: self.window.request(),
            llm: self.llm.clone(),
            filter: self.filter.filter()?,
        })
    }
}

impl ImportArgs {
    pub(super) fn request(&self) -> cmd::import::Request {
        cmd::import::Request {
            files: self.files.clone(),
            format: self.format.0,
            llm: self.llm.clone(),
            label: self.label.clone(),
            dry_run: self.dry_run,
            force: self.force,
        }
    }
}

impl PlotArgs {
    pub(super) fn request(&self) -> Result<cmd::plot::Request> {
        Ok(cmd::plot::Request {
            metric: self.metric.clone(),
            kind: self.kind,
            by: self.by.into(),
            window: self.window.request(),
            filter: self.filter.filter()?,
            y: self.y.clone(),
            slo: self.slo.clone(),
            attainment: self.attainment,
            at_interactivity: self.at_interactivity,
            width: self.width,
            output: self.output.clone(),
        })
    }
}

impl BenchArgs {
    pub(super) fn request(self) -> cmd::bench::Request {
        if self.detection {
            cmd::bench::Request::Detection(cmd::bench::detection::Options {
                seeds: self.seeds,
                database: self.database,
            })
        } else if self.scale {
            cmd::bench::Request::Scale(cmd::bench::scale::Options {
                sizes: self.sizes,
                database: self.database,
                repeats: 30,
            })
        } else if self.import {
            cmd::bench::Request::Import(cmd::bench::import::Options {
                requests: self.requests,
                records: self.records,
                database: self.database,
            })
        } else {
            cmd::bench::Request::Copy(cmd::bench::copy::Options {
                rows: self.rows,
                insert_rows: self.insert_rows,
                database: self.database,
            })
        }
    }
}
