//! The HTTP service: hyper 1.x, no framework.
//!
//! Connections are accepted up to `server.max_connections` (beyond that, accepting waits) and
//! `server.max_connections_per_client` per client address (beyond that, the new connection is
//! closed at once, so one client cannot take every slot), each served by hyper's HTTP/1 with a
//! header read timeout and a header size limit (431); each request then has
//! `server.request_timeout_ms` to send its body and be answered (see `router`). Event streams
//! and writes have slots of their own (`server.max_event_streams`, `max_concurrent_writes`,
//! `write_memory_bytes`; see `limit::Slots`): beyond them a request is 503 at once, so neither
//! can take the connections, pool or memory the rest needs. On shutdown the listener closes,
//! open connections finish their in-flight request and close, and after
//! `server.shutdown_grace_ms` whatever is left is dropped.

mod admin;
pub mod alerts;
mod answers;
mod auth;
mod cached;
mod error;
mod events;
mod http;
mod limit;
mod lists;
mod params;
mod router;
mod samples;
mod ui;
mod verdicts;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use deadpool_postgres::Pool;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

pub use auth::WELL_KNOWN_KEYS;
pub use error::ApiError;

use crate::cache::Cache;
use crate::config::Settings;
use crate::db::notify::DataState;

/// Everything a request handler needs.
pub struct App {
    pub pool: Pool,
    /// One connection of its own for `/readyz`: slow queries that take the whole pool cannot
    /// make a healthy database look unreachable.
    pub ready_pool: Pool,
    pub cache: Cache,
    pub keys: Arc<auth::KeySet>,
    /// Keys that may `POST /samples`; empty: writes are off.
    pub write_keys: Arc<auth::KeySet>,
    pub max_samples_bytes: u64,
    pub data: watch::Receiver<Arc<DataState>>,
    pub metrics: PrometheusHandle,
    pub max_body_bytes: u64,
    /// How long a request may take to send its body and be answered.
    pub request_timeout: Duration,
    pub rate_limits: limit::RateLimits,
    /// Turns true when serving stops, ending event streams (`GET /events`).
    pub closing: watch::Sender<bool>,
    /// Open event streams (`server.max_event_streams`).
    pub streams: limit::Slots,
    /// `POST /samples` in progress (`server.max_concurrent_writes`, below
    /// `database.pool_size`: reads keep the rest of the pool).
    pub writes: limit::Slots,
    /// The memory writes in progress may hold, MiB (`server.write_memory_bytes`): each takes
    /// its body's size times what its format costs ([`InputFormat::memory_per_byte`]).
    ///
    /// [`InputFormat::memory_per_byte`]: crate::ingest::records::InputFormat::memory_per_byte
    pub write_memory: limit::Slots,
    /// The regression gauges' exposition, appended to /metrics (kept by
    /// [`alerts::keep_regression_gauges`]).
    pub regression_gauges: std::sync::RwLock<String>,
}

