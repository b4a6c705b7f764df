//! The batch writer of the pipeline (`simulate`'s batches; imports and `POST /samples` write
//! one transaction per input instead, see `records`): one connection, one batch per
//! transaction, exactly once.
//!
//! Per batch: `BEGIN; INSERT INTO batches (run, batch); COPY rows; upsert the batch's summary
//! rows (one statement); merge its joint request rows (`db::joint`); NOTIFY; COMMIT`. The ledger row commits with the samples and their
//! summaries, so summaries never disagree with the samples and count each batch exactly once:
//! - an error before COMMIT was sent: the transaction is gone, retry the batch;
//! - the connection lost while COMMIT was in flight (outcome unknown): reconnect and look the
//!   batch up in the ledger; present means done, absent means retry;
//! - a retry of a batch that did commit meets the ledger's primary key (23505): done, no
//!   duplicate rows.
//!
//! A batch whose rows all fall in one UTC day is copied straight into that day's partition
//! (`llm_metrics_YYYYMMDD`) when it exists: routing each row through the partitioned parent
//! costs ~20% of COPY speed on narrow rows here, a partition's own constraint check ~5%. When
//! the partition is missing (old rows, or a day the upkeep has not reached), the writer
//! remembers that day and copies through the parent, whose default partition takes the rows.
//!
//! Commits are asynchronous (`synchronous_commit = off`): a server crash may lose the last
//! batches a writer saw commit, together with their ledger rows, so nothing is duplicated and
//! the caller re-reads the ledger and writes what is missing before it records the run as
//! completed with a synchronous commit, which flushes the WAL past every earlier batch.
//!
//! Transient errors (`db::error`: lost connection, SQLSTATE class 08, 57P01-57P03
//! shutdown/crash/starting, 40001, 40P01, 53300) are retried under the one retry policy
//! (`db::retry`: capped exponential backoff, full jitter); anything else fails the batch at
//! once, with the cause.

use anyhow::{anyhow, Result};
use bytes::Bytes;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::db::retry::RetryPolicy;
use crate::db::{error, notify, runs, Pg};

use crate::db::copy::{self, CopyError};
use crate::joint::{Joint, JointKey};
use crate::summary::{RowKey, Summary};
use crate::telemetry;

/// A batch ready to write.
#[derive(Debug, Clone)]
pub struct Batch {
    pub run_id: i32,
    pub batch_no: i32,
    pub rows: u64,
    /// Binary COPY data, header and trailer included.
    pub chunks: Vec<Bytes>,
    /// The batch's summary rows (hour, day and total per LLM × metric), merged in its transaction.
    pub summaries: Vec<(RowKey, Summary)>,
    /// The batch's joint summary rows of its requests (hour, day and total per LLM).
    pub joint: Vec<(JointKey, Joint)>,
    /// The UTC day (Unix seconds of its start) every row falls in, when they share one.
    pub day: Option<i64>,
}

/// How a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This call committed it.
    Written,
    /// An earlier attempt had committed it (found in the ledger).
    AlreadyCommitted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connect,
    Begin,
    Ledger,
    Copy,
    Summaries,
    Commit,
}

enum AttemptError {
    Db(Phase, tokio_postgres::Error),
    Fatal(anyhow::Error),
}

/// Writes batches over one connection, reconnecting as needed.
pub struct Writer {
    config: Pg,
    policy: RetryPolicy,
    client: Option<Client>,
    /// The summaries' and the run rows' upserts, prepared on `client`.
    upsert: Option<(tokio_postgres::Statement, tokio_postgres::Statement)>,
    /// Days whose partition was missing: their batches go through the parent.
    no_partition: std::collections::HashSet<i64>,
}

impl Writer {
    pub fn new(config: Pg, policy: RetryPolicy) -> Self {
        Writer {
            config,
            policy,
            client: None,
            upsert: None,
            no_partition: std::collections::HashSet::new(),
        }
    }

    /// Writes `batch` exactly once, or fails with the last error after the allowed attempts.
    pub async fn write(&mut self, batch: &Batch) -> Result<Outcome> {
        let mut tries = self.policy.start();
        let mut unknown_commit = false;
        loop {
            let result = self.attempt(batch, unknown_commit).await;
            let (phase, err) = match result {
                Ok(outcome) => return Ok(outcome),
                Err(AttemptError::Fatal(e)) => return Err(e),
                Err(AttemptError::Db(phase, e)) => (phase, e),
            };
            self.client = None;
            if let Some(day) = b_day_without_partition(batch, phase, &err, &self.no_partition) {
                // Not a failure: that day has no partition (yet); the parent routes the rows.
                self.no_partition.insert(day);
                continue;
            }
            if !error::is_transient(&err) {
                return Err(anyhow::Error::new(err).context(format!(
                    "batch {} of run {} failed ({phase:?})",
                    batch.batch_no, batch.run_id
                )));
            }
            if phase == Phase::Commit {
                unknown_commit = true;
            }
            let what = format!(
                "transient database error ({phase:?}); retrying batch {} of run {}",
                batch.batch_no, batch.run_id
            );
            if !tries.pause(&what, &err).await {
                return Err(anyhow::Error::new(err).context(format!(
                    "batch {} of run {} failed after {} attempts",
                    batch.batch_no,
                    batch.run_id,
                    tries.retries() + 1
                )));
            }
            metrics::counter!(telemetry::BATCHES_RETRIED).increment(1);
        }
    }

