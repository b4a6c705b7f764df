//! `llmrank simulate`: generate samples for every LLM × metric and stream them into PostgreSQL.
//!
//! Pipeline: the plan's batches sit in a queue; `workers` generator threads take one each,
//! stamp it with the time they take it, draw its samples from the model and encode them as
//! binary COPY rows grouped by metric; a bounded channel hands encoded batches to `workers`
//! writer tasks, one connection each, which commit them exactly once (see `db::writer`).
//! Memory stays flat: at most about 3 × workers batches exist at any time, whatever the row count.
//!
//! Bookkeeping: the run is recorded in `runs` with its parameters and seed, held by an advisory
//! lock while it is written, and marked completed, failed or cancelled at the end; failed and
//! cancelled runs keep their committed batches and `--resume` writes only the missing ones.

use std::collections::{HashSet, VecDeque};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_postgres::{Client, Config};

use crate::config::Settings;
use crate::db::{self, catalogue, copy, runs, writer};
use crate::sim::model::{MetricKind, Model, Sample};
use crate::sim::plan::{BatchSpec, LlmParams, Params};
use crate::telemetry;

/// Options that are not settings.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub resume: Option<i32>,
    pub force: bool,
    /// Show a progress bar when stderr is a terminal.
    pub progress: bool,
}

/// What a finished run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub run_id: i32,
    /// Rows this invocation wrote (a resumed run's earlier batches not included).
    pub rows_written: u64,
    /// Rows the run holds in all.
    pub rows_total: u64,
    pub seconds: f64,
    pub outcome: Outcome,
}

/// Whether a simulate invocation wrote anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Wrote,
    /// A completed run with the same seed and parameters already holds this data.
    SameRunExists,
    /// `--resume` of a run that was already complete.
    AlreadyComplete,
}

impl Report {
    /// A run that was already complete: nothing written.
    fn existing(run_id: i32, rows: u64, outcome: Outcome) -> Report {
        Report {
            run_id,
            rows_written: 0,
            rows_total: rows,
            seconds: 0.0,
            outcome,
        }
    }

    pub fn wrote(&self) -> bool {
        self.outcome == Outcome::Wrote
    }

    pub fn summary(&self) -> String {
        match self.outcome {
            Outcome::SameRunExists => {
                return format!(
                    "run {} already holds this data (same seed and parameters); nothing written. Pass --force to write it again.",
                    self.run_id
                )
            }
            Outcome::AlreadyComplete => {
                return format!(
                    "run {} is already complete ({} rows); nothing to resume",
                    self.run_id,
                    thousands(self.rows_total)
                )
            }
            Outcome::Wrote => {}
        }
        let rate = self.rows_written as f64 / self.seconds.max(1e-9);
        format!(
            "run {} completed: {} rows written in {:.2} s ({} rows/s); the run holds {} rows",
            self.run_id,
            thousands(self.rows_written),
            self.seconds,
            thousands(rate as u64),
            thousands(self.rows_total)
        )
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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
            let params = params_from(settings);
            params.check().map_err(|e| anyhow!(e))?;
            let json = serde_json::to_value(&params).context("failed to encode run parameters")?;
            if !opts.force {
                if let Some((id, status)) = runs::find_same(&control, "simulate", &json).await? {
                    if status == "completed" {
                        let rows = runs::committed_rows(&control, id).await? as u64;
                        return Ok(Report::existing(id, rows, Outcome::SameRunExists));
                    }
                    bail!(
                        "run {id} has the same seed and parameters and is {status}; `llmrank simulate --resume {id}` completes it, --force starts a new run"
                    );
                }
            }
            // Fail before recording a run when the catalogue is not seeded.
            Ids::resolve(&params, &cat)?;
            let id = runs::create(&control, "simulate", Some(params.seed as i64), &json).await?;
            (id, params)
        }
    };
    write_run(settings, &pg, control, run_id, params, opts.progress)
        .await
        .map_err(|e| match e {
            RunError::Cancelled(msg) => anyhow!(msg),
            RunError::Failed(e) => e,
        })
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
    let metrics = tokio::spawn(crate::server::serve_metrics(listener, handle, async move {
        let _ = stop_rx.await;
    }));
    let result = job.await;
    let _ = stop_tx.send(());
    let _ = metrics.await;
    result
}