impl App {
    /// Connects to PostgreSQL (failing fast), starts the data-version listener and the cache.
    pub async fn new(settings: &Settings, metrics: PrometheusHandle) -> Result<App> {
        let file = (!settings.server.api_keys_file.is_empty())
            .then(|| std::path::PathBuf::from(&settings.server.api_keys_file));
        let keys = auth::KeySet::load(&settings.server.api_keys, file)?;
        if keys.current().is_empty() {
            bail!(
                "no API keys configured: set server.api_keys in the config file or LLMRANK_SERVER__API_KEYS=key1,key2"
            );
        }
        // Checked before connecting to anything: a mistake here is the operator's to fix.
        if keys.current().well_known_in_use() && !settings.server.allow_published_key {
            let listen: SocketAddr = settings.server.listen.parse().with_context(|| {
                format!(
                    "server.listen {:?} is not an address like 127.0.0.1:8080",
                    settings.server.listen
                )
            })?;
            if !listen.ip().is_loopback() {
                bail!(
                    "a publicly documented API key is configured and server.listen {listen} is not a loopback address: set your own keys (server.api_keys, at least 16 characters), or server.allow_published_key = true"
                );
            }
        }
        let write_file = (!settings.server.write_keys_file.is_empty())
            .then(|| std::path::PathBuf::from(&settings.server.write_keys_file));
        let write_keys =
            auth::KeySet::load_named("server.write_keys", &settings.server.write_keys, write_file)?;
        let pool = crate::db::pool(&settings.database, "llmrank-serve").await?;
        let mut ready = settings.database.clone();
        ready.pool_size = 1;
        let ready_pool = crate::db::pool(&ready, "llmrank-serve-ready").await?;
        let pg = crate::db::pg_config(&settings.database, "llmrank-serve-listen")?;
        let data = crate::db::notify::watch(pg).await?;
        let cache = Cache::new(&settings.redis, &settings.cache, keys.at_start())?;
        let (max_streams, max_writes) = shares(settings);
        Ok(App {
            pool,
            ready_pool,
            cache,
            keys: Arc::new(keys),
            write_keys: Arc::new(write_keys),
            max_samples_bytes: settings.server.max_samples_bytes,
            data,
            metrics,
            max_body_bytes: settings.server.max_body_bytes,
            request_timeout: Duration::from_millis(settings.server.request_timeout_ms.max(1)),
            rate_limits: limit::RateLimits::new(settings.server.rate_limit_per_key),
            closing: watch::channel(false).0,
            streams: limit::Slots::new(
                max_streams,
                crate::telemetry::STREAMS_REFUSED,
                "event streams are open (server.max_event_streams); poll the API instead",
            ),
            writes: limit::Slots::new(
                max_writes,
                crate::telemetry::WRITES_REFUSED,
                "writes allowed at once are in progress (server.max_concurrent_writes); retry after the Retry-After seconds",
            ),
            write_memory: limit::Slots::new(
                (settings.server.write_memory_bytes >> 20).max(1) as usize,
                crate::telemetry::WRITES_REFUSED,
                "MiB of server.write_memory_bytes are held by the writes in progress (a body costs its size, a whole JSON document 8 times it); retry after the Retry-After seconds",
            ),
            regression_gauges: std::sync::RwLock::new(String::new()),
        })
    }
}

/// How many event streams and concurrent writes serve allows: as configured (0: a quarter of
/// `server.max_connections`, of `database.pool_size`), but streams below the connections and
/// writes below the pool, so neither can take what requests, probes and reads need (settings
/// built in code skip the config's checks).
fn shares(s: &Settings) -> (usize, usize) {
    let share = |configured: u64, of: u64| {
        let of = of.max(2);
        match configured {
            0 => (of / 4).max(1),
            n => n.min(of - 1),
        }
    };
    let streams = share(s.server.max_event_streams, s.server.max_connections);
    let writes = share(
        s.server.max_concurrent_writes,
        u64::from(s.database.pool_size),
    );
    (streams as usize, writes as usize)
}

impl App {
    /// A pooled connection, or 503 when none comes in time.
    pub async fn connection(&self) -> Result<deadpool_postgres::Object, ApiError> {
        self.pool
            .get()
            .await
            .map_err(|e| error::from_db(anyhow::Error::new(e)))
    }
}

/// Limits of the connection layer.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    pub shutdown_grace: Duration,
}

impl From<&Settings> for Limits {
    fn from(s: &Settings) -> Self {
        Limits {
            header_read_timeout: Duration::from_millis(s.server.header_read_timeout_ms.max(1)),
            max_header_bytes: s.server.max_header_bytes.clamp(1_024, 1 << 20) as usize,
            max_connections: s.server.max_connections.clamp(1, 1_000_000) as usize,
            max_connections_per_client: s.server.max_connections_per_client.clamp(1, 1_000_000)
                as usize,
            shutdown_grace: Duration::from_millis(s.server.shutdown_grace_ms),
        }
    }
}

/// Open connections per client address, and a slot that gives one back when dropped.
#[derive(Default)]
struct PerClient(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

struct ClientSlot(Arc<PerClient>, std::net::IpAddr);

impl PerClient {
    /// A slot for `ip`, unless it already holds `max`.
    fn take(self: &Arc<Self>, ip: std::net::IpAddr, max: usize) -> Option<ClientSlot> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot(self.clone(), ip))
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut m = (self.0).0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// Binds `addr`; a taken port or bad address fails here, with the address in the message.
pub async fn bind(addr: &str) -> Result<TcpListener> {
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("server.listen {addr:?} is not an address like 127.0.0.1:8080"))?;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("failed to listen on {addr}"))
}

