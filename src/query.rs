//! Answers from the database, shared by the CLI (`rank`, `history`) and `serve`: read the
//! summaries (or the raw samples for an exact ranking), then hand them to the pure `ranking`
//! and `history` modules.

use anyhow::Result;
use tokio_postgres::GenericClient;

use crate::db::catalogue::Catalogue;
use crate::db::{samples, summaries};
use crate::history::{self, History};
use crate::ranking::{self, Method, MetricInfo, Ranking, Row, Scope};
use crate::stats::Statistic;
use crate::window::{rfc3339, Bounds};

/// Why there is no answer.
#[derive(Debug)]
pub enum NoAnswer {
    /// No samples of the metric in the window (`true`: all time).
    Empty(bool),
    /// The exact answer needs raw samples that retention dropped (before this time).
    RawDropped(i64),
}

/// The ranking of `metric_id` over `window`, from summaries or (exact) from raw samples.
pub async fn ranking(
    client: &impl GenericClient,
    cat: &Catalogue,
    metric_id: i16,
    info: &MetricInfo,
    by: Statistic,
    window: &Bounds,
    method: Method,
) -> Result<std::result::Result<Ranking, NoAnswer>> {
    let scope = Scope {
        window: window.to_json(),
        method,
    };
    let rows: Vec<Row> = match method {
        Method::Summary => summaries::by_llm(client, metric_id, window)
            .await?
            .iter()
            .map(|(id, s)| Row::from_summary(cat.llm_name(*id), s, by))
            .collect(),
        Method::Exact => {
            if let Some(h) = samples::retention_horizon(client).await? {
                if window.from.is_none_or(|f| f < h) {
                    return Ok(Err(NoAnswer::RawDropped(h)));
                }
            }
            let data: Vec<(String, Vec<f64>)> = samples::values_by_llm(client, metric_id, window)
                .await?
                .into_iter()
                .map(|(id, values)| (cat.llm_name(id), values))
                .collect();
            // Sorting many values is CPU work: keep it off the I/O threads.
            tokio::task::spawn_blocking(move || {
                data.into_iter()
                    .filter_map(|(llm, values)| Row::from_samples(llm, values, by))
                    .collect()
            })
            .await?
        }
    };
    if rows.is_empty() {
        return Ok(Err(NoAnswer::Empty(window.is_all_time())));
    }
    Ok(Ok(ranking::rank(info, by, scope, rows)))
}

/// The history of `metric_id`: per LLM, one point per bucket with data.
pub async fn history(
    client: &impl GenericClient,
    cat: &Catalogue,
    metric_id: i16,
    info: &MetricInfo,
    bucket_secs: i64,
    window: &Bounds,
    llm: Option<i16>,
) -> Result<History> {
    let rows = summaries::series(client, metric_id, bucket_secs, window, llm).await?;
    Ok(history::build(info, bucket_secs, window, rows, |id| {
        cat.llm_name(id)
    }))
}

impl NoAnswer {
    /// One line for the CLI.
    pub fn into_error(self, metric: &str) -> anyhow::Error {
        match self {
            NoAnswer::Empty(true) => {
                anyhow::anyhow!("no samples for {metric} yet; `llmrank simulate` generates some")
            }
            NoAnswer::Empty(false) => anyhow::anyhow!(
                "no samples for {metric} in this window; `llmrank simulate` generates some"
            ),
            NoAnswer::RawDropped(h) => anyhow::anyhow!(
                "the raw samples before {} were dropped by retention (retention.raw_days); rank without --exact (summaries are kept), or with --from at or after that time",
                rfc3339(h)
            ),
        }
    }
}

/// Fails unless the query found something (for callers that need a plain error).
pub fn require(r: std::result::Result<Ranking, NoAnswer>, metric: &str) -> Result<Ranking> {
    r.map_err(|e| e.into_error(metric))
}
