//! Ranking LLMs on one metric, and rendering the ranking as a table, JSON or CSV. Pure, no I/O;
//! `rank` and `serve` both call it, so the terminal and the API always agree.
//!
//! Order: best first by the metric's direction (lower or higher is better), on the chosen
//! statistic (mean, p50, p90, p99); equal values fall back to the LLM name, so the order is
//! deterministic.
//!
//! Sources: from summaries (the default: constant cost whatever the number of samples,
//! percentiles within the sketch's bound, see `summary`) or from raw samples (`--exact`).
//! Both give a [`Row`] per LLM; ranking them is the same code, and the answer says which way
//! it was made.
//!
//! Intervals: each LLM's 95% interval of the ordering statistic: the t interval of the mean, or
//! the order-statistic interval of the percentile (from the sketch's ranks for summaries): the
//! noise between requests. When an LLM's ranked samples are exactly those of three runs or more
//! of one workload, the runs are the observations instead ([`RunNoise`]: the t-interval of the
//! mean of each run's statistic), since runs of one workload usually differ by more than their
//! requests do; `interval_over` says which the tie rule and rank used.
//!
//! Ties: walking best first, an LLM whose interval overlaps the previous LLM's joins its group;
//! members of a group have `tied = true`.
//!
//! Rank: 1 + the number of LLMs whose interval lies entirely on the better side of this LLM's
//! (the convention of public LLM leaderboards such as LMSYS Chatbot Arena): the best position
//! the data cannot rule out. Tied neighbours usually share a rank ("1, 2, 2, 4"), but a long
//! chain of overlapping neighbours does not make the last of them equal to the first.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::domain::{Covered, Direction, MetricInfo, RunFilter};
use crate::stats::{Statistic, Summary};
use crate::table::{self, Align};
use crate::window::WindowJson;

/// A ranking: the JSON object of `rank --format json` and `GET /ranking/{metric}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    pub metric: String,
    pub unit: String,
    pub direction: Direction,
    pub by: Statistic,
    /// The resolved window (whole hours); null ends are unbounded (all time: both null).
    pub window: WindowJson,
    /// How the answer was made: from summaries or from the raw samples.
    pub method: Method,
    /// The sources and how many workloads the ranking covers.
    #[serde(flatten)]
    pub covered: Covered,
    /// Only runs whose workload has these values were ranked (absent: every workload).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub workload: BTreeMap<String, String>,
    /// Percentiles' relative error bound (summaries); absent for exact answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile_relative_error: Option<f64>,
    pub rankings: Vec<Entry>,
}

/// How a ranking was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// From the summaries: constant cost, percentiles within the sketch's bound.
    Summary,
    /// From the raw samples.
    Exact,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Summary => "summary",
            Method::Exact => "exact",
        }
    }
}

/// One LLM's statistics and the 95% interval of the ordering statistic.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub llm: String,
    pub stats: Summary,
    pub interval: Option<[f64; 2]>,
    /// Set when the numbers are a tool's own aggregates (an aggregate-only import).
    pub reported: Option<Reported>,
    /// The statistic over runs, when the rows come from three runs or more (`compare`'s run
    /// sides): the noise between runs, not only between requests.
    pub runs: Option<RunNoise>,
}

/// A statistic over runs: the mean of each run's statistic and its 95% t-interval (runs are
/// the units, so the interval holds the run-to-run spread a single run cannot show).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunNoise {
    pub runs: usize,
    pub value: f64,
    pub interval: [f64; 2],
}

impl RunNoise {
    /// From each run's statistic; `None` below three runs (too few for an interval worth
    /// reading) or with a value that is not finite.
    pub fn of(per_run: &[f64]) -> Option<RunNoise> {
        let k = per_run.len();
        if k < 3 || per_run.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let m = crate::stats::Moments::of(per_run);
        let sd = (m.m2 / (k as f64 - 1.0)).sqrt();
        let half = crate::stats::t_975(k as u64 - 1) * sd / (k as f64).sqrt();
        Some(RunNoise {
            runs: k,
            value: m.mean,
            interval: [m.mean - half, m.mean + half],
        })
    }
}

