//! `compare`: a candidate against a base, per LLM × metric, with a verdict that gates CI. Pure,
//! no I/O: what a side is ([`Side`], parsed from `run=12`, `window=7d,until=1d`,
//! `workload=engine=vllm-0.11`, ...), and the comparisons of two sides' rows
//! ([`Compared::of`]) with their tables, JSON and Markdown.
//!
//! Each comparison is cand ÷ base of one statistic (the median by default) with a 95% interval
//! from the two sides' intervals of that statistic ([`crate::regress::ratio`]), judged by
//! [`crate::regress::verdict`]. A side's interval is over its requests (the sketch's bounds
//! for a percentile, the t-interval for the mean), or over its runs when it names three runs or
//! more of the LLM ([`crate::ranking::RunNoise`]): `interval_over` says which.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::{Direction, MetricInfo, RunFilter};
use crate::ranking::Row;
use crate::regress::{Thresholds, Verdict};
use crate::stats::Statistic;
use crate::table::{self, Align};

/// The keys a side may name.
pub const SIDE_KEYS: &str = "run, window, until, from, to, workload, source";

/// One side of a comparison: whole runs, or a window (and workload/source filter) of the
/// summaries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Side {
    /// As written, for messages and the answer.
    pub text: String,
    /// `run=N` (repeatable): these runs, from their raw samples.
    pub runs: Vec<i32>,
    /// `window=DURATION`.
    pub window: Option<i64>,
    /// `until=DURATION`: the window ends this long before now.
    pub until: Option<i64>,
    /// `from=TIME`, `to=TIME` (RFC 3339).
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// `workload=KEY=VALUE` (repeatable), `source=NAME` (repeatable).
    pub filter: RunFilter,
}

impl std::str::FromStr for Side {
    type Err = String;

    /// `KEY=VALUE` items separated by commas, e.g. `window=7d,until=1d` or `run=12,run=13`.
    fn from_str(text: &str) -> Result<Side, String> {
        let mut side = Side {
            text: text.trim().to_string(),
            ..Side::default()
        };
        if side.text.is_empty() {
            return Err(format!(
                "a side is empty; name one of {SIDE_KEYS}, e.g. run=12 or window=7d,until=1d"
            ));
        }
        let bad = |item: &str, why: String| format!("side {text:?}: {item:?} {why}");
        for item in side.text.clone().split(',').map(str::trim) {
            let Some((key, value)) = item.split_once('=') else {
                return Err(bad(item, format!("is not KEY=VALUE; keys: {SIDE_KEYS}")));
            };
            let once = |slot: &Option<i64>| {
                if slot.is_some() {
                    Err(bad(item, format!("repeats {key}")))
                } else {
                    Ok(())
                }
            };
            match key.trim() {
                "run" => side.runs.push(
                    value
                        .trim()
                        .parse::<i32>()
                        .ok()
                        .filter(|&r| r > 0)
                        .ok_or_else(|| {
                            bad(
                                item,
                                "is not a run id (a positive number, see `llmrank runs`)".into(),
                            )
                        })?,
                ),
                "window" => {
                    once(&side.window)?;
                    side.window =
                        Some(crate::window::parse_duration(value).map_err(|e| bad(item, e))?);
                }
                "until" => {
                    once(&side.until)?;
                    side.until =
                        Some(crate::window::parse_duration(value).map_err(|e| bad(item, e))?);
                }
                "from" => {
                    once(&side.from)?;
                    side.from =
                        Some(crate::window::parse_rfc3339(value).map_err(|e| bad(item, e))?);
                }
                "to" => {
                    once(&side.to)?;
                    side.to = Some(crate::window::parse_rfc3339(value).map_err(|e| bad(item, e))?);
                }
                "workload" => side.filter.add_workload(value).map_err(|e| bad(item, e))?,
                "source" => side.filter.add_sources(value).map_err(|e| bad(item, e))?,
                other => {
                    return Err(bad(
                        item,
                        format!("names an unknown key {other:?}; keys: {SIDE_KEYS}"),
                    ))
                }
            }
        }
        if side.until.is_some() && side.to.is_some() {
            return Err(format!("side {text:?}: give until or to, not both"));
        }
        if side.window.is_some()
            && side.from.is_some()
            && (side.to.is_some() || side.until.is_some())
        {
            return Err(format!(
                "side {text:?}: give at most two of window, from and to (or until)"
            ));
        }
        let windowed = side
            .window
            .or(side.until)
            .or(side.from)
            .or(side.to)
            .is_some();
        if !side.runs.is_empty() && (windowed || !side.filter.is_default()) {
            return Err(format!(
                "side {text:?}: run= names whole runs; it takes no window, until, from, to, workload or source"
            ));
        }
        side.runs.sort_unstable();
        side.runs.dedup();
        Ok(side)
    }
}

