//! `regressions`: every LLM × metric × workload's daily median series, each point judged
//! against the points before it by [`crate::regress::classify`], and its tables and JSON. Pure,
//! no I/O: the series come from the day summaries ([`crate::query::regressions`]).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::{Direction, MetricInfo};
use crate::regress::{classify, Point, Rule, Verdict};
use crate::table::{self, Align};
use crate::window::{rfc3339, WindowJson};

/// The days judged unless asked otherwise (CLI, API and the gauges alike).
pub const DEFAULT_WINDOW_SECS: i64 = 30 * crate::summary::DAY;

/// The whole days of the last `secs` as of `now` (Unix seconds), today included: the window
/// a series of daily medians is read over.
pub fn days(secs: i64, now: i64) -> Result<crate::window::Bounds, crate::window::WindowError> {
    crate::window::Request {
        window: Some(secs),
        ..Default::default()
    }
    .resolve(now, crate::summary::DAY)
}

/// Output formats of `regressions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// One day of a series: its median (with the 95% interval over its requests), its ratio to
/// the baseline and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesPoint {
    pub time: String,
    pub median: f64,
    pub n: u64,
    pub ci95: Option<[f64; 2]>,
    /// The median ÷ the baseline (the median of the points before, frozen while a run of
    /// violations lasts); null for the first point.
    pub ratio: Option<f64>,
    pub verdict: Verdict,
}

/// One LLM × metric × workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub llm: String,
    pub metric: String,
    pub unit: String,
    pub direction: Direction,
    pub workload: String,
    /// The latest point's verdict that is not `noisy` (`insufficient_data` below the minimum
    /// of points).
    pub verdict: Verdict,
    /// Where the latest run of regressed points began, when the series is regressed.
    pub since: Option<String>,
    pub points: Vec<SeriesPoint>,
}

/// The rule in an answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RuleJson {
    pub latency_threshold: f64,
    pub throughput_threshold: f64,
    pub baseline_points: usize,
    pub min_points: usize,
    pub confirm_points: usize,
}

/// Every series judged, the worst first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regressions {
    pub window: WindowJson,
    pub bucket: &'static str,
    pub rule: RuleJson,
    /// How many series had each verdict.
    pub verdicts: BTreeMap<&'static str, usize>,
    pub series: Vec<Series>,
}

/// One series before judgement: its names and its days (start, the day's summary).
pub struct Days<'a> {
    pub llm: String,
    pub metric: &'a MetricInfo,
    pub workload: String,
    pub days: Vec<(i64, &'a crate::summary::Summary)>,
}

/// The order series are listed in: what needs a look first.
fn severity(v: Verdict) -> u8 {
    match v {
        Verdict::Regressed => 0,
        Verdict::Suspicious => 1,
        Verdict::Noisy => 2,
        Verdict::Improved => 3,
        Verdict::Unchanged => 4,
        Verdict::InsufficientData => 5,
    }
}

