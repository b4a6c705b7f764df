//! `llmrank plot METRIC -o FILE.svg|.png`: the ranking chart (or `--kind
//! trend|tradeoff|sweep|interactivity`) for reports and pull requests, from the same answers as
//! `rank`, `history` and `sweep`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::config::Settings;
use crate::domain::RunFilter;
use crate::history::Bucket;
use crate::ranking::Method;
use crate::stats::Statistic;
use crate::window;

/// Which chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Horizontal bars best first, 95% interval of the mean as whiskers, ties bracketed.
    Ranking,
    /// One line per LLM over time.
    Trend,
    /// Every LLM as a point of METRIC (x) against --y (y), with the Pareto frontier.
    Tradeoff,
    /// Per LLM, METRIC's p50 (--by p99: p99) against the load of its sweep, the knee and
    /// (with --slo) the capacity marked.
    Sweep,
    /// Per LLM, output tokens/s (per GPU where known) against tokens/s per user over its
    /// sweep's levels, with the Pareto frontier (and --at-interactivity matched).
    Interactivity,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub metric: String,
    pub kind: Kind,
    pub by: Statistic,
    pub window: window::Request,
    pub filter: RunFilter,
    /// The y metric of a trade-off.
    pub y: String,
    /// A sweep's SLO (the capacity mark) and its attainment target.
    pub slo: Option<crate::slo::Slo>,
    pub attainment: f64,
    /// The interactivity the throughputs are matched at.
    pub at_interactivity: Option<f64>,
    /// Pixels (see [`crate::plot::clamp_width`]).
    pub width: u32,
    pub output: PathBuf,
}

/// Writes the chart; returns what was written.
pub async fn run(settings: &Settings, req: &Request) -> Result<String> {
    let ext = req
        .output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let png = match ext.as_deref() {
        Some("svg") => false,
        Some("png") => true,
        _ => bail!(
            "-o {}: the file name must end in .svg or .png (the format written)",
            req.output.display()
        ),
    };
    let opts = super::rank::Options {
        by: req.by,
        window: req.window,
        method: Method::Summary,
        filter: req.filter.clone(),
        include_reported: false,
    };
    let ranking_of = async |metric: &str| super::rank::ranking(settings, metric, &opts).await;
    let width = crate::plot::clamp_width(req.width);
    let goodput = req.metric == "goodput";
    if goodput && req.kind != Kind::Ranking {
        bail!("goodput is drawn as a ranking of SLO attainment (--kind ranking); --kind sweep|interactivity draw a sweep's metric, e.g. TTFT");
    }
    let svg = match req.kind {
        Kind::Ranking if goodput => {
            let r = super::rank::Request {
                metric: req.metric.clone(),
                by: req.by,
                window: req.window,
                filter: req.filter.clone(),
                include_reported: false,
                exact: false,
                server: None,
            };
            crate::plot::goodput(
                &super::rank::goodput(settings, &r, req.slo.as_ref()).await?,
                width,
            )
        }
        Kind::Ranking => crate::plot::ranking(&ranking_of(&req.metric).await?, width),
        Kind::Tradeoff => {
            let x = ranking_of(&req.metric).await?;
            let y = ranking_of(&req.y).await?;
            crate::plot::tradeoff(&x, &y, width)
        }
        Kind::Trend => {
            let h = super::history::Request {
                metric: req.metric.clone(),
                bucket: Bucket::Auto,
                window: req.window,
                llm: None,
                filter: req.filter.clone(),
            };
            crate::plot::trend(&super::history::run(settings, &h).await?, req.by, width)
        }
        Kind::Sweep | Kind::Interactivity => {
            let s = super::sweep::Request {
                metric: req.metric.clone(),
                slo: req.slo.clone(),
                attainment: req.attainment,
                at_interactivity: req.at_interactivity,
                window: req.window,
                filter: req.filter.clone(),
            };
            let curves = super::sweep::run(settings, &s).await?;
            if req.kind == Kind::Sweep {
                crate::plot::sweep(&curves, req.by, width)
            } else {
                crate::plot::interactivity(&curves, width)
            }
        }
    };
    let bytes = if png {
        crate::plot::png::render(&svg)?
    } else {
        svg.into_bytes()
    };
    // Written beside and renamed, so a failure never leaves half a chart under the name.
    let mut part = req.output.clone().into_os_string();
    part.push(".part");
    let part = PathBuf::from(part);
    std::fs::write(&part, &bytes)
        .and_then(|()| std::fs::rename(&part, &req.output))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&part);
        })
        .with_context(|| format!("failed to write {}", req.output.display()))?;
    Ok(format!(
        "wrote {} ({} bytes)",
        req.output.display(),
        bytes.len()
    ))
}
