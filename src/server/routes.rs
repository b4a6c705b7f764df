//! Routing and handlers: one `match` on the path, a known path with the wrong method is 405,
//! anything else 404. Every answer gets an `X-Request-Id` and is counted by route template.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::FutureExt;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use serde_json::json;

use super::error::{from_db, ApiError};
use super::events::full;
use super::App;
use crate::domain::{RunFilter, SourceKind};
use crate::history;
use crate::ranking::{self, Ranking};
use crate::stats::Statistic;
use crate::summary::HOUR;
use crate::telemetry;
use crate::window::{self, Bounds};

pub type Resp = Response<super::events::Body>;

/// The OpenAPI document, kept in the repo.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// The dashboard, embedded: no build step, no CDN.
const UI_HTML: &str = include_str!("ui/index.html");
const UI_JS: &str = include_str!("ui/app.js");
const UI_CSS: &str = include_str!("ui/app.css");

/// Nothing but this origin's own scripts, styles and API; no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A dashboard file, with the page's security headers.
fn asset(body: &'static str, content_type: &'static str) -> Resp {
    let mut resp = Response::new(full(Bytes::from_static(body.as_bytes())));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

pub async fn handle(app: &App, req: Request<Incoming>, surface: super::Surface) -> Resp {
    let started = Instant::now();
    let request_id = request_id(&req);
    let method = method_label(req.method());
    let (route, result) = match AssertUnwindSafe(route(app, req, surface))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(_) => (
            "unmatched",
            Err(ApiError::internal(anyhow::anyhow!("a handler panicked"))),
        ),
    };
    let mut resp = result.unwrap_or_else(ApiError::into_response);
    resp.headers_mut().insert("x-request-id", request_id);
    metrics::counter!(
        telemetry::HTTP_REQUESTS,
        "route" => route,
        "method" => method,
        "status" => status_label(resp.status())
    )
    .increment(1);
    metrics::histogram!(telemetry::HTTP_DURATION, "route" => route)
        .record(started.elapsed().as_secs_f64());
    resp
}

