//! The verdicts on change, cached like every answer. `GET /compare?base=SIDE&cand=SIDE`: what
//! `llmrank compare` answers (a bad side, threshold or the same run on both sides is 400; a
//! side without data, or naming runs that do not exist, 404), and `GET /plot/compare` its
//! chart. `GET /regressions`: what `llmrank regressions` answers.

use bytes::Bytes;
use hyper::header::HeaderValue;

use super::cached::Asked;
use super::error::ApiError;
use super::http::Resp;
use super::params::Params;
use super::App;
use crate::compare::{Compared, Side};
use crate::db::catalogue::Catalogue;
use crate::domain::MetricInfo;
use crate::query::compare::{compare as compared, CompareAsk};
use crate::query::regressions::{regressions as judged, RegressionsAsk};
use crate::regress::{Rule, Thresholds};
use crate::stats::Statistic;
use crate::summary::HOUR;

/// A comparison asked through the API: its parts, the time it resolves its windows at, and
/// its cache key (chart or JSON alike).
struct Asking {
    base: Side,
    cand: Side,
    metrics: Vec<(i16, MetricInfo)>,
    by: Statistic,
    thresholds: Thresholds,
    now: i64,
    key: String,
}

/// The parameters a comparison reads (a chart also `width`).
const COMPARE_PARAMS: &[&str] = &[
    "base",
    "cand",
    "metric",
    "by",
    "latency_threshold",
    "throughput_threshold",
    "width",
];

fn asking(asked: &Asked<'_>, p: &Params) -> Result<Asking, ApiError> {
    let missing = |k: &str| {
        ApiError::BadRequest(format!(
            "{k} is required: a side such as run=12, window=7d,until=1d or workload=engine=vllm (keys: {})",
            crate::compare::SIDE_KEYS
        ))
    };
    let base = p.base.clone().ok_or_else(|| missing("base"))?;
    let cand = p.cand.clone().ok_or_else(|| missing("cand"))?;
    let thresholds = thresholds(p)?;
    let by = p.by.unwrap_or(Statistic::P50);
    let metrics = asked.metrics(&p.metrics)?;
    // Windows move with time: the key holds each side's resolved bounds as of this hour.
    let now = crate::window::now();
    let bounds = |s: &Side| {
        s.window(now)
            .resolve(now, HOUR)
            .map(|b| format!("{:?}-{:?}", b.from, b.to))
            .unwrap_or_default()
    };
    let key = {
        use sha2::Digest;
        let text = format!(
            "{:?}|{}|{}|{:?}|{}|{}|{:?}|{}|{}|{}",
            base.runs,
            base.filter.key(),
            bounds(&base),
            cand.runs,
            cand.filter.key(),
            bounds(&cand),
            metrics.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            by.as_str(),
            thresholds.latency,
            thresholds.throughput,
        );
        crate::hash::hex(&sha2::Sha256::digest(text)[..16])
    };
    Ok(Asking {
        base,
        cand,
        metrics,
        by,
        thresholds,
        now,
        key,
    })
}

/// The comparison, or the error the API answers: bad usage 400, missing data 404.
async fn compute(
    client: &tokio_postgres::Client,
    cat: &Catalogue,
    a: &Asking,
) -> Result<Compared, ApiError> {
    let ask = CompareAsk {
        base: &a.base,
        cand: &a.cand,
        metrics: &a.metrics,
        by: a.by,
        thresholds: a.thresholds,
    };
    match compared(client, cat, &ask, a.now).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(r)) if r.is_usage() => Err(ApiError::BadRequest(r.to_string())),
        Ok(Err(r)) => Err(ApiError::NoSamples(r.to_string())),
        Err(e) => Err(super::error::from_db(e)),
    }
}

pub async fn compare(
    app: &App,
    query: &str,
    if_none_match: Option<HeaderValue>,
) -> Result<Resp, ApiError> {
    let p = Params::parse(query, &COMPARE_PARAMS[..COMPARE_PARAMS.len() - 1])?;
    let asked = Asked::new(app, if_none_match);
    let a = asking(&asked, &p)?;
    asked
        .send_json(
            format!("compare.{}", a.key),
            "compare",
            async |client, cat| compute(client, cat, &a).await,
        )
        .await
}

/// `GET /plot/compare`: the comparison's chart (`plot::compare`) as SVG.
pub async fn plot_compare(
    app: &App,
    query: &str,
    if_none_match: Option<HeaderValue>,
) -> Result<Resp, ApiError> {
    let p = Params::parse(query, COMPARE_PARAMS)?;
    let width = p.width.unwrap_or(crate::plot::DEFAULT_WIDTH);
    let asked = Asked::new(app, if_none_match);
    let a = asking(&asked, &p)?;
    asked
        .send(
            format!("plot.compare.{width}.{}", a.key),
            "image/svg+xml",
            "plot",
            async |client, cat| {
                let c = compute(client, cat, &a).await?;
                let svg = crate::plot::compare(&c, crate::plot::clamp_width(width));
                Ok(Bytes::from(super::answers::strip_style(&svg)))
            },
        )
        .await
}

/// The thresholds asked (the defaults where not), checked.
fn thresholds(p: &Params) -> Result<Thresholds, ApiError> {
    let defaults = Thresholds::default();
    Thresholds::new(
        p.latency_threshold.unwrap_or(defaults.latency),
        p.throughput_threshold.unwrap_or(defaults.throughput),
    )
    .map_err(ApiError::BadRequest)
}

pub async fn regressions(
    app: &App,
    query: &str,
    if_none_match: Option<HeaderValue>,
) -> Result<Resp, ApiError> {
    let p = Params::parse(
        query,
        &[
            "window",
            "metric",
            "source",
            "workload",
            "baseline",
            "min_points",
            "latency_threshold",
            "throughput_threshold",
        ],
    )?;
    let defaults = Rule::default();
    let rule = Rule {
        thresholds: thresholds(&p)?,
        baseline: p.baseline.map_or(defaults.baseline, usize::from),
        min_points: p.min_points.map_or(defaults.min_points, usize::from),
    };
    let window = crate::regressions::days(
        p.window
            .window
            .unwrap_or(crate::regressions::DEFAULT_WINDOW_SECS),
        crate::window::now(),
    )?;
    let asked = Asked::new(app, if_none_match);
    let metrics = asked.metrics(&p.metrics)?;
    let key = {
        use sha2::Digest;
        let text = format!(
            "{:?}|{}|{:?}|{:?}",
            (window.from, window.to),
            p.filter.key(),
            metrics.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            rule,
        );
        let digest = sha2::Sha256::digest(text);
        format!("regressions.{}", crate::hash::hex(&digest[..16]))
    };
    let filter = &p.filter;
    asked
        .send_json(key, "regressions", async |client, cat| {
            let ask = RegressionsAsk {
                window: &window,
                filter,
                metrics: &metrics,
                rule,
            };
            match judged(client, cat, &ask).await {
                Ok(Ok(r)) => Ok(r),
                Ok(Err(_)) => Err(ApiError::NoSamples(
                    "no runs match this source/workload filter; GET /workloads lists them".into(),
                )),
                Err(e) => Err(super::error::from_db(e)),
            }
        })
        .await
}
