//! Shared test harness: a private database per test (dropped afterwards), settings pointing at
//! it, the real binary with a clean environment, and a COMMIT-cutting TCP proxy.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use llmrank::config::{Secret, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_postgres::NoTls;

/// The server tests use: `LLMRANK_TEST_PG` (host:port), else the local default.
pub fn pg_addr() -> String {
    std::env::var("LLMRANK_TEST_PG").unwrap_or_else(|_| "127.0.0.1:5432".into())
}

fn admin_url() -> String {
    format!("postgres://postgres@{}/postgres", pg_addr())
}

pub async fn admin() -> tokio_postgres::Client {
    let (client, conn) = match tokio_postgres::connect(&admin_url(), NoTls).await {
        Ok(c) => c,
        Err(e) => panic!(
            "these tests need PostgreSQL at {} (user postgres, trust auth): {e}. \
             Start it with `scripts/services.sh` (the README's test command does).",
            pg_addr()
        ),
    };
    tokio::spawn(conn);
    client
}

/// A database of its own, migrated or not, dropped (WITH FORCE) when the value goes.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let name = format!(
            "llmrank_test_{}_{}",
            std::process::id(),
            rand::random::<u32>()
        );
        admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        TestDb { name }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@{}/{}", pg_addr(), self.name)
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url(), NoTls)
            .await
            .expect("connect to test database");
        tokio::spawn(conn);
        client
    }

    /// Settings for this database: small, fast, quick retries.
    pub fn settings(&self) -> Settings {
        let mut s = Settings::default();
        s.database.url = Secret::new(self.url());
        s.simulate.samples = 200;
        s.simulate.retry.initial_backoff_ms = 5;
        s.simulate.retry.max_backoff_ms = 200;
        s.simulate.retry.max_attempts = 50;
        s
    }

    /// A database with the schema and catalogue.
    pub async fn seeded() -> (TestDb, Settings) {
        let db = TestDb::new().await;
        let s = db.settings();
        llmrank::cmd::seed::run(&s).await.expect("seed");
        (db, s)
    }

    /// A seeded database holding one simulated run: `samples` per LLM and metric, spread over
    /// the last `span_secs`.
    pub async fn simulated(samples: u64, span_secs: u64) -> (TestDb, Settings) {
        let (db, mut s) = TestDb::seeded().await;
        s.simulate.samples = samples;
        llmrank::cmd::simulate::run(
            &s,
            &llmrank::cmd::simulate::Options {
                span_secs,
                ..Default::default()
            },
        )
        .await
        .expect("simulate");
        (db, s)
    }

    /// A seeded database holding a simulated load sweep: `samples` per LLM and metric at each
    /// concurrency of `levels`.
    pub async fn swept(samples: u64, levels: &[u32]) -> (TestDb, Settings) {
        let (db, mut s) = TestDb::seeded().await;
        s.simulate.samples = samples;
        simulate_sweep(&s, levels).await;
        (db, s)
    }
}

/// Simulates one run under `s`, spread over the last `span_secs`, with the drifts given
/// (`LLM:METRIC=±N%@DURATION`, as `simulate --drift` takes them).
pub async fn simulate_drifted(s: &Settings, span_secs: u64, drifts: &[&str]) {
    llmrank::cmd::simulate::run(
        s,
        &llmrank::cmd::simulate::Options {
            span_secs,
            drift: drifts
                .iter()
                .map(|d| llmrank::sim::drift::parse(d).unwrap())
                .collect(),
            ..Default::default()
        },
    )
    .await
    .expect("simulate");
}

/// Simulates a load sweep under `s`: one run per concurrency of `levels`.
pub async fn simulate_sweep(s: &Settings, levels: &[u32]) {
    llmrank::cmd::simulate::sweep(
        s,
        &llmrank::cmd::simulate::Options {
            sweep: levels.to_vec(),
            ..Default::default()
        },
    )
    .await
    .expect("simulate --sweep");
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside a runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok((c, conn)) = tokio_postgres::connect(&admin_url(), NoTls).await {
                    tokio::spawn(conn);
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// Counts rows of a query's single bigint.
pub async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.expect(sql).get(0)
}

/// A run's data as sorted (llm, metric, value) triples, for exact comparisons.
pub async fn run_data(client: &tokio_postgres::Client, run_id: i32) -> Vec<(i16, i16, f64)> {
    client
        .query(
            "SELECT llm_id, metric_id, value FROM llm_metrics WHERE run_id = $1 ORDER BY 1, 2, 3",
            &[&run_id],
        )
        .await
        .expect("run data")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// A new directory of its own under the system's temporary one, named for `what`.
pub fn tempdir(what: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "llmrank-{what}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_llmrank"))
}

