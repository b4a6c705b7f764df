//! A metric's history: per LLM, one point (n, mean, p50, p90, p95, p99) per hour or day, from
//! the summaries. Pure: the rows come in, the JSON, table or CSV goes out.

use serde::{Deserialize, Serialize};

use crate::domain::MetricInfo;
use crate::domain::{Covered, Direction};
use crate::ranking::Format;
use crate::summary::{Summary, DAY, HOUR};
use crate::table::{self, Align};
use crate::window::{ceil, floor, rfc3339, Bounds, WindowError, WindowJson};

/// The JSON object of `history --format json` and `GET /history/{metric}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub metric: String,
    pub unit: String,
    pub direction: Direction,
    /// `1h` or `1d`.
    pub bucket: String,
    pub window: WindowJson,
    /// Percentiles' relative error bound (they come from sketches).
    pub percentile_relative_error: f64,
    /// The sources and how many workloads the history covers.
    #[serde(flatten)]
    pub covered: Covered,
    /// One series per LLM with data in the window, by name.
    pub series: Vec<Series>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub llm: String,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Start of the bucket (RFC 3339).
    pub time: String,
    pub n: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
}

/// A history's bucket as asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Seconds: one of the sizes the summaries hold.
    Fixed(i64),
    /// The trend's rule: see [`trend_bounds`].
    Auto,
}

/// `1h` → 3600, `1d` → 86400 (the bucket sizes the summaries hold), or `auto`.
pub fn parse_bucket(s: &str) -> Result<Bucket, String> {
    match s {
        "1h" => Ok(Bucket::Fixed(HOUR)),
        "1d" => Ok(Bucket::Fixed(DAY)),
        "auto" => Ok(Bucket::Auto),
        _ => Err(format!("invalid bucket {s:?}; allowed: 1h, 1d, auto")),
    }
}

/// How a history's bounds and bucket are found: from the request alone, or (all time in the
/// trend's bucket) once the first day with data is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Fixed(Bounds, i64),
    AllTime,
}

impl Plan {
    /// The plan for `req` in `bucket`: a fixed bucket over the default window when none is
    /// given; `auto` over the window given, or all time.
    pub fn of(req: &crate::window::Request, bucket: Bucket, now: i64) -> Result<Plan, WindowError> {
        match bucket {
            Bucket::Auto if req.is_empty() => Ok(Plan::AllTime),
            // Checked against the buckets once narrowed to the time that holds data.
            Bucket::Auto | Bucket::Fixed(_) => {
                let mut req = *req;
                // No start given: the default window (ending at `to` when given).
                if req.window.is_none() && req.from.is_none() {
                    req.window = Some(DEFAULT_WINDOW);
                }
                let bucket = match bucket {
                    Bucket::Fixed(b) => b,
                    Bucket::Auto => trend_bucket(&req, now),
                };
                Ok(Plan::Fixed(req.resolve(now, bucket)?, bucket))
            }
        }
    }

    /// The bounds and bucket, `first` being the first day with data of the metric. A fixed
    /// window is narrowed to the time that can hold data (from the first day with data to
    /// the next day): buckets with no data are not answered anyway, and a window asked from
    /// year 2000 in hours stays within [`MAX_POINTS`] while the data do.
    pub fn resolve(self, first: Option<i64>, now: i64) -> Result<(Bounds, i64), WindowError> {
        match self {
            Plan::Fixed(b, bucket) => {
                let (Some(from), Some(to)) = (b.from, b.to) else {
                    return Err(unbounded());
                };
                let start = first.map_or(to, |f| from.max(floor(f, bucket)));
                let end = to.min(ceil(now, bucket) + DAY).max(start);
                let clipped = Bounds {
                    from: Some(start),
                    to: Some(end),
                };
                Ok((clamp_points(&clipped, bucket)?, bucket))
            }
            Plan::AllTime => trend_bounds(&crate::window::Request::default(), first, now),
        }
    }

