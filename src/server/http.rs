//! The leaf every handler shares: the body type of every answer, whole answers (JSON, bytes),
//! bounded request bodies, path decoding and ETag matching. Imports nothing else of `server`
//! (a body over its limit or cut short is a [`BodyError`], which `ApiError` turns into a 413
//! or a 400).

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};

/// Every answer's body: a whole one, or a stream (`GET /events`).
pub type Body = Either<
    Full<Bytes>,
    StreamBody<
        futures_util::stream::BoxStream<'static, Result<Frame<Bytes>, std::convert::Infallible>>,
    >,
>;

/// Every answer.
pub type Resp = Response<Body>;

// Header names of our own, made once: a name given as text is parsed on every use.
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// A whole body.
pub fn full(bytes: Bytes) -> Body {
    Either::Left(Full::new(bytes))
}

pub fn json_response(status: StatusCode, body: serde_json::Value) -> Resp {
    let mut resp = bytes_response(Bytes::from(body.to_string()), "application/json");
    *resp.status_mut() = status;
    resp
}

pub fn bytes_response(body: Bytes, content_type: &'static str) -> Resp {
    let mut resp = Response::new(full(body));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

pub fn insert(resp: &mut Resp, name: hyper::header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

pub fn etag_matches(header: &HeaderValue, etag: &str) -> bool {
    header.to_str().is_ok_and(|v| {
        v.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == etag || t == "*")
    })
}

/// Why a request body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over its limit, in bytes (413).
    TooLarge(u64),
    /// The connection failed or closed before the body ended (400).
    CutShort,
}

/// The body's length as its Content-Length says, when it says.
pub fn declared_length<B>(req: &Request<B>) -> Option<u64> {
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Reads (and discards) a request body, refusing one over the limit.
pub async fn drain_body(req: Request<Incoming>, limit: u64) -> Result<(), BodyError> {
    read_body(req, limit).await.map(|_| ())
}

/// Reads a request body, refusing one over `limit` bytes (413): by its Content-Length before
/// reading anything, else as it arrives. Read into one buffer of the declared length, so a
/// body costs its own size in memory once.
pub async fn read_body(req: Request<Incoming>, limit: u64) -> Result<Bytes, BodyError> {
    let declared = declared_length(&req);
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut body = req.into_body();
    let mut buf = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::CutShort)?;
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > limit {
                return Err(BodyError::TooLarge(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// A percent-decoded path segment (`+` stays `+`).
pub fn decode(s: &str) -> std::borrow::Cow<'_, str> {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy()
}

#[cfg(test)]
mod tests {
    use super::*;

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
