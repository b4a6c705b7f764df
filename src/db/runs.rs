//! The `runs` table and the batch ledger: what each run was asked to do and what it committed.

use anyhow::{Context, Result};
use tokio_postgres::GenericClient;

use crate::domain::SourceKind;

/// One line of `llmrank runs`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunInfo {
    pub id: i32,
    pub source: String,
    pub seed: Option<i64>,
    pub rows: i64,
    pub batches: i64,
    pub status: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub error: Option<String>,
    /// What the run's benchmark asked of the server (see `workloads`).
    pub workload: std::collections::BTreeMap<String, String>,
    /// The model as an imported file wrote it.
    pub model: Option<String>,
}

impl RunInfo {
    /// `key=value ...` of the workload, then the model.
    pub fn workload_text(&self) -> String {
        let mut parts: Vec<String> = self
            .workload
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if let Some(m) = &self.model {
            parts.push(format!("model={m}"));
        }
        parts.join(" ")
    }
}

/// Terminal states of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }
}

/// Records a new run of `source` under workload `workload_id`; returns its id.
pub async fn create(
    client: &impl GenericClient,
    source: SourceKind,
    workload_id: i32,
    seed: Option<i64>,
    params: &serde_json::Value,
) -> Result<i32> {
    let row = client
        .query_one(
            "INSERT INTO runs (source, workload_id, seed, params) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&source.as_str(), &workload_id, &seed, params],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to record the run"))?;
    Ok(row.get(0))
}

/// Records the seed and parameters of a run created before its seed was known.
pub async fn set_params(
    client: &impl GenericClient,
    id: i32,
    seed: i64,
    params: &serde_json::Value,
) -> Result<()> {
    client
        .execute(
            "UPDATE runs SET seed = $2, params = $3 WHERE id = $1",
            &[&id, &seed, params],
        )
        .await
        .with_context(|| format!("failed to record the parameters of run {id}"))?;
    Ok(())
}

/// Marks a run finished with `status` (and the error that ended it). Any status but
/// `running` is a data change, recorded in the same statement (rankings judge the noise over
/// completed runs, so answers cached before it are stale) and announced.
pub async fn finish(
    client: &impl GenericClient,
    id: i32,
    status: Status,
    error: Option<&str>,
) -> Result<()> {
    let what = format!("run {id} {}", status.as_str());
    client
        .execute(
            "WITH done AS (
                 UPDATE runs SET status = $2, error = $3,
                     finished_at = CASE WHEN $2 = 'running' THEN NULL ELSE now() END
                 WHERE id = $1 RETURNING status)
             INSERT INTO data_changes (what) SELECT $4 FROM done WHERE status <> 'running'",
            &[&id, &status.as_str(), &error, &what],
        )
        .await
        .with_context(|| format!("failed to mark run {id} {}", status.as_str()))?;
    if status != Status::Running {
        super::notify::announce(client, &what)
            .await
            .with_context(|| format!("failed to announce run {id} {}", status.as_str()))?;
    }
    Ok(())
}

