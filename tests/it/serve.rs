//! `llmrank serve` against real PostgreSQL and Redis: auth, errors, cache, outages, shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::StreamExt;
use llmrank::cmd::simulate;
use llmrank::config::{Secret, Settings};
use llmrank::server::{self, App, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::helpers::{llmrank, pg_addr, redis_url, stdout, Gate, GateMode, PrivateRedis, TestDb};

pub(crate) const KEY: &str = "test-key-0123456789";
const KEY2: &str = "second-key-abcdef";

pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    pub(crate) async fn start(settings: &Settings) -> Server {
        let app = App::new(settings, llmrank::telemetry::recorder().unwrap())
            .await
            .expect("app");
        let listener = server::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel();
        let done = tokio::spawn(server::serve(
            listener,
            Arc::new(app),
            Limits::from(settings),
            async move {
                let _ = rx.await;
            },
        ));
        Server {
            addr,
            stop: Some(tx),
            done,
        }
    }

    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.done.await.unwrap().unwrap();
    }
}

#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub(crate) async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_string(),
    }
}

pub(crate) async fn get(addr: SocketAddr, path: &str) -> Resp {
    http(addr, "GET", path, &[("X-API-KEY", KEY)], "").await
}

pub(crate) async fn setup() -> (TestDb, Settings) {
    let (db, mut s) = TestDb::seeded().await;
    s.server.api_keys = vec![Secret::new(KEY), Secret::new(KEY2)];
    s.redis.url = Secret::new(redis_url().await);
    simulate::run(&s, &simulate::Options::default())
        .await
        .unwrap();
    (db, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_matrix_and_open_endpoints() {
    let (_db, s) = setup().await;
    let srv = Server::start(&s).await;
    let a = srv.addr;
    for path in ["/ranking/TTFT", "/llms", "/metric-types"] {
        let r = http(a, "GET", path, &[], "").await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.json()["error"], "missing X-API-KEY header");
        let r = http(a, "GET", path, &[("X-API-KEY", "wrong")], "").await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.json()["error"], "invalid API key");
        for key in [KEY, KEY2] {
            assert_eq!(
                http(a, "GET", path, &[("X-API-KEY", key)], "").await.status,
                200,
                "{path}"
            );
        }
    }
    for path in ["/metrics", "/healthz", "/readyz", "/openapi.json"] {
        let r = http(a, "GET", path, &[], "").await;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header("x-request-id").is_some());
    }
    let llms = get(a, "/llms").await.json();
    assert_eq!(llms["llms"].as_array().unwrap().len(), 12);
    let metrics = get(a, "/metric-types").await.json();
    assert_eq!(metrics["metrics"][0]["name"], "TTFT");
    assert_eq!(metrics["metrics"][0]["direction"], "lower");
    let doc = http(a, "GET", "/openapi.json", &[], "").await;
    let file =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap();
    assert_eq!(doc.body, file);
    let doc = doc.json();
    for path in [
        "/ranking/{metric}",
        "/history/{metric}",
        "/llms",
        "/metric-types",
        "/metrics",
        "/healthz",
        "/readyz",
        "/samples",
        "/runs",
        "/events",
        "/plot/{kind}/{metric}",
        "/plot/ranking/goodput",
        "/plot/sweep/{metric}",
        "/plot/interactivity/{metric}",
        "/goodput",
        "/capacity",
        "/sweep/{metric}",
        "/compare",
        "/plot/compare",
        "/regressions",
        "/",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "openapi.json lacks {path}"
        );
    }
    srv.stop().await;
}

/// A 503 turned away at a limit of serve's own: `Retry-After: 1`, the setting named, the
/// connection closed.
pub(crate) fn assert_busy(r: &Resp, setting: &str) {
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.header("connection"), Some("close"));
    let e = r.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(e.contains(setting), "{e}");
}