/// Runs the real binary with no `LLMRANK_*` from the outside, in a directory without a
/// config file, with the given environment.
pub fn llmrank(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args).current_dir(std::env::temp_dir());
    for (k, _) in std::env::vars() {
        if k.starts_with("LLMRANK_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1");
    // Not a terminal and no COLUMNS: tables print whole, as scripts read them.
    cmd.env_remove("COLUMNS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run llmrank")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A TCP proxy in front of PostgreSQL that, up to `max_cuts` times, lets a `COMMIT` through,
/// swallows the server's answer and cuts the connection: the commit happened, the client
/// cannot know.
pub struct CommitCutter {
    pub addr: SocketAddr,
    pub cuts: Arc<AtomicUsize>,
}

impl CommitCutter {
    pub async fn start(upstream: String, max_cuts: usize) -> CommitCutter {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let cuts = Arc::new(AtomicUsize::new(0));
        let c = cuts.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let cuts = c.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    pump(client, server, cuts, max_cuts).await;
                });
            }
        });
        CommitCutter { addr, cuts }
    }
}

async fn pump(client: TcpStream, server: TcpStream, cuts: Arc<AtomicUsize>, max_cuts: usize) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cut_up = cut.clone();
    let up = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            let is_commit = chunk.windows(7).any(|w| w == b"COMMIT\0");
            if is_commit
                && cuts
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                        (c < max_cuts).then_some(c + 1)
                    })
                    .is_ok()
            {
                // From now on the server's answers are dropped.
                cut_up.store(true, Ordering::SeqCst);
            }
            if sw.write_all(chunk).await.is_err() {
                break;
            }
            if cut_up.load(Ordering::SeqCst) {
                // Keep the upstream open until the server answered, so the commit completes.
                std::future::pending::<()>().await;
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match sr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if cut.load(Ordering::SeqCst) {
            break; // the COMMIT's answer: swallowed
        }
        if cw.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    up.abort();
    let _ = cw.shutdown().await;
}

/// The Redis tests use: `LLMRANK_TEST_REDIS` (host:port), else the local default. Fails,
/// saying how to start one, when it does not answer.
pub async fn redis_url() -> String {
    let addr = std::env::var("LLMRANK_TEST_REDIS").unwrap_or_else(|_| "127.0.0.1:6379".into());
    let url = format!("redis://{addr}");
    let ok = async {
        let client = redis::Client::open(url.as_str()).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    match tokio::time::timeout(Duration::from_secs(3), ok).await {
        Ok(Some(p)) if p == "PONG" => url,
        _ => panic!(
            "these tests need Redis at {addr}. Start it with `scripts/services.sh` (the README's test command does)."
        ),
    }
}

use std::time::Duration;

/// What a [`Gate`] does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateMode {
    Open,
    /// Refuses new connections and cuts the open ones: the database is unreachable.
    Closed,
    /// Holds every byte until reopened: the database is slow.
    Stalled,
}

/// A TCP proxy in front of PostgreSQL that a test opens, closes or stalls.
pub struct Gate {
    pub addr: SocketAddr,
    mode: tokio::sync::watch::Sender<GateMode>,
    /// Reads held back while stalled: a request has reached the database.
    pub held: Arc<AtomicUsize>,
}

impl Gate {
    pub async fn start(upstream: String) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind gate");
        let addr = listener.local_addr().expect("gate addr");
        let (mode, rx) = tokio::sync::watch::channel(GateMode::Open);
        let held = Arc::new(AtomicUsize::new(0));
        let held_in = held.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *rx.borrow() == GateMode::Closed {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let rx = rx.clone();
                let held = held_in.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::select! {
                        () = gated_copy(cr, sw, rx.clone(), held.clone()) => {}
                        () = gated_copy(sr, cw, rx, held) => {}
                    }
                });
            }
        });
        Gate { addr, mode, held }
    }

    pub fn set(&self, m: GateMode) {
        self.mode.send_replace(m);
    }
}

