//! `llmrank history METRIC`: per LLM, n, mean and percentiles per hour or day, from the summaries.

use anyhow::{anyhow, Result};

use crate::cli::HistoryArgs;
use crate::config::Settings;
use crate::db::{self, catalogue};
use crate::history::{self, History};
use crate::window;

pub async fn run(settings: &Settings, a: &HistoryArgs) -> Result<History> {
    let filter = a.filter.filter()?;
    // Checked before connecting; all time needs the data's first day.
    let plan = history::parse_bucket(&a.bucket)
        .and_then(|bucket| history::Plan::of(&a.window.request(), bucket, window::now()))
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
    let first = match plan {
        history::Plan::AllTime => db::summaries::first_day(&client, metric_id).await?,
        history::Plan::Fixed(..) => None,
    };
    let (bounds, bucket) = plan.resolve(first, window::now()).map_err(|e| anyhow!(e))?;
    crate::query::history(
        &client, &cat, metric_id, info, bucket, &bounds, llm, &filter,
    )
    .await
}