/// The seed of continuous run `run_id`: a different stream every interval, reproducible from
/// the base seed and the run id.
pub fn derived_seed(base: u64, run_id: i32) -> u64 {
    crate::sim::model::splitmix64(base ^ crate::sim::model::splitmix64(run_id as u64))
}

async fn continuous_run(settings: &Settings, pg: &Config) -> Result<Report, RunError> {
    let control = db::connect(pg).await.map_err(RunError::Failed)?;
    let mut params = params_from(settings);
    let placeholder = serde_json::to_value(&params).map_err(|e| RunError::Failed(e.into()))?;
    let id = runs::create(&control, "simulate", None, &placeholder)
        .await
        .map_err(RunError::Failed)?;
    params.seed = derived_seed(settings.simulate.seed, id);
    let json = serde_json::to_value(&params).map_err(|e| RunError::Failed(e.into()))?;
    runs::set_params(&control, id, params.seed as i64, &json)
        .await
        .map_err(RunError::Failed)?;
    write_run(settings, pg, control, id, params, false).await
}

/// How a run that did not complete ended.
pub enum RunError {
    /// Interrupted by a signal; the message says how to resume.
    Cancelled(String),
    Failed(anyhow::Error),
}

/// Writes the missing batches of run `run_id` and records how it ended.
async fn write_run(
    settings: &Settings,
    pg: &Config,
    mut control: Client,
    run_id: i32,
    params: Params,
    show_progress: bool,
) -> Result<Report, RunError> {
    let params = Arc::new(params);
    let prepared = async {
        if !runs::try_lock(&control, run_id).await? {
            bail!("run {run_id} is being written by another process");
        }
        let ids = Ids::resolve(&params, &catalogue::load(&control).await?)?;
        let done: HashSet<i32> = runs::committed_batches(&control, run_id)
            .await?
            .into_iter()
            .collect();
        Ok((ids, done))
    };
    let (ids, done) = match prepared.await {
        Ok(x) => x,
        Err(e) => {
            let _ = runs::finish(
                &control,
                run_id,
                runs::Status::Failed,
                Some(&format!("{e:#}")),
            )
            .await;
            return Err(RunError::Failed(e));
        }
    };
    let missing = |done: &HashSet<i32>| -> Vec<BatchSpec> {
        params
            .plan()
            .into_iter()
            .filter(|b| !done.contains(&b.batch_no))
            .collect()
    };
    let mut todo = missing(&done);
    let todo_rows: u64 = todo.iter().map(|b| params.rows(b)).sum();
    let expected = params.total_rows();
    tracing::info!(
        run = run_id,
        seed = params.seed,
        samples = params.samples,
        batches = todo.len(),
        rows = todo_rows,
        "simulating"
    );

    let started = Instant::now();
    let progress = Progress::new(todo_rows, show_progress);
    let policy = writer::RetryPolicy::from(&settings.simulate.retry);
    let ids = Arc::new(ids);
    let mut written = 0;
    let mut round = 0;
    // Writers commit asynchronously (see `db::writer`): a server crash can lose batches they
    // saw commit. The ledger is the truth, so after each round the batches it lacks are
    // written again; the run is marked completed only by a synchronous commit, which makes
    // every earlier batch durable too.
    let outcome = loop {
        round += 1;
        let job = execute(
            pg.clone(),
            params.clone(),
            ids.clone(),
            run_id,
            std::mem::take(&mut todo),
            workers(settings),
            policy.clone(),
            progress.clone(),
        );
        let result = tokio::select! {
            r = job => r.map_err(Ended::Failed),
            () = crate::signal::shutdown() => Err(Ended::Cancelled),
        };
        match result {
            Ok(n) => written += n,
            Err(e) => break Err(e),
        }
        // The control connection may have died with the server; reconnect for bookkeeping.
        if control.is_closed() {
            control = match writer::connect_with_retry(pg, &policy).await {
                Ok(c) => c,
                Err(e) => break Err(Ended::Failed(e)),
            };
        }
        let done: HashSet<i32> = match runs::committed_batches(&control, run_id).await {
            Ok(d) => d.into_iter().collect(),
            Err(e) => break Err(Ended::Failed(e)),
        };
        todo = missing(&done);
        if todo.is_empty() || round == 3 {
            break Ok(written);
        }
        tracing::warn!(
            run = run_id,
            batches = todo.len(),
            "batches seen committed are missing from the ledger (lost in a server crash); writing them again"
        );
    };
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    let bookkeeping = if control.is_closed() {
        writer::connect_with_retry(pg, &policy)
            .await
            .map_err(RunError::Failed)?
    } else {
        control
    };
    // The completion must be a synchronous commit: it flushes the WAL past every batch.
    bookkeeping
        .batch_execute("SET synchronous_commit = on")
        .await
        .map_err(|e| RunError::Failed(e.into()))?;
    let finish = |status: runs::Status, error: Option<String>| {
        let client = &bookkeeping;
        async move {
            metrics::counter!(telemetry::SIMULATE_RUNS, "status" => status.as_str()).increment(1);
            runs::finish(client, run_id, status, error.as_deref()).await
        }
    };
    let rows_total = runs::committed_rows(&bookkeeping, run_id)
        .await
        .map_err(RunError::Failed)? as u64;
    match outcome {
        Ok(written) if rows_total == expected => {
            finish(runs::Status::Completed, None)
                .await
                .map_err(RunError::Failed)?;
            Ok(Report {
                run_id,
                rows_written: written,
                rows_total,
                seconds,
                outcome: Outcome::Wrote,
            })
        }
        Ok(_) => {
            let msg = format!("run {run_id} holds {rows_total} rows, expected {expected}");
            finish(runs::Status::Failed, Some(msg.clone()))
                .await
                .map_err(RunError::Failed)?;
            Err(RunError::Failed(anyhow!(
                "{msg}; `llmrank simulate --resume {run_id}` writes the missing batches"
            )))
        }
        Err(Ended::Cancelled) => {
            finish(runs::Status::Cancelled, Some("interrupted".into()))
                .await
                .map_err(RunError::Failed)?;
            Err(RunError::Cancelled(format!(
                "interrupted: run {run_id} cancelled with {} of {} rows committed; `llmrank simulate --resume {run_id}` completes it",
                thousands(rows_total),
                thousands(expected)
            )))
        }
        Err(Ended::Failed(e)) => {
            finish(runs::Status::Failed, Some(format!("{e:#}")))
                .await
                .map_err(RunError::Failed)?;
            Err(RunError::Failed(e.context(format!(
                "run {run_id} failed with {} of {} rows committed; `llmrank simulate --resume {run_id}` completes it",
                thousands(rows_total),
                thousands(expected)
            ))))
        }
    }
}

