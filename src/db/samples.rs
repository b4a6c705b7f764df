//! Reading raw samples back, for exact rankings (`rank --exact`): the cost grows with the
//! samples in the window, unlike the summaries.

use anyhow::Result;
use tokio_postgres::GenericClient;

use crate::window::Bounds;

/// All values of one metric within `window`, by LLM id (LLMs without samples are absent), of
/// the runs in `workloads` (`None`: all).
pub async fn values_by_llm(
    client: &impl GenericClient,
    metric_id: i16,
    window: &Bounds,
    workloads: Option<&[i32]>,
) -> Result<Vec<(i16, Vec<f64>)>> {
    // One array per LLM: far fewer protocol rows than one row per sample. The bounds prune
    // partitions at run time.
    let from = window.from.map_or(f64::NEG_INFINITY, |s| s as f64);
    let to = window.to.map_or(f64::INFINITY, |s| s as f64);
    let rows = client
        .query(
            "SELECT llm_id, array_agg(value) FROM llm_metrics
             WHERE metric_id = $1 AND created_at >= to_timestamp($2) AND created_at < to_timestamp($3)
               AND ($4::int[] IS NULL
                    OR run_id IN (SELECT id FROM runs WHERE workload_id = ANY($4)))
             GROUP BY llm_id",
            &[&metric_id, &from, &to, &workloads],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read samples"))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Each LLM's raw samples of `metric_id` in each of `runs` (a `compare` side of whole runs):
/// (LLM, run, values). Runs keep no range of their samples' times, so every day partition is
/// scanned: exact, at a cost that grows with the table (window sides read the summaries).
pub async fn values_by_llm_and_run(
    client: &impl GenericClient,
    metric_id: i16,
    runs: &[i32],
) -> Result<Vec<(i16, i32, Vec<f64>)>> {
    let rows = client
        .query(
            "SELECT llm_id, run_id, array_agg(value) FROM llm_metrics
             WHERE metric_id = $1 AND run_id = ANY($2)
             GROUP BY llm_id, run_id ORDER BY llm_id, run_id",
            &[&metric_id, &runs],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read the runs' samples"))?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Raw samples before this time (Unix seconds) were dropped by retention, if any were.
pub async fn retention_horizon(client: &impl GenericClient) -> Result<Option<i64>> {
    let row = client
        .query_opt(
            "SELECT extract(epoch FROM raw_before)::bigint FROM retention_horizon",
            &[],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read the retention horizon"))?;
    Ok(row.map(|r| r.get(0)))
}
