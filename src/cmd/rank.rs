//! `llmrank rank METRIC`: the ranking of LLMs on one metric, from the database.

use anyhow::{anyhow, Result};

use crate::config::Settings;
use crate::db::{self, catalogue};
use crate::domain::RunFilter;
use crate::ranking::{Method, Ranking};
use crate::stats::Statistic;
use crate::summary::HOUR;
use crate::window::{self, Request};

/// How to rank.
#[derive(Debug, Clone)]
pub struct Options {
    pub by: Statistic,
    pub window: Request,
    pub method: Method,
    pub filter: RunFilter,
    pub include_reported: bool,
}

impl Options {
    /// Every run, no reported rows.
    pub fn new(by: Statistic, window: &Request, method: Method) -> Options {
        Options {
            by,
            window: *window,
            method,
            filter: RunFilter::default(),
            include_reported: false,
        }
    }
}

/// The ranking of `metric` straight from the database: from the summaries, or from the raw
/// samples with `Method::Exact`.
pub async fn ranking(settings: &Settings, metric: &str, o: &Options) -> Result<Ranking> {
    let bounds = o
        .window
        .resolve(window::now(), HOUR)
        .map_err(|e| anyhow!("{e}"))?;
    let pg = db::pg_config(&settings.database, "llmrank-rank")?;
    let client = db::connect(&pg).await?;
    let cat = catalogue::load(&client).await?;
    let (metric_id, info) = cat
        .metric(metric)
        .ok_or_else(|| unknown_metric(metric, &cat.metric_names()))?;
    let ask = crate::query::Ask {
        metric_id,
        info,
        by: o.by,
        window: &bounds,
        method: o.method,
        filter: &o.filter,
        include_reported: o.include_reported,
    };
    let answer = crate::query::ranking(&client, &cat, &ask).await?;
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