async fn route(
    app: &App,
    req: Request<Incoming>,
    surface: super::Surface,
) -> (&'static str, Result<Resp, ApiError>) {
    use super::Surface;
    let path = req.uri().path().to_string();
    let admin = matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics");
    let here = match surface {
        Surface::Both => true,
        Surface::Api => !admin,
        Surface::Admin => admin,
    };
    if !here {
        return ("unmatched", Err(ApiError::NotFound));
    }
    let (route, protected) = match path.as_str() {
        "/healthz" => ("/healthz", false),
        "/readyz" => ("/readyz", false),
        "/metrics" => ("/metrics", false),
        "/openapi.json" => ("/openapi.json", false),
        "/" => ("/", false),
        "/ui/app.js" => ("/ui/app.js", false),
        "/ui/app.css" => ("/ui/app.css", false),
        p if ["/plot/ranking/", "/plot/trend/", "/plot/tradeoff/"]
            .iter()
            .any(|k| {
                p.strip_prefix(k)
                    .is_some_and(|m| !m.is_empty() && !m.contains('/'))
            }) =>
        {
            ("/plot/{kind}/{metric}", true)
        }
        "/llms" => ("/llms", true),
        "/metric-types" => ("/metric-types", true),
        "/runs" => ("/runs", true),
        "/events" => ("/events", true),
        "/samples" => ("/samples", true),
        p if p
            .strip_prefix("/ranking/")
            .is_some_and(|m| !m.is_empty() && !m.contains('/')) =>
        {
            ("/ranking/{metric}", true)
        }
        p if p
            .strip_prefix("/history/")
            .is_some_and(|m| !m.is_empty() && !m.contains('/')) =>
        {
            ("/history/{metric}", true)
        }
        _ => return ("unmatched", Err(ApiError::NotFound)),
    };
    let result = async {
        if route == "/samples" {
            return super::samples::post(app, req).await;
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(ApiError::MethodNotAllowed("GET, HEAD"));
        }
        if protected {
            match req.headers().get("x-api-key") {
                None => return Err(ApiError::Unauthorized("missing X-API-KEY header")),
                Some(k) if !app.keys.current().accepts(k.as_bytes()) => {
                    return Err(ApiError::Unauthorized("invalid API key"))
                }
                Some(k) => app
                    .rate_limits
                    .check(k.as_bytes())
                    .map_err(ApiError::TooManyRequests)?,
            }
        }
        let query = req.uri().query().unwrap_or("").to_string();
        if route == "/events" {
            // A stream: no deadline (it counts against the connection caps instead).
            Params::parse(&query, &[])?;
            return Ok(super::events::response(
                app.data.clone(),
                app.closing.subscribe(),
            ));
        }
        let if_none_match = req.headers().get(IF_NONE_MATCH).cloned();
        // One deadline for the whole request: a client that never sends the body it announced
        // gets 408, an answer that takes too long 503, and neither holds its slot longer.
        let deadline = tokio::time::Instant::now() + app.request_timeout;
        tokio::time::timeout_at(deadline, drain_body(req, app.max_body_bytes))
            .await
            .map_err(|_| ApiError::RequestTimeout)??;
        let answer = async {
            match route {
                "/healthz" => Ok(json_response(StatusCode::OK, json!({ "status": "ok" }))),
                "/readyz" => ready(app).await,
                "/metrics" => Ok(metrics(app)),
                "/openapi.json" => Ok(bytes_response(
                    Bytes::from_static(OPENAPI.as_bytes()),
                    "application/json",
                )),
                "/llms" => {
                    Params::parse(&query, &[])?;
                    Ok(llms(app))
                }
                "/metric-types" => {
                    Params::parse(&query, &[])?;
                    Ok(metric_types(app))
                }
                "/runs" => runs(app, &query).await,
                "/" => Ok(asset(UI_HTML, "text/html; charset=utf-8")),
                "/ui/app.js" => Ok(asset(UI_JS, "text/javascript; charset=utf-8")),
                "/ui/app.css" => Ok(asset(UI_CSS, "text/css; charset=utf-8")),
                "/plot/{kind}/{metric}" => {
                    let rest = path.trim_start_matches("/plot/");
                    let (kind, metric) = rest.split_once('/').unwrap_or((rest, ""));
                    plot(app, kind, &decode(metric), &query, if_none_match).await
                }
                "/history/{metric}" => {
                    let metric = decode(path.trim_start_matches("/history/"));
                    history(app, &metric, &query, if_none_match).await
                }
                _ => {
                    let metric = decode(path.trim_start_matches("/ranking/"));
                    ranking(app, &metric, &query, if_none_match).await
                }
            }
        };
        tokio::time::timeout_at(deadline, answer)
            .await
            .map_err(|_| {
                ApiError::Unavailable(
                    "the answer took longer than server.request_timeout_ms".into(),
                )
            })?
    }
    .await;
    (route, result)
}

/// Reads (and discards) a request body, refusing one over the limit.
async fn drain_body(req: Request<Incoming>, limit: u64) -> Result<(), ApiError> {
    read_body(req, limit).await.map(|_| ())
}

/// Reads a request body, refusing one over `limit` bytes (413): by its Content-Length before
/// reading anything, else as it arrives.
pub(super) async fn read_body(req: Request<Incoming>, limit: u64) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge(limit));
    }
    Limited::new(req.into_body(), limit as usize)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|_| ApiError::TooLarge(limit))
}

/// A percent-decoded path segment (`+` stays `+`).
fn decode(s: &str) -> std::borrow::Cow<'_, str> {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy()
}

