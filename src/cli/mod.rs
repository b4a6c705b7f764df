//! The command line: flags, and dispatch to `cmd::*` once the config is loaded (after parsing,
//! so `--help` and `--version` need neither a config file nor a database).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::cmd;
use crate::config::{self, Override};

mod args;
pub use args::*;

#[derive(Debug, Parser)]
#[command(
    name = "llmrank",
    version,
    about = "Store, rank and show LLM serving performance (TTFT, TPS, e2e latency, RPS)",
    after_help = "Settings: defaults < config file < LLMRANK_SECTION__KEY env vars < flags. `llmrank config` shows them."
)]
pub struct Cli {
    /// Config file (else $LLMRANK_CONFIG, else ./llmrank.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the database and schema if needed and seed the LLM and metric catalogue (idempotent).
    Seed,
    /// Generate samples for every LLM × metric and write them with binary COPY.
    Simulate(SimulateArgs),
    /// Serve the ranking API over HTTP (X-API-KEY), with Prometheus /metrics.
    Serve(ServeArgs),
    /// Import benchmark results: vLLM, LLMPerf, GuideLLM, GenAI-Perf, AIPerf, SGLang,
    /// inference-perf, or llm,metric,value CSV / NDJSON (one transaction per file).
    Import(ImportArgs),
    /// Rank LLMs on one metric (TTFT, TPS, e2e_latency, RPS, ...), best first.
    Rank(RankArgs),
    /// Per LLM, a metric's n, mean and percentiles per hour or day.
    History(HistoryArgs),
    /// Per LLM and load sweep, the highest load level whose SLO attainment reaches a target.
    Capacity(CapacityArgs),
    /// Per LLM and load sweep: load -> throughput, a metric's p50/p99, attainment, the knee.
    Sweep(SweepArgs),
    /// Compare a candidate with a base (runs, windows or workloads): per LLM × metric the ratio
    /// of a statistic with its 95% interval and a verdict; exit 0 nothing regressed, 1
    /// something regressed, 2 bad usage or an error.
    Compare(CompareArgs),
    /// Per LLM × metric × workload, the daily median series, each day judged against the days
    /// before it (regressed: two in a row past the threshold).
    Regressions(RegressionsArgs),
    /// Draw the ranking (or --kind trend|tradeoff) as an SVG file, for reports and pull requests.
    Plot(PlotArgs),
    /// Rebuild the summaries from the raw samples (after an upgrade, or to check them).
    Summarize,
    /// List the runs that wrote samples, newest first (`runs delete ID` removes one).
    Runs(RunsArgs),
    /// Print the effective settings and where each came from (secrets redacted).
    Config,
    /// Exit 0 when the local service answers /healthz (the container's HEALTHCHECK).
    Health(HealthArgs),
    /// Benchmark simulate against server-side COPY and the original INSERT path (needs a superuser).
    Bench(BenchArgs),
}

impl Cli {
    /// Flags that override settings.
    fn overrides(&self) -> Vec<Override> {
        let mut o = Vec::new();
        if let Command::Serve(ServeArgs { listen: Some(l) }) = &self.command {
            o.push(Override::new("server.listen", "--listen", l.clone()));
        }
        if let Command::Rank(RankArgs {
            api_key: Some(k), ..
        }) = &self.command
        {
            o.push(Override::new("client.api_key", "--api-key", k.clone()));
        }
        if let Command::Simulate(a) = &self.command {
            let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            if let Some(v) = a.seed {
                o.push(Override::new("simulate.seed", "--seed", to_i64(v)));
            }
            if let Some(v) = a.samples {
                o.push(Override::new("simulate.samples", "--samples", to_i64(v)));
            }
            if let Some(v) = a.workers {
                o.push(Override::new("simulate.workers", "--workers", to_i64(v)));
            }
            if let Some(v) = a.interval {
                o.push(Override::new(
                    "simulate.interval_secs",
                    "--interval",
                    to_i64(v),
                ));
            }
            if let Some(v) = &a.metrics_listen {
                o.push(Override::new(
                    "simulate.metrics_listen",
                    "--metrics-listen",
                    v.clone(),
                ));
            }
            if let Some(v) = a.batch_rows {
                o.push(Override::new(
                    "simulate.batch_rows",
                    "--batch-rows",
                    to_i64(v),
                ));
            }
        }
        o
    }
}

/// Runs the parsed command line. Any error of `compare` exits 2 ([`ExitTwo`]).
pub fn run(cli: Cli) -> Result<ExitCode> {
    let compare = matches!(cli.command, Command::Compare(_));
    let result = run_command(cli);
    if compare {
        result.context(ExitTwo)
    } else {
        result
    }
}

