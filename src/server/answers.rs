//! Cached answers: `GET /ranking/{metric}`, `/goodput`, `/capacity`, `/sweep/{metric}`,
//! `/history/{metric}` and `/plot/{kind}/{metric}`. Each checks its parameters, names its cache
//! key and computes on a miss (`crate::query`, the read path the CLI shares); `cached` does the
//! rest (ETags, memory, Redis, one computation per key).

use std::fmt::Write as _;

use bytes::Bytes;
use hyper::header::HeaderValue;

use super::cached::{bounds_key, filter_key, Asked, KEY_CAPACITY};
use super::error::{from_db, ApiError};
use super::http::Resp;
use super::params::Params;
use super::App;
use crate::db::catalogue::Catalogue;
use crate::domain::{MetricInfo, RunFilter};
use crate::history;
use crate::ranking::{self, Ranking};
use crate::stats::Statistic;
use crate::summary::HOUR;
use crate::window::{self, Bounds};

/// The bounds and bucket of `plan` (reading the first day with data for all time).
async fn history_bounds(
    client: &tokio_postgres::Client,
    plan: history::Plan,
    metric_id: i16,
    llm: Option<i16>,
    filter: &RunFilter,
) -> Result<(Bounds, i64), ApiError> {
    crate::query::history_bounds(client, plan, metric_id, llm, filter)
        .await
        .map_err(from_db)?
        .map_err(ApiError::from)
}

/// The ranking asked for, from the summaries.
fn ask<'a>(
    metric: (i16, &'a MetricInfo),
    by: Statistic,
    window: &'a Bounds,
    filter: &'a RunFilter,
    include_reported: bool,
) -> crate::query::Ask<'a> {
    crate::query::Ask {
        metric_id: metric.0,
        info: metric.1,
        by,
        window,
        method: ranking::Method::Summary,
        filter,
        include_reported,
    }
}

/// A checked ranking request: what its answer depends on, and its cache key.
struct RankingAsk<'a> {
    asked: Asked<'a>,
    by: Statistic,
    bounds: Bounds,
    params: Params,
    key: String,
}

impl<'a> RankingAsk<'a> {
    fn new(
        app: &'a App,
        metric: &str,
        query: &str,
        if_none_match: Option<HeaderValue>,
    ) -> Result<RankingAsk<'a>, ApiError> {
        let params = Params::parse(
            query,
            &[
                "by",
                "window",
                "from",
                "to",
                "source",
                "workload",
                "include_reported",
            ],
        )?;
        let by = params.by.unwrap_or(Statistic::Mean);
        // All time, the common ask, needs no clock.
        let bounds = if params.window == window::Request::default() {
            Bounds::ALL_TIME
        } else {
            params.window.resolve(window::now(), HOUR)?
        };
        let asked = Asked::new(app, if_none_match);
        let (metric_id, _) = asked.metric(metric)?;
        // Windowed answers are keyed by their resolved bounds: a window moves on as time passes.
        let mut key = String::with_capacity(KEY_CAPACITY);
        let _ = write!(
            key,
            "ranking.{metric_id}.{}.{}.{}",
            by.as_str(),
            bounds_key(&bounds),
            filter_key(&params.filter, params.include_reported)
        );
        Ok(RankingAsk {
            asked,
            by,
            bounds,
            params,
            key,
        })
    }
}

/// `GET /ranking/{metric}` when it needs no waiting: a client error, a 304, or the answer in
/// memory. `None`: it must be computed (or read from Redis), by [`ranking`].
pub fn ranking_at_once(
    app: &App,
    metric: &str,
    query: &str,
    if_none_match: Option<&HeaderValue>,
) -> Option<Result<Resp, ApiError>> {
    match RankingAsk::new(app, metric, query, if_none_match.cloned()) {
        Ok(r) => r.asked.at_once(&r.key, "application/json").map(Ok),
        Err(e) => Some(Err(e)),
    }
}

pub async fn ranking(
    app: &App,
    metric: &str,
    query: &str,
    if_none_match: Option<HeaderValue>,
) -> Result<Resp, ApiError> {
    let RankingAsk {
        asked,
        by,
        bounds,
        params,
        key,
    } = RankingAsk::new(app, metric, query, if_none_match)?;
    let ask = ask(
        asked.metric(metric)?,
        by,
        &bounds,
        &params.filter,
        params.include_reported,
    );
    asked
        .send_json(key, "ranking", async |client, cat| {
            ranked(client, cat, &ask).await
        })
        .await
}

