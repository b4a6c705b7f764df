//! `regressions`' read: the day summaries of every series the filter covers, named, then the
//! pure [`crate::regressions::Regressions`]. Shared by `llmrank regressions`, `GET
//! /regressions` and the regression gauges of `serve`.

use std::collections::BTreeMap;

use anyhow::Result;
use tokio_postgres::GenericClient;

use crate::db::catalogue::Catalogue;
use crate::db::{summaries, workloads};
use crate::domain::{MetricInfo, RunFilter};
use crate::regress::Rule;
use crate::regressions::{Days, Regressions};
use crate::window::Bounds;

/// What is judged: the days of `window`, the workloads `filter` covers, `metrics` (empty:
/// every metric), by `rule`.
#[derive(Debug, Clone)]
pub struct RegressionsAsk<'a> {
    pub window: &'a Bounds,
    pub filter: &'a RunFilter,
    pub metrics: &'a [(i16, MetricInfo)],
    pub rule: Rule,
}

/// Every series judged. Reads one row per series and day (from the day summaries, whatever
/// the samples behind them); `NoRuns` when the filter covers no runs.
pub async fn regressions(
    client: &impl GenericClient,
    cat: &Catalogue,
    ask: &RegressionsAsk<'_>,
) -> Result<std::result::Result<Regressions, super::NoAnswer>> {
    let cover = workloads::cover(client, ask.filter).await?;
    if cover.ids.is_empty() {
        return Ok(Err(super::NoAnswer::NoRuns));
    }
    let metrics = if ask.metrics.is_empty() {
        &cat.metrics[..]
    } else {
        ask.metrics
    };
    let ids: Vec<i16> = metrics.iter().map(|(id, _)| *id).collect();
    let rows = summaries::days(client, ask.window, &ids, Some(&cover.ids)).await?;
    let labels: BTreeMap<i32, String> = workloads::list(client)
        .await?
        .iter()
        .map(|w| (w.id, w.label()))
        .collect();
    let cat = super::naming(client, cat, rows.iter().map(|r| r.llm_id)).await?;
    let mut input: Vec<Days<'_>> = Vec::new();
    // Rows come ordered by metric, LLM, workload and day: one series per run of keys.
    let mut key = None;
    for r in &rows {
        let Some((_, info)) = metrics.iter().find(|(id, _)| *id == r.metric_id) else {
            continue;
        };
        let k = (r.metric_id, r.llm_id, r.workload_id);
        if key != Some(k) {
            key = Some(k);
            input.push(Days {
                llm: cat.llm_name(r.llm_id),
                metric: info,
                workload: labels
                    .get(&r.workload_id)
                    .cloned()
                    .unwrap_or_else(|| format!("workload #{}", r.workload_id)),
                days: Vec::new(),
            });
        }
        if let Some(last) = input.last_mut() {
            last.days.push((r.day, &r.summary));
        }
    }
    Ok(Ok(Regressions::of(ask.window.to_json(), ask.rule, input)))
}
