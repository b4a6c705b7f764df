//! The request envelope and routing: one `match` on the path, a known path with the wrong
//! method is 405, anything else 404. Every answer gets an `X-Request-Id` and is counted by
//! route template; a handler's panic is a 500, not a dropped connection. What can be answered
//! without waiting is answered in [`handle`] itself, the rest in a task of its own.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, IF_NONE_MATCH};
use hyper::{Method, Request, StatusCode};
use serde_json::json;

use super::auth::KeyId;
use super::error::ApiError;
use super::http::{
    bytes_response, decode, drain_body, json_response, Resp, X_API_KEY, X_REQUEST_ID,
};
use super::params::Params;
use super::ui::{asset, OPENAPI, UI_CSS, UI_HTML, UI_JS};
use super::{admin, answers, lists, App};
use crate::telemetry;

/// What the service gives hyper for a request: an answer already made, or the work still to do.
pub type Answering = futures_util::future::Either<
    std::future::Ready<Result<Resp, Infallible>>,
    futures_util::future::BoxFuture<'static, Result<Resp, Infallible>>,
>;

/// Answers `req`. Everything that needs no waiting (routing, the key, the rate limit, a client
/// error, an answer from memory, a static one) is done here, before hyper reads on: the
/// request's head is gone by then, so hyper reads the next request into the same buffer (a head
/// still alive made it allocate a new one, and free the old one with the head, on every
/// request). What must wait (the database, a body, Redis) is a boxed future: one allocation
/// beside a query.
pub fn handle(app: &Arc<App>, req: Request<Incoming>, surface: super::Surface) -> Answering {
    use futures_util::future::Either;
    let started = Instant::now();
    let request_id = request_id(&req);
    let method = method_label(req.method());
    let step = std::panic::catch_unwind(AssertUnwindSafe(|| admit(app, req, surface, started)))
        .unwrap_or_else(|_| Step::Done("unmatched", Err(panicked())));
    match step {
        Step::Done(route, result) => Either::Left(std::future::ready(Ok(finish(
            route, result, method, request_id, started,
        )))),
        Step::Later(route, later) => {
            let app = app.clone();
            Either::Right(Box::pin(async move {
                let (route, result) = match AssertUnwindSafe(later.run(&app, route))
                    .catch_unwind()
                    .await
                {
                    Ok(r) => (route, r),
                    Err(_) => ("unmatched", Err(panicked())),
                };
                Ok(finish(route, result, method, request_id, started))
            }))
        }
    }
}

fn panicked() -> ApiError {
    ApiError::internal(anyhow::anyhow!("a handler panicked"))
}

/// The answer as sent: an error's body, the request id, and the request counted.
fn finish(
    route: &'static str,
    result: Result<Resp, ApiError>,
    method: &'static str,
    request_id: HeaderValue,
    started: Instant,
) -> Resp {
    let mut resp = result.unwrap_or_else(ApiError::into_response);
    resp.headers_mut().insert(X_REQUEST_ID, request_id);
    telemetry::http_request(
        route,
        method,
        status_label(resp.status()),
        started.elapsed().as_secs_f64(),
    );
    resp
}