/// Where a reported (not computed) row's numbers come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reported {
    /// The import run that holds them.
    pub run_id: i32,
    /// The tool that computed them (`vllm`, `guidellm`, ...).
    pub tool: String,
    /// The tool's field(s) they were read from.
    pub origin: String,
}

impl Row {
    /// From raw samples (exact). `None` when there are none.
    pub fn from_samples(llm: String, mut values: Vec<f64>, by: Statistic) -> Option<Row> {
        let stats = Summary::of(&mut values)?;
        let interval = stats.interval(by, &values[..]);
        Some(Row {
            llm,
            stats,
            interval,
            reported: None,
            runs: None,
        })
    }

    /// From a summary (percentiles and their intervals from its sketch).
    pub fn from_summary(llm: String, s: &crate::summary::Summary, by: Statistic) -> Row {
        let stats = s.describe();
        let interval = stats.interval(by, s);
        Row {
            llm,
            stats,
            interval,
            reported: None,
            runs: None,
        }
    }
}

impl Row {
    /// From a tool's reported aggregates: `None` unless it reported the statistic ranked by.
    /// Statistics it did not report are NaN (null in JSON); the interval of the mean comes
    /// from its n and stddev when it gave both.
    #[allow(clippy::too_many_arguments)]
    pub fn from_reported(
        llm: String,
        by: Statistic,
        reported: Reported,
        n: Option<i64>,
        mean: Option<f64>,
        stddev: Option<f64>,
        min_max: [Option<f64>; 2],
        percentiles: [Option<f64>; 4],
    ) -> Option<Row> {
        let [p50, p90, p95, p99] = percentiles;
        let wanted = match by {
            Statistic::Mean => mean,
            Statistic::P50 => p50,
            Statistic::P90 => p90,
            Statistic::P95 => p95,
            Statistic::P99 => p99,
        };
        wanted.filter(|v| v.is_finite())?;
        let n = n.map_or(0, |n| n.max(0) as u64);
        let nan = f64::NAN;
        let ci95 = match (mean, stddev) {
            (Some(m), Some(sd)) if n > 1 => {
                let half = crate::stats::t_975(n - 1) * sd / (n as f64).sqrt();
                Some([m - half, m + half])
            }
            _ => None,
        };
        let stats = Summary {
            n,
            mean: mean.unwrap_or(nan),
            p50: p50.unwrap_or(nan),
            p90: p90.unwrap_or(nan),
            p95: p95.unwrap_or(nan),
            p99: p99.unwrap_or(nan),
            stddev: stddev.filter(|_| n > 1),
            ci95,
            min: min_max[0].unwrap_or(nan),
            max: min_max[1].unwrap_or(nan),
        };
        let interval = match by {
            Statistic::Mean => ci95,
            _ => None,
        };
        Some(Row {
            llm,
            stats,
            interval,
            reported: Some(reported),
            runs: None,
        })
    }
}

/// Where a ranking's rows came from: the window, the method and the runs it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    pub window: WindowJson,
    pub method: Method,
    pub filter: RunFilter,
    pub covered: Covered,
}