    /// What a cache key says of it: the bounds and bucket, or all time (`*-*`, bucket 0), which
    /// the data version keeps fresh.
    pub fn key_parts(self) -> (Bounds, i64) {
        match self {
            Plan::Fixed(b, bucket) => (b, bucket),
            Plan::AllTime => (Bounds::ALL_TIME, 0),
        }
    }
}

/// The bucket a trend over `req` is drawn in: hours for windows up to a week (a request
/// without bounds stands for the default window), days beyond.
pub fn trend_bucket(req: &crate::window::Request, now: i64) -> i64 {
    let span = match (req.window, req.from) {
        (Some(w), _) => w,
        (None, Some(f)) => req.to.unwrap_or(now) - f,
        (None, None) => DEFAULT_WINDOW,
    };
    if span <= 7 * DAY {
        HOUR
    } else {
        DAY
    }
}

/// A trend's bounds and bucket (`bucket=auto`): the window asked for, or with none all time,
/// from the first day with data (`first`, Unix seconds; else the default window), in the
/// bucket [`trend_bucket`] picks for its span.
pub fn trend_bounds(
    req: &crate::window::Request,
    first: Option<i64>,
    now: i64,
) -> Result<(crate::window::Bounds, i64), WindowError> {
    let req = if req.is_empty() {
        crate::window::Request {
            from: Some(first.unwrap_or(now - DEFAULT_WINDOW)),
            ..Default::default()
        }
    } else {
        *req
    };
    let bucket = trend_bucket(&req, now);
    let bounds = req.resolve(now, bucket)?;
    Ok((clamp_points(&bounds, bucket)?, bucket))
}

pub fn bucket_name(secs: i64) -> &'static str {
    if secs == DAY {
        "1d"
    } else {
        "1h"
    }
}

/// Most points a history answers per LLM; a longer window keeps its most recent ones.
pub const MAX_POINTS: i64 = 5_000;

/// The window when none is given: the last 7 days.
pub const DEFAULT_WINDOW: i64 = 7 * DAY;

/// A bounded window of at most [`MAX_POINTS`] buckets: a longer one keeps its most recent
/// [`MAX_POINTS`] (the answer's window says which), so no data makes a history unanswerable.
pub fn clamp_points(window: &Bounds, bucket_secs: i64) -> Result<Bounds, WindowError> {
    match (window.from, window.to) {
        (Some(f), Some(t)) => Ok(Bounds {
            from: Some(f.max(t.saturating_sub(MAX_POINTS * bucket_secs))),
            to: Some(t),
        }),
        _ => Err(unbounded()),
    }
}

fn unbounded() -> WindowError {
    WindowError::Conflict("a history needs a bounded window (window, or from and to)".into())
}

/// Builds the history from (LLM id, bucket start, summary) rows ordered by LLM and time.
pub fn build(
    info: &MetricInfo,
    bucket_secs: i64,
    window: &Bounds,
    rows: Vec<(i16, i64, Summary)>,
    name: impl Fn(i16) -> String,
) -> History {
    let mut series: Vec<Series> = Vec::new();
    let mut last: Option<i16> = None;
    for (id, start, s) in rows {
        if last != Some(id) {
            series.push(Series {
                llm: name(id),
                points: Vec::new(),
            });
            last = Some(id);
        }
        let d = s.describe();
        if let Some(cur) = series.last_mut() {
            cur.points.push(Point {
                time: rfc3339(start),
                n: d.n,
                mean: d.mean,
                p50: d.p50,
                p90: d.p90,
                p95: d.p95,
                p99: d.p99,
            });
        }
    }
    series.sort_by(|a, b| a.llm.cmp(&b.llm));
    History {
        metric: info.name.clone(),
        unit: info.unit.clone(),
        direction: info.direction,
        bucket: bucket_name(bucket_secs).to_string(),
        window: window.to_json(),
        percentile_relative_error: crate::summary::ALPHA,
        covered: Covered::default(),
        series,
    }
}

impl History {
    pub fn render(&self, format: Format) -> String {
        self.render_fit(format, None)
    }

