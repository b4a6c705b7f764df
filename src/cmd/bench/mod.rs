//! `llmrank bench`: measured against baselines run in the same command, as ratios. The
//! default measures `simulate`'s COPY path (`copy`); `--scale` what rankings cost as samples
//! grow (`scale`); `--import` the import path against simulate (`import`); `--detection` how
//! often regressions and compare catch drifts and flag what did not move (`detection`).

pub mod copy;
pub mod detection;
pub mod import;
pub mod scale;
mod scratch;

use anyhow::Result;

use crate::config::Settings;

/// Which benchmark `llmrank bench` runs.
#[derive(Debug, Clone)]
pub enum Request {
    /// simulate against server-side COPY and the INSERT path.
    Copy(copy::Options),
    /// `--scale`: rankings' cost as samples grow.
    Scale(scale::Options),
    /// `--import`: import against simulate, and the importer's memory.
    Import(import::Options),
    /// `--detection`: verdicts on injected drifts over many seeds.
    Detection(detection::Options),
}

/// Runs the benchmark asked for; returns its report.
pub async fn main(settings: &Settings, req: Request) -> Result<String> {
    match req {
        Request::Copy(o) => copy::run(settings, &o).await,
        Request::Scale(o) => scale::run(settings, &o).await,
        Request::Import(o) => import::run(settings, &o).await,
        Request::Detection(o) => detection::run(settings, &o).await,
    }
}
