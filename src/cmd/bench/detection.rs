//! `llmrank bench --detection`: how often `regressions` and `compare` catch a drift of a
//! given size, and how often they cry wolf, over many seeds.
//!
//! Each seed simulates 14 days of 400 requests a day for every LLM, with a TTFT drift of one
//! of twelve sizes (none three times, then 1.05× to 2×) from three days before the end,
//! handed to the LLMs in turn (the seed rotates them). Then, from the same summaries the API
//! and the gauges read: `regressions` over the 14 days (detected: the series is regressed by its
//! second full drifted day; ever: on any day; early: any day wholly before the drift regressed
//! or suspicious), and
//! `compare` of the first seven days against the last one. False alarms count every regressed
//! verdict of a series no drift moved (every LLM's TPS and RPS, and TTFT and e2e of the LLMs
//! without a drift).

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::Result;

use crate::compare::Side;
use crate::config::{Secret, Settings};
use crate::domain::RunFilter;
use crate::query::compare::CompareAsk;
use crate::query::regressions::RegressionsAsk;
use crate::regress::{Rule, Thresholds, Verdict};
use crate::stats::Statistic;
use crate::summary::DAY;

#[derive(Debug, Clone)]
pub struct Options {
    pub seeds: u64,
    pub database: String,
}

/// The drift sizes handed out each seed, one per LLM (1.0: none).
const FACTORS: [f64; 12] = [
    1.0, 1.0, 1.0, 1.05, 1.10, 1.15, 1.20, 1.25, 1.30, 1.35, 1.50, 2.0,
];
const SPAN_DAYS: i64 = 14;
const DRIFT_DAYS: i64 = 3;
const PER_DAY: u64 = 400;

/// Per drift size: series, detected by regressions in time, flagged early, caught by compare.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    series: u64,
    detected: u64,
    /// Regressed on any day (the last, partly drifted, included).
    ever: u64,
    early: u64,
    compare: u64,
}

