//! `rank --server URL`: the ranking from a running service instead of the database, over
//! http:// or https:// (rustls; the system's roots, plus a private CA through SSL_CERT_FILE).

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::HeaderValue;
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::Secret;
use crate::ranking::Ranking;
use crate::stats::Statistic;

/// Fetches `GET {server}/ranking/{metric}?by=...` (plus `extra` parameters such as the window)
/// with the API key.
pub async fn ranking(
    server: &str,
    api_key: &Secret,
    metric: &str,
    by: Statistic,
    extra: &[(&str, String)],
    timeout: Duration,
) -> Result<Ranking> {
    let base = check_server(server, api_key)?;
    let mut url = format!("{base}/ranking/{}?by={}", encode(metric), by.as_str());
    for (k, v) in extra {
        url.push_str(&format!("&{k}={}", encode(v)));
    }
    get_json(base, &url, api_key, timeout, "a ranking").await
}

/// `GET /goodput` of `server` with `query` (the SLO, window and filter).
pub async fn goodput(
    server: &str,
    api_key: &Secret,
    query: &[(&str, String)],
    timeout: Duration,
) -> Result<crate::goodput::Goodput> {
    let base = check_server(server, api_key)?;
    let params: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    let url = format!("{base}/goodput?{}", params.join("&"));
    get_json(base, &url, api_key, timeout, "a goodput ranking").await
}

fn check_server<'a>(server: &'a str, api_key: &Secret) -> Result<&'a str> {
    if api_key.is_empty() {
        bail!("no API key for {server}: pass --api-key, set LLMRANK_CLIENT__API_KEY or client.api_key");
    }
    let base = server.trim_end_matches('/');
    if !base.starts_with("http://") && !base.starts_with("https://") {
        bail!("--server must be an http:// or https:// URL, got {server:?}");
    }
    Ok(base)
}

async fn get_json<T: serde::de::DeserializeOwned>(
    base: &str,
    url: &str,
    api_key: &Secret,
    timeout: Duration,
    what: &str,
) -> Result<T> {
    let (status, body) = fetch(url, Some(api_key), timeout).await?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                let mut m = v.get("error")?.as_str()?.to_string();
                if let Some(valid) = v.get("valid_metrics").and_then(|x| x.as_array()) {
                    let names: Vec<&str> = valid.iter().filter_map(|x| x.as_str()).collect();
                    m.push_str(&format!("; valid metrics: {}", names.join(", ")));
                }
                Some(m)
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        bail!("{base} answered {}: {message}", status.as_u16());
    }
    serde_json::from_slice(&body)
        .with_context(|| format!("{base} sent {what} this version cannot read"))
}

/// Exits 0 when `url` answers 200: the image's HEALTHCHECK (`llmrank health`).
pub async fn health(url: &str, timeout: Duration) -> Result<()> {
    let (status, _) = fetch(url, None, timeout).await?;
    if status != hyper::StatusCode::OK {
        bail!("{url} answered {}", status.as_u16());
    }
    Ok(())
}

/// One GET, with an optional API key; the status and the whole body.
pub(crate) async fn fetch(
    url: &str,
    api_key: Option<&Secret>,
    timeout: Duration,
) -> Result<(hyper::StatusCode, Bytes)> {
    let uri: hyper::Uri = url
        .parse()
        .with_context(|| format!("invalid URL {url:?}"))?;
    let mut req = Request::get(uri).header("accept", "application/json");
    if let Some(key) = api_key {
        let key = HeaderValue::from_str(key.expose())
            .map_err(|_| anyhow!("the API key contains characters a header cannot carry"))?;
        req = req.header("x-api-key", key);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .context("failed to build the request")?;
    // https:// verified against the system's roots (SSL_CERT_FILE adds a private CA).
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .context("no root certificates to verify https:// servers with")?
        .https_or_http()
        .enable_http1()
        .build();
    let client = Client::builder(TokioExecutor::new()).build(https);
    let work = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| anyhow!("cannot reach {url}: {}", root_cause(&e)))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .context("failed to read the answer")?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| anyhow!("{url} did not answer within {} ms", timeout.as_millis()))?
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
