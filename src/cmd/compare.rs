//! `llmrank compare --base SIDE --cand SIDE`: per LLM × metric, cand ÷ base of a statistic with
//! its interval and a verdict, from the database. Exits like `diff`: 0 nothing regressed, 1
//! something did, 2 on bad usage or any error (the CLI's errors of `compare` exit 2).

use anyhow::{anyhow, Result};

use crate::compare::{Compared, Side};
use crate::config::Settings;
use crate::query::compare::CompareAsk;
use crate::regress::Thresholds;
use crate::stats::Statistic;

/// What `compare` was asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub base: Side,
    pub cand: Side,
    /// The metrics compared; empty: every metric with samples on both sides.
    pub metrics: Vec<String>,
    pub by: Statistic,
    pub thresholds: Thresholds,
}

pub async fn run(settings: &Settings, req: &Request) -> Result<Compared> {
    let (client, cat) = super::open(settings, "llmrank-compare").await?;
    let metrics = super::metrics(&cat, &req.metrics)?;
    let ask = CompareAsk {
        base: &req.base,
        cand: &req.cand,
        metrics: &metrics,
        by: req.by,
        thresholds: req.thresholds,
    };
    crate::query::compare::compare(&client, &cat, &ask, crate::window::now())
        .await?
        .map_err(|r| anyhow!("{r}"))
}
