//! `llmrank simulate`: generate samples for every LLM × metric and write them through the
//! ingest path (`crate::ingest`): one run, or a new run every interval (continuous mode).
//!
//! Glue only: settings become run parameters, the run is found, created or resumed in `runs`,
//! and `ingest::write_run` writes it with `ingest::simulated::SimSource` producing the batches.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio_postgres::Client;

use crate::config::Settings;
use crate::db::{self, catalogue, runs, Pg};
use crate::ingest::simulated::{Ids, SimSource};
use crate::ingest::{self, Pipeline, RunError};
pub use crate::ingest::{Outcome, Report};
use crate::sim::plan::{LlmParams, Params};
use crate::telemetry;

/// Called before the runtime starts its threads. glibc serves a large block from its heap
/// instead of a fresh mapping once one that size has been freed (its mmap threshold rises to
/// match), and then keeps what is freed: the 1 MiB COPY chunks of batches in flight left
/// simulate's peak RSS at 55–60 MiB for 10 M rows. With the threshold fixed at 256 KiB every
/// chunk is a mapping of its own, given back when its batch is written: 42 MiB, at the same
/// speed (`llmrank bench`).
pub fn large_blocks_given_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before other threads
    // exist, and an unknown value is ignored (returns 0).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

/// Options that are not settings.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub resume: Option<i32>,
    pub force: bool,
    /// Show a progress bar when stderr is a terminal.
    pub progress: bool,
    /// Spread sample timestamps over this many seconds before the run (0: generation time).
    pub span_secs: u64,
    /// `--sweep concurrency=...`: one run per level, ascending (empty: one plain run).
    pub sweep: Vec<u32>,
    /// The level of this run (set per level of a sweep).
    pub concurrency: Option<u32>,
    /// `--drift LLM:METRIC=±N%@DURATION`: injected drifts (each within `span_secs`).
    pub drift: Vec<crate::sim::drift::Drift>,
}

/// The parameters a new run would use under these settings.
pub fn params_from(settings: &Settings) -> Params {
    let s = &settings.simulate;
    let llms = settings
        .llms
        .iter()
        .map(|l| LlmParams {
            name: l.name.clone(),
            profile: l.profile,
        })
        .collect();
    let metrics = settings.metrics.iter().map(|m| m.name.clone()).collect();
    Params::new(s.seed, s.samples, s.batch_rows, llms, metrics)
}

/// Worker count: the setting, or one per core.
pub fn workers(settings: &Settings) -> usize {
    match settings.simulate.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n as usize,
    }
}

fn pipeline(settings: &Settings, pg: &Pg) -> Pipeline {
    Pipeline {
        pg: pg.clone(),
        workers: workers(settings),
        policy: crate::db::retry::RetryPolicy::from(&settings.simulate.retry),
    }
}

/// `llmrank simulate`: one run (its report), or continuous mode until a signal (`None`) when
/// `simulate.interval_secs` is set; `/metrics` served alongside when configured.
pub async fn main(loaded: &crate::config::Loaded, opts: &Options) -> Result<Option<Report>> {
    let settings = &loaded.settings;
    let every = settings.simulate.interval_secs;
    if every == 0 && !opts.sweep.is_empty() {
        return with_metrics_port(settings, sweep(settings, opts))
            .await
            .map(Some);
    }
    if every == 0 {
        return with_metrics_port(settings, run(settings, opts))
            .await
            .map(Some);
    }
    // Continuous mode writes new runs; flags about one run cannot apply to it.
    let conflict = [
        ("--sweep", !opts.sweep.is_empty()),
        ("--resume", opts.resume.is_some()),
        ("--span", opts.span_secs > 0),
        ("--drift", !opts.drift.is_empty()),
        ("--force", opts.force),
    ]
    .into_iter()
    .find(|(_, given)| *given);
    if let Some((flag, _)) = conflict {
        bail!(
            "{flag} cannot be combined with continuous mode (simulate.interval_secs = {every}{}); unset it to run once",
            loaded.origin("simulate.interval_secs")
        );
    }
    let job = run_continuous(settings, Duration::from_secs(every));
    with_metrics_port(settings, job).await.map(|()| None)
}

/// A sweep: one run per load level, ascending, each in the workload of its level (`tool =
/// simulate, concurrency = N`), so the levels line up as one sweep. Returns the last level's
/// report, after logging each.
pub async fn sweep(settings: &Settings, opts: &Options) -> Result<Report> {
    let mut last = None;
    for (i, &c) in opts.sweep.iter().enumerate() {
        let level = Options {
            concurrency: Some(c),
            sweep: Vec::new(),
            ..opts.clone()
        };
        let report = run(settings, &level).await?;
        tracing::info!(
            concurrency = c,
            level = i + 1,
            of = opts.sweep.len(),
            "{}",
            report.summary()
        );
        last = Some(report);
    }
    last.ok_or_else(|| anyhow!("a sweep needs at least two levels"))
}