impl Regressions {
    /// Judges each series' daily medians by `rule`. A day whose median has no interval (a
    /// single request) is left out: one request is not a day's median.
    pub fn of(window: WindowJson, rule: Rule, input: Vec<Days<'_>>) -> Regressions {
        let mut series: Vec<Series> = input.into_iter().map(|d| judge(d, rule)).collect();
        series.sort_by(|a, b| {
            severity(a.verdict)
                .cmp(&severity(b.verdict))
                .then_with(|| a.metric.cmp(&b.metric))
                .then_with(|| a.llm.cmp(&b.llm))
                .then_with(|| a.workload.cmp(&b.workload))
        });
        let verdicts = crate::regress::tally(series.iter().map(|s| s.verdict));
        Regressions {
            window,
            bucket: "day",
            rule: RuleJson {
                latency_threshold: rule.thresholds.latency,
                throughput_threshold: rule.thresholds.throughput,
                baseline_points: rule.baseline,
                min_points: rule.min_points,
                confirm_points: 2,
            },
            verdicts,
            series,
        }
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => {
                let mut s = serde_json::to_string_pretty(self)
                    .expect("regressions hold only strings and numbers");
                s.push('\n');
                s
            }
            Format::Table => self.table(),
        }
    }

    fn table(&self) -> String {
        let head = format!(
            "daily medians over {}; regressed: {} in a row past {} (latency) or {} (throughput) of the median of the {} days before; {}\n",
            self.window.describe(),
            self.rule.confirm_points,
            self.rule.latency_threshold,
            self.rule.throughput_threshold,
            self.rule.baseline_points,
            crate::regress::tally_text(&self.verdicts, "no series")
        );
        let mut rows = vec![[
            "verdict", "llm", "metric", "workload", "days", "latest", "ratio", "since",
        ]
        .map(String::from)
        .to_vec()];
        for s in &self.series {
            let last = s.points.last();
            rows.push(vec![
                s.verdict.as_str().to_string(),
                s.llm.clone(),
                s.metric.clone(),
                s.workload.clone(),
                s.points.len().to_string(),
                last.map_or("-".into(), |p| format!("{:.2}", p.median)),
                last.and_then(|p| p.ratio)
                    .map_or("-".into(), |r| format!("{r:.3}")),
                s.since.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        let align = [
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Right,
            Align::Right,
            Align::Right,
            Align::Left,
        ];
        format!("{head}{}", table::render(&rows, &align))
    }
}

/// The gauges' value of a verdict: 2 regressed, 1 suspicious, 0 unchanged or noisy, −1
/// improved; none for insufficient data (no series is exported then).
pub fn state(v: Verdict) -> Option<i8> {
    match v {
        Verdict::Regressed => Some(2),
        Verdict::Suspicious => Some(1),
        Verdict::Unchanged | Verdict::Noisy => Some(0),
        Verdict::Improved => Some(-1),
        Verdict::InsufficientData => None,
    }
}

/// A Prometheus label value: backslash, double quote and line feed escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Regressions {
    /// The Prometheus exposition of the latest verdicts, at most `max` series (the worst
    /// first, as listed): each series' state, its latest ratio, when its regression began (for
    /// annotations), and how many series were left out.
    pub fn exposition(&self, max: usize) -> String {
        use crate::telemetry::{
            REGRESSION_DROPPED, REGRESSION_RATIO, REGRESSION_SINCE, REGRESSION_STATE,
        };
        let exported: Vec<(&Series, i8)> = self
            .series
            .iter()
            .filter_map(|s| Some((s, state(s.verdict)?)))
            .collect();
        let dropped = exported.len().saturating_sub(max);
        let kept = &exported[..exported.len().min(max)];
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, values: Vec<(String, String)>| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
            for (labels, v) in values {
                out.push_str(&format!("{name}{labels} {v}\n"));
            }
        };
        let labels = |s: &Series| {
            format!(
                "{{llm=\"{}\",metric=\"{}\",workload=\"{}\"}}",
                label(&s.llm),
                label(&s.metric),
                label(&s.workload)
            )
        };
        gauge(
            REGRESSION_STATE,
            "Latest daily-median verdict per LLM, metric and workload: 2 regressed, 1 suspicious, 0 unchanged, -1 improved (absent: too few days).",
            kept.iter().map(|(s, v)| (labels(s), v.to_string())).collect(),
        );
        gauge(
            REGRESSION_RATIO,
            "The latest day's median divided by its baseline (the median of the days before).",
            kept.iter()
                .filter_map(|(s, _)| Some((labels(s), s.points.last()?.ratio?.to_string())))
                .collect(),
        );
        gauge(
            REGRESSION_SINCE,
            "When the current regression began, Unix seconds (regressed series only).",
            kept.iter()
                .filter_map(|(s, _)| {
                    let t = crate::window::parse_rfc3339(s.since.as_deref()?).ok()?;
                    Some((labels(s), t.to_string()))
                })
                .collect(),
        );
        gauge(
            REGRESSION_DROPPED,
            "Series left out beyond server.regression_series_max (the least severe).",
            vec![(String::new(), dropped.to_string())],
        );
        out
    }
}