pub async fn history(
    app: &App,
    metric: &str,
    query: &str,
    if_none_match: Option<HeaderValue>,
) -> Result<Resp, ApiError> {
    let p = Params::parse(
        query,
        &[
            "bucket", "window", "from", "to", "llm", "source", "workload",
        ],
    )?;
    let bucket = p.bucket.unwrap_or(history::Bucket::Fixed(HOUR));
    let plan = history::Plan::of(&p.window, bucket, window::now())?;
    let (bounds, bucket) = plan.key_parts();
    let asked = Asked::new(app, if_none_match);
    let (metric_id, info) = asked.metric(metric)?;
    let catalogue = asked.catalogue();
    let llm = match &p.llm {
        None => None,
        Some(name) => Some(catalogue.llm_id(name).ok_or_else(|| {
            let names: Vec<&str> = catalogue.llms.iter().map(|(_, n)| n.as_str()).collect();
            // Like an unknown metric: a resource that does not exist, 404.
            ApiError::NoSamples(format!(
                "unknown llm {name:?}; valid LLMs: {}",
                names.join(", ")
            ))
        })?),
    };
    let key = format!(
        "history.{metric_id}.{bucket}.{}.{}.{}",
        bounds_key(&bounds),
        llm.map_or_else(|| "*".to_string(), |id| id.to_string()),
        filter_key(&p.filter, false)
    );
    let filter = &p.filter;
    asked
        .send_json(key, "history", async |client, cat| {
            let (bounds, bucket) = history_bounds(client, plan, metric_id, llm, filter).await?;
            crate::query::history(client, cat, metric_id, info, bucket, &bounds, llm, filter)
                .await
                .map_err(from_db)
        })
        .await
}

/// A chart of `GET /ranking` or `/history` as SVG (`llmrank plot`'s drawing), cached like them.
pub async fn plot(
    app: &App,
    kind: &str,
    metric: &str,
    query: &str,
    if_none_match: Option<HeaderValue>,
) -> Result<Resp, ApiError> {
    let sweeps = matches!(kind, "sweep" | "interactivity");
    let goodput = kind == "ranking" && metric == "goodput";
    let allowed: &[&str] = match kind {
        _ if goodput => &["slo", "window", "from", "to", "source", "workload", "width"],
        "sweep" => &[
            "by",
            "window",
            "from",
            "to",
            "source",
            "workload",
            "width",
            "slo",
            "attainment",
        ],
        "interactivity" => &[
            "window",
            "from",
            "to",
            "source",
            "workload",
            "width",
            "at_interactivity",
        ],
        _ => &[
            "by", "window", "from", "to", "source", "workload", "y", "width",
        ],
    };
    let p = Params::parse(query, allowed)?;
    let by = p.by.unwrap_or(Statistic::Mean);
    let width = p.width.unwrap_or(crate::plot::DEFAULT_WIDTH);
    if sweeps {
        return plot_sweep(app, kind, metric, &p, width, if_none_match).await;
    }
    if goodput {
        return plot_goodput(app, &p, width, if_none_match).await;
    }
    let asked = Asked::new(app, if_none_match);
    let x = asked.metric(metric)?;
    let y = match kind {
        "tradeoff" => Some(asked.metric(p.y.as_deref().unwrap_or("TPS"))?),
        _ => None,
    };
    // Trends: hours up to a week, days beyond; with no window, all time.
    let plan = match kind {
        "trend" => Some(history::Plan::of(
            &p.window,
            history::Bucket::Auto,
            window::now(),
        )),
        _ => None,
    }
    .transpose()?;
    let bounds = match plan {
        Some(plan) => plan.key_parts().0,
        None => p.window.resolve(window::now(), HOUR)?,
    };
    let key = format!(
        "plot.{kind}.{width}.{}.{}.{}.{}.{}",
        x.0,
        y.map_or(0, |(id, _)| id),
        by.as_str(),
        bounds_key(&bounds),
        filter_key(&p.filter, false)
    );
    let (filter, width) = (&p.filter, f64::from(width));
    let ask = |metric| ask(metric, by, &bounds, filter, false);
    asked
        .send(key, "image/svg+xml", "plot", async |client, cat| {
            let svg = match (y, plan) {
                (Some(y), _) => crate::plot::tradeoff(
                    &ranked(client, cat, &ask(x)).await?,
                    &ranked(client, cat, &ask(y)).await?,
                    width,
                ),
                (_, Some(plan)) => {
                    let (metric_id, info) = x;
                    let (bounds, bucket) =
                        history_bounds(client, plan, metric_id, None, filter).await?;
                    let h = crate::query::history(
                        client, cat, metric_id, info, bucket, &bounds, None, filter,
                    )
                    .await
                    .map_err(from_db)?;
                    crate::plot::trend(&h, by, width)
                }
                _ => crate::plot::ranking(&ranked(client, cat, &ask(x)).await?, width),
            };
            // The page's stylesheet styles the chart: its own style element would break the CSP.
            Ok(Bytes::from(strip_style(&svg)))
        })
        .await
}