impl Side {
    /// The window asked, as of `now` (Unix seconds).
    pub fn window(&self, now: i64) -> crate::window::Request {
        crate::window::Request {
            window: self.window,
            from: self.from,
            to: self.to.or(self.until.map(|u| now - u)),
        }
    }
}

/// How a comparison is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    /// A table for a pull-request comment.
    Markdown,
}

/// One LLM × metric × statistic: both sides, their ratio and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub llm: String,
    pub metric: String,
    pub unit: String,
    pub direction: Direction,
    pub statistic: Statistic,
    /// The statistic on each side (null: the LLM has no samples there).
    pub base: Option<f64>,
    pub cand: Option<f64>,
    /// Samples behind each side's value.
    pub base_n: u64,
    pub cand_n: u64,
    /// cand ÷ base, and its 95% interval.
    pub ratio: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    pub verdict: Verdict,
    /// What the interval's noise is over: `runs` when a side holds three runs or more of the
    /// LLM (its value is then the mean of the runs' statistics, its interval their
    /// t-interval), else `requests` (the samples of each side).
    pub interval_over: &'static str,
    /// The runs behind a side's value when it is over runs.
    pub base_runs: Option<usize>,
    pub cand_runs: Option<usize>,
    /// A side's value is the aggregate its tool reported (an aggregate-only import): no
    /// interval unless it reported n and stddev (of the mean).
    pub reported: bool,
}

/// The thresholds in an answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ThresholdsJson {
    pub latency: f64,
    pub throughput: f64,
}

/// Every comparison of two sides, the worst first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Compared {
    pub base: String,
    pub cand: String,
    pub statistic: Statistic,
    pub thresholds: ThresholdsJson,
    /// How many comparisons had each verdict.
    pub verdicts: BTreeMap<&'static str, usize>,
    pub comparisons: Vec<Comparison>,
}

/// The order verdicts are listed in: what needs a look first.
fn severity(v: Verdict) -> u8 {
    match v {
        Verdict::Regressed => 0,
        Verdict::Noisy => 1,
        Verdict::Suspicious => 2,
        Verdict::Improved => 3,
        Verdict::Unchanged => 4,
        Verdict::InsufficientData => 5,
    }
}

impl Compared {
    /// The comparisons of `metrics`, each with its base and candidate rows (computed from
    /// samples, with the interval of `by`). An LLM on one side only is `insufficient_data`,
    /// as is one whose interval is unknown (a single sample).
    pub fn of(
        base: &Side,
        cand: &Side,
        by: Statistic,
        thresholds: Thresholds,
        metrics: Vec<(MetricInfo, Vec<Row>, Vec<Row>)>,
    ) -> Compared {
        let mut comparisons = Vec::new();
        for (info, b, c) in metrics {
            let mut llms: BTreeMap<&str, (Option<&Row>, Option<&Row>)> = BTreeMap::new();
            for r in &b {
                llms.entry(&r.llm).or_default().0 = Some(r);
            }
            for r in &c {
                llms.entry(&r.llm).or_default().1 = Some(r);
            }
            for (llm, (b, c)) in llms {
                comparisons.push(one(&info, by, thresholds, llm, b, c));
            }
        }
        comparisons.sort_by(|x, y| {
            severity(x.verdict)
                .cmp(&severity(y.verdict))
                .then_with(|| x.metric.cmp(&y.metric))
                .then_with(|| x.llm.cmp(&y.llm))
        });
        let verdicts = crate::regress::tally(comparisons.iter().map(|c| c.verdict));
        Compared {
            base: base.text.clone(),
            cand: cand.text.clone(),
            statistic: by,
            thresholds: ThresholdsJson {
                latency: thresholds.latency,
                throughput: thresholds.throughput,
            },
            verdicts,
            comparisons,
        }
    }