fn judge(d: Days<'_>, rule: Rule) -> Series {
    // Each day's median and its interval only (not every statistic of the day).
    let mut kept: Vec<(i64, f64, u64, [f64; 2])> = Vec::with_capacity(d.days.len());
    for (day, s) in d.days {
        if let Some(ci) = crate::stats::percentile_ci95(s, 0.5) {
            kept.push((day, crate::stats::percentile(s, 0.5), s.moments.n, ci));
        }
    }
    let points: Vec<Point> = kept
        .iter()
        .map(|(_, median, _, ci)| Point {
            value: *median,
            ci: Some(*ci),
        })
        .collect();
    let (verdict, classified) = classify(&points, d.metric.direction, rule);
    let points: Vec<SeriesPoint> = kept
        .iter()
        .zip(&classified)
        .map(|((day, median, n, ci), c)| SeriesPoint {
            time: rfc3339(*day),
            median: *median,
            n: *n,
            ci95: Some(*ci),
            ratio: c.ratio,
            verdict: c.verdict,
        })
        .collect();
    // The first day of the last run of regressed days (noisy days may follow it).
    let since = (verdict == Verdict::Regressed)
        .then(|| {
            let end = points
                .iter()
                .rposition(|p| p.verdict == Verdict::Regressed)?;
            let start = points[..end]
                .iter()
                .rposition(|p| p.verdict != Verdict::Regressed)
                .map_or(0, |i| i + 1);
            points.get(start).map(|p| p.time.clone())
        })
        .flatten();
    Series {
        llm: d.llm,
        metric: d.metric.name.clone(),
        unit: d.metric.unit.clone(),
        direction: d.metric.direction,
        workload: d.workload,
        verdict,
        since,
        points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::Summary;

    fn day(values: impl Iterator<Item = f64>) -> Summary {
        Summary::of(&values.collect::<Vec<_>>())
    }

    #[test]
    fn a_step_in_the_daily_medians_is_regressed_from_the_day_it_began() {
        let metric = MetricInfo {
            name: "TTFT".into(),
            unit: "ms".into(),
            direction: Direction::Lower,
        };
        // Ten days of 400 requests each, the last three 40% slower; one lone request a day
        // is not a point.
        let days: Vec<Summary> = (0..10)
            .map(|d| {
                let f = if d >= 7 { 1.4 } else { 1.0 };
                day((0..400).map(move |i| f * (100.0 + (i % 50) as f64)))
            })
            .collect();
        let lone = day(std::iter::once(500.0));
        let mut input: Vec<(i64, &Summary)> = days
            .iter()
            .enumerate()
            .map(|(d, s)| (d as i64 * 86_400, s))
            .collect();
        input.push((10 * 86_400, &lone));
        let r = Regressions::of(
            WindowJson::default(),
            Rule::default(),
            vec![Days {
                llm: "GPT-4o".into(),
                metric: &metric,
                workload: "simulate".into(),
                days: input,
            }],
        );
        let s = &r.series[0];
        assert_eq!(s.verdict, Verdict::Regressed);
        assert_eq!(s.points.len(), 10);
        assert_eq!(s.since.as_deref(), Some(rfc3339(7 * 86_400).as_str()));
        let v: Vec<Verdict> = s.points.iter().map(|p| p.verdict).collect();
        assert!(v[..7].iter().all(|&x| x == Verdict::Unchanged), "{v:?}");
        assert!(v[7..].iter().all(|&x| x == Verdict::Regressed), "{v:?}");
        let ratio = s.points[8].ratio.unwrap();
        assert!((ratio - 1.4).abs() < 0.02, "{ratio}");
        assert_eq!(r.verdicts.get("regressed"), Some(&1));
        let json: serde_json::Value = serde_json::from_str(&r.render(Format::Json)).unwrap();
        assert_eq!(json["series"][0]["points"][9]["verdict"], "regressed");
        assert!(r.render(Format::Table).contains("regressed  GPT-4o"));
    }
}