/// The value of an unlabelled counter in a Prometheus exposition (0 when absent).
pub(crate) fn counter(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A connection asking for `GET /events` with the read key.
pub(crate) async fn open_events(a: SocketAddr) -> tokio::net::TcpStream {
    let mut st = tokio::net::TcpStream::connect(a).await.unwrap();
    st.write_all(format!("GET /events HTTP/1.1\r\nHost: x\r\nX-API-KEY: {KEY}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    st
}

/// Reads from an event stream until a whole event (a blank line) has arrived; its `data`.
async fn next_event(s: &mut tokio::net::TcpStream, buf: &mut String) -> String {
    loop {
        // Chunked transfer: frame headers sit between the event's lines; events end "\n\n".
        if let Some(i) = buf.find("\n\n") {
            let event: String = buf.drain(..i + 2).collect();
            if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                return data.to_string();
            }
            continue;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("an event within 10 s")
            .unwrap();
        assert!(n > 0, "the stream ended early: {buf}");
        buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_sends_each_data_version_and_ends_at_shutdown() {
    let (db, mut s) = setup().await;
    s.server.request_timeout_ms = 500;
    let srv = Server::start(&s).await;
    let a = srv.addr;
    let r = http(a, "GET", "/events", &[], "").await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = http(a, "GET", "/events?x=1", &[("X-API-KEY", KEY)], "").await;
    assert_eq!(r.status, 400, "{}", r.body);

    let mut st = open_events(a).await;
    let mut buf = String::new();
    while !buf.contains("\r\n\r\n") {
        let mut chunk = [0u8; 1024];
        let n = st.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    let (head, body) = buf.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert!(head.contains("cache-control: no-store"), "{head}");
    buf = body.to_string();
    let first = next_event(&mut st, &mut buf).await;
    let version = get(a, "/ranking/TTFT").await.json()["data_version"].clone();
    assert_eq!(
        serde_json::json!(first),
        version,
        "the current version comes first"
    );
    // The stream outlives the request deadline, and each new version arrives on it.
    tokio::time::sleep(std::time::Duration::from_millis(
        s.server.request_timeout_ms + 200,
    ))
    .await;
    crate::helpers::move_data_version(&db.client().await).await;
    let second = next_event(&mut st, &mut buf).await;
    assert_ne!(second, first);
    assert_eq!(
        serde_json::json!(second),
        get(a, "/ranking/TTFT").await.json()["data_version"]
    );

    // Shutdown ends the stream at once, not after the grace period.
    let started = std::time::Instant::now();
    srv.stop().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let mut rest = Vec::new();
    let _ =
        tokio::time::timeout(std::time::Duration::from_secs(5), st.read_to_end(&mut rest)).await;
    assert!(
        String::from_utf8_lossy(&rest).ends_with("0\r\n\r\n"),
        "the stream ends cleanly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_have_their_own_cap_and_leave_connections_for_requests() {
    let (_db, mut s) = setup().await;
    s.server.max_connections = 8;
    let srv = Server::start(&s).await;
    let a = srv.addr;
    // A quarter of the connections by default: two streams.
    let mut streams = Vec::new();
    for _ in 0..2 {
        let mut st = open_events(a).await;
        let mut buf = String::new();
        next_event(&mut st, &mut buf).await;
        streams.push(st);
    }
    // A third is 503 with Retry-After (the page polls instead), and counted.
    let refused = || async {
        counter(
            &get(a, "/metrics").await.body,
            "llmrank_http_streams_refused_total",
        )
    };
    let before = refused().await;
    let r = http(a, "GET", "/events", &[("X-API-KEY", KEY)], "").await;
    assert_busy(&r, "server.max_event_streams");
    // Requests and probes still answer while the streams stay open.
    for path in ["/healthz", "/readyz", "/ranking/TTFT"] {
        let r = tokio::time::timeout(std::time::Duration::from_secs(5), get(a, path))
            .await
            .expect("an answer while streams are open");
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    assert!(refused().await > before, "the refusal is counted");
    // A stream that ends gives its place back.
    drop(streams.pop());
    let mut opened = false;
    for _ in 0..50 {
        let mut st = open_events(a).await;
        let mut head = [0u8; 12];
        st.read_exact(&mut head).await.unwrap();
        if &head == b"HTTP/1.1 200" {
            opened = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(opened, "a stream opens again once one has ended");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json_with_the_right_status() {
    let (_db, s) = setup().await;
    let srv = Server::start(&s).await;
    let a = srv.addr;
    let r = get(a, "/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("x-request-id").is_some());

    let r = get(a, "/ranking/ttft").await;
    assert_eq!(r.status, 404);
    let j = r.json();
    assert_eq!(j["error"], "unknown metric \"ttft\"");
    assert_eq!(j["did_you_mean"], "TTFT");
    assert_eq!(
        j["valid_metrics"],
        serde_json::json!(["TTFT", "TPS", "e2e_latency", "RPS"])
    );

    let r = http(a, "POST", "/ranking/TTFT", &[("X-API-KEY", KEY)], "{}").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));

    let r = get(a, "/ranking/TTFT?by=p42").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"],
        "invalid by=\"p42\"; allowed: mean, p50, p90, p95, p99"
    );
    let r = get(a, "/ranking/TTFT?window=forever").await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .starts_with("invalid window=\"forever\""));
    let r = get(
        a,
        "/ranking/TTFT?from=2026-11-29T10:00:00Z&to=2026-11-29T09:00:00Z",
    )
    .await;
    // A window that holds nothing holds no samples: 404, the reason said.
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("must be before"));
    let r = get(a, "/history/TTFT?bucket=5m").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"],
        "invalid bucket=\"5m\": invalid bucket \"5m\"; allowed: 1h, 1d, auto"
    );
    // Ten years in hours: narrowed to the time that holds data (at most 5,000 hours), not refused.
    let r = get(a, "/history/TTFT?window=3650d").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let w = &r.json()["window"];
    let (from, to) = (
        llmrank::window::parse_rfc3339(w["from"].as_str().unwrap()).unwrap(),
        llmrank::window::parse_rfc3339(w["to"].as_str().unwrap()).unwrap(),
    );
    assert!(to - from <= 5_000 * 3_600, "{w}");
    let r = get(a, "/history/TTFTX").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["did_you_mean"], "TTFT");
    let r = get(a, "/ranking/TTFT?sort=p99").await;
    assert_eq!(r.status, 400);

    let big = "x".repeat(20_000);
    let r = http(a, "GET", "/ranking/TTFT", &[("X-API-KEY", KEY)], &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(
        r.json()["error"],
        "request body too large; the limit is 16384 bytes"
    );

    let r = http(a, "GET", "/healthz", &[("X-Request-Id", "abc-123")], "").await;
    assert_eq!(r.header("x-request-id"), Some("abc-123"));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranking_equals_the_cli_and_the_cache_moves_from_miss_to_memory() {
    let (db, s) = setup().await;
    let srv = Server::start(&s).await;
    let a = srv.addr;
    let first = get(a, "/ranking/e2e_latency?by=p99").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("x-cache"), Some("miss"));
    let second = get(a, "/ranking/e2e_latency?by=p99").await;
    assert_eq!(second.header("x-cache"), Some("memory"));
    assert_eq!(first.body, second.body);

    let mut api = first.json();
    assert!(api["generated_at"].as_str().unwrap().ends_with('Z'));
    assert!(api["data_version"].is_string());
    let obj = api.as_object_mut().unwrap();
    obj.remove("generated_at");
    obj.remove("data_version");
    let url = db.url();
    let cli = llmrank(
        &["rank", "e2e_latency", "--by", "p99", "--format", "json"],
        &[("LLMRANK_DATABASE__URL", &url)],
    );
    let cli: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(api, cli);

    // ETag and 304.
    let etag = first.header("etag").unwrap().to_string();
    let r = http(
        a,
        "GET",
        "/ranking/e2e_latency?by=p99",
        &[("X-API-KEY", KEY), ("If-None-Match", &etag)],
        "",
    )
    .await;
    assert_eq!(r.status, 304);
    assert_eq!(r.body, "");

    // A new run changes the data version: the next answer is recomputed and holds the new rows.
    let mut s2 = s.clone();
    s2.simulate.seed = 99;
    simulate::run(&s2, &simulate::Options::default())
        .await
        .unwrap();
    let mut fresh = get(a, "/ranking/e2e_latency?by=p99").await;
    // The version arrives by NOTIFY, milliseconds after the commit: poll, do not sleep blind.
    for _ in 0..200 {
        if fresh.header("x-cache") != Some("memory") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        fresh = get(a, "/ranking/e2e_latency?by=p99").await;
    }
    assert_eq!(fresh.header("x-cache"), Some("miss"));
    assert_eq!(fresh.json()["rankings"][0]["n"], 400);
    assert_ne!(fresh.header("etag").unwrap(), etag);
    let r = http(
        a,
        "GET",
        "/ranking/e2e_latency?by=p99",
        &[("X-API-KEY", KEY), ("If-None-Match", &etag)],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "an old ETag must not get 304");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_answers_through_redis_and_misses_compute_once() {
    let (_db, s) = setup().await;
    let one = Server::start(&s).await;
    let two = Server::start(&s).await;
    let r = get(one.addr, "/ranking/TPS").await;
    assert_eq!(r.header("x-cache"), Some("miss"));
    let r2 = get(two.addr, "/ranking/TPS").await;
    assert_eq!(r2.header("x-cache"), Some("redis"));
    assert_eq!(r.body, r2.body);

    // Twenty concurrent first requests for another key: one computes, the rest wait for it.
    let answers =
        futures_util::future::join_all((0..20).map(|_| get(one.addr, "/ranking/RPS?by=p90"))).await;
    let misses = answers
        .iter()
        .filter(|r| r.header("x-cache") == Some("miss"))
        .count();
    assert!(answers.iter().all(|r| r.status == 200));
    assert_eq!(misses, 1, "single flight: exactly one computation");
    one.stop().await;
    two.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_still_answers_from_postgres() {
    let (_db, mut s) = setup().await;
    s.redis.url = Secret::new("redis://127.0.0.1:1");
    let srv = Server::start(&s).await;
    let r = get(srv.addr, "/ranking/TTFT").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-cache"), Some("miss"));
    assert_eq!(
        get(srv.addr, "/ranking/TTFT").await.header("x-cache"),
        Some("memory")
    );
    let m = http(srv.addr, "GET", "/metrics", &[], "").await.body;
    let errors: f64 = m
        .lines()
        .find(|l| l.starts_with("llmrank_cache_errors_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(errors >= 1.0, "{m}");
    srv.stop().await;
}

/// [`setup`], the database reached through a [`Gate`] the test can close or stall.
async fn setup_behind_gate() -> (TestDb, Settings, Gate) {
    let (db, mut s) = setup().await;
    let gate = Gate::start(pg_addr()).await;
    s.database.url = Secret::new(format!("postgres://postgres@{}/{}", gate.addr, db.name));
    (db, s, gate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_gives_503_then_recovers_without_restart() {
    let (_db, mut s, gate) = setup_behind_gate().await;
    s.database.pool_wait_timeout_ms = 500;
    s.database.connect_timeout_ms = 500;
    let srv = Server::start(&s).await;
    assert_eq!(get(srv.addr, "/ranking/TTFT").await.status, 200);

    gate.set(GateMode::Closed);
    let started = std::time::Instant::now();
    let r = get(srv.addr, "/ranking/TTFT?by=p90").await;
    let answered_in = started.elapsed();
    assert_eq!(r.status, 503, "{}", r.body);
    // Within the pool's wait and connect deadlines, not a hang.
    assert!(
        answered_in < std::time::Duration::from_secs(2),
        "{answered_in:?}"
    );
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(
        r.json()["error"],
        "the database is unavailable; retry shortly"
    );
    let r = http(srv.addr, "GET", "/readyz", &[], "").await;
    assert_eq!(r.status, 503);
    assert_eq!(http(srv.addr, "GET", "/healthz", &[], "").await.status, 200);
    // Cached answers keep coming while the database is away.
    assert_eq!(get(srv.addr, "/ranking/TTFT").await.status, 200);

    gate.set(GateMode::Open);
    let r = get(srv.addr, "/ranking/TTFT?by=p90").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(http(srv.addr, "GET", "/readyz", &[], "").await.status, 200);
    crate::helpers::report(
        &format!(
            "PostgreSQL lost under serve: 503 + Retry-After in {} ms, recovered without restart",
            answered_in.as_millis()
        ),
        1,
        0,
        0,
        0,
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_out_of_time_says_so_and_is_not_called_a_database_outage() {
    let (_db, mut s, gate) = setup_behind_gate().await;
    s.server.request_timeout_ms = 500;
    let srv = Server::start(&s).await;
    assert_eq!(get(srv.addr, "/ranking/TTFT").await.status, 200);
    // The database answers, slowly: the deadline passes first.
    gate.set(GateMode::Stalled);
    let r = get(srv.addr, "/ranking/TTFT?by=p90").await;
    gate.set(GateMode::Open);
    assert_busy(&r, "server.request_timeout_ms");
    assert!(!r.body.contains("database is unavailable"), "{}", r.body);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_completes_the_request_in_flight() {
    let (db, s, gate) = setup_behind_gate().await;
    let mut srv = Server::start(&s).await;
    let addr = srv.addr;
    // The data-version listener connects in the background: wait until it has (a change it
    // hears moves the ETag), so the query held at the gate below is the request's, not its.
    let before = get(addr, "/ranking/TPS").await;
    crate::helpers::move_data_version(&db.client().await).await;
    let mut heard = false;
    for _ in 0..500 {
        if get(addr, "/ranking/TPS").await.header("etag") != before.header("etag") {
            heard = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(heard, "the listener never heard the change");
    gate.set(GateMode::Stalled);
    let in_flight = tokio::spawn(async move { get(addr, "/ranking/TPS?by=p50").await });
    // Wait until the request's query is held at the gate: it is in flight inside the server.
    for _ in 0..1_000 {
        if gate.held.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(
        gate.held.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the request never reached the database"
    );
    srv.stop.take().unwrap().send(()).unwrap();
    tokio::task::yield_now().await;
    gate.set(GateMode::Open);
    let r = in_flight.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    srv.done.await.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_exposition_after_traffic_passes_promtool() {
    let (_db, s) = setup().await;
    let srv = Server::start(&s).await;
    get(srv.addr, "/ranking/TTFT").await;
    get(srv.addr, "/ranking/TTFT").await;
    get(srv.addr, "/nope").await;
    let body = http(srv.addr, "GET", "/metrics", &[], "").await.body;
    for name in [
        "llmrank_http_requests_total{route=\"/ranking/{metric}\",method=\"GET\",status=\"200\"}",
        "llmrank_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}",
        "llmrank_http_request_duration_seconds_bucket",
        "llmrank_cache_requests_total{layer=\"memory\",result=\"hit\"}",
        "llmrank_db_query_duration_seconds_bucket{query=\"ranking\"",
        "llmrank_db_pool_connections{state=\"idle\"}",
        "# HELP llmrank_samples_written_total",
        "# HELP llmrank_batches_retried_total",
    ] {
        assert!(body.contains(name), "{name} missing from /metrics:\n{body}");
    }
    assert!(
        !body.contains("ttft\"") && !body.contains(KEY),
        "unbounded labels leaked"
    );
    let promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool not found: install it with `apt-get install prometheus` (scripts/test.sh does)");
    let mut child = promtool;
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rank_server_equals_rank() {
    let (db, s) = setup().await;
    let srv = Server::start(&s).await;
    let url = db.url();
    let server = format!("http://{}", srv.addr);
    let env = [
        ("LLMRANK_DATABASE__URL", url.as_str()),
        ("LLMRANK_CLIENT__API_KEY", KEY),
    ];
    for format in ["table", "json", "csv"] {
        let local = llmrank(&["rank", "RPS", "--by", "p50", "--format", format], &env);
        let remote = tokio::task::spawn_blocking({
            let server = server.clone();
            let url = url.clone();
            move || {
                llmrank(
                    &[
                        "rank", "RPS", "--by", "p50", "--format", format, "--server", &server,
                    ],
                    &[
                        ("LLMRANK_DATABASE__URL", url.as_str()),
                        ("LLMRANK_CLIENT__API_KEY", KEY),
                    ],
                )
            }
        })
        .await
        .unwrap();
        assert!(
            remote.status.success(),
            "{}",
            String::from_utf8_lossy(&remote.stderr)
        );
        assert_eq!(stdout(&local), stdout(&remote), "{format}");
    }
    let bad = tokio::task::spawn_blocking(move || {
        llmrank(&["rank", "rps", "--server", &server, "--api-key", KEY], &[])
    })
    .await
    .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).ends_with(
            "answered 404: unknown metric \"rps\"; valid metrics: TTFT, TPS, e2e_latency, RPS\n"
        ),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_level_is_used_again_when_redis_returns() {
    let (_db, mut s) = setup().await;
    let port = crate::helpers::free_port();
    let mut redis = PrivateRedis::start_on(port);
    redis.wait_up().await;
    s.redis.url = Secret::new(format!("redis://127.0.0.1:{port}"));
    let a = Server::start(&s).await;
    let b = Server::start(&s).await;
    assert_eq!(
        get(a.addr, "/ranking/TTFT").await.header("x-cache"),
        Some("miss")
    );
    assert_eq!(
        get(b.addr, "/ranking/TTFT").await.header("x-cache"),
        Some("redis")
    );

    redis.stop();
    let r = get(a.addr, "/ranking/TPS").await;
    assert_eq!(
        (r.status, r.header("x-cache")),
        (200, Some("miss")),
        "{}",
        r.body
    );
    let r = get(b.addr, "/ranking/TPS").await;
    assert_eq!(
        (r.status, r.header("x-cache")),
        (200, Some("miss")),
        "Redis is down: nothing shared"
    );

    let redis = PrivateRedis::start_on(port);
    redis.wait_up().await;
    // After a short pause following errors, each server tries Redis again by itself. Each
    // round writes a little new data, so the data version (and every key) is fresh, waits until
    // both servers see it, lets A compute and store, and asks B.
    let mut shared = false;
    for round in 0..100 {
        let mut more = s.clone();
        more.simulate.samples = 10;
        more.simulate.seed = 1_000 + round;
        llmrank::cmd::simulate::run(&more, &Default::default())
            .await
            .unwrap();
        let version = |r: &Resp| r.json()["data_version"].as_str().map(String::from);
        let want = format!("{}", (round + 2) * 12);
        for _ in 0..500 {
            let (va, vb) = (
                version(&get(a.addr, "/ranking/TTFT?by=p90").await),
                version(&get(b.addr, "/ranking/TTFT?by=p90").await),
            );
            if va.is_some()
                && va == vb
                && va
                    .as_deref()
                    .is_some_and(|v| v.starts_with(&format!("{want}-")))
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(get(a.addr, "/ranking/RPS").await.status, 200);
        if get(b.addr, "/ranking/RPS").await.header("x-cache") == Some("redis") {
            shared = true;
            break;
        }
    }
    assert!(
        shared,
        "the second server never got an answer from Redis after it returned"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_history_and_etags_cover_every_parameter() {
    let (db, mut s) = TestDb::seeded().await;
    s.server.api_keys = vec![Secret::new(KEY)];
    s.redis.url = Secret::new(redis_url().await);
    s.simulate.samples = 600;
    s.cache.memory_entries = 8;
    s.cache.memory_bytes = 40_000;
    simulate::run(
        &s,
        &simulate::Options {
            span_secs: 30 * 3_600,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let srv = Server::start(&s).await;
    let a = srv.addr;

    let all = get(a, "/ranking/TTFT").await;
    assert_eq!(all.status, 200);
    let j = all.json();
    assert_eq!(j["window"], serde_json::json!({"from": null, "to": null}));
    assert_eq!(j["method"], "summary");
    assert_eq!(j["percentile_relative_error"], 0.005);
    assert!(j["rankings"][0]["p95"].is_number());
    assert_eq!(j["rankings"][0]["n"], 600);

    let day = get(a, "/ranking/TTFT?window=24h").await;
    assert_eq!(day.status, 200);
    let dj = day.json();
    let (from, to) = (
        dj["window"]["from"].as_str().unwrap(),
        dj["window"]["to"].as_str().unwrap(),
    );
    let (f, t) = (
        llmrank::window::parse_rfc3339(from).unwrap(),
        llmrank::window::parse_rfc3339(to).unwrap(),
    );
    assert_eq!(t - f, 86_400);
    assert_eq!(f % 3_600, 0, "resolved to whole hours");
    let n24 = dj["rankings"][0]["n"].as_u64().unwrap();
    assert!(n24 < 600 && n24 > 400, "{n24}");
    // The same window as explicit bounds answers the same numbers under the same key.
    let explicit = get(a, &format!("/ranking/TTFT?from={from}&to={to}")).await;
    assert_eq!(explicit.json()["rankings"], dj["rankings"]);
    assert_eq!(explicit.header("etag"), day.header("etag"));
    // ETags differ by statistic and by window; each is honoured with a 304.
    let tags: Vec<String> = [
        "/ranking/TTFT",
        "/ranking/TTFT?by=p95",
        "/ranking/TTFT?window=24h",
        "/ranking/TTFT?window=2h",
        "/ranking/TTFT?window=24h&by=p99",
        "/history/TTFT",
        "/history/TTFT?bucket=1d",
    ]
    .iter()
    .map(|p| async move {
        let r = get(a, p).await;
        assert_eq!(r.status, 200, "{p}: {}", r.body);
        let tag = r.header("etag").unwrap().to_string();
        let again = http(
            a,
            "GET",
            p,
            &[("X-API-KEY", KEY), ("If-None-Match", &tag)],
            "",
        )
        .await;
        assert_eq!(again.status, 304, "{p}");
        tag
    })
    .collect::<futures_util::stream::FuturesOrdered<_>>()
    .collect()
    .await;
    let mut unique = tags.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), tags.len(), "{tags:?}");

    // History: per LLM, hourly points whose counts add up to the window's.
    let h = get(a, "/history/TTFT?bucket=1h&window=48h&llm=GPT-4o")
        .await
        .json();
    assert_eq!(h["bucket"], "1h");
    let series = h["series"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    let total: u64 = series[0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["n"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 600);
    let r = get(a, "/history/TTFT?llm=nobody").await;
    assert_eq!(r.status, 404, "an unknown LLM, like an unknown metric");
    assert!(r.body.contains("valid LLMs"), "{}", r.body);

    // Many distinct windows: the memory level stays within its bounds.
    for k in 0..40 {
        let r = get(
            a,
            &format!(
                "/ranking/TTFT?from=2026-01-01T00:00:00Z&to=2026-01-{:02}T{:02}:00:00Z",
                2 + k / 24,
                k % 24
            ),
        )
        .await;
        assert!(r.status == 200 || r.status == 404, "{}", r.body);
    }
    let metrics = http(a, "GET", "/metrics", &[], "").await.body;
    let bytes: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("llmrank_cache_memory_bytes "))
        .expect("cache bytes gauge")
        .parse()
        .unwrap();
    assert!(bytes > 0.0 && bytes <= 40_000.0, "{bytes}");

    // Rebuilding the summaries changes the data version: the next answer is recomputed.
    let before = get(a, "/ranking/TTFT").await;
    llmrank::cmd::summarize::run(&s).await.unwrap();
    let mut after = get(a, "/ranking/TTFT").await;
    for _ in 0..200 {
        if after.header("etag") != before.header("etag") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        after = get(a, "/ranking/TTFT").await;
    }
    assert_ne!(after.header("etag"), before.header("etag"));
    // The same answer, up to the rounding of merging the summaries in another order.
    let (x, y) = (after.json(), before.json());
    for (p, q) in x["rankings"]
        .as_array()
        .unwrap()
        .iter()
        .zip(y["rankings"].as_array().unwrap())
    {
        assert_eq!(
            (&p["llm"], &p["rank"], &p["n"], &p["p99"]),
            (&q["llm"], &q["rank"], &q["n"], &q["p99"])
        );
        let (m, n) = (p["mean"].as_f64().unwrap(), q["mean"].as_f64().unwrap());
        assert!(((m - n) / n).abs() < 1e-12);
    }
    drop(db);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalogue_change_changes_the_answer_and_its_etag() {
    let (db, s) = setup().await;
    let srv = Server::start(&s).await;
    let a = srv.addr;
    let before = get(a, "/ranking/TTFT").await;
    assert_eq!(before.json()["direction"], "lower");
    let c = db.client().await;
    c.batch_execute(
        "UPDATE metrics SET direction = 'higher' WHERE name = 'TTFT'; NOTIFY llmrank_data",
    )
    .await
    .unwrap();
    let wait_for = |want: &'static str| async move {
        for _ in 0..300 {
            let r = get(a, "/ranking/TTFT").await;
            if r.json()["direction"] == want {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the answer never became {want}");
    };
    let flipped = wait_for("higher").await;
    assert_ne!(flipped.header("etag"), before.header("etag"));
    let order = |r: &Resp| -> Vec<String> {
        r.json()["rankings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["llm"].as_str().unwrap().to_string())
            .collect()
    };
    let mut reversed = order(&before);
    reversed.reverse();
    assert_eq!(order(&flipped), reversed);
    // Every statistic agrees on the new direction (no two orders under one ETag).
    for by in ["p50", "p99"] {
        let r = get(a, &format!("/ranking/TTFT?by={by}")).await;
        assert_eq!(r.json()["direction"], "higher", "{by}");
    }
    // `seed` puts the configured direction back, and the answer follows.
    llmrank::cmd::seed::run(&s).await.unwrap();
    let back = wait_for("lower").await;
    assert_eq!(order(&back), order(&before));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_huge_headers_and_connection_floods_lock_nobody_out() {
    let (_db, mut s) = setup().await;
    s.server.max_connections = 8;
    s.server.max_connections_per_client = 6;
    s.server.request_timeout_ms = 300;
    s.server.header_read_timeout_ms = 2_000;
    let srv = Server::start(&s).await;
    let a = srv.addr;

    // A 300 KB header: 431, not accepted.
    let big = "x".repeat(300_000);
    let r = http(a, "GET", "/healthz", &[("X-Big", big.as_str())], "").await;
    assert_eq!(r.status, 431);

    // A body announced and never sent: 408 at the deadline, not a slot held for ever.
    let started = std::time::Instant::now();
    let mut slow = tokio::net::TcpStream::connect(a).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    slow.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));

    // One client holding its share of connections: the next one it opens is closed at once...
    let mut held = Vec::new();
    for _ in 0..6 {
        let mut c = tokio::net::TcpStream::connect(a).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
            .await
            .unwrap();
        held.push(c);
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let mut extra = tokio::net::TcpStream::connect(a).await.unwrap();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        extra.read_to_end(&mut buf),
    )
    .await
    .expect("the extra connection was closed at once");
    assert!(buf.is_empty(), "{}", String::from_utf8_lossy(&buf));
    // ...and the held ones are answered 408 at the deadline, after which probes answer again.
    for mut c in held {
        let mut buf = Vec::new();
        c.read_to_end(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 408"));
    }
    let probe = http(a, "GET", "/healthz", &[], "").await;
    assert_eq!(probe.status, 200);
    let metrics = http(a, "GET", "/metrics", &[], "").await.body;
    assert!(
        metrics.contains("llmrank_http_connections_refused_total 1"),
        "{metrics}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_database_answers_every_waiter_503_at_once() {
    let (db, mut s) = setup().await;
    s.database.statement_timeout_ms = 600;
    let srv = Server::start(&s).await;
    let a = srv.addr;
    let c = db.client().await;
    // Someone holds the summaries; then the data version moves, so every answer is a miss.
    let mut locker = db.client().await;
    let tx = locker.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE llm_metric_summaries IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let before = get(a, "/readyz").await;
    assert_eq!(before.status, 200);
    crate::helpers::move_data_version(&c).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let answers: Vec<Resp> = (0..8)
        .map(|_| get(a, "/ranking/TTFT?by=p90"))
        .collect::<futures_util::stream::FuturesUnordered<_>>()
        .collect()
        .await;
    let took = started.elapsed();
    for r in &answers {
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(r.header("retry-after").is_some());
    }
    // One statement timeout for all eight, not eight in a row.
    assert!(took < std::time::Duration::from_millis(2_000), "{took:?}");
    tx.rollback().await.unwrap();
    let after = get(a, "/ranking/TTFT?by=p90").await;
    assert_eq!(after.status, 200);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_answers_while_slow_rankings_hold_the_whole_pool() {
    let (db, mut s) = setup().await;
    s.database.pool_size = 2;
    s.database.statement_timeout_ms = 5_000;
    s.server.request_timeout_ms = 8_000;
    let srv = Server::start(&s).await;
    let a = srv.addr;
    let c = db.client().await;
    let mut locker = db.client().await;
    let tx = locker.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE llm_metric_summaries IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    crate::helpers::move_data_version(&c).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // Two distinct slow rankings take both pooled connections...
    let slow: Vec<_> = ["/ranking/TTFT?by=p50", "/ranking/TPS?by=p50"]
        .into_iter()
        .map(|p| tokio::spawn(get(a, p)))
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // ...and readiness still says PostgreSQL answers, at once.
    let started = std::time::Instant::now();
    let r = http(a, "GET", "/readyz", &[], "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    tx.rollback().await.unwrap();
    for t in slow {
        assert_eq!(t.await.unwrap().status, 200);
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_forged_in_redis_is_dropped_and_never_served() {
    let (_db, s) = setup().await;
    let a = Server::start(&s).await;
    let first = get(a.addr, "/ranking/TTFT").await;
    assert_eq!(first.header("x-cache"), Some("miss"));
    let version = first.json()["data_version"].as_str().unwrap().to_string();
    let client = redis::Client::open(redis_url().await.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("llmrank:v4:{version}:ranking.*.mean.*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    // Someone with Redis access writes their own answers: a "ranking" and something else.
    let mut forged = first.json();
    forged["rankings"][0]["llm"] = "Injected LLM".into();
    for value in [forged.to_string(), "not json".to_string()] {
        let _: () = redis::cmd("SET")
            .arg(&keys[0])
            .arg(value.as_bytes())
            .query_async(&mut conn)
            .await
            .unwrap();
        // A replica with an empty memory level reads Redis, rejects the value, recomputes.
        let b = Server::start(&s).await;
        let r = get(b.addr, "/ranking/TTFT").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-cache"), Some("miss"), "{value}");
        assert_ne!(r.json()["rankings"][0]["llm"], "Injected LLM");
        assert_eq!(r.json()["rankings"], first.json()["rankings"]);
        let metrics = http(b.addr, "GET", "/metrics", &[], "").await.body;
        assert!(
            !metrics.contains("llmrank_cache_rejected_total 0\n"),
            "{metrics}"
        );
        b.stop().await;
    }
    // The recomputed answer went back to Redis, signed: the next replica uses it.
    let c = Server::start(&s).await;
    assert_eq!(
        get(c.addr, "/ranking/TTFT").await.header("x-cache"),
        Some("redis")
    );
    c.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_a_file_reload_without_restart_and_may_be_hashed() {
    use sha2::Digest;
    let (_db, mut s) = setup().await;
    let dir = std::env::temp_dir().join(format!("llmrank-keys-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("api-keys");
    let hashed = |k: &str| {
        let h = sha2::Sha256::digest(k.as_bytes());
        format!(
            "sha256:{}",
            h.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    };
    // The file holds only the hash of the first key.
    std::fs::write(
        &file,
        format!(
            "# rotated by the operator\n{}\n",
            hashed("file-key-one-0123456789")
        ),
    )
    .unwrap();
    s.server.api_keys = vec![];
    s.server.api_keys_file = file.display().to_string();
    let app = App::new(&s, llmrank::telemetry::recorder().unwrap())
        .await
        .expect("app");
    let keys = app.keys.clone();
    let watcher = tokio::spawn(keys.clone().watch(std::time::Duration::from_millis(50)));
    let listener = server::bind("127.0.0.1:0").await.unwrap();
    let a = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let done = tokio::spawn(server::serve(
        listener,
        Arc::new(app),
        Limits::from(&s),
        async move {
            let _ = rx.await;
        },
    ));
    let with = |k: &'static str| async move {
        http(a, "GET", "/llms", &[("X-API-KEY", k)], "")
            .await
            .status
    };
    assert_eq!(with("file-key-one-0123456789").await, 200);
    assert_eq!(with("file-key-two-0123456789").await, 401);
    // Rotation: the file now holds another key; no restart.
    std::fs::write(&file, "file-key-two-0123456789\n").unwrap();
    let mut rotated = false;
    for _ in 0..100 {
        if with("file-key-two-0123456789").await == 200 {
            rotated = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(rotated, "the new key was never accepted");
    assert_eq!(with("file-key-one-0123456789").await, 401);
    // A broken file keeps the keys in force.
    std::fs::write(&file, "short\n").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(with("file-key-two-0123456789").await, 200);
    watcher.abort();
    let _ = tx.send(());
    done.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_serves_probes_and_metrics_whatever_the_api_carries() {
    let (_db, mut s) = setup().await;
    s.server.max_connections = 2;
    s.server.request_timeout_ms = 5_000;
    let app = Arc::new(
        App::new(&s, llmrank::telemetry::recorder().unwrap())
            .await
            .expect("app"),
    );
    let (api_l, admin_l) = (
        server::bind("127.0.0.1:0").await.unwrap(),
        server::bind("127.0.0.1:0").await.unwrap(),
    );
    let (api, admin) = (api_l.local_addr().unwrap(), admin_l.local_addr().unwrap());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let api_task = tokio::spawn(server::serve_surface(
        api_l,
        app.clone(),
        Limits::from(&s),
        stopped(rx.clone()),
        server::Surface::Api,
    ));
    let admin_task = tokio::spawn(server::serve_surface(
        admin_l,
        app,
        Limits::from(&s),
        stopped(rx),
        server::Surface::Admin,
    ));
    // Each route lives on one listener only.
    assert_eq!(get(api, "/ranking/TTFT").await.status, 200);
    for p in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            http(api, "GET", p, &[], "").await.status,
            404,
            "{p} on the API"
        );
        assert_eq!(
            http(admin, "GET", p, &[], "").await.status,
            200,
            "{p} on admin"
        );
    }
    assert_eq!(get(admin, "/ranking/TTFT").await.status, 404);
    // Every API slot taken by clients that never finish their request: probes still answer.
    let mut hogs = Vec::new();
    for _ in 0..2 {
        let mut c = tokio::net::TcpStream::connect(api).await.unwrap();
        c.write_all(b"GET /llms HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n")
            .await
            .unwrap();
        hogs.push(c);
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    assert_eq!(http(admin, "GET", "/readyz", &[], "").await.status, 200);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    drop(hogs);
    let _ = tx.send(true);
    api_task.await.unwrap().unwrap();
    admin_task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_is_rate_limited_on_its_own_with_retry_after() {
    let (_db, mut s) = setup().await;
    s.server.rate_limit_per_key = 3;
    let srv = Server::start(&s).await;
    let a = srv.addr;
    let mut limited = None;
    for _ in 0..6 {
        let r = get(a, "/llms").await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status, 200);
    }
    let r = limited.expect("six requests at once went past a limit of 3 a second");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.json()["error"].as_str().unwrap().contains("rate limit"));
    // Another key has a bucket of its own; probes are not limited.
    let other = http(a, "GET", "/llms", &[("X-API-KEY", KEY2)], "").await;
    assert_eq!(other.status, 200);
    for _ in 0..5 {
        assert_eq!(http(a, "GET", "/healthz", &[], "").await.status, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(get(a, "/llms").await.status, 200);
    srv.stop().await;
}

/// The metrics listener of continuous `simulate` drains like the main one: at shutdown an
/// idle keep-alive connection is closed and the listener returns, instead of leaving the
/// connection served by a detached task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_listener_drains_its_connections_at_shutdown() {
    let listener = server::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let stop = async move {
        let _ = stop_rx.await;
    };
    let served = tokio::spawn(server::serve_metrics(
        listener,
        llmrank::telemetry::recorder().unwrap(),
        stop,
        std::time::Duration::from_secs(10),
    ));
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = conn.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("{\"status\":\"ok\"}"), "{head}");
    // The connection is kept alive and idle; shutting down closes it at once (well before
    // the listener's 5 s header read timeout would) and returns.
    stop_tx.send(()).unwrap();
    let eof = tokio::time::timeout(std::time::Duration::from_secs(2), conn.read(&mut buf))
        .await
        .expect("the idle connection was left open after shutdown");
    assert_eq!(eof.unwrap(), 0, "the connection was closed");
    tokio::time::timeout(std::time::Duration::from_secs(5), served)
        .await
        .expect("the listener did not return after draining")
        .unwrap()
        .unwrap();
    // And nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
