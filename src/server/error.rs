//! The one typed error: what went wrong for the client, mapped to a status and a JSON body.
//! Internal errors are logged with their cause chain; the client gets an opaque message.

use bytes::Bytes;
use hyper::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::http::{full, Resp};

/// Cloned when one failed computation answers every request that waited on it.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// 401: no key or a wrong one.
    Unauthorized(&'static str),
    /// 403: a key that may not do this (a read key on a write).
    Forbidden(&'static str),
    /// 415: a request body type the route does not read; what it reads.
    UnsupportedMediaType(String),
    /// 404: no such route.
    NotFound,
    /// 404: a metric the catalogue does not have.
    UnknownMetric {
        metric: String,
        suggestion: Option<String>,
        valid: Vec<String>,
    },
    /// 405, with the allowed methods.
    MethodNotAllowed(&'static str),
    /// 400: a bad query parameter.
    BadRequest(String),
    /// 413.
    TooLarge(u64),
    /// 400: the body ended (the connection closed or failed) before all of it arrived.
    BodyCutShort,
    /// 422: well-formed but refused (an Idempotency-Key reused with another body).
    Unprocessable(String),
    /// 408: the request's body did not arrive within the request deadline.
    RequestTimeout,
    /// 429 + Retry-After: this key's rate limit; when it may ask again.
    TooManyRequests(std::time::Duration),
    /// 404: no samples for the metric (in the window); the message says which.
    NoSamples(String),
    /// 503 + Retry-After: the database cannot be reached.
    Unavailable(String),
    /// 503 + Retry-After 1: the server is at a limit of its own (event streams, concurrent
    /// writes) or an answer ran out of time; the message says which.
    Busy(String),
    /// 500: logged, never shown.
    Internal(std::sync::Arc<anyhow::Error>),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound | ApiError::UnknownMetric { .. } | ApiError::NoSamples(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadRequest(_) | ApiError::BodyCutShort => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(&self) -> Value {
        let status = self.status().as_u16();
        match self {
            ApiError::Unauthorized(why) | ApiError::Forbidden(why) => {
                json!({ "error": why, "status": status })
            }
            ApiError::UnsupportedMediaType(why) => json!({ "error": why, "status": status }),
            ApiError::NotFound => json!({
                "error": "no such route; see /openapi.json",
                "status": status
            }),
            ApiError::UnknownMetric {
                metric,
                suggestion,
                valid,
            } => json!({
                "error": format!("unknown metric {metric:?}"),
                "status": status,
                "did_you_mean": suggestion,
                "valid_metrics": valid,
            }),
            ApiError::MethodNotAllowed(allow) => json!({
                "error": format!("method not allowed; allowed: {allow}"),
                "status": status
            }),
            ApiError::BadRequest(why) | ApiError::Unprocessable(why) => {
                json!({ "error": why, "status": status })
            }
            ApiError::BodyCutShort => json!({
                "error": "the request body was cut short: the connection ended before all of it arrived; nothing was written",
                "status": status
            }),
            ApiError::TooLarge(limit) => json!({
                "error": format!("request body too large; the limit is {limit} bytes"),
                "status": status
            }),
            ApiError::TooManyRequests(_) => json!({
                "error": "rate limit of this API key exceeded (server.rate_limit_per_key); retry after the Retry-After seconds",
                "status": status
            }),
            ApiError::RequestTimeout => json!({
                "error": "the request body did not arrive in time (server.request_timeout_ms)",
                "status": status
            }),
            ApiError::NoSamples(message) | ApiError::Busy(message) => json!({
                "error": message,
                "status": status
            }),
            ApiError::Unavailable(_) => json!({
                "error": "the database is unavailable; retry shortly",
                "status": status
            }),
            ApiError::Internal(_) => json!({ "error": "internal error", "status": status }),
        }
    }

    pub fn into_response(self) -> Resp {
        match &self {
            ApiError::Internal(e) => tracing::error!(error = %format!("{e:#}"), "internal error"),
            ApiError::Unavailable(e) => tracing::warn!(error = %e, "database unavailable"),
            _ => {}
        }
        let mut resp = Response::new(full(Bytes::from(self.body().to_string())));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match self {
            ApiError::MethodNotAllowed(allow) => {
                h.insert(ALLOW, HeaderValue::from_static(allow));
            }
            ApiError::Unavailable(_) => {
                h.insert(RETRY_AFTER, HeaderValue::from_static("5"));
            }
            ApiError::Busy(_) => {
                h.insert(RETRY_AFTER, HeaderValue::from_static("1"));
                // The connection goes too: a client turned away holds no slot meanwhile.
                h.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::TooManyRequests(wait) => {
                // Whole seconds, rounded up: never earlier than the bucket allows.
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                h.insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            ApiError::Unauthorized(_) => {
                h.insert(
                    "www-authenticate",
                    HeaderValue::from_static("ApiKey header=\"X-API-KEY\""),
                );
            }
            _ => {}
        }
        resp
    }
}

/// Sorts a database error into "unavailable" (connection trouble, busy) or internal.
pub fn from_db(e: anyhow::Error) -> ApiError {
    if crate::db::error::is_unavailable(&e) {
        ApiError::Unavailable(format!("{e:#}"))
    } else {
        ApiError::internal(e)
    }
}

impl From<super::http::BodyError> for ApiError {
    fn from(e: super::http::BodyError) -> Self {
        match e {
            super::http::BodyError::TooLarge(limit) => ApiError::TooLarge(limit),
            super::http::BodyError::CutShort => ApiError::BodyCutShort,
        }
    }
}

impl ApiError {
    pub fn internal(e: impl Into<anyhow::Error>) -> ApiError {
        ApiError::Internal(std::sync::Arc::new(e.into()))
    }
}

/// A window that cannot hold data answers like one that holds none (404, the reason said);
/// contradicting parameters are a bad request.
impl From<crate::window::WindowError> for ApiError {
    fn from(e: crate::window::WindowError) -> ApiError {
        match e {
            crate::window::WindowError::Empty(m) => ApiError::NoSamples(m),
            crate::window::WindowError::Conflict(m) => ApiError::BadRequest(m),
        }
    }
}
