//! The dashboard and the API's contract, embedded in the binary: no build step, no CDN.

use bytes::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::Response;

use super::http::{full, Resp};

/// The OpenAPI document, kept in the repo.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// The dashboard, embedded: no build step, no CDN.
pub const UI_HTML: &str = include_str!("ui/index.html");
pub const UI_JS: &str = include_str!("ui/app.js");
pub const UI_CSS: &str = include_str!("ui/app.css");

/// Nothing but this origin's own scripts, styles and API; no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A dashboard file, with the page's security headers.
pub fn asset(body: &'static str, content_type: &'static str) -> Resp {
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
