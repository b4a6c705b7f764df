//! Cached answers' plumbing: each answer is keyed by what it depends on (its parameters and
//! resolved bounds) and the data version, sent with an ETag (304 when the client holds it),
//! served from memory at once when it is there ([`Asked::at_once`]) and otherwise from Redis or
//! computed once per key on a pooled connection ([`Asked::send`]).

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, ETAG};
use hyper::{Response, StatusCode};
use serde::Serialize;

use super::error::ApiError;
use super::http::{bytes_response, etag_matches, full, insert, Resp, X_CACHE};
use super::App;
use crate::cache::Layer;
use crate::db::catalogue::Catalogue;
use crate::db::notify::DataState;
use crate::domain::{MetricInfo, RunFilter};
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
pub(super) fn answer<T: Serialize>(body: &T, version: &str) -> Result<Bytes, ApiError> {
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

    /// The catalogue of this request's snapshot.
    pub(super) fn catalogue(&self) -> &Catalogue {
        &self.state.catalogue
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
pub(super) const KEY_CAPACITY: usize = 96;

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
pub(super) fn filter_key(f: &RunFilter, include_reported: bool) -> KeyPart {
    use sha2::Digest;
    let r = if include_reported { "+r" } else { "" };
    if f.is_default() {
        return KeyPart::Static(if include_reported { "*+r" } else { "*" });
    }
    let digest = sha2::Sha256::digest(f.key().as_bytes());
    KeyPart::Owned(format!("{}{r}", crate::hash::hex(&digest[..16])))
}

/// Cache key part of resolved bounds: `*` for an open end.
pub(super) fn bounds_key(b: &Bounds) -> KeyPart {
    match (b.from, b.to) {
        (None, None) => KeyPart::Static("*-*"),
        (from, to) => {
            let end = |x: Option<i64>| x.map_or_else(|| "*".to_string(), |v| v.to_string());
            KeyPart::Owned(format!("{}-{}", end(from), end(to)))
        }
    }
}

/// A piece of a cache key: the common ones (all time, no filter) without an allocation.
pub(super) enum KeyPart {
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

/// `2026-11-27T23:54:37Z`.
pub(super) fn rfc3339(t: SystemTime) -> String {
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
    fn an_etag_is_the_version_and_the_key_quoted() {
        let tag = etag("12-abc", "ranking.1.mean.*-*.*");
        assert_eq!(tag, "\"12-abc.ranking.1.mean.*-*.*\"");
        assert_eq!(tag.capacity(), tag.len(), "one allocation, no slack");
    }
}
