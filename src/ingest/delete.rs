//! `llmrank runs delete ID`: a bad run's samples go, and the summaries it touched are rebuilt
//! from what remains, in one transaction (all of it or nothing).
//!
//! The run's samples are deleted (one scan, returning which metric × LLM × hour they were
//! in); each such hour of the run's workload is summarised again from the remaining raw
//! samples, then the days holding those hours from their hours, and the all-time totals from
//! the days. Other workloads' rows are untouched. The workload's joint request summaries are
//! rebuilt from its remaining raw requests (`requests::rebuild`). Refused when some of the
//! run's samples were already dropped by retention (its summaries could no longer be rebuilt
//! without it), and for a run another process is writing. The run's row stays, marked `deleted`.
//!
//! The rebuild holds `llm_metric_summaries` in SHARE ROW EXCLUSIVE mode from before it reads
//! the remaining samples until it commits. That mode conflicts with itself, so two deletes
//! run one after the other (each rebuilds from what the other left; two rebuilds of one hour
//! never merge), and with every writer's summary upsert, so a batch either committed before
//! the lock (its samples are read and rebuilt) or adds its summary rows after the commit, on
//! top of the rebuilt ones: never wiped, never counted twice. Readers are not blocked. A
//! delete that meets a deadlock or a lost connection starts again under the retry policy.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail, Context, Result};
use tokio_postgres::{Client, GenericClient};

use crate::db::retry::RetryPolicy;
use crate::db::{error, notify, runs, summaries};
use crate::summary::{Rollup, RowKey, SeriesKey, Summary, DAY, HOUR, TOTAL};
use crate::table::thousands;

/// What a delete did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub run_id: i32,
    pub samples: u64,
    pub reported: u64,
    pub summary_rows: usize,
}

impl Report {
    pub fn summary(&self) -> String {
        format!(
            "run {} deleted: {} samples and {} reported statistics removed; {} summary rows rebuilt from the remaining samples",
            self.run_id,
            thousands(self.samples),
            self.reported,
            self.summary_rows
        )
    }
}

pub async fn delete(client: &mut Client, run_id: i32, policy: &RetryPolicy) -> Result<Report> {
    if !runs::try_lock(&*client, run_id).await? {
        bail!("run {run_id} is being written by another process; nothing deleted");
    }
    let mut tries = policy.start();
    let result = loop {
        match delete_locked(client, run_id).await {
            Err(e) if error::any_transient(&e) && !client.is_closed() => {
                let what = format!("the delete of run {run_id} met a transient error; retrying");
                if !tries.pause(&what, &format!("{e:#}")).await {
                    break Err(e);
                }
            }
            other => break other,
        }
    };
    let _ = client.execute("SELECT pg_advisory_unlock_all()", &[]).await;
    result
}

async fn delete_locked(client: &mut Client, run_id: i32) -> Result<Report> {
    let tx = client
        .transaction()
        .await
        .context("failed to start the delete")?;
    tx.batch_execute(
        "SET LOCAL statement_timeout = 0; LOCK TABLE llm_metric_summaries IN SHARE ROW EXCLUSIVE MODE",
    )
    .await
    .context("failed to lock the summaries for the rebuild")?;
    let row = tx
        .query_opt(
            "SELECT status, workload_id, (SELECT coalesce(sum(rows), 0)::bigint FROM batches WHERE run_id = $1)
             FROM runs WHERE id = $1 FOR UPDATE",
            &[&run_id],
        )
        .await
        .map_err(|e| crate::db::schema_hint(e, "failed to read the run"))?
        .ok_or_else(|| anyhow!("no run {run_id}; `llmrank runs` lists them"))?;
    let (status, workload_id, ledger_rows): (String, i32, i64) =
        (row.get(0), row.get(1), row.get(2));
    if status == "deleted" {
        bail!("run {run_id} is already deleted");
    }
    // Delete the samples, learning where they were.
    let touched = tx
        .query(
            "WITH gone AS (DELETE FROM llm_metrics WHERE run_id = $1 RETURNING metric_id, llm_id, created_at)
             SELECT metric_id, llm_id,
                    extract(epoch FROM date_bin('1 hour', created_at, timestamptz '2000-01-01 00:00:00+00'))::bigint,
                    count(*)
             FROM gone GROUP BY 1, 2, 3",
            &[&run_id],
        )
        .await
        .context("failed to delete the run's samples")?;
    let deleted: i64 = touched.iter().map(|r| r.get::<_, i64>(3)).sum();
    if deleted < ledger_rows {
        let horizon = crate::db::samples::retention_horizon(&tx).await?;
        bail!(
            "run {run_id} wrote {} samples but only {} remain{}: the rest aged out, so the summaries it touched cannot be rebuilt without it; nothing deleted",
            thousands(ledger_rows as u64),
            thousands(deleted as u64),
            horizon.map_or(String::new(), |h| format!(
                " (retention dropped raw samples before {})",
                crate::window::rfc3339(h)
            ))
        );
    }
    let hours: BTreeSet<(i16, i16, i64)> = touched
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let summary_rows = rebuild(&tx, workload_id, &hours).await?;
    let reported = tx
        .execute("DELETE FROM run_reported WHERE run_id = $1", &[&run_id])
        .await
        .context("failed to delete the run's reported statistics")?;
    tx.execute("DELETE FROM run_summaries WHERE run_id = $1", &[&run_id])
        .await
        .context("failed to delete the run's summaries")?;
    tx.execute("DELETE FROM batches WHERE run_id = $1", &[&run_id])
        .await
        .context("failed to delete the run's ledger")?;
    tx.execute(
        "UPDATE runs SET status = 'deleted', finished_at = now(), error = 'deleted by llmrank runs delete'
         WHERE id = $1",
        &[&run_id],
    )
    .await
    .context("failed to mark the run deleted")?;
    // The workload's joint request summaries, from its remaining requests.
    super::requests::rebuild(&tx, Some(workload_id)).await?;
    notify::record_change(&tx, &format!("runs delete {run_id}")).await?;
    tx.commit().await.context("failed to commit the delete")?;
    Ok(Report {
        run_id,
        samples: deleted as u64,
        reported,
        summary_rows,
    })
}