enum Ended {
    Failed(anyhow::Error),
    Cancelled,
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

/// Database ids of the run's LLMs and metrics.
struct Ids {
    llms: Vec<i16>,
    metrics: Vec<(i16, MetricKind)>,
}

impl Ids {
    fn resolve(params: &Params, cat: &catalogue::Catalogue) -> Result<Ids> {
        let llms = params
            .llms
            .iter()
            .map(|l| {
                cat.llm_id(&l.name).ok_or_else(|| {
                    anyhow!(
                        "LLM {:?} is not in the database catalogue; run `llmrank seed`",
                        l.name
                    )
                })
            })
            .collect::<Result<_>>()?;
        let metrics = params
            .metrics
            .iter()
            .map(|m| {
                let kind = MetricKind::from_name(m)
                    .ok_or_else(|| anyhow!("metric {m:?} cannot be simulated"))?;
                let (id, _) = cat.metric(m).ok_or_else(|| {
                    anyhow!("metric {m:?} is not in the database catalogue; run `llmrank seed`")
                })?;
                Ok((id, kind))
            })
            .collect::<Result<_>>()?;
        Ok(Ids { llms, metrics })
    }
}

/// Generates and encodes one batch: rows grouped by metric, all stamped with `at`.
fn encode(
    params: &Params,
    ids: &Ids,
    run_id: i32,
    spec: &BatchSpec,
    at: SystemTime,
) -> writer::Batch {
    let llm = &params.llms[spec.llm_index];
    let model = Model::new(&llm.profile).expect("profiles are validated before a run is planned");
    let mut samples: Vec<Sample> = Vec::with_capacity((spec.end - spec.start) as usize);
    model.generate(params.seed, &llm.name, spec.start, spec.end, |s| {
        samples.push(s)
    });
    let created_at = copy::pg_timestamp(at);
    let mut enc = copy::Encoder::new();
    for &(metric_id, kind) in &ids.metrics {
        for s in &samples {
            enc.push(&copy::Row {
                llm_id: ids.llms[spec.llm_index],
                metric_id,
                run_id,
                value: s.get(kind),
                created_at,
            });
        }
    }
    let (chunks, rows) = enc.finish();
    writer::Batch {
        run_id,
        batch_no: spec.batch_no,
        rows,
        chunks,
    }
}

/// Generates and writes `todo`; returns the rows written.
#[allow(clippy::too_many_arguments)]
async fn execute(
    pg: Config,
    params: Arc<Params>,
    ids: Arc<Ids>,
    run_id: i32,
    todo: Vec<BatchSpec>,
    workers: usize,
    policy: writer::RetryPolicy,
    progress: Progress,
) -> Result<u64> {
    let workers = workers.max(1);
    let queue = Arc::new(Mutex::new(VecDeque::from(todo)));
    let (tx, rx) = mpsc::channel::<writer::Batch>(workers);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut tasks: JoinSet<Result<u64>> = JoinSet::new();

    for _ in 0..workers {
        let (queue, tx, params, ids) = (queue.clone(), tx.clone(), params.clone(), ids.clone());
        tasks.spawn_blocking(move || {
            loop {
                let next = queue
                    .lock()
                    .map_err(|_| anyhow!("queue poisoned"))?
                    .pop_front();
                let Some(spec) = next else { break };
                let batch = encode(&params, &ids, run_id, &spec, SystemTime::now());
                if tx.blocking_send(batch).is_err() {
                    break; // the writers stopped
                }
            }
            Ok(0)
        });
    }
    drop(tx);

    let mut writer_config = pg.clone();
    writer_config.application_name("llmrank-writer");
    for _ in 0..workers {
        let (rx, policy, progress) = (rx.clone(), policy.clone(), progress.clone());
        let mut w = writer::Writer::new(writer_config.clone(), policy);
        tasks.spawn(async move {
            let mut written = 0;
            loop {
                let next = rx.lock().await.recv().await;
                let Some(batch) = next else { break };
                if w.write(&batch).await? == writer::Outcome::Written {
                    metrics::counter!(telemetry::SAMPLES_WRITTEN).increment(batch.rows);
                    metrics::counter!(telemetry::BATCHES_WRITTEN).increment(1);
                }
                written += batch.rows;
                progress.add(batch.rows);
            }
            Ok(written)
        });
    }

    let mut total = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => {
                // Stop generating: the writers' receiver goes, generators see a closed channel.
                rx.lock().await.close();
                tasks.abort_all();
                return Err(e);
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => {
                rx.lock().await.close();
                tasks.abort_all();
                return Err(anyhow!("a simulate worker panicked: {e}"));
            }
        }
    }
    Ok(total)
}

/// A progress bar on a terminal, a log line every few seconds otherwise.
#[derive(Clone)]
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    state: Arc<Mutex<(u64, Instant)>>,
    total: u64,
}

impl Progress {
    fn new(total: u64, want_bar: bool) -> Self {
        let bar = (want_bar && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} rows ({per_sec}, eta {eta})",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            bar
        });
        Progress {
            bar,
            state: Arc::new(Mutex::new((0, Instant::now()))),
            total,
        }
    }

    fn add(&self, rows: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(rows);
            return;
        }
        if let Ok(mut st) = self.state.lock() {
            st.0 += rows;
            if st.1.elapsed() >= Duration::from_secs(5) {
                st.1 = Instant::now();
                tracing::info!(rows = st.0, of = self.total, "progress");
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(48_000_000), "48,000,000");
    }
}