impl Scope {
    pub fn all_time_exact() -> Scope {
        Scope {
            window: WindowJson::default(),
            method: Method::Exact,
            filter: RunFilter::default(),
            covered: Covered::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub rank: u32,
    pub llm: String,
    /// n, mean, p50, p90, p99, stddev, ci95, min, max.
    #[serde(flatten)]
    pub stats: Summary,
    pub tied: bool,
    /// The tie group: the position (1-based) of the group's first LLM. LLMs whose intervals
    /// overlap their neighbour's, in a run, share it; an LLM tied with no one has its own.
    #[serde(default)]
    pub tie_group: u32,
    /// Present when these are a tool's reported aggregates, not computed from samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<Reported>,
    /// The noise the tie rule and the rank judged by: the 95% interval of the statistic over
    /// requests, or, with three runs or more of the LLM in one workload, over runs.
    #[serde(default)]
    pub interval_over: Noise,
    /// Over runs: how many, the mean of each run's statistic and its 95% t-interval (absent
    /// over requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_ci95: Option<[f64; 2]>,
    /// The original design's field names, kept for its clients.
    pub llm_name: String,
    pub avg_value: f64,
}

/// Which spread an interval measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Noise {
    /// Between requests (one run, or runs that cannot be told apart).
    #[default]
    Requests,
    /// Between runs: each run's statistic is one observation.
    Runs,
}

/// Output formats of `rank`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Ranks LLMs, best first.
pub fn rank(metric: &MetricInfo, by: Statistic, scope: Scope, mut rows: Vec<Row>) -> Ranking {
    rows.sort_by(|a, b| {
        let (x, y) = (a.stats.get(by), b.stats.get(by));
        let order = match metric.direction {
            Direction::Lower => x.total_cmp(&y),
            Direction::Higher => y.total_cmp(&x),
        };
        order.then_with(|| a.llm.cmp(&b.llm))
    });

    // The interval over runs where there is one: the spread a single run cannot show.
    let intervals: Vec<Option<[f64; 2]>> = rows
        .iter()
        .map(|r| r.runs.map(|n| n.interval).or(r.interval))
        .collect();
    let better_side = |a: [f64; 2], b: [f64; 2]| match metric.direction {
        Direction::Lower => a[1] < b[0],
        Direction::Higher => a[0] > b[1],
    };
    let mut entries: Vec<Entry> = Vec::with_capacity(rows.len());
    for (
        i,
        Row {
            llm,
            stats: s,
            reported,
            runs,
            ..
        },
    ) in rows.into_iter().enumerate()
    {
        let interval = intervals[i];
        let overlaps = match (i.checked_sub(1).and_then(|p| intervals[p]), interval) {
            (Some(a), Some(b)) => a[0] <= b[1] && b[0] <= a[1],
            _ => false,
        };
        if overlaps {
            if let Some(prev) = entries.last_mut() {
                prev.tied = true;
            }
        }
        let clearly_better = match interval {
            Some(mine) => intervals[..i]
                .iter()
                .filter(|other| other.is_none_or(|o| better_side(o, mine)))
                .count(),
            None => i,
        };
        // Never above an LLM listed before it.
        let rank = (clearly_better as u32 + 1).max(entries.last().map_or(1, |e| e.rank));
        let tie_group = match entries.last() {
            Some(prev) if overlaps => prev.tie_group,
            _ => i as u32 + 1,
        };
        entries.push(Entry {
            rank,
            llm_name: llm.clone(),
            llm,
            avg_value: s.mean,
            stats: s,
            tied: overlaps,
            tie_group,
            reported,
            interval_over: if runs.is_some() {
                Noise::Runs
            } else {
                Noise::Requests
            },
            runs: runs.map(|n| n.runs),
            run_value: runs.map(|n| n.value),
            run_ci95: runs.map(|n| n.interval),
        });
    }
    Ranking {
        metric: metric.name.clone(),
        unit: metric.unit.clone(),
        direction: metric.direction,
        by,
        percentile_relative_error: (scope.method == Method::Summary)
            .then_some(crate::summary::ALPHA),
        window: scope.window,
        method: scope.method,
        covered: scope.covered,
        workload: scope.filter.workload,
        rankings: entries,
    }
}

/// Ranks LLMs from their raw samples (exact). LLMs without samples are left out.
pub fn rank_samples(
    metric: &MetricInfo,
    by: Statistic,
    scope: Scope,
    samples: Vec<(String, Vec<f64>)>,
) -> Ranking {
    let rows = samples
        .into_iter()
        .filter_map(|(llm, values)| Row::from_samples(llm, values, by))
        .collect();
    rank(metric, by, scope, rows)
}

impl Ranking {
    pub fn render(&self, format: Format) -> String {
        self.render_fit(format, None)
    }

    /// As [`Ranking::render`], the table fitted to `width` characters when given (JSON and CSV
    /// keep names whole).
    pub fn render_fit(&self, format: Format, width: Option<usize>) -> String {
        match format {
            Format::Table => self.to_table(width),
            Format::Json => {
                let mut s = serde_json::to_string_pretty(self)
                    .expect("a ranking holds only strings, numbers and options");
                s.push('\n');
                s
            }
            Format::Csv => self.to_csv(),
        }
    }

