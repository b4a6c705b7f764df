//! `llmrank rank METRIC`: the ranking of LLMs on one metric, from the database.

use anyhow::{anyhow, Result};

use crate::config::Settings;
use crate::db::{self, catalogue};
use crate::ranking::{Method, Ranking};
use crate::stats::Statistic;
use crate::summary::HOUR;
use crate::window::{self, Request};

/// The ranking of `metric` over `window` straight from the database: from the summaries, or
/// from the raw samples with `Method::Exact`.
pub async fn ranking(
    settings: &Settings,
    metric: &str,
    by: Statistic,
    window: &Request,
    method: Method,
) -> Result<Ranking> {
    let bounds = window
        .resolve(window::now(), HOUR)
        .map_err(|e| anyhow!("{e}"))?;
    let pg = db::pg_config(&settings.database, "llmrank-rank")?;
    let client = db::connect(&pg).await?;
    let cat = catalogue::load(&client).await?;
    let (metric_id, info) = cat
        .metric(metric)
        .ok_or_else(|| unknown_metric(metric, &cat.metric_names()))?;
    let answer = crate::query::ranking(&client, &cat, metric_id, info, by, &bounds, method).await?;
    crate::query::require(answer, metric)
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