/// A request after [`admit`]: answered (the route's template and the answer), or work to wait
/// for.
enum Step {
    Done(&'static str, Result<Resp, ApiError>),
    Later(&'static str, Later),
}

/// What an answer still needs, owned (none of it holds on to hyper's read buffer).
enum Later {
    /// `POST /samples` by this key: the whole request, its body to come.
    Samples(Request<Incoming>, KeyId),
    /// A GET or HEAD: the request kept only while it has a body to drain.
    Answer {
        path: String,
        query: String,
        if_none_match: Option<HeaderValue>,
        body: Option<Request<Incoming>>,
    },
}

/// The route template and whether it needs a read key, of a known path.
fn classify(path: &str) -> Option<(&'static str, bool)> {
    Some(match path {
        "/healthz" => ("/healthz", false),
        "/readyz" => ("/readyz", false),
        "/metrics" => ("/metrics", false),
        "/openapi.json" => ("/openapi.json", false),
        "/" => ("/", false),
        "/ui/app.js" => ("/ui/app.js", false),
        "/ui/app.css" => ("/ui/app.css", false),
        p if [
            "/plot/ranking/",
            "/plot/trend/",
            "/plot/tradeoff/",
            "/plot/sweep/",
            "/plot/interactivity/",
        ]
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
        "/workloads" => ("/workloads", true),
        "/goodput" => ("/goodput", true),
        "/compare" => ("/compare", true),
        "/plot/compare" => ("/plot/compare", true),
        "/regressions" => ("/regressions", true),
        "/capacity" => ("/capacity", true),
        p if p
            .strip_prefix("/sweep/")
            .is_some_and(|m| !m.is_empty() && !m.contains('/')) =>
        {
            ("/sweep/{metric}", true)
        }
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
        _ => return None,
    })
}

/// Routes `req` and checks what needs no waiting, in order: the path (404), the method (405),
/// the key and its rate limit (401, 403, 429), then answers what can be answered at once.
fn admit(app: &App, req: Request<Incoming>, surface: super::Surface, now: Instant) -> Step {
    use super::Surface;
    let path = req.uri().path();
    let admin = matches!(path, "/healthz" | "/readyz" | "/metrics");
    let here = match surface {
        Surface::Both => true,
        Surface::Api => !admin,
        Surface::Admin => admin,
    };
    let Some((route, protected)) = classify(path).filter(|_| here) else {
        return Step::Done("unmatched", Err(ApiError::NotFound));
    };
    let done = |result| Step::Done(route, result);
    if route == "/samples" {
        if req.method() != Method::POST {
            return done(Err(ApiError::MethodNotAllowed("POST")));
        }
        if app.write_keys.current().is_empty() {
            return done(Err(ApiError::Forbidden(
                "writes are off: serve has no write keys (server.write_keys)",
            )));
        }
        return match authorise(app, &req, Access::Write, now) {
            Ok(key) => Step::Later(route, Later::Samples(req, key)),
            Err(e) => done(Err(e)),
        };
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return done(Err(ApiError::MethodNotAllowed("GET, HEAD")));
    }
    if protected {
        if let Err(e) = authorise(app, &req, Access::Read, now) {
            return done(Err(e));
        }
    }
    let query = req.uri().query().unwrap_or("");
    if route == "/events" {
        // A stream: no deadline (it holds one of the stream slots instead).
        let stream = Params::parse(query, &[]).and_then(|_| {
            let slot = app.streams.take()?;
            Ok(super::events::response(
                app.data.clone(),
                app.closing.subscribe(),
                slot,
            ))
        });
        return done(stream);
    }
    // A copy: the header's bytes are in hyper's read buffer.
    let if_none_match = req
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    // A GET without a body (nearly all) has nothing to drain.
    let has_body = !hyper::body::Body::is_end_stream(req.body());
    if !has_body {
        if let Some(answer) = at_once(app, route, path, query, if_none_match.as_ref()) {
            return done(answer);
        }
    }
    let (path, query) = (path.to_string(), query.to_string());
    Step::Later(
        route,
        Later::Answer {
            path,
            query,
            if_none_match,
            body: has_body.then_some(req),
        },
    )
}

/// The answer of a route that needs no waiting, or a cached one in memory; `None`: wait for it.
fn at_once(
    app: &App,
    route: &'static str,
    path: &str,
    query: &str,
    if_none_match: Option<&HeaderValue>,
) -> Option<Result<Resp, ApiError>> {
    let answer = match route {
        "/healthz" => Ok(json_response(StatusCode::OK, json!({ "status": "ok" }))),
        "/metrics" => Ok(admin::metrics(app)),
        "/openapi.json" => Ok(bytes_response(
            Bytes::from_static(OPENAPI.as_bytes()),
            "application/json",
        )),
        "/" => Ok(asset(UI_HTML, "text/html; charset=utf-8")),
        "/ui/app.js" => Ok(asset(UI_JS, "text/javascript; charset=utf-8")),
        "/ui/app.css" => Ok(asset(UI_CSS, "text/css; charset=utf-8")),
        "/llms" => Params::parse(query, &[]).map(|_| lists::llms(app)),
        "/metric-types" => Params::parse(query, &[]).map(|_| lists::metric_types(app)),
        "/ranking/{metric}" => {
            let metric = decode(path.strip_prefix("/ranking/").unwrap_or(path));
            return answers::ranking_at_once(app, &metric, query, if_none_match);
        }
        _ => return None,
    };
    Some(answer)
}

impl Later {
    async fn run(self, app: &App, route: &'static str) -> Result<Resp, ApiError> {
        let (path, query, if_none_match, body) = match self {
            Later::Samples(req, key) => return super::samples::post(app, req, key).await,
            Later::Answer {
                path,
                query,
                if_none_match,
                body,
            } => (path, query, if_none_match, body),
        };
        // One deadline for the whole request: a client that never sends the body it announced
        // gets 408, an answer that takes too long 503, and neither holds its slot longer.
        let deadline = tokio::time::Instant::now() + app.request_timeout;
        if let Some(req) = body {
            tokio::time::timeout_at(deadline, drain_body(req, app.max_body_bytes))
                .await
                .map_err(|_| ApiError::RequestTimeout)??;
            if let Some(answer) = at_once(app, route, &path, &query, if_none_match.as_ref()) {
                return answer;
            }
        }
        let answer = async {
            match route {
                "/readyz" => admin::ready(app).await,
                "/runs" => lists::runs(app, &query).await,
                "/workloads" => lists::workloads(app, &query).await,
                "/goodput" => answers::goodput(app, &query, if_none_match).await,
                "/compare" => super::verdicts::compare(app, &query, if_none_match).await,
                "/plot/compare" => super::verdicts::plot_compare(app, &query, if_none_match).await,
                "/regressions" => super::verdicts::regressions(app, &query, if_none_match).await,
                "/capacity" => answers::capacity(app, &query, if_none_match).await,
                "/sweep/{metric}" => {
                    let metric = decode(path.strip_prefix("/sweep/").unwrap_or(&path));
                    answers::sweep(app, &metric, &query, if_none_match).await
                }
                "/plot/{kind}/{metric}" => {
                    let rest = path.strip_prefix("/plot/").unwrap_or(&path);
                    let (kind, metric) = rest.split_once('/').unwrap_or((rest, ""));
                    answers::plot(app, kind, &decode(metric), &query, if_none_match).await
                }
                "/history/{metric}" => {
                    let metric = decode(path.strip_prefix("/history/").unwrap_or(&path));
                    answers::history(app, &metric, &query, if_none_match).await
                }
                _ => {
                    // strip_prefix, not trim_start_matches: no substring searcher per request.
                    let metric = decode(path.strip_prefix("/ranking/").unwrap_or(&path));
                    answers::ranking(app, &metric, &query, if_none_match).await
                }
            }
        };
        tokio::time::timeout_at(deadline, answer)
            .await
            .map_err(|_| {
                ApiError::Busy("the answer took longer than server.request_timeout_ms".into())
            })?
    }
}

/// What a route needs of the `X-API-KEY` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// A read key (`server.api_keys`).
    Read,
    /// A write key (`server.write_keys`); a read key is 403.
    Write,
}

/// Checks the key against what the route needs, then the key's rate limit: no key or an
/// unknown one is 401, a read key where a write key is needed 403, too fast 429 (the rate as
/// of `now`). Returns which key it was.
fn authorise<B>(
    app: &App,
    req: &Request<B>,
    need: Access,
    now: Instant,
) -> Result<KeyId, ApiError> {
    let Some(key) = req.headers().get(X_API_KEY) else {
        return Err(ApiError::Unauthorized(match need {
            Access::Read => "missing X-API-KEY header",
            Access::Write => "missing X-API-KEY header (a write key)",
        }));
    };
    let key = key.as_bytes();
    let matched = match need {
        Access::Read => app.keys.current().matched(key),
        Access::Write => app.write_keys.current().matched(key),
    };
    let Some(id) = matched else {
        if need == Access::Write && app.keys.current().accepts(key) {
            return Err(ApiError::Forbidden(
                "this key may read, not write: POST /samples needs a write key (server.write_keys)",
            ));
        }
        return Err(ApiError::Unauthorized("invalid API key"));
    };
    app.rate_limits
        .check(id, now)
        .map_err(ApiError::TooManyRequests)?;
    Ok(id)
}

fn request_id<B>(req: &Request<B>) -> HeaderValue {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if let Some(v) = req.headers().get(X_REQUEST_ID) {
        let ok = v.len() <= 128
            && !v.is_empty()
            && v.as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b));
        // A copy: the header's bytes are in hyper's read buffer.
        if let Some(id) = ok
            .then(|| HeaderValue::from_bytes(v.as_bytes()).ok())
            .flatten()
        {
            return id;
        }
    }
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let prefix = *PREFIX.get_or_init(rand::random::<u32>);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // `{prefix:08x}-{n:012x}`, written without the formatting machinery (every request has one).
    let mut id = [b'-'; 21];
    hex_into(&mut id[..8], u64::from(prefix));
    hex_into(&mut id[9..], n);
    HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// The low `out.len()` hex digits of `v`, most significant first.
fn hex_into(out: &mut [u8], v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let last = out.len() - 1;
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = HEX[((v >> (4 * (last - i))) & 0xf) as usize];
    }
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

#[cfg(test)]
mod tests {
    use super::hex_into;

    #[test]
    fn hex_digits_match_the_formatter() {
        for v in [
            0u64,
            1,
            0xabc,
            0xdead_beef,
            u64::from(u32::MAX),
            0x0123_4567_89ab,
        ] {
            let mut eight = [0u8; 8];
            hex_into(&mut eight, v);
            assert_eq!(
                std::str::from_utf8(&eight).unwrap(),
                format!("{:08x}", v & 0xffff_ffff)
            );
            let mut twelve = [0u8; 12];
            hex_into(&mut twelve, v);
            assert_eq!(std::str::from_utf8(&twelve).unwrap(), format!("{v:012x}"));
        }
    }
}