/// The workload of a run at `concurrency`: the plain simulate one, or the level's.
async fn workload_of(c: &Client, concurrency: Option<u32>) -> Result<i32> {
    match concurrency {
        None => Ok(crate::domain::SIMULATE_WORKLOAD),
        Some(level) => {
            let params = std::collections::BTreeMap::from([
                ("tool".to_string(), "simulate".to_string()),
                ("concurrency".to_string(), level.to_string()),
            ]);
            crate::db::workloads::ensure(c, crate::domain::SourceKind::Simulate, &params).await
        }
    }
}

/// Runs (or resumes) one simulate run to the end, with Ctrl-C/SIGTERM cancelling it.
pub async fn run(settings: &Settings, opts: &Options) -> Result<Report> {
    let pg = db::pg_config(&settings.database, "llmrank-simulate")?;
    let control = db::connect(&pg).await?;
    let cat = catalogue::load(&control).await?;

    let (run_id, params) = match opts.resume {
        Some(id) => match prepare_resume(&control, id).await? {
            Some(p) => (id, p),
            None => {
                let rows = runs::committed_rows(&control, id).await? as u64;
                return Ok(Report::existing(id, rows, Outcome::AlreadyComplete));
            }
        },
        None => {
            let mut params = params_from(settings);
            params.span_secs = opts.span_secs;
            params.concurrency = opts.concurrency;
            params.drift = opts.drift.clone();
            params.check().map_err(|e| anyhow!(e))?;
            let json = serde_json::to_value(&params).context("failed to encode run parameters")?;
            // Fail before recording a run when the catalogue is not seeded.
            Ids::resolve(&params, &cat)?;
            // Looking for the same run and recording a new one is atomic: two identical
            // invocations at the same moment never both write it.
            let recorded = runs::with_params_locked(
                &control,
                "simulate",
                &json,
                find_or_record(
                    &control,
                    &json,
                    params.seed,
                    opts.force,
                    workload_of(&control, params.concurrency).await?,
                ),
            )
            .await?;
            match recorded {
                Ok(id) => (id, params),
                Err(existing) => return Ok(existing),
            }
        }
    };
    write_run(settings, &pg, control, run_id, params, opts.progress)
        .await
        .map_err(anyhow::Error::from)
}

/// The completed run that already holds these parameters (`Err`, nothing to write), or a new
/// run recorded for them (`Ok`). Refuses when an unfinished run has them, unless `force`.
async fn find_or_record(
    c: &Client,
    json: &serde_json::Value,
    seed: u64,
    force: bool,
    workload_id: i32,
) -> Result<std::result::Result<i32, Report>> {
    if !force {
        if let Some((id, status)) = runs::find_same(c, "simulate", json).await? {
            if status == "completed" {
                let rows = runs::committed_rows(c, id).await? as u64;
                return Ok(Err(Report::existing(id, rows, Outcome::SameRunExists)));
            }
            let hint = if status == "running" {
                " (another process may be writing it); `llmrank simulate --resume {id}` completes it if that process is gone"
            } else {
                "; `llmrank simulate --resume {id}` completes it"
            };
            bail!(
                "run {id} has the same seed and parameters and is {status}{}, --force starts a new run",
                hint.replace("{id}", &id.to_string())
            );
        }
    }
    Ok(Ok(runs::create(
        c,
        crate::domain::SourceKind::Simulate,
        workload_id,
        Some(seed as i64),
        json,
    )
    .await?))
}

/// Continuous mode: a new run every `interval`, each with its own seed derived from the base
/// seed and the run id (recorded in `runs`), until SIGTERM or Ctrl-C. A failed run is logged
/// and the next one starts on schedule; replicas each write their own runs.
pub async fn run_continuous(settings: &Settings, interval: Duration) -> Result<()> {
    let pg = db::pg_config(&settings.database, "llmrank-simulate")?;
    // Fail fast on a wrong address or an unseeded database.
    let control = db::connect(&pg).await?;
    Ids::resolve(&params_from(settings), &catalogue::load(&control).await?)?;
    drop(control);
    let upkeep = tokio::spawn(db::maintain::upkeep_forever(
        pg.clone(),
        settings.retention.raw_days,
    ));
    let _stop_upkeep = AbortOnDrop(upkeep);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = crate::signal::shutdown() => return Ok(()),
        }
        match continuous_run(settings, &pg).await {
            Ok(report) => tracing::info!(
                run = report.run_id,
                rows = report.rows_written,
                seconds = report.seconds,
                "run completed"
            ),
            Err(RunError::Cancelled(msg)) => {
                tracing::info!("{msg}");
                return Ok(());
            }
            Err(RunError::Failed(e)) => {
                tracing::error!(error = %format!("{e:#}"), "run failed; the next one starts on schedule")
            }
        }
    }
}

