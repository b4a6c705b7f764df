//! Ingest: a run's lifecycle (lock, plan what the ledger lacks, write, finish) and the
//! producer → writer pipeline a [`Source`] of planned batches goes through (`simulate`, see
//! [`simulated`]). Imports and `POST /samples` take the other path, [`records`]: one
//! transaction per input, the same COPY routine and the same summary upsert. `delete` and
//! `summarize` keep the summaries true when samples go or are rebuilt.
//!
//! Pipeline: the source's planned batches sit in a queue; `workers` producer threads take one
//! each and encode it (binary COPY rows and the batch's summary rows); a bounded channel hands
//! encoded batches to `workers` writer tasks, one connection each, which commit them exactly
//! once (see [`writer`]). Memory stays flat: at most about 3 × workers batches exist at any
//! time, whatever the row count.
//!
//! Bookkeeping: the run is held by an advisory lock while it is written and marked completed,
//! failed or cancelled at the end; failed and cancelled runs keep their committed batches and
//! a resume writes only the missing ones.

pub mod delete;
pub mod records;
pub mod requests;
pub mod simulated;
pub mod summarize;
pub mod writer;

use std::collections::{HashSet, VecDeque};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_postgres::Client;

use crate::db::Pg;

use crate::db::{catalogue, runs};
use crate::table::thousands;
use crate::telemetry;

/// A planned batch: its number in the ledger and the rows it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    pub batch_no: i32,
    pub rows: u64,
}

/// What a source of samples gives the pipeline: a fixed plan (the same every time the run is
/// planned, so a resume writes exactly the missing batches) and each batch, encoded.
pub trait Source: Send + Sync + 'static {
    /// Every batch of the run, in write order.
    fn plan(&self) -> Vec<Planned>;
    /// Produces batch `batch_no` of run `run_id`: the same rows whenever it is produced.
    fn produce(&self, run_id: i32, batch_no: i32) -> writer::Batch;
}

/// How the pipeline connects and how hard it tries.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub pg: Pg,
    pub workers: usize,
    pub policy: crate::db::retry::RetryPolicy,
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

/// Whether an invocation wrote anything.
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
    pub fn existing(run_id: i32, rows: u64, outcome: Outcome) -> Report {
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

/// How a run that did not complete ended.
pub enum RunError {
    /// Interrupted by a signal; the message says how to resume.
    Cancelled(String),
    Failed(anyhow::Error),
}

impl From<RunError> for anyhow::Error {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Cancelled(msg) => anyhow!(msg),
            RunError::Failed(e) => e,
        }
    }
}

/// Writes the batches of run `run_id` that its ledger lacks and records how the run ended.
/// `prepare` builds the source once the run is locked (it may read the catalogue); a failure
/// there marks the run failed.
pub async fn write_run<S: Source>(
    pipeline: &Pipeline,
    mut control: Client,
    run_id: i32,
    prepare: impl FnOnce(&catalogue::Catalogue) -> Result<S>,
    show_progress: bool,
) -> Result<Report, RunError> {
    let pg = &pipeline.pg;
    // A run another process holds is not ours to mark: refuse and leave it alone.
    match runs::try_lock(&control, run_id).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(RunError::Failed(anyhow!(
                "run {run_id} is being written by another process; nothing done"
            )))
        }
        Err(e) => return Err(RunError::Failed(e)),
    }
    let prepared = async {
        let source = prepare(&catalogue::load(&control).await?)?;
        let done: HashSet<i32> = runs::committed_batches(&control, run_id)
            .await?
            .into_iter()
            .collect();
        Ok((source, done))
    };
    let (source, done) = match prepared.await {
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
    let source = Arc::new(source);
    let plan = source.plan();
    let missing = |done: &HashSet<i32>| -> Vec<Planned> {
        plan.iter()
            .filter(|b| !done.contains(&b.batch_no))
            .copied()
            .collect()
    };
    let mut todo = missing(&done);
    let todo_rows: u64 = todo.iter().map(|b| b.rows).sum();
    let expected: u64 = plan.iter().map(|b| b.rows).sum();
    tracing::info!(
        run = run_id,
        batches = todo.len(),
        rows = todo_rows,
        "writing"
    );

    let started = Instant::now();
    let progress = Progress::new(todo_rows, show_progress);
    let policy = &pipeline.policy;
    let mut written = 0;
    let mut round = 0;
    // Writers commit asynchronously (see `db::writer`): a server crash can lose batches they
    // saw commit. The ledger is the truth, so after each round the batches it lacks are
    // written again; the run is marked completed only by a synchronous commit, which makes
    // every earlier batch durable too.
    let outcome = loop {
        round += 1;
        let job = execute(
            pipeline,
            source.clone(),
            run_id,
            std::mem::take(&mut todo),
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
            control = match crate::db::retry::connect(pg, policy).await {
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
        crate::db::retry::connect(pg, policy)
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

/// Produces and writes `todo`; returns the rows written.
async fn execute<S: Source>(
    pipeline: &Pipeline,
    source: Arc<S>,
    run_id: i32,
    todo: Vec<Planned>,
    progress: Progress,
) -> Result<u64> {
    let workers = pipeline.workers.max(1);
    let queue = Arc::new(Mutex::new(VecDeque::from(todo)));
    let (tx, rx) = mpsc::channel::<writer::Batch>(workers);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut tasks: JoinSet<Result<u64>> = JoinSet::new();

    for _ in 0..workers {
        let (queue, tx, source) = (queue.clone(), tx.clone(), source.clone());
        tasks.spawn_blocking(move || {
            loop {
                let next = queue
                    .lock()
                    .map_err(|_| anyhow!("queue poisoned"))?
                    .pop_front();
                let Some(planned) = next else { break };
                let batch = source.produce(run_id, planned.batch_no);
                if tx.blocking_send(batch).is_err() {
                    break; // the writers stopped
                }
            }
            Ok(0)
        });
    }
    drop(tx);

    let mut writer_config = pipeline.pg.clone();
    writer_config.application_name("llmrank-writer");
    for _ in 0..workers {
        let (rx, policy, progress) = (rx.clone(), pipeline.policy.clone(), progress.clone());
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