pub async fn run(settings: &Settings, o: &Options) -> Result<String> {
    let (url, _admin, _) = super::scratch::scratch_database(settings, &o.database).await?;
    let mut s = settings.clone();
    s.database.url = Secret::new(url);
    s.simulate.samples = PER_DAY * SPAN_DAYS as u64;
    let names: Vec<String> = s.llms.iter().map(|l| l.name.clone()).collect();
    let mut tally: BTreeMap<u64, Tally> = BTreeMap::new();
    let mut false_alarms = (0u64, 0u64); // (regressed, series judged)
    for seed in 1..=o.seeds {
        let (_, admin, _) = super::scratch::scratch_database(settings, &o.database).await?;
        drop(admin);
        crate::cmd::seed::run(&s).await?;
        s.simulate.seed = seed;
        let factor_of = |i: usize| FACTORS[(i + seed as usize) % FACTORS.len()];
        let drift = names
            .iter()
            .enumerate()
            .filter(|&(i, _)| factor_of(i) != 1.0)
            .map(|(i, llm)| crate::sim::drift::Drift {
                llm: llm.clone(),
                metric: "TTFT".into(),
                factor: factor_of(i),
                before_end_secs: DRIFT_DAYS * DAY,
            })
            .collect();
        let now = crate::window::now();
        crate::cmd::simulate::run(
            &s,
            &crate::cmd::simulate::Options {
                span_secs: (SPAN_DAYS * DAY) as u64,
                drift,
                ..Default::default()
            },
        )
        .await?;
        let (client, cat) = crate::cmd::open(&s, "llmrank-bench-detection").await?;
        let window = crate::cmd::regressions::days(SPAN_DAYS * DAY)?;
        let r = crate::query::regressions::regressions(
            &client,
            &cat,
            &RegressionsAsk {
                window: &window,
                filter: &RunFilter::default(),
                metrics: &[],
                rule: Rule::default(),
            },
        )
        .await?
        .map_err(|e| e.into_error("regressions"))?;
        let start = now - DRIFT_DAYS * DAY;
        let first_full = (start / DAY + 1) * DAY;
        let base: Side = "window=7d,until=7d".parse().map_err(anyhow::Error::msg)?;
        let cand: Side = "window=1d".parse().map_err(anyhow::Error::msg)?;
        let compared = crate::query::compare::compare(
            &client,
            &cat,
            &CompareAsk {
                base: &base,
                cand: &cand,
                metrics: &[],
                by: Statistic::P50,
                thresholds: Thresholds::default(),
            },
            crate::window::now(),
        )
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        // The drift an LLM got, and whether it moves a metric (a TTFT drift lengthens e2e).
        let drift_of = |llm: &str, metric: &str| {
            let factor = factor_of(names.iter().position(|n| n == llm)?);
            Some((
                factor,
                factor != 1.0 && matches!(metric, "TTFT" | "e2e_latency"),
            ))
        };
        for series in &r.series {
            let Some((factor, moved)) = drift_of(&series.llm, &series.metric) else {
                continue;
            };
            let time = |p: &crate::regressions::SeriesPoint| {
                crate::window::parse_rfc3339(&p.time).unwrap_or(0)
            };
            let ever = series
                .points
                .iter()
                .any(|p| p.verdict == Verdict::Regressed);
            if !moved {
                false_alarms.1 += 1;
                false_alarms.0 += u64::from(ever);
                continue;
            }
            if series.metric != "TTFT" {
                continue;
            }
            let t = tally.entry((factor * 100.0).round() as u64).or_default();
            t.series += 1;
            // Regressed by its second full drifted day (the day that confirms it).
            let by = first_full + DAY;
            if series
                .points
                .iter()
                .any(|p| time(p) <= by && p.verdict == Verdict::Regressed)
            {
                t.detected += 1;
            }
            t.ever += u64::from(ever);
            if series.points.iter().any(|p| {
                time(p) + DAY <= start
                    && matches!(p.verdict, Verdict::Regressed | Verdict::Suspicious)
            }) {
                t.early += 1;
            }
            if compared.comparisons.iter().any(|c| {
                c.llm == series.llm && c.metric == "TTFT" && c.verdict == Verdict::Regressed
            }) {
                t.compare += 1;
            }
        }
        // compare's false alarms: every comparison no drift moved.
        for c in &compared.comparisons {
            if drift_of(&c.llm, &c.metric).is_some_and(|(_, moved)| !moved) {
                false_alarms.1 += 1;
                if c.verdict == Verdict::Regressed {
                    false_alarms.0 += 1;
                }
            }
        }
    }
    let mut out = format!(
        "detection over {} seeds ({} requests a day per LLM, {} days, TTFT drift from {} days before the end; regressions: regressed by the second full drifted day; compare: the first 7 days against the last)\n",
        o.seeds, PER_DAY, SPAN_DAYS, DRIFT_DAYS
    );
    let _ = writeln!(
        out,
        "{:>7}  {:>6}  {:>20}  {:>14}  {:>13}  {:>17}",
        "drift",
        "series",
        "regressions caught",
        "ever regressed",
        "flagged early",
        "compare regressed"
    );
    for (f, t) in &tally {
        let pct = |n: u64| 100.0 * n as f64 / t.series.max(1) as f64;
        let _ = writeln!(
            out,
            "{:>6.2}x  {:>6}  {:>14} ({:>3.0}%)  {:>8} ({:>3.0}%)  {:>13}  {:>10} ({:>3.0}%)",
            *f as f64 / 100.0,
            t.series,
            t.detected,
            pct(t.detected),
            t.ever,
            pct(t.ever),
            t.early,
            t.compare,
            pct(t.compare)
        );
    }
    let _ = writeln!(
        out,
        "false alarms (regressed where nothing drifted, regressions' days and compare's pairs): {} of {}",
        false_alarms.0, false_alarms.1
    );
    let (_, admin, _) = super::scratch::scratch_database(settings, &o.database).await?;
    let _ = admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            crate::db::quote_ident(&o.database)
        ))
        .await;
    Ok(out)
}
