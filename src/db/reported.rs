//! The `run_reported` table: statistics a benchmark tool computed itself, for runs whose file
//! holds no per-request data. Kept apart from the summaries, never merged into them.

use anyhow::{Context, Result};
use tokio_postgres::GenericClient;

use crate::window::Bounds;

/// One tool-reported row as `rank --include-reported` reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportedRow {
    pub run_id: i32,
    pub llm_id: i16,
    pub tool: String,
    pub origin: String,
    pub n: Option<i64>,
    pub mean: Option<f64>,
    pub stddev: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// The reported rows of `metric_id` measured within `window`, of completed runs in `workloads`
/// and among `runs` (`None`: all).
pub async fn for_metric(
    client: &impl GenericClient,
    metric_id: i16,
    window: &Bounds,
    workloads: Option<&[i32]>,
    runs: Option<&[i32]>,
) -> Result<Vec<ReportedRow>> {
    let from = window.from.map_or(f64::NEG_INFINITY, |s| s as f64);
    let to = window.to.map_or(f64::INFINITY, |s| s as f64);
    let rows = client
        .query(
            "SELECT p.run_id, p.llm_id, coalesce(r.params ->> 'tool', r.source), p.origin,
                    p.n, p.mean, p.stddev, p.min, p.max, p.p50, p.p90, p.p95, p.p99
             FROM run_reported p JOIN runs r ON r.id = p.run_id
             WHERE p.metric_id = $1 AND r.status = 'completed'
               AND p.measured_at >= to_timestamp($2) AND p.measured_at < to_timestamp($3)
               AND ($4::int[] IS NULL OR r.workload_id = ANY($4))
               AND ($5::int[] IS NULL OR p.run_id = ANY($5))
             ORDER BY p.run_id, p.llm_id",
            &[&metric_id, &from, &to, &workloads, &runs],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read reported statistics"))?;
    Ok(rows
        .iter()
        .map(|r| ReportedRow {
            run_id: r.get(0),
            llm_id: r.get(1),
            tool: r.get(2),
            origin: r.get(3),
            n: r.get(4),
            mean: r.get(5),
            stddev: r.get(6),
            min: r.get(7),
            max: r.get(8),
            p50: r.get(9),
            p90: r.get(10),
            p95: r.get(11),
            p99: r.get(12),
        })
        .collect())
}

/// Stores the statistics a tool reported for one LLM × metric of run `run_id` (once: a second
/// store of the same keys changes nothing).
pub async fn store(
    client: &impl GenericClient,
    run_id: i32,
    llm_id: i16,
    metric_id: i16,
    measured_at: Option<i64>,
    r: &crate::import::Reported,
) -> Result<()> {
    let percentiles = serde_json::to_value(&r.percentiles)?;
    let at = measured_at.map(|s| s as f64);
    client
        .execute(
            "INSERT INTO run_reported (run_id, llm_id, metric_id, measured_at, n, mean, stddev, min, max,
                                       p50, p90, p95, p99, percentiles, origin)
             VALUES ($1, $2, $3, coalesce(to_timestamp($4), now()), $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (run_id, llm_id, metric_id) DO NOTHING",
            &[
                &run_id,
                &llm_id,
                &metric_id,
                &at,
                &r.n.map(|n| n as i64),
                &r.mean,
                &r.stddev,
                &r.min,
                &r.max,
                &r.percentile("p50"),
                &r.percentile("p90"),
                &r.percentile("p95"),
                &r.percentile("p99"),
                &percentiles,
                &r.origin,
            ],
        )
        .await
        .context("failed to store the reported statistics")?;
    Ok(())
}