    /// As [`History::render`], the table fitted to `width` characters when given.
    pub fn render_fit(&self, format: Format, width: Option<usize>) -> String {
        match format {
            Format::Json => {
                let mut s = serde_json::to_string_pretty(self)
                    .expect("a history holds only strings and numbers");
                s.push('\n');
                s
            }
            Format::Csv => {
                let mut out = String::from("time,llm,n,mean,p50,p90,p95,p99\n");
                for s in &self.series {
                    for p in &s.points {
                        out.push_str(&format!(
                            "{},{},{},{},{},{},{},{}\n",
                            p.time,
                            crate::ranking::csv_field(&s.llm),
                            p.n,
                            p.mean,
                            p.p50,
                            p.p90,
                            p.p95,
                            p.p99
                        ));
                    }
                }
                out
            }
            Format::Table => {
                let num = |x: f64| format!("{x:.2}");
                let mut rows = vec![["time", "LLM", "n", "mean", "p50", "p90", "p99"]
                    .map(String::from)
                    .to_vec()];
                for s in &self.series {
                    for p in &s.points {
                        rows.push(vec![
                            p.time.clone(),
                            s.llm.clone(),
                            p.n.to_string(),
                            num(p.mean),
                            num(p.p50),
                            num(p.p90),
                            num(p.p99),
                        ]);
                    }
                }
                let mut align = [Align::Right; 7];
                align[0] = Align::Left;
                align[1] = Align::Left;
                let window = self.window.describe();
                let mut head = format!(
                    "{} ({}, {} is better), per {} bucket, {window}\n",
                    self.metric,
                    self.unit,
                    self.direction.as_str(),
                    if self.bucket == "1d" { "day" } else { "hour" }
                );
                head.push_str(&self.covered.describe());
                head.push('\n');
                let mut out = table::wrap(&head, width);
                if self.series.is_empty() {
                    out.push_str("no samples in this window\n");
                } else {
                    let shape = table::Shape {
                        names: 1,
                        droppable: &[5], // p90
                    };
                    out.push_str(&table::render_fit(&rows, &align, width, shape));
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trends_are_hourly_up_to_a_week_and_daily_beyond() {
        let req = |window, from, to| crate::window::Request { window, from, to };
        let now = 100 * DAY;
        assert_eq!(trend_bucket(&req(None, None, None), now), HOUR);
        assert_eq!(trend_bucket(&req(Some(7 * DAY), None, None), now), HOUR);
        assert_eq!(trend_bucket(&req(Some(8 * DAY), None, None), now), DAY);
        assert_eq!(trend_bucket(&req(None, Some(now - DAY), None), now), HOUR);
        assert_eq!(
            trend_bucket(&req(None, Some(now - 30 * DAY), Some(now)), now),
            DAY
        );
    }

    #[test]
    fn a_trend_over_all_time_starts_at_the_first_day_with_data() {
        let now = 100 * DAY + 5 * HOUR;
        let all = crate::window::Request::default();
        // A day and a bit of data: hourly, from that day's start to the end of this hour.
        let (b, bucket) = trend_bounds(&all, Some(99 * DAY), now).unwrap();
        assert_eq!(bucket, HOUR);
        assert_eq!((b.from, b.to), (Some(99 * DAY), Some(now + HOUR)));
        // A month of data: daily.
        let (b, bucket) = trend_bounds(&all, Some(70 * DAY), now).unwrap();
        assert_eq!((bucket, b.from), (DAY, Some(70 * DAY)));
        // No data yet: the default window.
        let (b, bucket) = trend_bounds(&all, None, now).unwrap();
        assert_eq!(bucket, HOUR);
        assert_eq!(b.from, Some(now - DEFAULT_WINDOW));
        // A window asked for wins over the data's start.
        let day = crate::window::Request {
            window: Some(DAY),
            ..Default::default()
        };
        let (b, bucket) = trend_bounds(&day, Some(10 * DAY), now).unwrap();
        assert_eq!((bucket, b.from), (HOUR, Some(now + HOUR - DAY)));
        // Data older than MAX_POINTS days: the most recent MAX_POINTS days, not a refusal.
        let (b, bucket) = trend_bounds(&all, Some(-6_000 * DAY), now).unwrap();
        assert_eq!(bucket, DAY);
        assert_eq!(
            b.to.zip(b.from).map(|(t, f)| (t - f) / DAY),
            Some(MAX_POINTS)
        );
    }

    #[test]
    fn a_plan_is_fixed_by_the_request_unless_auto_over_all_time() {
        let now = 100 * DAY;
        let none = crate::window::Request::default();
        let day = crate::window::Request {
            window: Some(DAY),
            ..Default::default()
        };
        // A fixed bucket with no window: the default window.
        let Plan::Fixed(b, bucket) = Plan::of(&none, Bucket::Fixed(DAY), now).unwrap() else {
            panic!("fixed")
        };
        assert_eq!((b.from, bucket), (Some(now + DAY - DEFAULT_WINDOW), DAY));
        assert_eq!(Plan::of(&none, Bucket::Auto, now), Ok(Plan::AllTime));
        assert_eq!(
            Plan::of(&day, Bucket::Auto, now).unwrap().key_parts().1,
            HOUR
        );
        assert_eq!(Plan::AllTime.key_parts(), (Bounds::ALL_TIME, 0));
        let (b, _) = Plan::AllTime.resolve(Some(now - 3 * DAY), now).unwrap();
        assert_eq!(b.from, Some(now - 3 * DAY));
        let long = crate::window::Request {
            window: Some(6_000 * DAY),
            ..Default::default()
        };
        // 6,000 days asked over data that span them: the most recent 5,000 days...
        let plan = Plan::of(&long, Bucket::Fixed(DAY), now).unwrap();
        let (b, _) = plan.resolve(Some(now - 5_900 * DAY), now).unwrap();
        assert_eq!(
            b.to.zip(b.from).map(|(t, f)| (t - f) / DAY),
            Some(MAX_POINTS)
        );
        // ...but narrowed to the days that hold data when they do not.
        let (b, _) = plan.resolve(Some(now - 3 * DAY), now).unwrap();
        assert_eq!(b.from, Some(now - 3 * DAY));
        // `to` alone: the default window before it.
        let to = crate::window::Request {
            to: Some(now - 10 * DAY),
            ..Default::default()
        };
        let Plan::Fixed(b, _) = Plan::of(&to, Bucket::Fixed(HOUR), now).unwrap() else {
            panic!("fixed")
        };
        assert_eq!(b.to.zip(b.from).map(|(t, f)| t - f), Some(DEFAULT_WINDOW));
        assert_eq!(parse_bucket("auto"), Ok(Bucket::Auto));
        assert!(parse_bucket("2h").unwrap_err().contains("1h, 1d, auto"));
    }

    #[test]
    fn series_group_by_llm_in_time_order() {
        let info = MetricInfo {
            name: "TTFT".into(),
            unit: "ms".into(),
            direction: Direction::Lower,
        };
        let rows = vec![
            (2, 0, Summary::of(&[1.0, 3.0])),
            (2, 3_600, Summary::of(&[5.0])),
            (1, 3_600, Summary::of(&[7.0])),
        ];
        let h = build(&info, HOUR, &Bounds::ALL_TIME, rows, |id| {
            format!("llm{id}")
        });
        assert_eq!(h.series.len(), 2);
        assert_eq!(h.series[0].llm, "llm1");
        assert_eq!(h.series[1].points.len(), 2);
        assert_eq!(h.series[1].points[0].mean, 2.0);
        assert_eq!(h.series[1].points[1].time, "1970-01-01T01:00:00Z");
        let csv = h.render(Format::Csv);
        assert_eq!(csv.lines().count(), 4);
        assert!(h.render(Format::Table).contains("llm2"));
        assert_eq!(parse_bucket("1d"), Ok(Bucket::Fixed(DAY)));
        assert!(parse_bucket("5m").is_err());
    }
}