/// The goodput ranking's chart: LLMs by attainment of the SLO asked.
async fn plot_goodput(
    app: &App,
    p: &Params,
    width: u32,
    if_none_match: Option<HeaderValue>,
) -> Result<Resp, ApiError> {
    let (slo, bounds, key) = goodput_ask(p)?;
    let filter = &p.filter;
    Asked::new(app, if_none_match)
        .send(
            format!("plot.goodput.{width}.{key}"),
            "image/svg+xml",
            "plot",
            async |client, cat| {
                let g = goodput_of(client, cat, &slo, &bounds, filter).await?;
                let svg = crate::plot::goodput(&g, f64::from(width));
                Ok(Bytes::from(strip_style(&svg)))
            },
        )
        .await
}

/// What a goodput answer (JSON or chart) asks: the SLO, the window, and its cache key's tail.
fn goodput_ask(p: &Params) -> Result<(crate::slo::Slo, Bounds, String), ApiError> {
    let slo = required_slo(p.slo.clone())?;
    let bounds = p.window.resolve(window::now(), HOUR)?;
    let key = format!(
        "{}.{}.{}",
        slo_key(&slo),
        bounds_key(&bounds),
        filter_key(&p.filter, false)
    );
    Ok((slo, bounds, key))
}

/// The goodput ranking from the joint summaries, or 404 naming why there is none.
async fn goodput_of(
    client: &tokio_postgres::Client,
    cat: &Catalogue,
    slo: &crate::slo::Slo,
    window: &Bounds,
    filter: &RunFilter,
) -> Result<crate::goodput::Goodput, ApiError> {
    let ask = crate::query::GoodputAsk {
        slo,
        window,
        method: ranking::Method::Summary,
        filter,
    };
    crate::query::goodput(client, cat, &ask)
        .await
        .map_err(from_db)?
        .map_err(|e| ApiError::NoSamples(e.into_error("goodput").to_string()))
}

/// A sweep's chart: its curves (`sweep`) or its interactivity trade-off (`interactivity`).
async fn plot_sweep(
    app: &App,
    kind: &str,
    metric: &str,
    p: &Params,
    width: u32,
    if_none_match: Option<HeaderValue>,
) -> Result<Resp, ApiError> {
    let by = crate::plot::sweep_statistic(p.by.unwrap_or(Statistic::P50));
    let target = p.attainment.unwrap_or(0.99);
    let bounds = p.window.resolve(window::now(), HOUR)?;
    let asked = Asked::new(app, if_none_match);
    let (metric_id, info) = asked.metric(metric)?;
    let at = p.at_interactivity;
    let key = format!(
        "plot.{kind}.{width}.{metric_id}.{}.{}.{target}.{}.{}.{}",
        by.as_str(),
        p.slo.as_ref().map_or("-".into(), slo_key),
        at.map_or("-".into(), |x| x.to_string()),
        bounds_key(&bounds),
        filter_key(&p.filter, false)
    );
    let (filter, slo, name) = (&p.filter, p.slo.as_ref(), info.name.clone());
    let (width, sweep) = (f64::from(width), kind == "sweep");
    asked
        .send(key, "image/svg+xml", "plot", async |client, cat| {
            let levels = levels(client, cat, &bounds, filter, slo, Some(metric_id)).await?;
            let curves = crate::sweep::Curves::of(&name, slo, target, at, levels);
            let svg = if sweep {
                crate::plot::sweep(&curves, by, width)
            } else {
                crate::plot::interactivity(&curves, width)
            };
            Ok(Bytes::from(strip_style(&svg)))
        })
        .await
}

pub async fn goodput(
    app: &App,
    query: &str,
    if_none_match: Option<HeaderValue>,
) -> Result<Resp, ApiError> {
    let p = Params::parse(
        query,
        &["slo", "window", "from", "to", "source", "workload"],
    )?;
    let (slo, bounds, key) = goodput_ask(&p)?;
    let filter = &p.filter;
    Asked::new(app, if_none_match)
        .send_json(format!("goodput.{key}"), "goodput", async |client, cat| {
            goodput_of(client, cat, &slo, &bounds, filter).await
        })
        .await
}