async fn gated_copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: tokio::sync::watch::Receiver<GateMode>,
    held: Arc<AtomicUsize>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
            _ = mode.wait_for(|m| *m == GateMode::Closed) => return,
        };
        // Hold the bytes while stalled; give up if closed meanwhile.
        if *mode.borrow() == GateMode::Stalled {
            held.fetch_add(1, Ordering::SeqCst);
        }
        match mode.wait_for(|m| *m != GateMode::Stalled).await {
            Ok(m) if *m == GateMode::Open => {}
            _ => return,
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Every summary row (hour, day, total) equals an independent SQL computation over the raw
/// samples of its bucket: the same set of buckets, n, min and max exactly, mean and standard
/// deviation to 1e-9 relative, percentiles (read by the SQL sketch functions and by the Rust
/// side) within the sketch's bound of `percentile_cont`. Returns the number of rows checked.
pub async fn assert_summaries_match_samples(c: &tokio_postgres::Client) -> usize {
    use std::collections::BTreeMap;
    let raw = c
        .query(
            "WITH raw AS (
                 SELECT metric_id, llm_id, b.secs,
                        CASE WHEN b.secs = 0 THEN 0
                             ELSE extract(epoch FROM date_bin(make_interval(secs => b.secs), created_at,
                                                              timestamptz '2000-01-01 00:00:00+00'))::bigint
                        END AS start,
                        value, coalesce(r.workload_id, 1) AS workload_id
                 FROM llm_metrics m LEFT JOIN runs r ON r.id = m.run_id,
                      (VALUES (0), (3600), (86400)) AS b(secs)),
             -- Shifted by the bucket's minimum (exact for values within a factor 2 of it), so
             -- PostgreSQL's own stddev keeps its digits when values share a large offset.
             shifted AS (
                 SELECT *, value - min(value) OVER (PARTITION BY metric_id, llm_id, secs, start, workload_id) AS dev
                 FROM raw)
             SELECT metric_id, secs, start, llm_id, count(*), avg(value), stddev_samp(dev),
                    min(value), max(value),
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY value),
                    percentile_cont(0.9) WITHIN GROUP (ORDER BY value),
                    percentile_cont(0.95) WITHIN GROUP (ORDER BY value),
                    percentile_cont(0.99) WITHIN GROUP (ORDER BY value),
                    workload_id
             FROM shifted GROUP BY 1, 2, 3, 4, workload_id",
            &[],
        )
        .await
        .expect("raw statistics");
    let summaries = c
        .query(
            "SELECT metric_id, bucket_secs,
                    CASE WHEN bucket_secs = 0 THEN 0 ELSE extract(epoch FROM bucket_start)::bigint END,
                    llm_id, n, mean, CASE WHEN n > 1 THEN sqrt(m2 / (n - 1)) END, min, max,
                    llmrank_percentile(sketch, n, 0.5, min, max),
                    llmrank_percentile(sketch, n, 0.9, min, max),
                    llmrank_percentile(sketch, n, 0.95, min, max),
                    llmrank_percentile(sketch, n, 0.99, min, max),
                    m2, sketch, workload_id
             FROM llm_metric_summaries",
            &[],
        )
        .await
        .expect("summaries");
    type Key = (i16, i32, i64, i16, i32);
    let key = |r: &tokio_postgres::Row| -> Key {
        let last = r.len() - 1;
        (r.get(0), r.get(1), r.get(2), r.get(3), r.get(last))
    };
    let raw: BTreeMap<Key, &tokio_postgres::Row> = raw.iter().map(|r| (key(r), r)).collect();
    let sum: BTreeMap<Key, &tokio_postgres::Row> = summaries.iter().map(|r| (key(r), r)).collect();
    assert_eq!(
        raw.keys().collect::<Vec<_>>(),
        sum.keys().collect::<Vec<_>>(),
        "summary buckets differ from the buckets of the raw samples"
    );
    let rel = |a: f64, b: f64| if a == b { 0.0 } else { ((a - b) / b).abs() };
    for (k, r) in &raw {
        let s = sum[k];
        assert_eq!(r.get::<_, i64>(4), s.get::<_, i64>(4), "{k:?} n");
        assert!(
            rel(r.get(5), s.get(5)) < 1e-9,
            "{k:?} mean {} vs {}",
            r.get::<_, f64>(5),
            s.get::<_, f64>(5)
        );
        match (r.get::<_, Option<f64>>(6), s.get::<_, Option<f64>>(6)) {
            (Some(a), Some(b)) => assert!(
                (a - b).abs() <= 1e-9 * a.abs().max(1e-12),
                "{k:?} stddev {a} vs {b}"
            ),
            (a, b) => assert_eq!(a, b, "{k:?} stddev"),
        }
        assert_eq!(r.get::<_, f64>(7), s.get::<_, f64>(7), "{k:?} min");
        assert_eq!(r.get::<_, f64>(8), s.get::<_, f64>(8), "{k:?} max");
        // The Rust reading of the same row.
        let packed: Vec<i64> = s.get(14);
        let summary = llmrank::summary::Summary {
            moments: llmrank::stats::Moments {
                n: s.get::<_, i64>(4) as u64,
                mean: s.get(5),
                m2: s.get(13),
            },
            min: s.get(7),
            max: s.get(8),
            sketch: llmrank::summary::Sketch::unpack(&packed),
        }
        .describe();
        for (i, q) in [(9, 0.5), (10, 0.9), (11, 0.95), (12, 0.99)] {
            let exact: f64 = r.get(i);
            let sql: f64 = s.get(i);
            let ours = match q {
                0.5 => summary.p50,
                0.9 => summary.p90,
                0.95 => summary.p95,
                _ => summary.p99,
            };
            assert!(
                rel(sql, exact) <= llmrank::summary::ALPHA * (1.0 + 1e-9),
                "{k:?} p{q}: sketch {sql} vs exact {exact}"
            );
            assert!(
                rel(ours, sql) < 1e-12,
                "{k:?} p{q}: Rust {ours} vs SQL {sql}"
            );
        }
    }
    raw.len()
}

