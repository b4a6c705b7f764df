//! The regression gauges on `/metrics`: every LLM × metric × workload's latest daily-median
//! verdict (as `llmrank regressions` gives it over 30 days, every source), recomputed when the
//! data change (at most every 30 s) and at least every 10 minutes (days roll over). Alert rules
//! fire on them (`charts/llmrank/files/alerts.rules.yaml`).

use std::sync::Arc;
use std::time::Duration;

use super::App;
use crate::domain::{RunFilter, SourceKind};
use crate::query::regressions::{regressions, RegressionsAsk};
use crate::regress::Rule;

/// Recomputes the gauges until the process ends; `max_series` bounds their label sets (0: no
/// gauges, and this returns at once).
pub async fn keep_regression_gauges(app: Arc<App>, max_series: usize) {
    if max_series == 0 {
        return;
    }
    let mut data = app.data.clone();
    loop {
        match refresh(&app, max_series).await {
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "regression gauges not refreshed"),
        }
        // Wait for new data (or the day to move on), then let a burst of writes settle.
        let _ = tokio::time::timeout(Duration::from_secs(600), data.changed()).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
}

/// Computes the gauges once and stores their exposition.
pub async fn refresh(app: &App, max_series: usize) -> anyhow::Result<()> {
    let state = app.data.borrow().clone();
    let client = app
        .pool
        .get()
        .await
        .map_err(|e| anyhow::anyhow!("no database connection: {e}"))?;
    let window = crate::regressions::days(
        crate::regressions::DEFAULT_WINDOW_SECS,
        crate::window::now(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let filter = RunFilter {
        sources: [SourceKind::Simulate, SourceKind::Import, SourceKind::Api]
            .into_iter()
            .collect(),
        ..RunFilter::default()
    };
    let ask = RegressionsAsk {
        window: &window,
        filter: &filter,
        metrics: &[],
        rule: Rule::default(),
    };
    let client: &tokio_postgres::Client = &client;
    let text = match regressions(client, &state.catalogue, &ask).await? {
        Ok(r) => r.exposition(max_series),
        // No runs at all: no series, nothing dropped.
        Err(_) => crate::regressions::Regressions::of(window.to_json(), Rule::default(), vec![])
            .exposition(max_series),
    };
    *app.regression_gauges
        .write()
        .unwrap_or_else(|p| p.into_inner()) = text;
    Ok(())
}