    /// Whether anything regressed (`compare` then exits 1).
    pub fn regressed(&self) -> bool {
        self.comparisons
            .iter()
            .any(|c| c.verdict == Verdict::Regressed)
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => {
                let mut s = serde_json::to_string_pretty(self)
                    .expect("comparisons hold only strings and numbers");
                s.push('\n');
                s
            }
            Format::Table => self.table(),
            Format::Markdown => self.markdown(),
        }
    }

    /// One line: the sides, the statistic, the thresholds and the count of each verdict.
    fn headline(&self) -> String {
        format!(
            "{} of cand ({}) / base ({}); thresholds {} (latency), {} (throughput); intervals over requests: {}",
            self.statistic.as_str(),
            self.cand,
            self.base,
            self.thresholds.latency,
            self.thresholds.throughput,
            crate::regress::tally_text(&self.verdicts, "nothing to compare")
        )
    }

    fn cells(c: &Comparison) -> Vec<String> {
        let v = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.2}"));
        vec![
            c.verdict.as_str().to_string(),
            c.llm.clone(),
            c.metric.clone(),
            v(c.base),
            v(c.cand),
            c.ratio.map_or("-".into(), |r| format!("{r:.3}")),
            c.ci95
                .map_or("-".into(), |[lo, hi]| format!("{lo:.3}–{hi:.3}")),
        ]
    }

    fn table(&self) -> String {
        let mut rows = vec![[
            "verdict", "llm", "metric", "base", "cand", "ratio", "95% CI",
        ]
        .map(String::from)
        .to_vec()];
        rows.extend(self.comparisons.iter().map(Self::cells));
        let align = [
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Right,
            Align::Right,
            Align::Right,
            Align::Right,
        ];
        format!("{}\n{}", self.headline(), table::render(&rows, &align))
    }

    fn markdown(&self) -> String {
        // A cell never breaks the table: pipes escaped, line breaks as spaces.
        let cell = |s: &str| s.replace('|', "\\|").replace(['\n', '\r'], " ");
        let mut out = format!("**llmrank compare**: {}\n\n", cell(&self.headline()));
        out.push_str("| verdict | LLM | metric | base | cand | ratio | 95% CI |\n");
        out.push_str("|---|---|---|---:|---:|---:|---:|\n");
        for c in &self.comparisons {
            let mut cells = Self::cells(c);
            if c.verdict == Verdict::Regressed {
                cells[0] = format!("**{}**", cells[0]);
            }
            let cells: Vec<String> = cells.iter().map(|s| cell(s)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }
}

fn one(
    info: &MetricInfo,
    by: Statistic,
    t: Thresholds,
    llm: &str,
    b: Option<&Row>,
    c: Option<&Row>,
) -> Comparison {
    // Over runs where a side has them, else over its requests.
    let value = |r: Option<&Row>| {
        r.map(|r| r.runs.map_or_else(|| r.stats.get(by), |n| n.value))
            .filter(|v| v.is_finite())
    };
    let interval = |r: Option<&Row>| r.and_then(|r| r.runs.map(|n| n.interval).or(r.interval));
    let (base, cand) = (value(b), value(c));
    let judged = match (base, cand, interval(b), interval(c)) {
        (Some(bv), Some(cv), Some(bi), Some(ci)) => crate::regress::ratio(bv, bi, cv, ci),
        _ => None,
    };
    let verdict = judged.map_or(Verdict::InsufficientData, |(r, ci)| {
        crate::regress::verdict(info.direction, r, ci, t)
    });
    Comparison {
        llm: llm.to_string(),
        metric: info.name.clone(),
        unit: info.unit.clone(),
        direction: info.direction,
        statistic: by,
        base,
        cand,
        base_n: b.map_or(0, |r| r.stats.n),
        cand_n: c.map_or(0, |r| r.stats.n),
        ratio: judged
            .map(|(r, _)| r)
            .or_else(|| Some(cand? / base?).filter(|r| r.is_finite())),
        ci95: judged.map(|(_, ci)| ci),
        verdict,
        interval_over: if [b, c].iter().flatten().any(|r| r.runs.is_some()) {
            "runs"
        } else {
            "requests"
        },
        base_runs: b.and_then(|r| r.runs).map(|n| n.runs),
        cand_runs: c.and_then(|r| r.runs).map(|n| n.runs),
        reported: [b, c].iter().flatten().any(|r| r.reported.is_some()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_parse_runs_windows_and_filters_and_refuse_mixtures_with_the_reason() {
        let s: Side = "run=15, run=12,run=15".parse().unwrap();
        assert_eq!(s.runs, vec![12, 15]);
        let s: Side = "window=7d,until=1d".parse().unwrap();
        assert_eq!((s.window, s.until), (Some(7 * 86_400), Some(86_400)));
        let w = s.window(1_000_000);
        assert_eq!(w.to, Some(1_000_000 - 86_400));
        assert_eq!(w.window, Some(7 * 86_400));
        let s: Side = "workload=engine=vllm-0.11,source=import".parse().unwrap();
        assert_eq!(
            s.filter.workload.get("engine").map(String::as_str),
            Some("vllm-0.11")
        );
        assert_eq!(s.filter.sources.len(), 1);
        for (bad, says) in [
            ("", "empty"),
            ("run=x", "not a run id"),
            ("run=0", "not a run id"),
            ("window", "not KEY=VALUE"),
            ("colour=red", "unknown key \"colour\""),
            ("window=7q", "window=7q"),
            ("window=1d,window=2d", "repeats window"),
            ("until=1d,to=2026-01-01T00:00:00Z", "until or to"),
            ("run=3,window=1d", "whole runs"),
            ("source=nowhere", "nowhere"),
        ] {
            let e = bad.parse::<Side>().unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    fn row(llm: &str, p50: f64, ci: Option<[f64; 2]>, n: u64) -> Row {
        let mut stats = crate::stats::Summary::of(&mut [p50; 3]).unwrap();
        stats.n = n;
        Row {
            llm: llm.into(),
            stats,
            interval: ci,
            reported: None,
            runs: None,
        }
    }

    fn metric(name: &str, direction: Direction) -> MetricInfo {
        MetricInfo {
            name: name.into(),
            unit: "ms".into(),
            direction,
        }
    }

    #[test]
    fn verdicts_follow_the_direction_and_the_worst_come_first() {
        let base = "window=7d,until=1d".parse().unwrap();
        let cand = "window=1d".parse().unwrap();
        let narrow = |v: f64| Some([v * 0.99, v * 1.01]);
        let c = Compared::of(
            &base,
            &cand,
            Statistic::P50,
            Thresholds::default(),
            vec![
                (
                    metric("TTFT", Direction::Lower),
                    vec![
                        row("a", 100.0, narrow(100.0), 500),
                        row("b", 100.0, narrow(100.0), 500),
                        row("c", 100.0, Some([50.0, 200.0]), 5),
                        row("gone", 100.0, narrow(100.0), 500),
                    ],
                    vec![
                        row("a", 130.0, narrow(130.0), 500),
                        row("b", 101.0, narrow(101.0), 500),
                        row("c", 130.0, Some([60.0, 260.0]), 5),
                    ],
                ),
                (
                    metric("TPS", Direction::Higher),
                    vec![row("a", 100.0, narrow(100.0), 500)],
                    vec![row("a", 130.0, narrow(130.0), 500)],
                ),
            ],
        );
        let got: Vec<(&str, &str, Verdict)> = c
            .comparisons
            .iter()
            .map(|x| (x.metric.as_str(), x.llm.as_str(), x.verdict))
            .collect();
        assert_eq!(
            got,
            vec![
                ("TTFT", "a", Verdict::Regressed),
                ("TTFT", "c", Verdict::Noisy),
                ("TPS", "a", Verdict::Improved),
                ("TTFT", "b", Verdict::Unchanged),
                ("TTFT", "gone", Verdict::InsufficientData),
            ]
        );
        assert!(c.regressed());
        let a = &c.comparisons[0];
        assert!((a.ratio.unwrap() - 1.3).abs() < 1e-12);
        let [lo, hi] = a.ci95.unwrap();
        assert!(lo > 1.2 && hi < 1.4 && lo < 1.3 && hi > 1.3, "{lo} {hi}");
        assert_eq!(c.verdicts.get("regressed"), Some(&1));
        let json: serde_json::Value = serde_json::from_str(&c.render(Format::Json)).unwrap();
        assert_eq!(json["comparisons"][0]["verdict"], "regressed");
        assert_eq!(json["comparisons"][0]["interval_over"], "requests");
        assert_eq!(json["comparisons"][4]["cand"], serde_json::Value::Null);
        let md = c.render(Format::Markdown);
        assert!(md.contains("| **regressed** | a | TTFT |"), "{md}");
        assert_eq!(md.lines().filter(|l| l.starts_with("| ")).count(), 6);
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        let side: Side = "window=1d".parse().unwrap();
        let c = Compared::of(
            &side,
            &side,
            Statistic::P50,
            Thresholds::default(),
            vec![(
                metric("TTFT", Direction::Lower),
                vec![row("x|y\nz", 1.0, None, 1)],
                vec![],
            )],
        );
        let md = c.render(Format::Markdown);
        assert!(md.contains("x\\|y z"), "{md}");
        assert!(!c.regressed());
    }
}