/// A private Redis on its own port (never the shared one), stopped when dropped.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    pub fn start_on(port: u16) -> PrivateRedis {
        let child = std::process::Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (scripts/services.sh installs it)");
        PrivateRedis {
            port,
            child: Some(child),
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub async fn wait_up(&self) {
        for _ in 0..500 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("private redis on {} did not come up", self.port);
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private PostgreSQL cluster on its own port (never the shared one), for tests that stop or
/// restart the server; removed when dropped.
pub struct PrivatePg {
    pub port: u16,
    pub dir: PathBuf,
    bin: PathBuf,
    /// Extra server options (`-c ssl=on ...`).
    extra: String,
}

impl PrivatePg {
    pub fn start() -> PrivatePg {
        Self::start_with(|_| String::new())
    }

    /// Starts with extra server options, made from the cluster's directory (for files in it).
    pub fn start_with(extra: impl FnOnce(&std::path::Path) -> String) -> PrivatePg {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                    .filter(|p| p.join("initdb").is_file())
                    .max()
            })
            .expect("PostgreSQL's server binaries under /usr/lib/postgresql (scripts/services.sh installs them)");
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("llmrank-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("cluster dir");
        // What `extra` writes (certificates) must belong to postgres too: one chown after it.
        let extra = extra(&dir);
        let chown = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status();
        assert!(
            chown.is_ok_and(|s| s.success()),
            "chown the private cluster to postgres"
        );
        let pg = PrivatePg {
            port,
            dir,
            bin,
            extra,
        };
        let out = pg.as_postgres(
            "initdb",
            &["-D", &pg.data(), "-U", "postgres", "--auth=trust", "-N"],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.ctl("start");
        pg
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn as_postgres(&self, tool: &str, args: &[&str]) -> Output {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(tool))
            .args(args)
            .output()
            .expect("runuser")
    }

    /// `pg_ctl start|stop|restart`, waiting for it; fast shutdown (like a pod being replaced).
    pub fn ctl(&self, action: &str) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off {}",
            self.port,
            self.dir.display(),
            self.extra
        );
        let log = self.dir.join("log").display().to_string();
        let out = self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &opts,
                "-l",
                &log,
                "-m",
                "fast",
                "-w",
                action,
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = self.as_postgres("pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One line of the reliability table (`scripts/reliability.sh` collects them).
pub fn report(what: &str, trials: usize, failures: usize, lost: i64, duplicated: i64) {
    println!("RELIABILITY | {what} | {trials} | {failures} | {lost} | {duplicated}");
}

/// A port nobody listens on right now (for servers the test starts itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Moves the data version as a change no batch records would (serve hears it and misses).
pub async fn move_data_version(c: &tokio_postgres::Client) {
    c.batch_execute("INSERT INTO data_changes (what) VALUES ('test'); NOTIFY llmrank_data")
        .await
        .expect("move the data version");
}