/// Rebuilds workload `workload_id`'s summary rows of `hours` (metric, LLM, hour start), of
/// the days holding them and of the totals of those metric × LLM pairs. Returns the rows
/// written.
async fn rebuild(
    tx: &impl GenericClient,
    workload_id: i32,
    hours: &BTreeSet<(i16, i16, i64)>,
) -> Result<usize> {
    if hours.is_empty() {
        return Ok(0);
    }
    let metrics: Vec<i16> = hours.iter().map(|h| h.0).collect();
    let llms: Vec<i16> = hours.iter().map(|h| h.1).collect();
    let starts: Vec<f64> = hours.iter().map(|h| h.2 as f64).collect();
    // 1. The hours, from the remaining raw samples of the workload.
    let rows = tx
        .query(
            "SELECT m.metric_id, m.llm_id, extract(epoch FROM m.created_at)::float8, m.value
             FROM unnest($1::int2[], $2::int2[], $3::float8[]) AS k(metric_id, llm_id, h)
             JOIN llm_metrics m ON m.metric_id = k.metric_id AND m.llm_id = k.llm_id
                  AND m.created_at >= to_timestamp(k.h) AND m.created_at < to_timestamp(k.h + 3600)
             WHERE m.run_id IN (SELECT id FROM runs WHERE workload_id = $4)",
            &[&metrics, &llms, &starts, &workload_id],
        )
        .await
        .context("failed to read the remaining samples")?;
    let mut rollup = Rollup::default();
    for r in &rows {
        let series = SeriesKey {
            metric_id: r.get(0),
            llm_id: r.get(1),
            workload_id,
        };
        rollup.add(series, r.get::<_, f64>(2).floor() as i64, r.get(3));
    }
    let hour_rows: Vec<(RowKey, Summary)> = rollup
        .rows()
        .into_iter()
        .filter(|(k, _)| k.bucket_secs == HOUR)
        .collect();
    let days: BTreeSet<(i16, i16, i64)> = hours
        .iter()
        .map(|&(m, l, h)| (m, l, h.div_euclid(DAY) * DAY))
        .collect();
    let pairs: BTreeSet<(i16, i16)> = hours.iter().map(|&(m, l, _)| (m, l)).collect();
    // 2. Out with the old rows of those hours, days and totals.
    let del = |secs: i64, keys: Vec<(i16, i16, i64)>| async move {
        let m: Vec<i16> = keys.iter().map(|k| k.0).collect();
        let l: Vec<i16> = keys.iter().map(|k| k.1).collect();
        let s: Vec<f64> = keys.iter().map(|k| k.2 as f64).collect();
        tx.execute(
            "DELETE FROM llm_metric_summaries s
             USING unnest($1::int2[], $2::int2[], $3::float8[]) AS k(metric_id, llm_id, start)
             WHERE s.workload_id = $4 AND s.bucket_secs = $5
               AND s.metric_id = k.metric_id AND s.llm_id = k.llm_id
               AND s.bucket_start = CASE WHEN $5 = 0 THEN '-infinity'::timestamptz ELSE to_timestamp(k.start) END",
            &[&m, &l, &s, &workload_id, &(secs as i32)],
        )
        .await
        .context("failed to remove the summaries to rebuild")
    };
    del(HOUR, hours.iter().copied().collect()).await?;
    del(DAY, days.iter().copied().collect()).await?;
    del(TOTAL, pairs.iter().map(|&(m, l)| (m, l, 0)).collect()).await?;
    summaries::upsert(tx, &hour_rows)
        .await
        .context("failed to write summaries")?;
    // 3. The days from their hours, the totals from the days.
    let mut written = hour_rows.len();
    let mut day_rows: BTreeMap<RowKey, Summary> = BTreeMap::new();
    for &(m, l, day) in &days {
        let bounds = crate::window::Bounds {
            from: Some(day),
            to: Some(day + DAY),
        };
        for (_, _, s) in
            summaries::series(tx, m, HOUR, &bounds, Some(l), Some(&[workload_id])).await?
        {
            let key = RowKey {
                metric_id: m,
                bucket_secs: DAY,
                bucket_start: day,
                llm_id: l,
                workload_id,
            };
            day_rows.entry(key).and_modify(|d| d.merge(&s)).or_insert(s);
        }
    }
    let day_rows: Vec<(RowKey, Summary)> = day_rows.into_iter().collect();
    summaries::upsert(tx, &day_rows)
        .await
        .context("failed to write summaries")?;
    written += day_rows.len();
    let mut totals = Vec::new();
    for &(m, l) in &pairs {
        let all = crate::window::Bounds {
            from: None,
            to: None,
        };
        let mut total: Option<Summary> = None;
        for (_, _, s) in summaries::series(tx, m, DAY, &all, Some(l), Some(&[workload_id])).await? {
            match &mut total {
                Some(t) => t.merge(&s),
                None => total = Some(s),
            }
        }
        if let Some(t) = total {
            let key = RowKey {
                metric_id: m,
                bucket_secs: TOTAL,
                bucket_start: 0,
                llm_id: l,
                workload_id,
            };
            totals.push((key, t));
        }
    }
    summaries::upsert(tx, &totals)
        .await
        .context("failed to write summaries")?;
    written += totals.len();
    Ok(written)
}
