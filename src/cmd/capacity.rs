//! `llmrank capacity --slo ...`: per LLM and sweep, the highest measured load level whose
//! SLO attainment reaches the target, from the database.

use anyhow::Result;

use crate::config::Settings;
use crate::domain::RunFilter;
use crate::ranking::Method;
use crate::slo::Slo;
pub use crate::sweep::parse_attainment;
use crate::sweep::{self, Capacity};
use crate::window;

/// What `capacity` (and the capacity mark of `sweep`) was asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub slo: Slo,
    /// The share of requests that must meet the SLO, in (0, 1].
    pub attainment: f64,
    pub interpolate: bool,
    pub window: window::Request,
    pub filter: RunFilter,
    pub exact: bool,
}

pub async fn run(settings: &Settings, req: &Request) -> Result<Capacity> {
    let method = if req.exact {
        Method::Exact
    } else {
        Method::Summary
    };
    let levels = levels(
        settings,
        &req.window,
        &req.filter,
        Some(&req.slo),
        None,
        method,
    )
    .await?;
    Ok(Capacity {
        slo: req.slo.text(),
        attainment_target: req.attainment,
        method,
        threshold_relative_error: match method {
            Method::Summary => crate::joint::ALPHA,
            Method::Exact => 0.0,
        },
        rankings: sweep::capacity(levels, req.attainment, req.interpolate),
    })
}

/// The levels of every sweep the filter covers, from the database.
pub async fn levels(
    settings: &Settings,
    window: &window::Request,
    filter: &RunFilter,
    slo: Option<&Slo>,
    metric: Option<&str>,
    method: Method,
) -> Result<Vec<sweep::Level>> {
    let bounds = super::bounds(window)?;
    let (client, cat) = super::open(settings, "llmrank-sweep").await?;
    let metric_id = match metric {
        Some(m) => Some(super::metric(&cat, m)?.0),
        None => None,
    };
    let ask = crate::query::SweepAsk {
        window: &bounds,
        filter,
        slo,
        metric_id,
        method,
    };
    crate::query::sweep_levels(&client, &cat, &ask)
        .await?
        .map_err(|e| e.into_error(metric.unwrap_or("the sweep")))
}
