//! The request envelope and routing: one `match` on the path, a known path with the wrong
//! method is 405, anything else 404. Every answer gets an `X-Request-Id` and is counted by
//! route template; a handler's panic is a 500, not a dropped connection.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, IF_NONE_MATCH};
use hyper::{Method, Request, StatusCode};
use serde_json::json;

use super::auth::KeyId;
use super::error::ApiError;
use super::http::{bytes_response, decode, drain_body, json_response, Resp};
use super::params::Params;
use super::ui::{asset, OPENAPI, UI_CSS, UI_HTML, UI_JS};
use super::{admin, answers, lists, App};
use crate::telemetry;

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
    telemetry::http_request(
        route,
        method,
        status_label(resp.status()),
        started.elapsed().as_secs_f64(),
    );
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
        _ => return ("unmatched", Err(ApiError::NotFound)),
    };
    let result = async {
        if route == "/samples" {
            if req.method() != Method::POST {
                return Err(ApiError::MethodNotAllowed("POST"));
            }
            if app.write_keys.current().is_empty() {
                return Err(ApiError::Forbidden(
                    "writes are off: serve has no write keys (server.write_keys)",
                ));
            }
            let key = authorise(app, &req, Access::Write)?;
            return super::samples::post(app, req, key).await;
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(ApiError::MethodNotAllowed("GET, HEAD"));
        }
        if protected {
            authorise(app, &req, Access::Read)?;
        }
        let query = req.uri().query().unwrap_or("").to_string();
        if route == "/events" {
            // A stream: no deadline (it holds one of the stream slots instead).
            Params::parse(&query, &[])?;
            let slot = app.streams.take()?;
            return Ok(super::events::response(
                app.data.clone(),
                app.closing.subscribe(),
                slot,
            ));
        }
        let if_none_match = req.headers().get(IF_NONE_MATCH).cloned();
        // One deadline for the whole request: a client that never sends the body it announced
        // gets 408, an answer that takes too long 503, and neither holds its slot longer.
        let deadline = tokio::time::Instant::now() + app.request_timeout;
        // A GET without a body (nearly all) has nothing to drain and needs no timer for it.
        if !hyper::body::Body::is_end_stream(req.body()) {
            tokio::time::timeout_at(deadline, drain_body(req, app.max_body_bytes))
                .await
                .map_err(|_| ApiError::RequestTimeout)??;
        }
        let answer = async {
            match route {
                "/healthz" => Ok(json_response(StatusCode::OK, json!({ "status": "ok" }))),
                "/readyz" => admin::ready(app).await,
                "/metrics" => Ok(admin::metrics(app)),
                "/openapi.json" => Ok(bytes_response(
                    Bytes::from_static(OPENAPI.as_bytes()),
                    "application/json",
                )),
                "/llms" => {
                    Params::parse(&query, &[])?;
                    Ok(lists::llms(app))
                }
                "/metric-types" => {
                    Params::parse(&query, &[])?;
                    Ok(lists::metric_types(app))
                }
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
                "/" => Ok(asset(UI_HTML, "text/html; charset=utf-8")),
                "/ui/app.js" => Ok(asset(UI_JS, "text/javascript; charset=utf-8")),
                "/ui/app.css" => Ok(asset(UI_CSS, "text/css; charset=utf-8")),
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
    .await;
    (route, result)
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
/// unknown one is 401, a read key where a write key is needed 403, too fast 429. Returns
/// which key it was.
fn authorise<B>(app: &App, req: &Request<B>, need: Access) -> Result<KeyId, ApiError> {
    let Some(key) = req.headers().get("x-api-key") else {
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
        .check(id)
        .map_err(ApiError::TooManyRequests)?;
    Ok(id)
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