    fn to_table(&self, width: Option<usize>) -> String {
        // A statistic a tool did not report is NaN: shown as "-".
        let num = |x: f64| {
            if x.is_finite() {
                format!("{x:.2}")
            } else {
                "-".to_string()
            }
        };
        let opt = |x: Option<f64>| x.map_or_else(|| "-".to_string(), num);
        let header = [
            "rank",
            "LLM",
            "n",
            "mean",
            "p50",
            "p90",
            "p95",
            "p99",
            "stddev",
            "95% CI of mean",
            self.by.as_str(),
        ];
        let largest = self
            .rankings
            .iter()
            .map(|e| e.stats.get(self.by))
            .fold(0.0_f64, f64::max);
        let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
        for e in &self.rankings {
            rows.push(vec![
                format!("{}{}", e.rank, if e.tied { "=" } else { "" }),
                match &e.reported {
                    None => e.llm.clone(),
                    Some(r) => format!("{} [reported by {}, run {}]", e.llm, r.tool, r.run_id),
                },
                e.stats.n.to_string(),
                num(e.stats.mean),
                num(e.stats.p50),
                num(e.stats.p90),
                num(e.stats.p95),
                num(e.stats.p99),
                opt(e.stats.stddev),
                e.stats.ci95.map_or_else(
                    || "-".into(),
                    |[lo, hi]| format!("{} – {}", num(lo), num(hi)),
                ),
                bar(e.stats.get(self.by), largest, BAR_WIDTH),
            ]);
        }
        // Names and bars left-aligned, numbers right-aligned.
        let mut align = [Align::Right; 11];
        align[1] = Align::Left;
        align[10] = Align::Left;
        let mut head = format!(
            "{} ({}, {} is better), best first by {}, {}\n",
            self.metric,
            self.unit,
            self.direction.as_str(),
            self.by.as_str(),
            self.scope_line()
        );
        head.push_str(&self.covered.describe());
        head.push('\n');
        let mut out = table::wrap(&head, width);
        // Least needed first: the bar, p95, the interval.
        let shape = table::Shape {
            names: 1,
            droppable: &[10, 6, 9],
        };
        out.push_str(&table::render_fit(&rows, &align, width, shape));
        let mut notes = String::new();
        if self.rankings.iter().any(|e| e.tied) {
            notes.push_str(&format!(
                "= tied: 95% intervals of the {} overlap, so their order is not significant\n",
                self.by.as_str()
            ));
        }
        let over_runs: Vec<String> = self
            .rankings
            .iter()
            .filter_map(|e| {
                let ([lo, hi], k) = (e.run_ci95?, e.runs?);
                Some(format!("{} ({k} runs: {} – {})", e.llm, num(lo), num(hi)))
            })
            .collect();
        if !over_runs.is_empty() {
            notes.push_str(&format!(
                "judged over runs (the 95% interval of the mean of each run's {}, not over requests): {}\n",
                self.by.as_str(),
                over_runs.join(", ")
            ));
        }
        if self.rankings.iter().any(|e| e.reported.is_some()) {
            notes.push_str(
                "[reported]: the tool's own aggregates of an aggregate-only file, as it computed them (its percentile method, its n); not merged with computed rows\n",
            );
        }
        out.push_str(&table::wrap(&notes, width));
        out
    }

    /// `all time, from summaries (percentiles within 0.5%)` or `2026-... to 2026-..., exact`.
    fn scope_line(&self) -> String {
        let window = self.window.describe();
        match (self.method, self.percentile_relative_error) {
            (Method::Summary, Some(e)) => {
                format!(
                    "{window}, from summaries (percentiles within {}%)",
                    e * 100.0
                )
            }
            (Method::Summary, None) => format!("{window}, from summaries"),
            (Method::Exact, _) => format!("{window}, exact (from raw samples)"),
        }
    }

