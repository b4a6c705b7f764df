//! `llmrank regressions`: every LLM × metric × workload's daily medians over a window, each day
//! judged against the days before it, from the day summaries.

use anyhow::Result;

use crate::config::Settings;
use crate::domain::RunFilter;
use crate::query::regressions::RegressionsAsk;
use crate::regress::Rule;
use crate::regressions::Regressions;

/// What `regressions` was asked.
#[derive(Debug, Clone)]
pub struct Request {
    /// The days judged, ending with today, in seconds.
    pub window: i64,
    /// Empty: every metric.
    pub metrics: Vec<String>,
    pub filter: RunFilter,
    pub rule: Rule,
}

pub async fn run(settings: &Settings, req: &Request) -> Result<Regressions> {
    let (client, cat) = super::open(settings, "llmrank-regressions").await?;
    let metrics = super::metrics(&cat, &req.metrics)?;
    let window = days(req.window)?;
    let ask = RegressionsAsk {
        window: &window,
        filter: &req.filter,
        metrics: &metrics,
        rule: req.rule,
    };
    crate::query::regressions::regressions(&client, &cat, &ask)
        .await?
        .map_err(|e| e.into_error("regressions"))
}

/// The whole days of the last `secs`, today included.
pub fn days(secs: i64) -> Result<crate::window::Bounds> {
    crate::regressions::days(secs, crate::window::now()).map_err(|e| anyhow::anyhow!("{e}"))
}