    async fn attempt(
        &mut self,
        b: &Batch,
        check_ledger: bool,
    ) -> std::result::Result<Outcome, AttemptError> {
        if self.client.is_none() {
            let (client, connection) = self
                .config
                .connect_raw()
                .await
                .map_err(|e| AttemptError::Db(Phase::Connect, e))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            // Commit without waiting for the WAL flush: ~12% faster ingest here. A batch is
            // only "durable" once a later synchronous commit (the run's completion) flushes the
            // WAL past it; until then the ledger, re-read after each round, is the truth.
            client
                .batch_execute("SET synchronous_commit = off")
                .await
                .map_err(|e| AttemptError::Db(Phase::Connect, e))?;
            let upsert = (
                client.prepare(crate::db::summaries::UPSERT).await,
                client.prepare(crate::db::run_summaries::UPSERT).await,
            );
            let upsert = match upsert {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => return Err(AttemptError::Db(Phase::Connect, e)),
            };
            self.client = Some(client);
            self.upsert = Some(upsert);
        }
        let client = self
            .client
            .as_mut()
            .expect("the client was connected just above");

        if check_ledger {
            // The last COMMIT's outcome is unknown: the ledger knows.
            let found = client
                .query_opt(
                    "SELECT rows FROM batches WHERE run_id = $1 AND batch_no = $2",
                    &[&b.run_id, &b.batch_no],
                )
                .await
                .map_err(|e| AttemptError::Db(Phase::Ledger, e))?;
            if found.is_some() {
                tracing::info!(
                    run = b.run_id,
                    batch = b.batch_no,
                    "commit outcome was unknown; the ledger shows it committed"
                );
                return Ok(Outcome::AlreadyCommitted);
            }
        }

        let tx = client
            .transaction()
            .await
            .map_err(|e| AttemptError::Db(Phase::Begin, e))?;
        if let Err(e) = runs::record_batch(&tx, b.run_id, b.batch_no, b.rows).await {
            if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                return Ok(Outcome::AlreadyCommitted);
            }
            return Err(AttemptError::Db(Phase::Ledger, e));
        }
        let table = match b.day {
            Some(day) if !self.no_partition.contains(&day) => copy::partition_name(day),
            _ => copy::TABLE.to_string(),
        };
        copy::send(&tx, &table, b.chunks.iter().cloned(), b.rows)
            .await
            .map_err(|e| match e {
                CopyError::Db(e) => AttemptError::Db(Phase::Copy, e),
                e => AttemptError::Fatal(anyhow!("batch {} of run {}: {e}", b.batch_no, b.run_id)),
            })?;
        let (upsert, upsert_runs) = self
            .upsert
            .as_ref()
            .expect("prepared when the client connected");
        crate::db::summaries::upsert_with(&tx, upsert, &b.summaries)
            .await
            .map_err(|e| AttemptError::Db(Phase::Summaries, e))?;
        let run_rows = crate::db::run_summaries::of_batch(&b.summaries, |_| Some(b.run_id));
        crate::db::run_summaries::upsert_with(&tx, upsert_runs, &run_rows)
            .await
            .map_err(|e| AttemptError::Db(Phase::Summaries, e))?;
        // After the per-metric summaries: a delete's lock on those orders it with this batch.
        crate::db::joint::merge(&tx, &b.joint)
            .await
            .map_err(|e| AttemptError::Db(Phase::Summaries, e))?;
        notify::announce(&tx, &b.run_id.to_string())
            .await
            .map_err(|e| AttemptError::Db(Phase::Copy, e))?;
        tx.commit()
            .await
            .map_err(|e| AttemptError::Db(Phase::Commit, e))?;
        Ok(Outcome::Written)
    }
}

/// The day of a batch whose COPY into its day partition failed because the partition does not
/// exist (and was not known to be missing).
fn b_day_without_partition(
    b: &Batch,
    phase: Phase,
    err: &tokio_postgres::Error,
    known: &std::collections::HashSet<i64>,
) -> Option<i64> {
    let day = b.day?;
    let missing = phase == Phase::Copy
        && err.code() == Some(&SqlState::UNDEFINED_TABLE)
        && !known.contains(&day);
    missing.then_some(day)
}