/// The query string's parameters, checked against the ones a route allows.
#[derive(Debug, Default, PartialEq)]
struct Params {
    by: Option<Statistic>,
    window: window::Request,
    bucket: Option<history::Bucket>,
    llm: Option<String>,
    filter: RunFilter,
    include_reported: bool,
    limit: Option<i64>,
    /// The y metric of a trade-off chart.
    y: Option<String>,
    /// A chart's width in pixels.
    width: Option<u32>,
}

impl Params {
    /// Parses `query`, accepting only `allowed` keys, each once; values are percent-decoded
    /// (a `+` stays a `+`, as in a time's offset).
    fn parse(query: &str, allowed: &[&str]) -> Result<Params, ApiError> {
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
            // `workload` may repeat: each adds a KEY=VALUE the runs must match.
            if seen & (1 << index) != 0 && key != "workload" {
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
                "source" => {
                    p.filter.source = Some(v.parse::<SourceKind>().map_err(ApiError::BadRequest)?)
                }
                "workload" => p.filter.add_workload(&v).map_err(ApiError::BadRequest)?,
                "y" => p.y = Some(v.into_owned()),
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

/// A pooled connection, or 503 when none comes in time.
async fn connection(app: &App) -> Result<deadpool_postgres::Object, ApiError> {
    app.pool
        .get()
        .await
        .map_err(|e| from_db(anyhow::Error::new(e)))
}

/// 404 naming the valid metrics (and the likely intended one).
fn unknown_metric(state: &crate::db::notify::DataState, metric: &str) -> ApiError {
    let valid: Vec<String> = state
        .catalogue
        .metric_names()
        .into_iter()
        .map(String::from)
        .collect();
    ApiError::UnknownMetric {
        suggestion: suggest(metric, &valid),
        metric: metric.to_string(),
        valid,
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
    let etag = format!("\"{version}.{key}\"");
    if if_none_match.is_some_and(|v| etag_matches(&v, &etag)) {
        let mut resp = Response::new(full(Bytes::new()));
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        insert(&mut resp, ETAG, &etag);
        return Ok(resp);
    }
    let (body, layer) = app.cache.get_or_compute(&key, version, compute).await?;
    let mut resp = bytes_response(body, content_type);
    insert(&mut resp, ETAG, &etag);
    resp.headers_mut()
        .insert("x-cache", HeaderValue::from_static(layer.as_str()));
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// Cache key part of a run filter: `*` for none, else a digest (keys and ETags stay short
/// and ASCII whatever the filter's text).
fn filter_key(f: &RunFilter, include_reported: bool) -> String {
    use sha2::Digest;
    let r = if include_reported { "+r" } else { "" };
    if f.is_everything() {
        return format!("*{r}");
    }
    let digest = sha2::Sha256::digest(f.key().as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}{r}")
}

/// The bounds and bucket of `plan`, reading the first day with data for all time.
async fn plan_bounds(
    plan: history::Plan,
    client: &tokio_postgres::Client,
    metric_id: i16,
) -> Result<(Bounds, i64), ApiError> {
    let first = match plan {
        history::Plan::AllTime => crate::db::summaries::first_day(client, metric_id)
            .await
            .map_err(from_db)?,
        history::Plan::Fixed(..) => None,
    };
    plan.resolve(first, window::now())
        .map_err(ApiError::BadRequest)
}

/// Cache key part of resolved bounds: `*` for an open end.
fn bounds_key(b: &Bounds) -> String {
    let end = |x: Option<i64>| x.map_or_else(|| "*".to_string(), |v| v.to_string());
    format!("{}-{}", end(b.from), end(b.to))
}

async fn ranking(
    app: &App,
    metric: &str,
    query: &str,
    if_none_match: Option<HeaderValue>,
) -> Result<Resp, ApiError> {
    let p = Params::parse(
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
    let by = p.by.unwrap_or(Statistic::Mean);
    let bounds = p
        .window
        .resolve(window::now(), HOUR)
        .map_err(ApiError::BadRequest)?;
    // A snapshot: the version and catalogue stay consistent for this request.
    let state = app.data.borrow().clone();
    let Some((metric_id, info)) = state.catalogue.metric(metric) else {
        return Err(unknown_metric(&state, metric));
    };
    let version = state.version.as_str();
    // Windowed answers are keyed by their resolved bounds: a window moves on as time passes.
    let key = format!(
        "ranking.{metric_id}.{}.{}.{}",
        by.as_str(),
        bounds_key(&bounds),
        filter_key(&p.filter, p.include_reported)
    );
    let cat = &state.catalogue;
    let filter = &p.filter;
    cached(
        app,
        key,
        version,
        if_none_match,
        "application/json",
        || async move {
            let started = Instant::now();
            let client = connection(app).await?;
            let ask = crate::query::Ask {
                metric_id,
                info,
                by,
                window: &bounds,
                method: ranking::Method::Summary,
                filter,
                include_reported: p.include_reported,
            };
            let found = ranked(&client, cat, &ask).await;
            drop(client);
            metrics::histogram!(telemetry::DB_QUERY_DURATION, "query" => "ranking")
                .record(started.elapsed().as_secs_f64());
            answer(&found?, version)
        },
    )
    .await
}

/// A chart of `GET /ranking` or `/history` as SVG (`llmrank plot`'s drawing), cached like them.
async fn plot(
    app: &App,
    kind: &str,
    metric: &str,
    query: &str,
    if_none_match: Option<HeaderValue>,
) -> Result<Resp, ApiError> {
    let p = Params::parse(
        query,
        &[
            "by", "window", "from", "to", "source", "workload", "y", "width",
        ],
    )?;
    let by = p.by.unwrap_or(Statistic::Mean);
    let width = p.width.unwrap_or(crate::plot::DEFAULT_WIDTH);
    let state = app.data.borrow().clone();
    let Some((metric_id, info)) = state.catalogue.metric(metric) else {
        return Err(unknown_metric(&state, metric));
    };
    let y = match kind {
        "tradeoff" => {
            let name = p.y.as_deref().unwrap_or("TPS");
            Some(
                state
                    .catalogue
                    .metric(name)
                    .ok_or_else(|| unknown_metric(&state, name))?,
            )
        }
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
    .transpose()
    .map_err(ApiError::BadRequest)?;
    let bounds = match plan {
        Some(plan) => plan.key_parts().0,
        None => p
            .window
            .resolve(window::now(), HOUR)
            .map_err(ApiError::BadRequest)?,
    };
    let version = state.version.as_str();
    let key = format!(
        "plot.{kind}.{width}.{metric_id}.{}.{}.{}.{}",
        y.map_or(0, |(id, _)| id),
        by.as_str(),
        bounds_key(&bounds),
        filter_key(&p.filter, false)
    );
    let cat = &state.catalogue;
    let filter = &p.filter;
    cached(
        app,
        key,
        version,
        if_none_match,
        "image/svg+xml",
        || async move {
            let client = connection(app).await?;
            let ask = |metric_id: i16, info| crate::query::Ask {
                metric_id,
                info,
                by,
                window: &bounds,
                method: ranking::Method::Summary,
                filter,
                include_reported: false,
            };
            let svg = match (y, plan) {
                (Some((yid, yinfo)), _) => crate::plot::tradeoff(
                    &ranked(&client, cat, &ask(metric_id, info)).await?,
                    &ranked(&client, cat, &ask(yid, yinfo)).await?,
                    f64::from(width),
                ),
                (_, Some(plan)) => {
                    let (bounds, bucket) = plan_bounds(plan, &client, metric_id).await?;
                    let h = crate::query::history(
                        &**client, cat, metric_id, info, bucket, &bounds, None, filter,
                    )
                    .await
                    .map_err(from_db)?;
                    crate::plot::trend(&h, by, f64::from(width))
                }
                _ => crate::plot::ranking(
                    &ranked(&client, cat, &ask(metric_id, info)).await?,
                    f64::from(width),
                ),
            };
            // The page's stylesheet styles the chart: its own style element would break the CSP.
            Ok(Bytes::from(strip_style(&svg)))
        },
    )
    .await
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
fn strip_style(svg: &str) -> String {
    match (svg.find("<style>"), svg.find("</style>")) {
        (Some(a), Some(b)) if b > a => format!("{}{}", &svg[..a], &svg[b + "</style>".len()..]),
        _ => svg.to_string(),
    }
}

async fn history(
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
    let plan = history::Plan::of(&p.window, bucket, window::now()).map_err(ApiError::BadRequest)?;
    let (bounds, bucket) = plan.key_parts();
    let state = app.data.borrow().clone();
    let Some((metric_id, info)) = state.catalogue.metric(metric) else {
        return Err(unknown_metric(&state, metric));
    };
    let llm = match &p.llm {
        None => None,
        Some(name) => Some(state.catalogue.llm_id(name).ok_or_else(|| {
            let names: Vec<&str> = state
                .catalogue
                .llms
                .iter()
                .map(|(_, n)| n.as_str())
                .collect();
            ApiError::BadRequest(format!(
                "unknown llm {name:?}; valid LLMs: {}",
                names.join(", ")
            ))
        })?),
    };
    let version = state.version.as_str();
    let key = format!(
        "history.{metric_id}.{bucket}.{}.{}.{}",
        bounds_key(&bounds),
        llm.map_or_else(|| "*".to_string(), |id| id.to_string()),
        filter_key(&p.filter, false)
    );
    let cat = &state.catalogue;
    let filter = &p.filter;
    cached(
        app,
        key,
        version,
        if_none_match,
        "application/json",
        || async move {
            let started = Instant::now();
            let client = connection(app).await?;
            let (bounds, bucket) = plan_bounds(plan, &client, metric_id).await?;
            let h = crate::query::history(
                &**client, cat, metric_id, info, bucket, &bounds, llm, filter,
            )
            .await
            .map_err(from_db)?;
            drop(client);
            metrics::histogram!(telemetry::DB_QUERY_DURATION, "query" => "history")
                .record(started.elapsed().as_secs_f64());
            answer(&h, version)
        },
    )
    .await
}

/// The newest runs: source, workload, rows, status (what `llmrank runs` lists).
async fn runs(app: &App, query: &str) -> Result<Resp, ApiError> {
    let p = Params::parse(query, &["limit"])?;
    let client = connection(app).await?;
    let list = crate::db::runs::list(&**client, p.limit.unwrap_or(20))
        .await
        .map_err(from_db)?;
    Ok(json_response(StatusCode::OK, json!({ "runs": list })))
}

fn llms(app: &App) -> Resp {
    let state = app.data.borrow();
    let llms: Vec<_> = state
        .catalogue
        .llms
        .iter()
        .map(|(id, name)| json!({ "id": id, "name": name }))
        .collect();
    json_response(StatusCode::OK, json!({ "llms": llms }))
}

fn metric_types(app: &App) -> Resp {
    let state = app.data.borrow();
    let metrics: Vec<_> = state
        .catalogue
        .metrics
        .iter()
        .map(
            |(id, m)| json!({ "id": id, "name": m.name, "unit": m.unit, "direction": m.direction }),
        )
        .collect();
    json_response(StatusCode::OK, json!({ "metrics": metrics }))
}

async fn ready(app: &App) -> Result<Resp, ApiError> {
    let started = Instant::now();
    let check = async {
        let client = app.ready_pool.get().await.map_err(anyhow::Error::new)?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(anyhow::Error::new)?;
        Ok::<_, anyhow::Error>(())
    };
    let result = tokio::time::timeout(Duration::from_secs(2), check).await;
    metrics::histogram!(telemetry::DB_QUERY_DURATION, "query" => "ready")
        .record(started.elapsed().as_secs_f64());
    match result {
        Ok(Ok(())) => Ok(json_response(StatusCode::OK, json!({ "status": "ready" }))),
        Ok(Err(e)) => Err(ApiError::Unavailable(format!("{e:#}"))),
        Err(_) => Err(ApiError::Unavailable("readiness check timed out".into())),
    }
}

fn metrics(app: &App) -> Resp {
    let status = app.pool.status();
    let idle = status.available as f64;
    let in_use = status.size.saturating_sub(status.available) as f64;
    metrics::gauge!(telemetry::DB_POOL_CONNECTIONS, "state" => "idle").set(idle);
    metrics::gauge!(telemetry::DB_POOL_CONNECTIONS, "state" => "in_use").set(in_use);
    bytes_response(
        Bytes::from(app.metrics.render()),
        crate::telemetry::EXPOSITION_CONTENT_TYPE,
    )
}

pub fn json_response(status: StatusCode, body: serde_json::Value) -> Resp {
    let mut resp = bytes_response(Bytes::from(body.to_string()), "application/json");
    *resp.status_mut() = status;
    resp
}

fn bytes_response(body: Bytes, content_type: &'static str) -> Resp {
    let mut resp = Response::new(full(body));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn insert(resp: &mut Resp, name: hyper::header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

fn etag_matches(header: &HeaderValue, etag: &str) -> bool {
    header.to_str().is_ok_and(|v| {
        v.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == etag || t == "*")
    })
}

/// The catalogue's spelling of a near miss: same letters in another case, or at most two edits.
pub fn suggest(metric: &str, valid: &[String]) -> Option<String> {
    if let Some(v) = valid.iter().find(|v| v.eq_ignore_ascii_case(metric)) {
        return Some(v.clone());
    }
    valid
        .iter()
        .map(|v| (edit_distance(&metric.to_lowercase(), &v.to_lowercase()), v))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn request_id<B>(req: &Request<B>) -> HeaderValue {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if let Some(v) = req.headers().get("x-request-id") {
        let ok = v.len() <= 128
            && !v.is_empty()
            && v.as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b));
        if ok {
            return v.clone();
        }
    }
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let prefix = *PREFIX.get_or_init(rand::random::<u32>);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    HeaderValue::from_str(&format!("{prefix:08x}-{n:012x}"))
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_label(s: StatusCode) -> &'static str {
    match s.as_u16() {
        200 => "200",
        304 => "304",
        400 => "400",
        401 => "401",
        404 => "404",
        405 => "405",
        408 => "408",
        429 => "429",
        413 => "413",
        500 => "500",
        503 => "503",
        _ => "other",
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

    #[test]
    fn near_misses_get_the_catalogue_spelling() {
        let valid: Vec<String> = ["TTFT", "TPS", "e2e_latency", "RPS"]
            .map(String::from)
            .to_vec();
        assert_eq!(suggest("ttft", &valid).as_deref(), Some("TTFT"));
        assert_eq!(
            suggest("e2e-latency", &valid).as_deref(),
            Some("e2e_latency")
        );
        assert_eq!(suggest("throughput", &valid), None);
    }

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

    #[test]
    fn timestamps_are_rfc3339() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_823_677);
        assert_eq!(rfc3339(t), "2026-11-27T23:54:37Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn etags_match_lists_and_wildcards() {
        let tag = "\"1-2.3.mean\"";
        assert!(etag_matches(
            &HeaderValue::from_static("\"1-2.3.mean\""),
            tag
        ));
        assert!(etag_matches(
            &HeaderValue::from_static("\"x\", W/\"1-2.3.mean\""),
            tag
        ));
        assert!(etag_matches(&HeaderValue::from_static("*"), tag));
        assert!(!etag_matches(
            &HeaderValue::from_static("\"1-2.3.p99\""),
            tag
        ));
    }
}
