//! `GET /events`: the data version as server-sent events, so an open dashboard redraws as soon
//! as new data commit instead of asking every few seconds. One event at once (the current
//! version), then one per change, and a comment every [`KEEP_ALIVE`] so a dead client or a
//! proxy's idle timeout shows. The stream is exempt from the request deadline but holds its
//! connection; at most `server.max_event_streams` are open at once (a share of
//! `server.max_connections`, so streams can never take the connections requests and probes
//! need): beyond it the answer is 503 and the page polls instead. It ends when the server
//! shuts down.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use http_body_util::{Either, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use hyper::Response;
use tokio::sync::{watch, OwnedSemaphorePermit};

use super::http::Body;
use crate::db::notify::DataState;

/// How often an idle stream says it is alive.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One event: `event: version` with the data version.
fn event(version: &str) -> Frame<Bytes> {
    Frame::data(Bytes::from(format!("event: version\ndata: {version}\n\n")))
}

struct Feed {
    data: watch::Receiver<Arc<DataState>>,
    closing: watch::Receiver<bool>,
    started: bool,
    /// This stream's place among `server.max_event_streams`, given back when it ends.
    _slot: OwnedSemaphorePermit,
}

/// The stream of versions from `data` until `closing` turns true; it holds `slot` while open.
pub fn response(
    mut data: watch::Receiver<Arc<DataState>>,
    closing: watch::Receiver<bool>,
    slot: OwnedSemaphorePermit,
) -> Response<Body> {
    data.mark_changed(); // the current version goes out first
    let feed = Feed {
        data,
        closing,
        started: false,
        _slot: slot,
    };
    let frames = stream::unfold(feed, |mut f| async move {
        if *f.closing.borrow() {
            return None;
        }
        let frame = tokio::select! {
            changed = f.data.changed() => {
                changed.ok()?;
                let version = f.data.borrow_and_update().version.clone();
                event(&version)
            }
            _ = f.closing.wait_for(|c| *c) => return None,
            () = tokio::time::sleep(KEEP_ALIVE), if f.started => {
                Frame::data(Bytes::from_static(b": keep-alive\n\n"))
            }
        };
        f.started = true;
        Some((Ok(frame), f))
    });
    let mut resp = Response::new(Either::Right(StreamBody::new(frames.boxed())));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    // Never reused: a browser that leaves the page closes the socket instead of keeping it to
    // drain the endless body (which would hold one of its six connections to this origin).
    h.insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}