/// Serves until `shutdown` resolves, then drains in-flight requests within the grace period.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    serve_surface(listener, app, limits, shutdown, Surface::Both).await
}

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Everything: the API and `/healthz`, `/readyz`, `/metrics` (no admin listener).
    Both,
    /// The API only: the admin routes live on the admin listener.
    Api,
    /// `/healthz`, `/readyz` and `/metrics` only (`server.admin_listen`).
    Admin,
}

/// [`serve`] for one [`Surface`]: each listener has its own connection slots, so probes on
/// the admin listener answer whatever load the API carries.
pub async fn serve_surface(
    listener: TcpListener,
    app: Arc<App>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    surface: Surface,
) -> Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_client = Arc::new(PerClient::default());
    tokio::pin!(shutdown);
    let upkeep = {
        let handle = app.metrics.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        })
    };
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.context("connection limiter closed")?,
            () = &mut shutdown => break,
        };
        let Some((stream, peer)) = accept(&listener, &mut shutdown).await else {
            break;
        };
        let Some(client_slot) = per_client.take(peer.ip(), limits.max_connections_per_client)
        else {
            metrics::counter!(crate::telemetry::CONNECTIONS_REFUSED).increment(1);
            drop(stream); // this client holds enough connections already
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                router::handle(&app, req, surface)
            });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_header_size(limits.max_header_bytes)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        // A combinator, not an async block: rustc fails to prove an async block awaiting this
        // connection `Send` ("one type is more general than the other", its known limit with
        // the higher-ranked lifetimes of the service's answer type).
        tokio::spawn(futures_util::FutureExt::map(conn, move |_| {
            drop(client_slot);
            drop(permit);
        }));
    }
    drop(listener);
    app.closing.send_replace(true);
    drain(graceful, limits.shutdown_grace).await;
    upkeep.abort();
    Ok(())
}

/// The next connection, or `None` once `shutdown` resolves. An accept error (out of file
/// descriptors and the like) is logged and tried again after a pause: never spun on.
async fn accept<F: Future<Output = ()>>(
    listener: &TcpListener,
    shutdown: &mut std::pin::Pin<&mut F>,
) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => return Some(accepted),
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(50)) => {}
                        () = shutdown.as_mut() => return None,
                    }
                }
            },
            () = shutdown.as_mut() => return None,
        }
    }
}

/// Lets open connections finish their in-flight request and close, for at most `grace`.
async fn drain(graceful: hyper_util::server::graceful::GracefulShutdown, grace: Duration) {
    tracing::info!("shutting down: draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "grace period over; dropping open connections");
        }
    }
}

/// A server for `/metrics` and `/healthz` only: what continuous `simulate` exposes. Accept
/// errors and shutdown are handled like the main listener's: a pause instead of a spin, and
/// in-flight scrapes drained for at most `grace`.
pub async fn serve_metrics(
    listener: TcpListener,
    handle: PrometheusHandle,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> Result<()> {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::{Response, StatusCode};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let Some((stream, _)) = accept(&listener, &mut shutdown).await else {
            break;
        };
        let handle = handle.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let handle = handle.clone();
                async move {
                    let (status, ctype, body) = match req.uri().path() {
                        "/metrics" => {
                            handle.run_upkeep();
                            (
                                StatusCode::OK,
                                crate::telemetry::EXPOSITION_CONTENT_TYPE,
                                handle.render(),
                            )
                        }
                        "/healthz" => (
                            StatusCode::OK,
                            "application/json",
                            "{\"status\":\"ok\"}".into(),
                        ),
                        _ => (
                            StatusCode::NOT_FOUND,
                            "application/json",
                            "{\"error\":\"only /metrics and /healthz here\",\"status\":404}".into(),
                        ),
                    };
                    let mut resp = Response::new(Full::new(Bytes::from(body)));
                    *resp.status_mut() = status;
                    resp.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static(ctype),
                    );
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(5))
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    drain(graceful, grace).await;
    Ok(())
}
