//! Rebuilding the joint request summaries (`llm_request_summaries`) from the raw requests:
//! after `runs delete` (the run's workload) and in `summarize` (everything), inside the
//! caller's transaction. Requests are streamed, grouped by (run, LLM, request number), and
//! summarised with the same code as live batches (`joint::JointRollup`); each run's failures
//! and duration come from the outcome it recorded when it finished.

use std::collections::HashMap;

use anyhow::{Context, Result};
use futures_util::{pin_mut, TryStreamExt};
use tokio_postgres::GenericClient;

use crate::db::joint::{self as table, RunTotals};
use crate::joint::{Joint, JointRollup, Request};

/// Replaces the joint rows of `workload` (`None`: all) with ones built from the raw requests.
/// Returns the requests read.
pub async fn rebuild(client: &impl GenericClient, workload: Option<i32>) -> Result<u64> {
    client
        .execute(
            "DELETE FROM llm_request_summaries WHERE $1::int IS NULL OR workload_id = $1",
            &[&workload],
        )
        .await
        .context("failed to clear the request summaries")?;
    let ids = table::request_metrics(client).await?;
    let workloads = workload.map(|w| vec![w]);
    let totals: HashMap<i32, RunTotals> = table::run_totals(client, workloads.as_deref())
        .await?
        .into_iter()
        .map(|t| (t.run_id, t))
        .collect();
    let none = -1i16;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] = [
        &workload,
        &ids.ttft.unwrap_or(none),
        &ids.tpot.unwrap_or(none),
        &ids.e2e.unwrap_or(none),
        &ids.tps.unwrap_or(none),
        &ids.rps.unwrap_or(none),
    ];
    let stream = client
        .query_raw(
            "SELECT m.llm_id, r.workload_id, m.run_id, r.source = 'simulate',
                    extract(epoch FROM min(m.created_at))::float8,
                    min(m.value) FILTER (WHERE m.metric_id = $2),
                    min(m.value) FILTER (WHERE m.metric_id = $3),
                    min(m.value) FILTER (WHERE m.metric_id = $4),
                    min(m.value) FILTER (WHERE m.metric_id = $5),
                    min(m.value) FILTER (WHERE m.metric_id = $6)
             FROM llm_metrics m JOIN runs r ON r.id = m.run_id
             WHERE m.request IS NOT NULL AND ($1::int IS NULL OR r.workload_id = $1)
             GROUP BY m.run_id, m.llm_id, m.request, r.id",
            params,
        )
        .await
        .context("failed to read the raw requests")?;
    pin_mut!(stream);
    let mut rollup = JointRollup::default();
    let mut n = 0u64;
    while let Some(row) = stream
        .try_next()
        .await
        .context("failed to read the raw requests")?
    {
        let (llm_id, workload_id, run_id, simulated): (i16, i32, i32, bool) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let at = row.get::<_, f64>(4).floor() as i64;
        let value = |i: usize| row.get::<_, Option<f64>>(i);
        let (ttft, tpot, e2e, tps, rps) = (value(5), value(6), value(7), value(8), value(9));
        let simulated_tps = tps.filter(|_| simulated);
        let tokens = crate::joint::output_tokens(ttft, tpot, e2e, simulated_tps);
        let tpot = tpot.or_else(|| simulated_tps.map(|t| 1_000.0 / t));
        let seconds = if simulated {
            rps.map(|r| 1.0 / r)
        } else {
            totals.get(&run_id).and_then(RunTotals::share)
        };
        rollup.add(
            llm_id,
            workload_id,
            at,
            Request {
                values: [ttft, tpot, e2e],
                seconds,
                tokens,
            },
        );
        n += 1;
    }
    for t in totals.values().filter(|t| t.failed > 0) {
        if let (Some(llm_id), Some(at)) = (t.failed_llm_id, t.first_request_at) {
            rollup.add_joint(
                llm_id,
                t.workload_id,
                at,
                &Joint::failures(t.failed, t.share()),
            );
        }
    }
    table::merge(client, &rollup.rows())
        .await
        .context("failed to write the request summaries")?;
    Ok(n)
}
