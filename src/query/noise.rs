//! Rankings' and comparisons' noise over runs: each run's statistic from its run row, where an
//! LLM's samples are exactly those of three completed runs or more of one workload.

use anyhow::Result;
use tokio_postgres::GenericClient;

use super::naming;
use crate::db::catalogue::Catalogue;
use crate::db::run_summaries;
use crate::ranking::{self, Row};
use crate::stats::Statistic;
use crate::window::Bounds;

/// Sets each row's noise over runs ([`ranking::RunNoise`]) where its samples are exactly those
/// of three completed runs or more of one workload, all within `window`: each run's statistic
/// comes from its run row (one per run, whatever its samples; percentiles within the sketch's
/// bound). Any other row keeps the noise over requests: one or two runs, several workloads
/// mixed, a run still being written, a run reaching past the window's edge, or more run rows
/// in scope than a ranking reads ([`run_summaries::MAX_READ`]).
pub(super) async fn over_runs(
    client: &impl GenericClient,
    cat: &Catalogue,
    metric_id: i16,
    by: Statistic,
    window: &Bounds,
    workloads: Option<&[i32]>,
    rows: &mut [Row],
) -> Result<()> {
    let with_sketches = by != Statistic::Mean;
    let Some(runs) =
        run_summaries::within(client, metric_id, window, workloads, with_sketches).await?
    else {
        return Ok(()); // more runs than a ranking reads: over requests
    };
    if runs.len() < 3 {
        return Ok(());
    }
    let cat = naming(client, cat, runs.iter().map(|r| r.llm_id)).await?;
    let mut by_llm: std::collections::BTreeMap<String, Vec<&run_summaries::RunSummary>> =
        std::collections::BTreeMap::new();
    for r in &runs {
        by_llm.entry(cat.llm_name(r.llm_id)).or_default().push(r);
    }
    for row in rows.iter_mut().filter(|r| r.reported.is_none()) {
        let Some(mine) = by_llm.get(&row.llm) else {
            continue;
        };
        let one_workload = mine.iter().all(|r| r.workload_id == mine[0].workload_id);
        let n: u64 = mine.iter().map(|r| r.summary.moments.n).sum();
        if !one_workload || n != row.stats.n {
            continue;
        }
        let per_run: Vec<f64> = mine
            .iter()
            .map(|r| match by.quantile() {
                // The one statistic asked, not every statistic of the run.
                Some(q) => crate::stats::percentile(&r.summary, q),
                None => r.summary.moments.mean,
            })
            .collect();
        row.runs = ranking::RunNoise::of(&per_run);
    }
    Ok(())
}
