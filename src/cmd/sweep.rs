//! `llmrank sweep METRIC`: per LLM and sweep, load → throughput, the metric's p50/p99 and
//! (with `--slo`) attainment, the knee and the capacity marked; output tokens/s (per GPU where
//! known) against interactivity, with the Pareto frontier and `--at-interactivity`.

use anyhow::Result;

use crate::config::Settings;
use crate::domain::RunFilter;
use crate::ranking::Method;
use crate::slo::Slo;
use crate::sweep::Curves;
use crate::window;

#[derive(Debug, Clone)]
pub struct Request {
    pub metric: String,
    pub slo: Option<Slo>,
    pub attainment: f64,
    /// Match each series' output throughput at this interactivity (tokens/s per user).
    pub at_interactivity: Option<f64>,
    pub window: window::Request,
    pub filter: RunFilter,
}

pub async fn run(settings: &Settings, req: &Request) -> Result<Curves> {
    let levels = super::capacity::levels(
        settings,
        &req.window,
        &req.filter,
        req.slo.as_ref(),
        Some(&req.metric),
        Method::Summary,
    )
    .await?;
    Ok(Curves::of(
        &req.metric,
        req.slo.as_ref(),
        req.attainment,
        req.at_interactivity,
        levels,
    ))
}
