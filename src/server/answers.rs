//! Cached answers: `GET /ranking/{metric}`, `/goodput`, `/history/{metric}` and
//! `/plot/{kind}/{metric}`.
//! Each is keyed by what it depends on (its parameters, resolved bounds and the data version),
//! computed once per key on a miss (`crate::query`, the read path the CLI shares), and sent
//! with an ETag (304 when the client has it).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, ETAG};
use hyper::{Response, StatusCode};
use serde::Serialize;

use super::error::{from_db, ApiError};
use super::http::{bytes_response, etag_matches, full, insert, Resp, X_CACHE};
use super::params::Params;
use super::App;
use crate::cache::Layer;
use crate::db::catalogue::Catalogue;
use crate::db::notify::DataState;
use crate::domain::{MetricInfo, RunFilter};
use crate::history;
use crate::ranking::{self, Ranking};
use crate::stats::Statistic;
use crate::summary::HOUR;
use crate::telemetry;
use crate::window::{self, Bounds};

/// A computed answer as sent: the object itself, when it was made and from which data.
#[derive(Serialize)]
struct Answer<'a, T: Serialize> {
    #[serde(flatten)]
    body: &'a T,
    generated_at: String,
    data_version: &'a str,
}

/// Serializes `body` as an [`Answer`] of data version `version`.
fn answer<T: Serialize>(body: &T, version: &str) -> Result<Bytes, ApiError> {
    let a = Answer {
        body,
        generated_at: rfc3339(SystemTime::now()),
        data_version: version,
    };
    serde_json::to_vec(&a)
        .map(Bytes::from)
        .map_err(ApiError::internal)
}

/// One request's view of the data: a snapshot of the version and catalogue (consistent for
/// the whole request) and what the client already holds.
pub(super) struct Asked<'a> {
    app: &'a App,
    state: Arc<DataState>,
    if_none_match: Option<HeaderValue>,
}