/// The newest run of `source` with exactly these parameters, and its status.
pub async fn find_same(
    client: &impl GenericClient,
    source: &str,
    params: &serde_json::Value,
) -> Result<Option<(i32, String)>> {
    let row = client
        .query_opt(
            "SELECT id, status FROM runs WHERE source = $1 AND params = $2
             ORDER BY (status = 'completed') DESC, id DESC LIMIT 1",
            &[&source, params],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to look up earlier runs"))?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// A run's source, parameters and status.
pub async fn get(
    client: &impl GenericClient,
    id: i32,
) -> Result<Option<(String, serde_json::Value, String)>> {
    let row = client
        .query_opt(
            "SELECT source, params, status FROM runs WHERE id = $1",
            &[&id],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read the run"))?;
    Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
}

/// Which of `ids` are runs that hold data (not deleted).
pub async fn live(client: &impl GenericClient, ids: &[i32]) -> Result<Vec<i32>> {
    let rows = client
        .query(
            "SELECT id FROM runs WHERE id = ANY($1) AND status <> 'deleted' ORDER BY id",
            &[&ids],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read runs"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The ledger row of batch `batch_no` of run `run_id`, in the caller's transaction: it commits
/// with the batch's rows, and a second one of the same batch is a unique violation (23505).
pub async fn record_batch(
    client: &impl GenericClient,
    run_id: i32,
    batch_no: i32,
    rows: u64,
) -> std::result::Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO batches (run_id, batch_no, rows) VALUES ($1, $2, $3)",
            &[&run_id, &batch_no, &(rows as i64)],
        )
        .await
        .map(|_| ())
}

/// Adds what an imported run counted (failed requests, dropped values, samples) to its params.
pub async fn record_outcome(
    client: &impl GenericClient,
    id: i32,
    outcome: &serde_json::Value,
) -> Result<()> {
    client
        .execute(
            "UPDATE runs SET params = params || jsonb_build_object('outcome', $2::jsonb) WHERE id = $1",
            &[&id, outcome],
        )
        .await
        .context("failed to record the run's outcome")?;
    Ok(())
}

/// Marks the runs of one input completed, with the input's SHA-256 (how a later import of the
/// same file finds them).
pub async fn complete_input(client: &impl GenericClient, ids: &[i32], sha256: &str) -> Result<()> {
    client
        .execute(
            "UPDATE runs SET status = 'completed', finished_at = now(),
                    params = params || jsonb_build_object('file_sha256', $2::text)
             WHERE id = ANY($1)",
            &[&ids, &sha256],
        )
        .await
        .context("failed to complete the runs")?;
    Ok(())
}

/// Whether every run of `ids` was written from an input of SHA-256 `sha` (hex).
pub async fn inputs_are(client: &impl GenericClient, ids: &[i32], sha: &str) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT bool_and(params ->> 'file_sha256' IS NOT DISTINCT FROM $2) FROM runs
             WHERE id = ANY($1)",
            &[&ids, &sha],
        )
        .await
        .context("failed to read the earlier input's SHA-256")?;
    Ok(row.get::<_, Option<bool>>(0).unwrap_or(true))
}

/// What identifies an input written before: its Idempotency-Key, or its file's SHA-256.
pub enum Identity<'a> {
    Key(&'a str),
    File(&'a str, SourceKind),
}

/// The completed runs of an input written before (other than `except`, this attempt's own),
/// under a transaction-scoped lock on its identity: a concurrent attempt waits for this one's
/// outcome, so an input is written once.
pub async fn written_before(
    txn: &tokio_postgres::Transaction<'_>,
    identity: Identity<'_>,
    except: &[i32],
) -> Result<Vec<i32>> {
    let lock = |key: String| async move {
        txn.execute(
            "SELECT pg_advisory_xact_lock(1819045219, hashtext($1))",
            &[&key],
        )
        .await
        .context("failed to take the import lock")
    };
    let found = match identity {
        Identity::Key(k) => {
            lock(format!("api\n{k}")).await?;
            txn.query(
                "SELECT id FROM runs WHERE source = 'api' AND params ->> 'idempotency_key' = $1
                   AND status = 'completed' AND NOT (id = ANY($2)) ORDER BY id",
                &[&k, &except],
            )
            .await
        }
        Identity::File(sha, source) => {
            lock(format!("import\n{sha}")).await?;
            txn.query(
                "SELECT id FROM runs WHERE source = $3 AND params ->> 'file_sha256' = $1
                   AND status = 'completed' AND NOT (id = ANY($2)) ORDER BY id",
                &[&sha, &except, &source.as_str()],
            )
            .await
        }
    }
    .context("failed to look for an earlier import")?;
    Ok(found.iter().map(|r| r.get(0)).collect())
}

/// Batch numbers of a run already in the ledger.
pub async fn committed_batches(client: &impl GenericClient, id: i32) -> Result<Vec<i32>> {
    Ok(client
        .query("SELECT batch_no FROM batches WHERE run_id = $1", &[&id])
        .await
        .with_context(|| format!("failed to read the ledger of run {id}"))?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Rows a run has committed, from the ledger.
pub async fn committed_rows(client: &impl GenericClient, id: i32) -> Result<i64> {
    let row = client
        .query_one(
            "SELECT coalesce(sum(rows), 0)::bigint FROM batches WHERE run_id = $1",
            &[&id],
        )
        .await
        .with_context(|| format!("failed to count the rows of run {id}"))?;
    Ok(row.get(0))
}

/// Takes the per-run advisory lock on this session, so two processes never write one run.
pub async fn try_lock(client: &impl GenericClient, id: i32) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT pg_try_advisory_lock($1, $2)",
            &[&RUN_LOCK_SPACE, &id],
        )
        .await
        .context("failed to take the run lock")?;
    Ok(row.get(0))
}

/// First key of the run locks (the second is the run id).
const RUN_LOCK_SPACE: i32 = 0x6c6c_6d72;

/// First key of the locks that make finding and recording a run atomic (the second is a hash
/// of its source and parameters).
const CREATE_LOCK_SPACE: i32 = 0x6c6c_6d63;

/// Runs `work` (find the same run, or record a new one) while holding a session lock that
/// serialises everyone recording a run of `source` with `params`. A session lock, not a
/// transaction, so each statement commits by itself; it is released when `work` ends (or with
/// the session, if the process dies).
pub async fn with_params_locked<T>(
    client: &tokio_postgres::Client,
    source: &str,
    params: &serde_json::Value,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let key = crate::hash::fnv1a(format!("{source}\n{params}").as_bytes()) as i32;
    client
        .execute(
            "SELECT pg_advisory_lock($1, $2)",
            &[&CREATE_LOCK_SPACE, &key],
        )
        .await
        .context("failed to take the run-creation lock")?;
    let result = work.await;
    client
        .execute(
            "SELECT pg_advisory_unlock($1, $2)",
            &[&CREATE_LOCK_SPACE, &key],
        )
        .await
        .context("failed to release the run-creation lock")?;
    result
}

/// The newest runs first.
pub async fn list(client: &impl GenericClient, limit: i64) -> Result<Vec<RunInfo>> {
    let rows = client
        .query(
            "SELECT r.id, r.source, r.seed,
                    coalesce(b.rows, 0)::bigint, coalesce(b.batches, 0)::bigint, r.status,
                    to_char(r.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                    to_char(r.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                    r.error, coalesce(w.params, '{}'::jsonb), r.params ->> 'model_as_written'
             FROM runs r
             LEFT JOIN workloads w ON w.id = r.workload_id
             LEFT JOIN (SELECT run_id, sum(rows) AS rows, count(*) AS batches
                        FROM batches GROUP BY run_id) b ON b.run_id = r.id
             ORDER BY r.id DESC LIMIT $1",
            &[&limit],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to list runs"))?;
    Ok(rows
        .iter()
        .map(|r| RunInfo {
            id: r.get(0),
            source: r.get(1),
            seed: r.get(2),
            rows: r.get(3),
            batches: r.get(4),
            status: r.get(5),
            started_at: r.get(6),
            finished_at: r.get(7),
            error: r.get(8),
            workload: serde_json::from_value(r.get(9)).unwrap_or_default(),
            model: r.get(10),
        })
        .collect())
}

/// When run `id` started (anchors a simulate run's span, so a resume stamps the same times).
pub async fn started_at(client: &impl GenericClient, id: i32) -> Result<std::time::SystemTime> {
    let row = client
        .query_one("SELECT started_at FROM runs WHERE id = $1", &[&id])
        .await
        .with_context(|| format!("failed to read the start of run {id}"))?;
    Ok(row.get(0))
}
