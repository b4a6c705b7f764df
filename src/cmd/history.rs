//! `llmrank history METRIC`: per LLM, n, mean and percentiles per hour or day, from the summaries.

use anyhow::{anyhow, Result};

use crate::config::Settings;
use crate::domain::RunFilter;
use crate::history::{self, Bucket, History};
use crate::window;

/// What `history` was asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub metric: String,
    pub bucket: Bucket,
    pub window: window::Request,
    /// Only this LLM.
    pub llm: Option<String>,
    pub filter: RunFilter,
}

pub async fn run(settings: &Settings, req: &Request) -> Result<History> {
    // Checked before connecting; all time needs the data's first day.
    let plan = history::Plan::of(&req.window, req.bucket, window::now()).map_err(|e| anyhow!(e))?;
    let (client, cat) = super::open(settings, "llmrank-history").await?;
    let (metric_id, info) = super::metric(&cat, &req.metric)?;
    let llm = match &req.llm {
        None => None,
        Some(name) => Some(cat.llm_id(name).ok_or_else(|| {
            let names: Vec<&str> = cat.llms.iter().map(|(_, n)| n.as_str()).collect();
            anyhow!("unknown LLM {name:?}; valid LLMs: {}", names.join(", "))
        })?),
    };
    let (bounds, bucket) = crate::query::history_bounds(&client, plan, metric_id, llm, &req.filter)
        .await?
        .map_err(|e| anyhow!(e))?;
    crate::query::history(
        &client,
        &cat,
        metric_id,
        info,
        bucket,
        &bounds,
        llm,
        &req.filter,
    )
    .await
}
