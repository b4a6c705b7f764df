//! Query strings: each route names the parameters it allows; anything else, a repeat or a bad
//! value is a 400 naming the parameter and what is allowed.

use super::error::ApiError;
use super::http::decode;
use crate::domain::RunFilter;
use crate::history;
use crate::stats::Statistic;
use crate::window;

/// The query string's parameters, checked against the ones a route allows.
#[derive(Debug, Default, PartialEq)]
pub struct Params {
    pub by: Option<Statistic>,
    pub window: window::Request,
    pub bucket: Option<history::Bucket>,
    pub llm: Option<String>,
    pub filter: RunFilter,
    pub include_reported: bool,
    pub limit: Option<i64>,
    /// The y metric of a trade-off chart.
    pub y: Option<String>,
    /// A chart's width in pixels.
    pub width: Option<u32>,
    /// The SLO of a goodput ranking, a capacity or a sweep.
    pub slo: Option<crate::slo::Slo>,
    /// The attainment target of a capacity, in (0, 1].
    pub attainment: Option<f64>,
    pub interpolate: bool,
    /// The interactivity (tokens/s per user) a sweep's throughputs are matched at.
    pub at_interactivity: Option<f64>,
    /// A comparison's sides.
    pub base: Option<crate::compare::Side>,
    pub cand: Option<crate::compare::Side>,
    /// The metrics a comparison covers (`metric` may repeat); none: every metric.
    pub metrics: Vec<String>,
    /// A comparison's thresholds.
    pub latency_threshold: Option<f64>,
    pub throughput_threshold: Option<f64>,
    /// The regression rule's baseline and minimum of points, in days.
    pub baseline: Option<u16>,
    pub min_points: Option<u16>,
}

impl Params {
    /// Parses `query`, accepting only `allowed` keys, each once; values are percent-decoded
    /// (a `+` stays a `+`, as in a time's offset).
    pub fn parse(query: &str, allowed: &[&str]) -> Result<Params, ApiError> {
        let mut p = Params::default();
        let mut seen = 0u32; // a bit per allowed key
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let Some((index, &key)) = allowed.iter().enumerate().find(|(_, a)| **a == k) else {
                let allowed = if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                };
                return Err(ApiError::BadRequest(format!(
                    "unknown query parameter {k:?}; allowed: {allowed}"
                )));
            };
            // `workload` may repeat (each adds a KEY=VALUE the runs must match), and `metric`.
            if seen & (1 << index) != 0 && key != "workload" && key != "metric" {
                return Err(ApiError::BadRequest(format!(
                    "query parameter {key:?} given twice"
                )));
            }
            seen |= 1 << index;
            let v = decode(v);
            let bad = |why: String| ApiError::BadRequest(format!("invalid {key}={v:?}: {why}"));
            match key {
                "by" => {
                    p.by = Some(Statistic::parse(&v).ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "invalid by={v:?}; allowed: {}",
                            Statistic::allowed()
                        ))
                    })?)
                }
                "window" => p.window.window = Some(window::parse_duration(&v).map_err(bad)?),
                "from" => p.window.from = Some(window::parse_rfc3339(&v).map_err(bad)?),
                "to" => p.window.to = Some(window::parse_rfc3339(&v).map_err(bad)?),
                "bucket" => p.bucket = Some(history::parse_bucket(&v).map_err(bad)?),
                "llm" => p.llm = Some(v.into_owned()),
                "source" => p.filter.add_sources(&v).map_err(ApiError::BadRequest)?,
                "workload" => p.filter.add_workload(&v).map_err(ApiError::BadRequest)?,
                "y" => p.y = Some(v.into_owned()),
                "base" | "cand" => {
                    let side = v
                        .parse()
                        .map_err(|e: String| ApiError::BadRequest(format!("{key}: {e}")))?;
                    if key == "base" {
                        p.base = Some(side);
                    } else {
                        p.cand = Some(side);
                    }
                }
                "metric" => p.metrics.push(v.into_owned()),
                "baseline" | "min_points" => {
                    let lo = if key == "baseline" { 1 } else { 2 };
                    let n = v
                        .parse::<u16>()
                        .ok()
                        .filter(|n| (lo..=365).contains(n))
                        .ok_or_else(|| bad(format!("allowed: {lo} to 365 (days)")))?;
                    if key == "baseline" {
                        p.baseline = Some(n);
                    } else {
                        p.min_points = Some(n);
                    }
                }
                "latency_threshold" | "throughput_threshold" => {
                    let t = v
                        .parse::<f64>()
                        .map_err(|_| bad("a ratio cand ÷ base, e.g. 1.2 or 0.8".into()))?;
                    if key == "latency_threshold" {
                        p.latency_threshold = Some(t);
                    } else {
                        p.throughput_threshold = Some(t);
                    }
                }
                "slo" => {
                    p.slo =
                        Some(v.parse().map_err(|e: String| {
                            ApiError::BadRequest(e.replacen("--slo", "slo", 1))
                        })?)
                }
                "width" => {
                    let (lo, hi) = (crate::plot::MIN_WIDTH, crate::plot::MAX_WIDTH);
                    p.width = Some(
                        v.parse::<u32>()
                            .ok()
                            .filter(|n| (lo..=hi).contains(n))
                            .ok_or_else(|| bad(format!("allowed: {lo} to {hi} (pixels)")))?,
                    )
                }
                "limit" => {
                    p.limit = Some(
                        v.parse::<i64>()
                            .ok()
                            .filter(|n| (1..=200).contains(n))
                            .ok_or_else(|| bad("allowed: 1 to 200".into()))?,
                    )
                }
                "attainment" => {
                    p.attainment = Some(
                        crate::sweep::parse_attainment(&v)
                            .map_err(|e| ApiError::BadRequest(e.replacen("--", "", 1)))?,
                    )
                }
                "at_interactivity" => {
                    p.at_interactivity =
                        Some(crate::sweep::parse_interactivity(&v).map_err(|e| {
                            ApiError::BadRequest(e.replacen("--at-interactivity", key, 1))
                        })?)
                }
                "interpolate" => {
                    p.interpolate = match v.as_ref() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(bad("allowed: true, false".into())),
                    }
                }
                "include_reported" => {
                    p.include_reported = match v.as_ref() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(bad("allowed: true, false".into())),
                    }
                }
                _ => {}
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_checked() {
        let all = ["by", "window", "from", "to"];
        assert_eq!(
            Params::parse("by=p95", &all).unwrap().by,
            Some(Statistic::P95)
        );
        assert_eq!(Params::parse("", &all).unwrap(), Params::default());
        assert!(Params::parse("by=p42", &all).is_err());
        assert!(Params::parse("sort=p99", &all).is_err());
        assert!(Params::parse("by=p99&by=p50", &all).is_err());
        let p = Params::parse("window=24h&to=2026-11-29T12:00:00%2B02:00", &all).unwrap();
        assert_eq!(p.window.window, Some(86_400));
        assert_eq!(
            p.window.to,
            window::parse_rfc3339("2026-11-29T10:00:00Z").ok()
        );
        // A literal `+` in an offset is kept, not read as a space.
        let p = Params::parse("from=2026-11-29T12:00:00+02:00", &all).unwrap();
        assert_eq!(
            p.window.from,
            window::parse_rfc3339("2026-11-29T10:00:00Z").ok()
        );
        let e = Params::parse("window=forever", &all).unwrap_err();
        assert!(format!("{e:?}").contains("window"), "{e:?}");
    }
}