impl<'a> Asked<'a> {
    pub(super) fn new(app: &'a App, if_none_match: Option<HeaderValue>) -> Asked<'a> {
        Asked {
            app,
            state: app.data.borrow().clone(),
            if_none_match,
        }
    }

    /// The metric called `name`, or 404 naming the valid ones (and the likely intended one).
    pub(super) fn metric(&self, name: &str) -> Result<(i16, &MetricInfo), ApiError> {
        self.state.catalogue.metric(name).ok_or_else(|| {
            let valid = self.state.catalogue.metric_names();
            ApiError::UnknownMetric {
                suggestion: crate::domain::did_you_mean(name, &valid).map(String::from),
                metric: name.to_string(),
                valid: valid.into_iter().map(String::from).collect(),
            }
        })
    }

    /// The metrics named, each with its id; 404 for the first unknown one.
    pub(super) fn metrics(&self, names: &[String]) -> Result<Vec<(i16, MetricInfo)>, ApiError> {
        names
            .iter()
            .map(|m| self.metric(m).map(|(id, info)| (id, info.clone())))
            .collect()
    }

    /// The answer under `key` when it needs no waiting: a 304 (the client holds it) or the
    /// answer in memory.
    pub(super) fn at_once(&self, key: &str, content_type: &'static str) -> Option<Resp> {
        let version = self.state.version.as_str();
        let etag = etag(version, key);
        if self
            .if_none_match
            .as_ref()
            .is_some_and(|v| etag_matches(v, &etag))
        {
            return Some(not_modified(etag));
        }
        let body = self.app.cache.memory_hit(key, version)?;
        Some(cached_response(body, etag, Layer::Memory, content_type))
    }

    /// Sends the answer under `key`: from the cache, else from `compute` on a pooled
    /// connection, its time recorded as database query `query`.
    pub(super) async fn send<F>(
        &self,
        key: String,
        content_type: &'static str,
        query: &'static str,
        compute: F,
    ) -> Result<Resp, ApiError>
    where
        F: AsyncFnOnce(&tokio_postgres::Client, &Catalogue) -> Result<Bytes, ApiError>,
    {
        let (app, cat) = (self.app, &*self.state.catalogue);
        let version = self.state.version.as_str();
        let miss = || async move {
            let started = Instant::now();
            let client = app.connection().await?;
            let body = compute(&client, cat).await;
            drop(client);
            metrics::histogram!(telemetry::DB_QUERY_DURATION, "query" => query)
                .record(started.elapsed().as_secs_f64());
            body
        };
        cached(
            app,
            key,
            version,
            self.if_none_match.clone(),
            content_type,
            miss,
        )
        .await
    }

    /// [`Self::send`] of a JSON answer, with when it was made and from which data.
    pub(super) async fn send_json<T, F>(
        &self,
        key: String,
        query: &'static str,
        compute: F,
    ) -> Result<Resp, ApiError>
    where
        T: Serialize,
        F: AsyncFnOnce(&tokio_postgres::Client, &Catalogue) -> Result<T, ApiError>,
    {
        let version = self.state.version.as_str();
        self.send(key, "application/json", query, async |client, cat| {
            answer(&compute(client, cat).await?, version)
        })
        .await
    }
}

/// Answers `key` from the cache or `compute`, with its ETag (304 when the client has it).
async fn cached<F, Fut>(
    app: &App,
    key: String,
    version: &str,
    if_none_match: Option<HeaderValue>,
    content_type: &'static str,
    compute: F,
) -> Result<Resp, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Bytes, ApiError>>,
{
    let etag = etag(version, &key);
    if if_none_match.is_some_and(|v| etag_matches(&v, &etag)) {
        return Ok(not_modified(etag));
    }
    let (body, layer) = app.cache.get_or_compute(&key, version, compute).await?;
    Ok(cached_response(body, etag, layer, content_type))
}

/// Room for a cache key without growing: the longest (a window's bounds and a filter's
/// digest) is about 80 bytes.
const KEY_CAPACITY: usize = 96;

/// The ETag of the answer under `key` at data version `version`, in one allocation.
fn etag(version: &str, key: &str) -> String {
    let mut tag = String::with_capacity(version.len() + key.len() + 3);
    tag.push('"');
    tag.push_str(version);
    tag.push('.');
    tag.push_str(key);
    tag.push('"');
    tag
}

/// 304: the client holds the answer tagged `etag`.
fn not_modified(etag: String) -> Resp {
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::NOT_MODIFIED;
    insert(&mut resp, ETAG, &etag);
    resp
}

/// A cached answer with its ETag and the level that answered.
fn cached_response(body: Bytes, etag: String, layer: Layer, content_type: &'static str) -> Resp {
    let mut resp = bytes_response(body, content_type);
    // The ETag's text becomes the header without a copy.
    if let Ok(v) = HeaderValue::try_from(etag) {
        resp.headers_mut().insert(ETAG, v);
    }
    resp.headers_mut()
        .insert(X_CACHE, HeaderValue::from_static(layer.as_str()));
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// Cache key part of a run filter: `*` for none, else a digest (keys and ETags stay short
/// and ASCII whatever the filter's text).
fn filter_key(f: &RunFilter, include_reported: bool) -> KeyPart {
    use sha2::Digest;
    let r = if include_reported { "+r" } else { "" };
    if f.is_default() {
        return KeyPart::Static(if include_reported { "*+r" } else { "*" });
    }
    let digest = sha2::Sha256::digest(f.key().as_bytes());
    KeyPart::Owned(format!("{}{r}", crate::hash::hex(&digest[..16])))
}

/// Cache key part of resolved bounds: `*` for an open end.
fn bounds_key(b: &Bounds) -> KeyPart {
    match (b.from, b.to) {
        (None, None) => KeyPart::Static("*-*"),
        (from, to) => {
            let end = |x: Option<i64>| x.map_or_else(|| "*".to_string(), |v| v.to_string());
            KeyPart::Owned(format!("{}-{}", end(from), end(to)))
        }
    }
}

/// A piece of a cache key: the common ones (all time, no filter) without an allocation.
enum KeyPart {
    Static(&'static str),
    Owned(String),
}

impl std::fmt::Display for KeyPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyPart::Static(s) => s,
            KeyPart::Owned(s) => s,
        })
    }
}

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
    let catalogue = &asked.state.catalogue;
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

/// `2026-11-27T23:54:37Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    window::rfc3339(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_823_677);
        assert_eq!(rfc3339(t), "2026-11-27T23:54:37Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn svg_style_elements_are_stripped() {
        assert_eq!(
            strip_style("<svg><style>x</style><g/></svg>"),
            "<svg><g/></svg>"
        );
        assert_eq!(strip_style("<svg/>"), "<svg/>");
    }
}