pub async fn capacity(
    app: &App,
    query: &str,
    if_none_match: Option<HeaderValue>,
) -> Result<Resp, ApiError> {
    let p = Params::parse(
        query,
        &[
            "slo",
            "attainment",
            "interpolate",
            "window",
            "from",
            "to",
            "source",
            "workload",
        ],
    )?;
    let slo = required_slo(p.slo.clone())?;
    let target = p.attainment.unwrap_or(0.99);
    let bounds = p.window.resolve(window::now(), HOUR)?;
    let asked = Asked::new(app, if_none_match);
    let key = format!(
        "capacity.{}.{target}.{}.{}.{}",
        slo_key(&slo),
        p.interpolate,
        bounds_key(&bounds),
        filter_key(&p.filter, false)
    );
    let (filter, interpolate) = (&p.filter, p.interpolate);
    asked
        .send_json(key, "capacity", async |client, cat| {
            let levels = levels(client, cat, &bounds, filter, Some(&slo), None).await?;
            Ok(crate::sweep::Capacity::of(
                &slo,
                target,
                ranking::Method::Summary,
                interpolate,
                levels,
            ))
        })
        .await
}

pub async fn sweep(
    app: &App,
    metric: &str,
    query: &str,
    if_none_match: Option<HeaderValue>,
) -> Result<Resp, ApiError> {
    let p = Params::parse(
        query,
        &[
            "slo",
            "attainment",
            "at_interactivity",
            "window",
            "from",
            "to",
            "source",
            "workload",
        ],
    )?;
    let target = p.attainment.unwrap_or(0.99);
    let bounds = p.window.resolve(window::now(), HOUR)?;
    let asked = Asked::new(app, if_none_match);
    let (metric_id, info) = asked.metric(metric)?;
    let at = p.at_interactivity;
    let key = format!(
        "sweep.{metric_id}.{}.{target}.{}.{}.{}",
        p.slo.as_ref().map_or("-".into(), slo_key),
        at.map_or("-".into(), |x| x.to_string()),
        bounds_key(&bounds),
        filter_key(&p.filter, false)
    );
    let (filter, slo, name) = (&p.filter, p.slo.as_ref(), info.name.clone());
    asked
        .send_json(key, "sweep", async |client, cat| {
            let levels = levels(client, cat, &bounds, filter, slo, Some(metric_id)).await?;
            Ok(crate::sweep::Curves::of(&name, slo, target, at, levels))
        })
        .await
}

/// The levels of the sweeps `filter` covers, or 404 naming why there are none.
async fn levels(
    client: &tokio_postgres::Client,
    cat: &Catalogue,
    window: &Bounds,
    filter: &RunFilter,
    slo: Option<&crate::slo::Slo>,
    metric_id: Option<i16>,
) -> Result<Vec<crate::sweep::Level>, ApiError> {
    let ask = crate::query::SweepAsk {
        window,
        filter,
        slo,
        metric_id,
        method: ranking::Method::Summary,
    };
    crate::query::sweep_levels(client, cat, &ask)
        .await
        .map_err(from_db)?
        .map_err(|e| ApiError::NoSamples(e.into_error("the sweep").to_string()))
}

/// The `slo` a route needs, or 400 saying how to write one.
fn required_slo(slo: Option<crate::slo::Slo>) -> Result<crate::slo::Slo, ApiError> {
    slo.ok_or_else(|| {
        ApiError::BadRequest(
            "query parameter \"slo\" is required, e.g. slo=TTFT<=200ms,TPOT<=40ms (metrics TTFT, TPOT, e2e_latency; units us, ms, s; only <=)".into(),
        )
    })
}

/// Cache key part of an SLO: a digest of its canonical text.
fn slo_key(slo: &crate::slo::Slo) -> String {
    use sha2::Digest;
    crate::hash::hex(&sha2::Sha256::digest(slo.text().as_bytes())[..12])
}

/// The ranking asked for, or 404 naming why there is none.
async fn ranked(
    client: &tokio_postgres::Client,
    cat: &crate::db::catalogue::Catalogue,
    ask: &crate::query::Ask<'_>,
) -> Result<Ranking, ApiError> {
    crate::query::ranking(client, cat, ask)
        .await
        .map_err(from_db)?
        .map_err(|e| ApiError::NoSamples(e.into_error(&ask.info.name).to_string()))
}

/// An SVG without its `<style>` element.
pub(super) fn strip_style(svg: &str) -> String {
    match (svg.find("<style>"), svg.find("</style>")) {
        (Some(a), Some(b)) if b > a => format!("{}{}", &svg[..a], &svg[b + "</style>".len()..]),
        _ => svg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_style_elements_are_stripped() {
        assert_eq!(
            strip_style("<svg><style>x</style><g/></svg>"),
            "<svg><g/></svg>"
        );
        assert_eq!(strip_style("<svg/>"), "<svg/>");
    }
}