fn run_command(cli: Cli) -> Result<ExitCode> {
    let loaded = config::load(cli.config.as_deref(), &cli.overrides())?;
    crate::telemetry::init_logging(&loaded.settings.log);
    match cli.command {
        Command::Serve(_) => cmd::serve::few_malloc_arenas(),
        Command::Simulate(_) => cmd::simulate::large_blocks_given_back(),
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(dispatch(cli.command, loaded))
}

/// One line per subcommand: its flags as a plain request, handed to its `cmd` module.
async fn dispatch(command: Command, loaded: config::Loaded) -> Result<ExitCode> {
    let settings = &loaded.settings;
    match command {
        Command::Seed => println!("{}", cmd::seed::run(settings).await?.summary()),
        Command::Simulate(a) => {
            if let Some(report) = cmd::simulate::main(&loaded, &a.options()).await? {
                println!("{}", report.summary());
            }
        }
        Command::Serve(_) => cmd::serve::run(settings).await?,
        Command::Rank(a) if a.metric == "goodput" => {
            let g = cmd::rank::goodput(settings, &a.request()?, a.slo.as_ref()).await?;
            let format = a.format.into();
            print_safe(&g.render(format, a.width.width()), format);
        }
        Command::Rank(a) => {
            if a.slo.is_some() {
                anyhow::bail!(
                    "--slo applies to `llmrank rank goodput`; {} is ranked by a statistic (--by)",
                    a.metric
                );
            }
            let ranking = cmd::rank::run(settings, &a.request()?).await?;
            let format = a.format.into();
            print_safe(&ranking.render_fit(format, a.width.width()), format);
        }
        Command::Capacity(a) => {
            let req = cmd::capacity::Request {
                slo: a.slo.clone(),
                attainment: a.attainment,
                interpolate: a.interpolate,
                window: a.window.request(),
                filter: a.filter.filter()?,
                exact: a.exact,
            };
            let c = cmd::capacity::run(settings, &req).await?;
            let format = a.format.into();
            print_safe(&c.render(format, a.width.width()), format);
        }
        Command::Sweep(a) => {
            let req = cmd::sweep::Request {
                metric: a.metric.clone(),
                slo: a.slo.clone(),
                attainment: a.attainment,
                at_interactivity: a.at_interactivity,
                window: a.window.request(),
                filter: a.filter.filter()?,
            };
            let c = cmd::sweep::run(settings, &req).await?;
            let format = a.format.into();
            print_safe(&c.render(format, a.width.width()), format);
        }
        Command::Compare(a) => {
            let compared = cmd::compare::run(settings, &a.request()?).await?;
            let json = a.format() == crate::compare::Format::Json;
            print_text(&compared.render(a.format()), json);
            if compared.regressed() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Regressions(a) => {
            let format = a.format()?;
            let r = cmd::regressions::run(settings, &a.request()?).await?;
            print_text(
                &r.render(format),
                format == crate::regressions::Format::Json,
            );
        }
        Command::History(a) => {
            let h = cmd::history::run(settings, &a.request()?).await?;
            let format = a.format.into();
            print_safe(&h.render_fit(format, a.width.width()), format);
        }
        Command::Import(a) => cmd::import::main(settings, &a.request()).await?,
        Command::Plot(a) => println!("{}", cmd::plot::run(settings, &a.request()?).await?),
        Command::Summarize => println!("{}", cmd::summarize::run(settings).await?.summary()),
        Command::Runs(a) => match a.action {
            None => print_safe(
                &cmd::runs::run(settings, a.limit, a.width.width()).await?,
                crate::ranking::Format::Table,
            ),
            Some(RunsAction::Delete { id }) => {
                println!("{}", cmd::runs::delete(settings, id).await?.summary())
            }
        },
        Command::Config => print!("{}", loaded.describe()?),
        Command::Health(a) => cmd::health::run(settings, a.url.as_deref()).await?,
        Command::Bench(a) => print!("{}", cmd::bench::main(settings, a.request()).await?),
    }
    Ok(ExitCode::SUCCESS)
}

/// Context of an error after which `llmrank` exits 2, not 1: `compare` keeps 1 for "something
/// regressed", as `diff` keeps it for "the files differ".
#[derive(Debug)]
pub struct ExitTwo;

impl std::fmt::Display for ExitTwo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("compare")
    }
}

/// `text` on standard output, control characters escaped ([`crate::table::printable`]; in
/// JSON as `\uXXXX`, so it still parses to the same strings).
fn print_safe(text: &str, format: crate::ranking::Format) {
    print_text(text, format == crate::ranking::Format::Json);
}

/// [`print_safe`] for any output: `json` text keeps parsing to the same strings.
fn print_text(text: &str, json: bool) {
    if json {
        print!("{}", crate::table::printable_json(text));
    } else {
        print!("{}", crate::table::printable(text));
    }
}

/// A clap usage error on one line: `invalid value 'xml' for '--format <FORMAT>' [possible values: ...]`.
pub fn one_line_usage_error(e: &clap::Error) -> String {
    let text = e.render().to_string();
    text.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("For more information") && !l.starts_with("Usage:")
        })
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join(" ")
}