/// Runs `job` with Prometheus `/metrics` served on `simulate.metrics_listen` when it is set
/// (the Helm chart scrapes the continuous mode there).
pub async fn with_metrics_port<T>(
    settings: &Settings,
    job: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let listen = &settings.simulate.metrics_listen;
    if listen.is_empty() {
        return job.await;
    }
    let handle = telemetry::recorder()?;
    let listener = crate::server::bind(listen).await?;
    tracing::info!(listen = %listen, "serving /metrics");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let grace = Duration::from_millis(settings.server.shutdown_grace_ms);
    let stop = async move {
        let _ = stop_rx.await;
    };
    let metrics = tokio::spawn(crate::server::serve_metrics(listener, handle, stop, grace));
    let result = job.await;
    let _ = stop_tx.send(());
    let _ = metrics.await;
    result
}

/// The seed of continuous run `run_id`: a different stream every interval, reproducible from
/// the base seed and the run id. At most `i64::MAX`, so the database stores it as it is and
/// `simulate --seed` accepts it: every continuous run can be replayed.
pub fn derived_seed(base: u64, run_id: i32) -> u64 {
    crate::hash::splitmix64(base ^ crate::hash::splitmix64(run_id as u64)) >> 1
}

async fn continuous_run(settings: &Settings, pg: &Pg) -> Result<Report, RunError> {
    let control = db::connect(pg).await.map_err(RunError::Failed)?;
    let mut params = params_from(settings);
    let placeholder = serde_json::to_value(&params).map_err(|e| RunError::Failed(e.into()))?;
    let id = runs::create(
        &control,
        crate::domain::SourceKind::Simulate,
        crate::domain::SIMULATE_WORKLOAD,
        None,
        &placeholder,
    )
    .await
    .map_err(RunError::Failed)?;
    params.seed = derived_seed(settings.simulate.seed, id);
    let json = serde_json::to_value(&params).map_err(|e| RunError::Failed(e.into()))?;
    runs::set_params(&control, id, params.seed as i64, &json)
        .await
        .map_err(RunError::Failed)?;
    write_run(settings, pg, control, id, params, false).await
}

/// Checks that run `id` can be resumed; `None` when it is already complete.
async fn prepare_resume(client: &Client, id: i32) -> Result<Option<Params>> {
    let (source, json, status) = runs::get(client, id)
        .await?
        .ok_or_else(|| anyhow!("there is no run {id}; `llmrank runs` lists them"))?;
    if source != "simulate" {
        bail!("run {id} came from {source}, not simulate; only simulate runs can be resumed");
    }
    if status == "completed" {
        return Ok(None);
    }
    let params: Params = serde_json::from_value(json)
        .with_context(|| format!("run {id} has parameters this version cannot read"))?;
    params
        .check()
        .map_err(|e| anyhow!("run {id} cannot be resumed: {e}"))?;
    runs::finish(client, id, runs::Status::Running, None).await?;
    Ok(Some(params))
}

/// Writes run `run_id` with the simulation as its source.
async fn write_run(
    settings: &Settings,
    pg: &Pg,
    control: Client,
    run_id: i32,
    params: Params,
    show_progress: bool,
) -> Result<Report, RunError> {
    let started_at = runs::started_at(&control, run_id)
        .await
        .map_err(RunError::Failed)?;
    // Partitions for the days the run writes, when this role may create them (else the rows
    // wait in the default partition for the schema owner's upkeep).
    let workload_id = workload_of(&control, params.concurrency)
        .await
        .map_err(RunError::Failed)?;
    let to = crate::ingest::simulated::unix_secs(started_at);
    db::maintain::ensure_partitions_best_effort(pg, to - params.span_secs as i64, to).await;
    let prepare = move |cat: &catalogue::Catalogue| {
        let ids = Ids::resolve(&params, cat)?;
        Ok(SimSource::new(params, ids, started_at).in_workload(workload_id))
    };
    ingest::write_run(
        &pipeline(settings, pg),
        control,
        run_id,
        prepare,
        show_progress,
    )
    .await
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