    fn to_csv(&self) -> String {
        let mut out = String::from(
            "rank,llm,n,mean,p50,p90,p95,p99,stddev,ci95_low,ci95_high,tied,reported_run,interval_over,runs,run_value,run_ci95_low,run_ci95_high\n",
        );
        let opt = |x: Option<f64>| x.map_or_else(String::new, |v| v.to_string());
        for e in &self.rankings {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                e.rank,
                csv_field(&e.llm),
                e.stats.n,
                e.stats.mean,
                e.stats.p50,
                e.stats.p90,
                e.stats.p95,
                e.stats.p99,
                opt(e.stats.stddev),
                opt(e.stats.ci95.map(|c| c[0])),
                opt(e.stats.ci95.map(|c| c[1])),
                e.tied,
                e.reported
                    .as_ref()
                    .map_or_else(String::new, |r| r.run_id.to_string()),
                match e.interval_over {
                    Noise::Requests => "requests",
                    Noise::Runs => "runs",
                },
                e.runs.map_or_else(String::new, |k| k.to_string()),
                opt(e.run_value),
                opt(e.run_ci95.map(|c| c[0])),
                opt(e.run_ci95.map(|c| c[1])),
            ));
        }
        out
    }
}

/// Characters of the longest bar in the table.
const BAR_WIDTH: usize = 20;

