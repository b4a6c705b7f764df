//! The reliability suite: real servers stopped, restarted and abused while llmrank works. Each
//! test prints a `RELIABILITY | what | trials | failures | lost | duplicated` line, which
//! `scripts/reliability.sh` gathers into a table.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use llmrank::cmd::simulate;
use llmrank::config::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{assert_summaries_match_samples, count, report, PrivatePg, PrivateRedis};
use crate::serve::{get, http, setup, Server};

/// Settings for a new, seeded database `db` on `pg`, with retries patient enough to ride out
/// a restart.
async fn seeded(pg: &PrivatePg, db: &str) -> llmrank::config::Settings {
    let (admin, conn) = tokio_postgres::connect(&pg.url("postgres"), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let mut s = llmrank::config::Settings::default();
    s.database.url = Secret::new(pg.url(db));
    s.simulate.batch_rows = 4_096;
    s.simulate.retry.initial_backoff_ms = 20;
    s.simulate.retry.max_backoff_ms = 500;
    s.simulate.retry.max_attempts = 200;
    llmrank::cmd::seed::run(&s).await.unwrap();
    s
}

/// Writes `samples` per LLM × metric into a fresh database of `pg` while it is restarted
/// `restarts` times; returns the rows lost and duplicated.
async fn restarted_run(pg: &Arc<PrivatePg>, db: &str, samples: u64, restarts: usize) -> (i64, i64) {
    let mut s = seeded(pg, db).await;
    s.simulate.samples = samples;
    s.simulate.workers = 2;
    let client = || async {
        let (c, conn) = tokio_postgres::connect(&pg.url(db), tokio_postgres::NoTls)
            .await
            .ok()?;
        tokio::spawn(conn);
        Some(c)
    };
    let restarter = {
        let pg = pg.clone();
        let db = db.to_string();
        tokio::spawn(async move {
            // Restart only once the run is writing: its start needs the server up.
            for _ in 0..2_000 {
                let (c, conn) =
                    match tokio_postgres::connect(&pg.url(&db), tokio_postgres::NoTls).await {
                        Ok(x) => x,
                        Err(_) => break,
                    };
                tokio::spawn(conn);
                let n: i64 = c
                    .query_one("SELECT count(*) FROM batches", &[])
                    .await
                    .map_or(0, |r| r.get(0));
                if n > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            for _ in 0..restarts {
                let pg = pg.clone();
                tokio::task::spawn_blocking(move || pg.ctl("restart"))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };
    let result = simulate::run(&s, &simulate::Options::default()).await;
    restarter.await.unwrap();
    let report = result.expect("the run survives the restarts");
    let c = client().await.expect("the server is back");
    let rows = count(&c, "SELECT count(*) FROM llm_metrics").await;
    let dups = count(
        &c,
        "SELECT count(*) FROM (SELECT 1 FROM llm_metrics GROUP BY llm_id, metric_id, run_id, value HAVING count(*) > 1) d",
    )
    .await;
    assert_eq!(report.rows_total as i64, rows);
    assert_summaries_match_samples(&c).await;
    (samples as i64 * 48 - rows, dups)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_ten_times_during_simulate_loses_and_duplicates_nothing() {
    let pg = Arc::new(tokio::task::spawn_blocking(PrivatePg::start).await.unwrap());
    let (lost, dups) = restarted_run(&pg, "restarts", 40_000, 10).await;
    report(
        "PostgreSQL restarted 10 times during simulate",
        10,
        usize::from(lost != 0 || dups != 0),
        lost,
        dups,
    );
    assert_eq!((lost, dups), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_identical_runs_with_postgres_restarting_write_the_data_once() {
    let pg = Arc::new(tokio::task::spawn_blocking(PrivatePg::start).await.unwrap());
    let db = "twins";
    let mut s = seeded(&pg, db).await;
    s.simulate.samples = 20_000;
    let restarter = {
        let pg = pg.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            for _ in 0..3 {
                let pg = pg.clone();
                tokio::task::spawn_blocking(move || pg.ctl("restart"))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let opts = simulate::Options::default();
    let (a, b) = tokio::join!(simulate::run(&s, &opts), simulate::run(&s, &opts));
    restarter.await.unwrap();
    let (c, conn) = tokio_postgres::connect(&pg.url(db), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let runs = count(&c, "SELECT count(*) FROM runs").await;
    let rows = count(&c, "SELECT count(*) FROM llm_metrics").await;
    // One of the two wrote the run; the other was refused (or found it complete).
    assert!(a.is_ok() || b.is_ok(), "{:?} {:?}", a.err(), b.err());
    let dups = (rows - 20_000 * 48).max(0);
    report(
        "two identical runs, PostgreSQL restarting",
        1,
        usize::from(runs != 1 || rows != 20_000 * 48),
        20_000 * 48 - rows.min(20_000 * 48),
        dups,
    );
    assert_eq!(runs, 1);
    assert_eq!(rows, 20_000 * 48);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_and_started_under_load_fails_no_request() {
    let (_db, mut s) = setup().await;
    let port = crate::helpers::free_port();
    let mut redis = PrivateRedis::start_on(port);
    redis.wait_up().await;
    s.redis.url = Secret::new(format!("redis://127.0.0.1:{port}"));
    let srv = Server::start(&s).await;
    let a = srv.addr;
    let (sent, bad) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for i in 0..8 {
        let (sent, bad, stop) = (sent.clone(), bad.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let paths = [
                "/ranking/TTFT",
                "/ranking/TPS?by=p99",
                "/history/TTFT",
                "/ranking/RPS?window=24h",
            ];
            let mut k = i;
            while !stop.load(Ordering::Relaxed) {
                let r = get(a, paths[k % paths.len()]).await;
                sent.fetch_add(1, Ordering::Relaxed);
                if !(200..300).contains(&r.status) {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
                k += 1;
            }
        }));
    }
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        redis.stop();
        // New data while Redis is down: misses must be answered from PostgreSQL.
        llmrank::cmd::summarize::run(&s).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        redis = PrivateRedis::start_on(port);
        redis.wait_up().await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    // Redis is used again after it returns: an answer one replica computes, another reads there.
    let other = Server::start(&s).await;
    let mut back = false;
    for _ in 0..40 {
        let before = get(a, "/ranking/e2e_latency").await.json()["data_version"].clone();
        llmrank::cmd::summarize::run(&s).await.unwrap();
        for _ in 0..200 {
            if get(a, "/ranking/e2e_latency").await.json()["data_version"] != before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if get(other.addr, "/ranking/e2e_latency")
            .await
            .header("x-cache")
            == Some("redis")
        {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    other.stop().await;
    let (n, failed) = (sent.load(Ordering::Relaxed), bad.load(Ordering::Relaxed));
    report(
        "Redis stopped and started 3 times under load (requests)",
        n,
        failed,
        0,
        0,
    );
    assert_eq!(
        failed, 0,
        "{failed} of {n} valid requests were not answered 2xx"
    );
    assert!(back, "Redis was not used again after it returned");
    srv.stop().await;
}

/// Raw bytes in, the status line out (None: the server closed or reset the connection).
async fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let _ = s.write_all(bytes).await;
    let _ = s.shutdown().await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_hostile_requests_get_no_5xx_and_probes_answer_throughout() {
    let (_db, mut s) = setup().await;
    s.server.request_timeout_ms = 1_000;
    s.server.header_read_timeout_ms = 1_000;
    let srv = Server::start(&s).await;
    let a = srv.addr;
    let key = "test-key-0123456789";
    let paths = [
        "/",
        "/ranking",
        "/ranking/",
        "/ranking/TTFT/extra",
        "/ranking/%FF%FE",
        "/ranking/..%2F..%2Fetc",
        "/ranking/TTFT?by=",
        "/ranking/TTFT?by=p99&by=p50",
        "/ranking/TTFT?window=-1h",
        "/ranking/TTFT?from=2026-02-30T00:00:00Z",
        "/ranking/TTFT?to=99999-01-01T00:00:00Z",
        "/ranking/TTFT?window=99999999999999999999d",
        "/history/TTFT?bucket=1h&window=1000000h",
        "/history/TTFT?llm=%00",
        "/ranking/TTFT?%zz=1",
        "/ranking/TTFT?&&&=&",
        "/ranking/\u{1F600}",
        "/llms?x=1",
        "/metric-types?",
        "/openapi.json?x",
        "/ranking/TTFT#frag",
        "//ranking//TTFT",
        "/ranking/TTFT?window=24h&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
    ];
    let methods = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO", "G E T",
    ];
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut sent, mut server_errors, mut closed) = (0usize, 0usize, 0usize);
    for i in 0..1_200 {
        let r = next();
        let path = paths[(r % paths.len() as u64) as usize];
        let method = methods[((r >> 8) % methods.len() as u64) as usize];
        let long = "a".repeat(((r >> 16) % 3) as usize * 9_000);
        let req: Vec<u8> = match i % 8 {
            0 => format!("{method} {path} HTTP/1.1\r\nHost: x\r\nX-API-KEY: {key}\r\nConnection: close\r\n\r\n").into_bytes(),
            1 => format!("GET {path}{long} HTTP/1.1\r\nHost: x\r\nX-API-KEY: {key}\r\n\r\n").into_bytes(),
            2 => format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-API-KEY: {key}\r\nX-API-KEY: other\r\nIf-None-Match: {long}\"\r\n\r\n").into_bytes(),
            3 => format!("POST {path} HTTP/1.1\r\nHost: x\r\nX-API-KEY: {key}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n").into_bytes(),
            4 => format!("GET {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n").into_bytes(),
            5 => {
                let mut b = format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-API-KEY: ").into_bytes();
                b.extend_from_slice(&[0xff, 0xfe, 0x80, b'\r', b'\n', b'\r', b'\n']);
                b
            }
            6 => format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-API-KEY: {key}\r\nContent-Length: 20\r\n\r\n{}", "b".repeat(((r >> 24) % 40) as usize)).into_bytes(),
            _ => {
                let junk: Vec<u8> = (0..((r >> 32) % 200)).map(|_| (next() & 0xff) as u8).collect();
                junk
            }
        };
        sent += 1;
        match raw(a, &req).await {
            Some(status) if status >= 500 => server_errors += 1,
            Some(_) => {}
            None => closed += 1,
        }
        if i % 100 == 0 {
            assert_eq!(
                http(a, "GET", "/healthz", &[], "").await.status,
                200,
                "probe after {i} requests"
            );
        }
    }
    let probe = http(a, "GET", "/readyz", &[], "").await;
    report(
        "hostile requests (paths, methods, headers, encodings, bodies, sizes)",
        sent,
        server_errors,
        0,
        0,
    );
    assert_eq!(
        server_errors, 0,
        "{server_errors} of {sent} hostile requests got a 5xx"
    );
    assert_eq!(probe.status, 200);
    assert!(closed < sent, "every request was dropped without an answer");
    // The process is still serving real requests.
    assert_eq!(get(a, "/ranking/TTFT").await.status, 200);
    srv.stop().await;
}

/// Samples counted by the all-time summaries minus the raw samples (0 when they agree).
async fn summary_drift(c: &tokio_postgres::Client) -> i64 {
    count(
        c,
        "SELECT (SELECT coalesce(sum(n), 0)::bigint FROM llm_metric_summaries WHERE bucket_secs = 0)
              - (SELECT count(*) FROM llm_metrics)",
    )
    .await
}

/// A simulated run of `samples` per LLM × metric with seed `seed`; its id.
async fn sim_run(s: &llmrank::config::Settings, seed: u64, samples: u64) -> i32 {
    let mut s = s.clone();
    s.simulate.seed = seed;
    s.simulate.samples = samples;
    s.simulate.workers = 1;
    simulate::run(&s, &simulate::Options::default())
        .await
        .expect("simulate")
        .run_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deletes_at_once_leave_the_summaries_equal_to_the_samples() {
    let (db, s) = crate::helpers::TestDb::seeded().await;
    let c = db.client().await;
    let trials = 8;
    let (mut failures, mut drift_sum) = (0, 0i64);
    for t in 0..trials {
        // Three runs of one workload in the same hour; two of them deleted at once.
        let seed = 100 + 3 * t as u64;
        let a = sim_run(&s, seed, 300).await;
        let b = sim_run(&s, seed + 1, 300).await;
        sim_run(&s, seed + 2, 300).await;
        let (ra, rb) = tokio::join!(
            llmrank::cmd::runs::delete(&s, a),
            llmrank::cmd::runs::delete(&s, b)
        );
        ra.expect("first delete");
        rb.expect("second delete");
        let drift = summary_drift(&c).await;
        failures += usize::from(drift != 0);
        drift_sum += drift.abs();
    }
    report("two runs deleted at once", trials, failures, drift_sum, 0);
    assert_eq!(failures, 0, "summaries drifted by {drift_sum} samples");
    assert_summaries_match_samples(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_while_runs_commit_lose_no_batch_from_the_summaries() {
    let (db, mut s) = crate::helpers::TestDb::seeded().await;
    s.simulate.batch_rows = 256;
    let c = db.client().await;
    let victims: Vec<i32> = {
        let mut v = Vec::new();
        for seed in 0..4 {
            v.push(sim_run(&s, 500 + seed, 4_000).await);
        }
        v
    };
    // Two writer processes commit small runs while the victims are deleted one after another.
    let done = Arc::new(AtomicUsize::new(0));
    let url = db.url();
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let done = done.clone();
            let url = url.clone();
            std::thread::spawn(move || {
                for i in 0..15u64 {
                    let seed = (1_000 + w * 100 + i).to_string();
                    let out = crate::helpers::llmrank(
                        &["simulate", "--seed", &seed, "--samples", "100"],
                        &[
                            ("LLMRANK_DATABASE__URL", &url),
                            ("LLMRANK_SIMULATE__BATCH_ROWS", "1024"),
                            ("LLMRANK_SIMULATE__WORKERS", "1"),
                        ],
                    );
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    while done.load(Ordering::Relaxed) == 0 && !writers.iter().all(|w| w.is_finished()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut failures = 0;
    for &v in &victims {
        let r = llmrank::cmd::runs::delete(&s, v).await;
        if let Err(e) = r {
            eprintln!("delete {v}: {e:#}");
            failures += 1;
        }
    }
    for w in writers {
        tokio::task::spawn_blocking(move || w.join().unwrap())
            .await
            .unwrap();
    }
    let drift = summary_drift(&c).await;
    let deleted = count(&c, "SELECT count(*) FROM runs WHERE status = 'deleted'").await;
    report(
        &format!(
            "{} runs deleted while {} runs committed",
            victims.len(),
            done.load(Ordering::Relaxed)
        ),
        victims.len(),
        failures + usize::from(drift != 0),
        drift.abs(),
        0,
    );
    assert_eq!((failures, deleted), (0, victims.len() as i64));
    assert_eq!(drift, 0, "summaries and samples disagree");
    assert_summaries_match_samples(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_committing_during_a_delete_stays_in_the_summaries() {
    use llmrank::summary::{Rollup, SeriesKey};
    let (db, s) = crate::helpers::TestDb::seeded().await;
    let victim = sim_run(&s, 7, 200).await;
    let keeper = sim_run(&s, 8, 200).await;
    // A writer's transaction, open while the delete starts: the keeper's samples once more,
    // with their summary rows, in the hours the victim touched.
    let mut w = db.client().await;
    let tx = w.transaction().await.unwrap();
    let rows = tx
        .query(
            "INSERT INTO llm_metrics (llm_id, metric_id, run_id, value, created_at)
             SELECT llm_id, metric_id, run_id, value, created_at FROM llm_metrics WHERE run_id = $1
             RETURNING llm_id, metric_id, value, extract(epoch FROM created_at)::float8",
            &[&keeper],
        )
        .await
        .unwrap();
    let mut rollup = Rollup::default();
    for r in &rows {
        let series = SeriesKey {
            metric_id: r.get(1),
            llm_id: r.get(0),
            workload_id: 1,
        };
        rollup.add(series, r.get::<_, f64>(3).floor() as i64, r.get(2));
    }
    llmrank::db::summaries::upsert(&tx, &rollup.rows())
        .await
        .unwrap();
    let delete = {
        let s = s.clone();
        tokio::spawn(async move { llmrank::cmd::runs::delete(&s, victim).await })
    };
    // The delete reaches the point where it waits for the writer, then the writer commits.
    let c = db.client().await;
    for _ in 0..200 {
        let waiting = count(
            &c,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'llmrank-runs' AND wait_event_type = 'Lock'",
        )
        .await;
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tx.commit().await.unwrap();
    delete.await.unwrap().expect("delete");
    let drift = summary_drift(&c).await;
    assert_eq!(
        drift, 0,
        "the summaries lost the batch that committed during the delete"
    );
    assert_summaries_match_samples(&c).await;
}

/// A connection to `addr` from the loopback address `from` (127.0.0.0/8: each is a client).
async fn connect_from(from: [u8; 4], addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::from((from, 0)))
        .expect("a loopback source address");
    socket.connect(addr).await.expect("connect")
}

/// The status of `GET path` (read key) sent from `from`, or `None` without an answer in 5 s.
async fn get_from(from: [u8; 4], addr: std::net::SocketAddr, path: &str) -> Option<u16> {
    let mut st = connect_from(from, addr).await;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nX-API-KEY: {}\r\nConnection: close\r\n\r\n",
        crate::serve::KEY
    );
    st.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), st.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_flood_from_four_addresses_leaves_the_api_and_its_probes_answering() {
    // The shipped limits: 1,024 connections, 256 per client address, a quarter for streams.
    let (_db, s) = setup().await;
    let srv = Server::start(&s).await;
    let a = srv.addr;
    let metric = "llmrank_http_streams_refused_total";
    let refused_before = crate::serve::counter(&get(a, "/metrics").await.body, metric);
    let (mut open, mut refused) = (Vec::new(), 0usize);
    for host in 2..=5u8 {
        for _ in 0..256 {
            let mut st = connect_from([127, 0, 0, host], a).await;
            let req = format!(
                "GET /events HTTP/1.1\r\nHost: x\r\nX-API-KEY: {}\r\n\r\n",
                crate::serve::KEY
            );
            st.write_all(req.as_bytes()).await.unwrap();
            let mut head = [0u8; 12];
            let read = tokio::time::timeout(Duration::from_secs(5), st.read_exact(&mut head))
                .await
                .expect("every stream request is answered at once");
            match (read.is_ok(), &head) {
                (true, b"HTTP/1.1 200") => open.push(st),
                (true, b"HTTP/1.1 503") => refused += 1,
                _ => panic!("{:?}", String::from_utf8_lossy(&head)),
            }
        }
    }
    assert_eq!(open.len(), 256, "a quarter of max_connections");
    assert_eq!(refused, 768);
    let refused_after = crate::serve::counter(&get(a, "/metrics").await.body, metric);
    assert!(
        refused_after - refused_before >= 768.0,
        "{refused_before} → {refused_after}"
    );
    // A fifth client: probes and the API answer while every stream stays open.
    let mut failures = 0;
    let trials = 30;
    for i in 0..trials {
        let path = ["/healthz", "/readyz", "/ranking/TTFT"][i % 3];
        if get_from([127, 0, 0, 6], a, path).await != Some(200) {
            failures += 1;
        }
    }
    assert_eq!(
        failures, 0,
        "probes and rankings answered behind 256 open streams"
    );
    report(
        "stream flood: 1,024 GET /events from 4 addresses (256 open, 768 answered 503 and counted), then probes and rankings from a fifth",
        trials,
        failures,
        0,
        0,
    );
    drop(open);
    srv.stop().await;
}

/// `POST /samples` as curl sends a large body: `Expect: 100-continue`, the body only once the
/// server asks for it. The final status and body, or `None` when the connection failed.
async fn post_expecting(
    addr: std::net::SocketAddr,
    key: &str,
    content_type: &str,
    body: &[u8],
) -> Option<(u16, String)> {
    let mut st = tokio::net::TcpStream::connect(addr).await.ok()?;
    let head = format!(
        "POST /samples HTTP/1.1\r\nHost: x\r\nX-API-KEY: {key}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    st.write_all(head.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(60), st.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    if buf.starts_with(b"HTTP/1.1 100") {
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        buf.drain(..end);
        st.write_all(body).await.ok()?;
    }
    tokio::time::timeout(Duration::from_secs(120), st.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, text))
}

/// A vLLM `bench serve --save-detailed` document of about `bytes` for `llm`: requests of 64
/// output tokens (63 gaps each); and the samples it holds (TTFT, TPOT, TPS, e2e and 63 ITL a
/// request).
fn vllm_document(llm: &str, bytes: usize) -> (Vec<u8>, usize) {
    let n = bytes / 480;
    let list = |f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>().join(",");
    let gaps: Vec<String> = (0..63)
        .map(|g| format!("{:.4}", 0.010 + (g % 7) as f64 * 0.001))
        .collect();
    let gaps = format!("[{}]", gaps.join(","));
    let body = format!(
        r#"{{"backend":"vllm","model_id":"{llm}","date":"20261101-000000","num_prompts":{n},"completed":{n},"request_rate":"inf","duration":10.0,"input_lens":[{}],"output_lens":[{}],"ttfts":[{}],"itls":[{}],"latencies":[{}],"generated_texts":[{}],"errors":[{}]}}"#,
        list(&|_| "100".into()),
        list(&|_| "64".into()),
        list(&|k| format!("{:.4}", 0.02 + (k % 100) as f64 * 0.001)),
        list(&|_| gaps.clone()),
        list(&|k| format!("{:.4}", 0.9 + (k % 100) as f64 * 0.001)),
        list(&|_| "\"\"".into()),
        list(&|_| "\"\"".into()),
    );
    (body.into_bytes(), n * (4 + 63))
}

/// The peak resident memory of process `pid` (VmHWM), MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_flood_writes_every_post_once_in_bounded_memory_and_reads_keep_answering() {
    // Posts of this many MiB each (scripts/reliability.sh: 32, the largest body allowed).
    let mib: usize = std::env::var("LLMRANK_POST_FLOOD_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let posts = 16;
    let (db, _) = setup().await;
    let (key, write) = (crate::serve::KEY, "flood-write-key-0123456789");
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut serve = tokio::process::Command::new(crate::helpers::bin())
        .args(["serve", "--listen", &listen.to_string()])
        .env("LLMRANK_DATABASE__URL", db.url())
        .env("LLMRANK_REDIS__URL", crate::helpers::redis_url().await)
        .env("LLMRANK_SERVER__API_KEYS", key)
        .env("LLMRANK_SERVER__WRITE_KEYS", write)
        .env("LLMRANK_SERVER__REQUEST_TIMEOUT_MS", "120000")
        .env("LLMRANK_LOG__LEVEL", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = serve.id().unwrap();
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(listen).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Each post its own LLM, `mib` MiB each: JSON arrays, NDJSON and (one in four) whole vLLM
    // documents, the format that costs the most memory to read.
    let bodies: Vec<(String, &str, Vec<u8>, usize)> = (0..posts)
        .map(|i| {
            let llm = format!("flood-{i:02}");
            if i % 4 == 3 {
                let (body, rows) = vllm_document(&llm, mib << 20);
                return (llm, "application/json; format=vllm", body, rows);
            }
            let rec = |v: usize| {
                format!(
                    "{{\"llm\":\"{llm}\",\"metric\":\"TTFT\",\"value\":{}.5}}",
                    100 + v % 900
                )
            };
            let (mut body, mut n) = (Vec::with_capacity(mib << 20), 0);
            let json = i % 2 == 0;
            if json {
                body.push(b'[');
            }
            while body.len() + 64 < mib << 20 {
                if json && n > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(rec(n).as_bytes());
                if !json {
                    body.push(b'\n');
                }
                n += 1;
            }
            if json {
                body.push(b']');
            }
            let ct = if json {
                "application/json"
            } else {
                "application/x-ndjson"
            };
            (llm, ct, body, n)
        })
        .collect();
    let expected: usize = bodies.iter().map(|b| b.3).sum();
    // Reads go on throughout: rankings (missed in the cache each time data change).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut reads, mut failed) = (0usize, 0usize);
            while !stop.load(Ordering::Relaxed) {
                let r = get(listen, "/ranking/TTFT?source=simulate").await;
                reads += 1;
                if r.status != 200 {
                    failed += 1;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (reads, failed)
        })
    };
    let refusals = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = bodies
        .into_iter()
        .map(|(llm, ct, body, _)| {
            let refusals = refusals.clone();
            tokio::spawn(async move {
                for _ in 0..600 {
                    match post_expecting(listen, write, ct, &body).await {
                        Some((201, _)) => return Ok(()),
                        Some((503, _)) | None => {
                            refusals.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                        Some((status, text)) => return Err(format!("{llm}: {status} {text}")),
                    }
                }
                Err(format!("{llm}: never written"))
            })
        })
        .collect();
    let mut failures = Vec::new();
    for w in writers {
        if let Err(e) = w.await.unwrap() {
            failures.push(e);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (reads, failed_reads) = reader.await.unwrap();
    let peak = peak_rss_mib(pid);
    let c = db.client().await;
    let written = count(
        &c,
        "SELECT count(*) FROM llm_metrics m JOIN llms l ON l.id = m.llm_id WHERE l.name LIKE 'flood-%'",
    )
    .await;
    let runs = count(&c, "SELECT count(*) FROM runs WHERE source = 'api'").await;
    assert_summaries_match_samples(&c).await;
    serve.kill().await.ok();
    let lost = expected as i64 - written;
    report(
        &format!(
            "post flood: {posts} posts of {mib} MiB at once (JSON arrays, NDJSON, vLLM documents; {} refused 503 and retried), {reads} rankings read meanwhile ({failed_reads} failed); serve peak RSS {peak:.0} MiB",
            refusals.load(Ordering::Relaxed)
        ),
        posts,
        failures.len() + failed_reads,
        lost.max(0),
        (-lost).max(0),
    );
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(
        (written, runs),
        (expected as i64, posts as i64),
        "every post once"
    );
    assert_eq!(failed_reads, 0, "reads answered throughout");
    assert!(peak <= 256.0, "serve peaked at {peak:.0} MiB");
}
