//! `llmrank rank METRIC`: the ranking of LLMs on one metric, from the database.

use anyhow::{anyhow, bail, Result};

use crate::config::Settings;
use crate::db::{self, catalogue, samples};
use crate::ranking::{self, Ranking};
use crate::stats::Statistic;

/// The ranking of `metric` straight from the database.
pub async fn ranking(settings: &Settings, metric: &str, by: Statistic) -> Result<Ranking> {
    let pg = db::pg_config(&settings.database, "llmrank-rank")?;
    let client = db::connect(&pg).await?;
    let cat = catalogue::load(&client).await?;
    let (metric_id, info) = cat
        .metric(metric)
        .ok_or_else(|| unknown_metric(metric, &cat.metric_names()))?;
    let data = samples::values_by_llm(&client, metric_id).await?;
    if data.is_empty() {
        bail!("no samples for {metric} yet; `llmrank simulate` generates some");
    }
    Ok(ranking::rank(info, by, data))
}

/// One line naming the metric and the valid ones (with a hint on a case slip).
pub fn unknown_metric(metric: &str, valid: &[&str]) -> anyhow::Error {
    let hint = valid
        .iter()
        .find(|v| v.eq_ignore_ascii_case(metric))
        .map(|v| format!(" (did you mean {v}?)"))
        .unwrap_or_default();
    anyhow!(
        "unknown metric {metric:?}{hint}; valid metrics: {}",
        valid.join(", ")
    )
}