/// A horizontal bar of `value / largest` of `width` characters, in eighths of a character.
fn bar(value: f64, largest: f64, width: usize) -> String {
    const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    if !(largest > 0.0 && value > 0.0) {
        return String::new();
    }
    let eighths = ((value / largest).min(1.0) * (width * 8) as f64).round() as usize;
    let (full, part) = (eighths / 8, eighths % 8);
    let mut s = "█".repeat(full);
    if part > 0 {
        s.push(EIGHTHS[part]);
    }
    s
}

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. A field
/// a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a CR:
/// OWASP's CSV-injection rule) is prefixed with `'` and quoted, so it reads as text.
pub fn csv_field(s: &str) -> String {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula {
        format!("\"'{}\"", s.replace('"', "\"\""))
    } else if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_over_runs_is_the_t_interval_of_the_runs_statistics() {
        assert_eq!(RunNoise::of(&[1.0, 2.0]), None, "two runs are too few");
        assert_eq!(RunNoise::of(&[1.0, f64::NAN, 2.0]), None);
        let n = RunNoise::of(&[100.0, 110.0, 90.0, 104.0]).unwrap();
        assert_eq!(n.runs, 4);
        assert!((n.value - 101.0).abs() < 1e-12);
        // sd = sqrt(((−1)² + 9² + (−11)² + 3²) / 3) = sqrt(212 / 3); t(3) = 3.182446.
        let half = 3.182_446 * (212.0_f64 / 3.0).sqrt() / 2.0;
        assert!((n.interval[0] - (101.0 - half)).abs() < 1e-9, "{n:?}");
        assert!((n.interval[1] - (101.0 + half)).abs() < 1e-9, "{n:?}");
    }

    fn metric(direction: Direction) -> MetricInfo {
        MetricInfo {
            name: "TTFT".into(),
            unit: "ms".into(),
            direction,
        }
    }

    #[test]
    fn reported_rows_keep_missing_statistics_as_null_and_read_back() {
        let origin = |run_id| Reported {
            run_id,
            tool: "vllm".into(),
            origin: "vllm: *_ttft_ms".into(),
        };
        let with = Row::from_reported(
            "a".into(),
            Statistic::Mean,
            origin(7),
            Some(100),
            Some(50.0),
            Some(10.0),
            [None, None],
            [Some(48.0), None, None, Some(90.0)],
        )
        .expect("a mean was reported");
        // Ranked by a statistic the tool did not report: not a row.
        assert!(Row::from_reported(
            "a".into(),
            Statistic::P90,
            origin(7),
            Some(100),
            Some(50.0),
            None,
            [None, None],
            [None; 4]
        )
        .is_none());
        let samples =
            Row::from_samples("b".into(), vec![40.0, 45.0, 50.0], Statistic::Mean).unwrap();
        let r = rank(
            &metric(Direction::Lower),
            Statistic::Mean,
            Scope::all_time_exact(),
            vec![with, samples],
        );
        let ci = r
            .rankings
            .iter()
            .find(|e| e.llm == "a")
            .unwrap()
            .stats
            .ci95
            .unwrap();
        // 50 ± t(0.975, 99) · 10 / √100
        assert!(
            (ci[1] - 50.0 - crate::stats::t_975(99)).abs() < 1e-9,
            "{ci:?}"
        );
        let json = r.render(Format::Json);
        assert!(
            json.contains("\"p90\": null") && json.contains("\"run_id\": 7"),
            "{json}"
        );
        let back: Ranking = serde_json::from_str(&json).unwrap();
        let a = back.rankings.iter().find(|e| e.llm == "a").unwrap();
        assert!(a.stats.p90.is_nan() && a.stats.p50 == 48.0);
        assert_eq!(a.reported.as_ref().map(|r| r.run_id), Some(7));
        assert!(back
            .rankings
            .iter()
            .find(|e| e.llm == "b")
            .unwrap()
            .reported
            .is_none());
        let table = r.render(Format::Table);
        assert!(
            table.contains("a [reported by vllm, run 7]") && table.contains("[reported]:"),
            "{table}"
        );
    }

    fn ranks(r: &Ranking) -> Vec<(&str, u32, bool)> {
        r.rankings
            .iter()
            .map(|e| (e.llm.as_str(), e.rank, e.tied))
            .collect()
    }

    fn spread(center: f64, n: usize) -> Vec<f64> {
        (0..n).map(|i| center + (i % 10) as f64 - 4.5).collect()
    }

    #[test]
    fn lower_is_better_ranks_smallest_first_and_higher_the_opposite() {
        let data = vec![
            ("slow".to_string(), spread(500.0, 100)),
            ("fast".to_string(), spread(100.0, 100)),
            ("mid".to_string(), spread(300.0, 100)),
        ];
        let r = rank_samples(
            &metric(Direction::Lower),
            Statistic::Mean,
            Scope::all_time_exact(),
            data.clone(),
        );
        let names: Vec<_> = r.rankings.iter().map(|e| e.llm.as_str()).collect();
        assert_eq!(names, ["fast", "mid", "slow"]);
        assert_eq!(
            r.rankings.iter().map(|e| e.rank).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert!(r.rankings.iter().all(|e| !e.tied));
        let r = rank_samples(
            &metric(Direction::Higher),
            Statistic::Mean,
            Scope::all_time_exact(),
            data,
        );
        let names: Vec<_> = r.rankings.iter().map(|e| e.llm.as_str()).collect();
        assert_eq!(names, ["slow", "mid", "fast"]);
    }

    #[test]
    fn by_p99_can_reverse_the_mean_order() {
        // "steady" has the higher mean but no tail; "spiky" is faster on average, awful at p99.
        let steady = vec![110.0; 200];
        let mut spiky = vec![90.0; 200];
        for v in spiky.iter_mut().take(10) {
            *v = 900.0;
        }
        let data = vec![("steady".to_string(), steady), ("spiky".to_string(), spiky)];
        let by_mean = rank_samples(
            &metric(Direction::Lower),
            Statistic::Mean,
            Scope::all_time_exact(),
            data.clone(),
        );
        assert_eq!(by_mean.rankings[0].llm, "steady", "mean of spiky is 130.5");
        let by_p50 = rank_samples(
            &metric(Direction::Lower),
            Statistic::P50,
            Scope::all_time_exact(),
            data.clone(),
        );
        assert_eq!(by_p50.rankings[0].llm, "spiky");
        let by_p99 = rank_samples(
            &metric(Direction::Lower),
            Statistic::P99,
            Scope::all_time_exact(),
            data,
        );
        assert_eq!(by_p99.rankings[0].llm, "steady");
        assert_eq!(by_p99.by, Statistic::P99);
    }

    #[test]
    fn overlapping_intervals_are_tied_and_share_a_rank() {
        let data = vec![
            ("a".to_string(), spread(100.0, 50)),
            ("b".to_string(), spread(100.5, 50)),
            ("c".to_string(), spread(200.0, 50)),
            ("d".to_string(), spread(200.2, 50)),
            ("e".to_string(), spread(400.0, 50)),
        ];
        let r = rank_samples(
            &metric(Direction::Lower),
            Statistic::Mean,
            Scope::all_time_exact(),
            data,
        );
        assert_eq!(
            ranks(&r),
            [
                ("a", 1, true),
                ("b", 1, true),
                ("c", 3, true),
                ("d", 3, true),
                ("e", 5, false)
            ]
        );
        // Two groups and a loner: each group is known by its first position.
        let groups: Vec<u32> = r.rankings.iter().map(|e| e.tie_group).collect();
        assert_eq!(groups, [1, 1, 3, 3, 5]);
    }

    #[test]
    fn a_chain_of_overlaps_does_not_make_the_last_equal_to_the_first() {
        // a~b and b~c overlap, a and c do not: all tied, but c ranks below a.
        let data = vec![
            ("a".to_string(), spread(100.0, 50)),
            ("b".to_string(), spread(101.2, 50)),
            ("c".to_string(), spread(102.4, 50)),
        ];
        let r = rank_samples(
            &metric(Direction::Lower),
            Statistic::Mean,
            Scope::all_time_exact(),
            data,
        );
        assert_eq!(ranks(&r), [("a", 1, true), ("b", 1, true), ("c", 2, true)]);
        // One group for the chain, though its ranks differ.
        assert!(r.rankings.iter().all(|e| e.tie_group == 1));
        let data = vec![
            ("a".to_string(), spread(102.4, 50)),
            ("b".to_string(), spread(101.2, 50)),
            ("c".to_string(), spread(100.0, 50)),
        ];
        let r = rank_samples(
            &metric(Direction::Higher),
            Statistic::Mean,
            Scope::all_time_exact(),
            data,
        );
        let ranks: Vec<_> = r.rankings.iter().map(|e| e.rank).collect();
        assert_eq!(ranks, [1, 1, 2]);
    }

    #[test]
    fn single_samples_have_null_spread_in_json_and_are_never_tied() {
        let data = vec![("a".to_string(), vec![1.0]), ("b".to_string(), vec![1.0])];
        let r = rank_samples(
            &metric(Direction::Lower),
            Statistic::Mean,
            Scope::all_time_exact(),
            data,
        );
        assert!(r.rankings.iter().all(|e| !e.tied));
        let json: serde_json::Value = serde_json::from_str(&r.render(Format::Json)).unwrap();
        let first = &json["rankings"][0];
        assert!(
            first["stddev"].is_null() && first["ci95"].is_null(),
            "{json}"
        );
        assert_eq!(first["llm_name"], "a");
        assert_eq!(first["avg_value"], 1.0);
        assert_eq!(json["direction"], "lower");
        let table = r.render(Format::Table);
        assert!(!table.contains("NaN"), "{table}");
    }

    #[test]
    fn bars_are_proportional_to_the_ordering_statistic() {
        assert_eq!(bar(10.0, 10.0, 4), "████");
        assert_eq!(bar(5.0, 10.0, 4), "██");
        assert_eq!(bar(1.0, 8.0, 1), "▏");
        assert_eq!(bar(0.0, 8.0, 4), "");
        let data = vec![
            ("a".to_string(), vec![10.0, 10.0]),
            ("b".to_string(), vec![5.0, 5.0]),
        ];
        let table = rank_samples(
            &metric(Direction::Higher),
            Statistic::Mean,
            Scope::all_time_exact(),
            data,
        )
        .render(Format::Table);
        let lines: Vec<&str> = table.lines().collect();
        // Title, what it covers, header, rule, rows.
        assert!(lines[1].starts_with("sources: "), "{table}");
        assert!(lines[2].trim_end().ends_with("mean"), "{table}");
        assert!(lines[4].ends_with(&"█".repeat(20)), "{table}");
        assert!(lines[5].ends_with(&"█".repeat(10)), "{table}");
    }

    #[test]
    fn csv_quotes_awkward_names() {
        let data = vec![("a, \"b\"".to_string(), vec![1.0, 2.0])];
        let csv = rank_samples(
            &metric(Direction::Lower),
            Statistic::Mean,
            Scope::all_time_exact(),
            data,
        )
        .render(Format::Csv);
        let line = csv.lines().nth(1).unwrap();
        assert!(line.starts_with("1,\"a, \"\"b\"\"\",2,1.5,1.5,"), "{line}");
        assert!(csv.starts_with("rank,llm,n,mean,p50,p90,p95,p99,"), "{csv}");
    }
}
