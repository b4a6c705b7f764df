//! `compare`'s read: both sides' rows of every metric asked, then the pure
//! [`crate::compare::Compared`]. Shared by `llmrank compare` and `GET /compare`.

use anyhow::Result;
use tokio_postgres::GenericClient;

use super::{side_rows, SideAsk};
use crate::compare::{Compared, Side};
use crate::db::catalogue::Catalogue;
use crate::domain::MetricInfo;
use crate::regress::Thresholds;
use crate::stats::Statistic;
use crate::window::Bounds;

/// What is compared: the sides, the metrics (empty: every metric), the statistic and the
/// thresholds of the verdicts.
#[derive(Debug, Clone)]
pub struct CompareAsk<'a> {
    pub base: &'a Side,
    pub cand: &'a Side,
    pub metrics: &'a [(i16, MetricInfo)],
    pub by: Statistic,
    pub thresholds: Thresholds,
}

/// Why two sides cannot be compared.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The same runs on both sides (bad usage: 400 in the API).
    SameRuns(Vec<i32>),
    /// A side names runs that do not exist or were deleted: (side, runs).
    MissingRuns(&'static str, Vec<i32>),
    /// A side's window is not a window: (side, why).
    BadWindow(&'static str, String),
    /// A side holds no samples (of the metrics asked): (side, its text).
    Empty(&'static str, String),
    /// Both hold samples, of no metric in common.
    NothingShared,
}

impl Refusal {
    /// Bad usage (the request can never be answered), not missing data.
    pub fn is_usage(&self) -> bool {
        matches!(self, Refusal::SameRuns(_) | Refusal::BadWindow(..))
    }
}

fn join(ids: &[i32]) -> String {
    ids.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::SameRuns(r) => write!(
                f,
                "run {} is on both sides; compare different runs (`llmrank runs` lists them)",
                join(r)
            ),
            Refusal::MissingRuns(side, r) => write!(
                f,
                "the {side} side names run {}, which does not exist or was deleted (`llmrank runs` lists runs)",
                join(r)
            ),
            Refusal::BadWindow(side, why) => write!(f, "the {side} side: {why}"),
            Refusal::Empty(side, text) => {
                write!(f, "the {side} side ({text}) holds no samples of the metrics compared")
            }
            Refusal::NothingShared => f.write_str(
                "the sides share no metric: each holds samples of metrics the other does not",
            ),
        }
    }
}

/// The comparison asked, as of `now` (Unix seconds): window sides from the summaries, run
/// sides from their raw samples.
pub async fn compare(
    client: &impl GenericClient,
    cat: &Catalogue,
    ask: &CompareAsk<'_>,
    now: i64,
) -> Result<std::result::Result<Compared, Refusal>> {
    let shared: Vec<i32> = ask
        .base
        .runs
        .iter()
        .filter(|r| ask.cand.runs.contains(r))
        .copied()
        .collect();
    if !shared.is_empty() {
        return Ok(Err(Refusal::SameRuns(shared)));
    }
    let sides = [("base", ask.base), ("cand", ask.cand)];
    let mut bounds = [Bounds::ALL_TIME; 2];
    // The workloads each window side covers, read once for every metric (run sides: none).
    let mut covered: [Vec<i32>; 2] = [Vec::new(), Vec::new()];
    for (i, (name, side)) in sides.into_iter().enumerate() {
        bounds[i] = match side.window(now).resolve(now, crate::summary::HOUR) {
            Ok(b) => b,
            Err(e) => return Ok(Err(Refusal::BadWindow(name, e.to_string()))),
        };
        if side.runs.is_empty() {
            covered[i] = crate::db::workloads::cover(client, &side.filter).await?.ids;
            continue;
        }
        let live = crate::db::runs::live(client, &side.runs).await?;
        let missing: Vec<i32> = side
            .runs
            .iter()
            .filter(|r| !live.contains(r))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Ok(Err(Refusal::MissingRuns(name, missing)));
        }
    }
    let (base_ask, cand_ask) = (
        side_ask(ask.base, &bounds[0], &covered[0]),
        side_ask(ask.cand, &bounds[1], &covered[1]),
    );
    let metrics = if ask.metrics.is_empty() {
        &cat.metrics[..]
    } else {
        ask.metrics
    };
    let mut rows = Vec::new();
    let (mut base_any, mut cand_any) = (false, false);
    for (id, info) in metrics {
        let b = side_rows(client, cat, *id, ask.by, base_ask).await?;
        let c = side_rows(client, cat, *id, ask.by, cand_ask).await?;
        base_any |= !b.is_empty();
        cand_any |= !c.is_empty();
        if !b.is_empty() && !c.is_empty() {
            rows.push((info.clone(), b, c));
        }
    }
    for (name, side, any) in [("base", ask.base, base_any), ("cand", ask.cand, cand_any)] {
        if !any {
            return Ok(Err(Refusal::Empty(name, side.text.clone())));
        }
    }
    if rows.is_empty() {
        return Ok(Err(Refusal::NothingShared));
    }
    Ok(Ok(Compared::of(
        ask.base,
        ask.cand,
        ask.by,
        ask.thresholds,
        rows,
    )))
}

/// A side as the query reads it: its runs, or its window and the workloads it covers.
fn side_ask<'a>(side: &'a Side, window: &'a Bounds, workloads: &'a [i32]) -> SideAsk<'a> {
    if side.runs.is_empty() {
        SideAsk::Window { window, workloads }
    } else {
        SideAsk::Runs(&side.runs)
    }
}
