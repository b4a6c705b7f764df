//! `llmrank history METRIC`: per LLM, n, mean and percentiles per hour or day, from the summaries.

use anyhow::{anyhow, Result};

use crate::cli::HistoryArgs;
use crate::config::Settings;
use crate::db::{self, catalogue};
use crate::history::{self, History};
use crate::window;

pub async fn run(settings: &Settings, a: &HistoryArgs) -> Result<History> {
    let filter = a.filter.filter()?;
    let req = a.window.request();
    // A fixed bucket is checked before connecting; `auto` over all time needs the data's start.
    let fixed = match a.bucket.as_str() {
        "auto" if req.is_empty() => None,
        "auto" => Some(history::trend_bounds(&req, None, window::now())),
        b => Some(history::parse_bucket(b).and_then(|bucket| {
            let mut req = req;
            if req.is_empty() {
                req.window = Some(history::DEFAULT_WINDOW);
            }
            let bounds = req.resolve(window::now(), bucket)?;
            history::check_points(&bounds, bucket)?;
            Ok((bounds, bucket))
        })),
    }
    .transpose()
    .map_err(|e| anyhow!(e))?;
    let pg = db::pg_config(&settings.database, "llmrank-history")?;
    let client = db::connect(&pg).await?;
    let cat = catalogue::load(&client).await?;
    let (metric_id, info) = cat
        .metric(&a.metric)
        .ok_or_else(|| super::rank::unknown_metric(&a.metric, &cat.metric_names()))?;
    let llm = match &a.llm {
        None => None,
        Some(name) => Some(cat.llm_id(name).ok_or_else(|| {
            let names: Vec<&str> = cat.llms.iter().map(|(_, n)| n.as_str()).collect();
            anyhow!("unknown LLM {name:?}; valid LLMs: {}", names.join(", "))
        })?),
    };
    let (bounds, bucket) = match fixed {
        Some(b) => b,
        None => {
            let first = db::summaries::first_day(&client, metric_id).await?;
            history::trend_bounds(&req, first, window::now()).map_err(|e| anyhow!(e))?
        }
    };
    crate::query::history(
        &client, &cat, metric_id, info, bucket, &bounds, llm, &filter,
    )
    .await
}
