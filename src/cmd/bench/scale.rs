//! `llmrank bench --scale`: what a ranking costs as samples grow, in one run on a scratch
//! database.
//!
//! Loads 1 M, 10 M and 100 M samples in turn (cumulative; `simulate --span`, each load spread
//! over the span a continuous simulate writing ~7 M samples a day would need, so the number of
//! hourly and daily buckets grows as in production), and after each load times, on a warm
//! connection:
//! - the uncached all-time ranking with percentiles from the summaries (the database round
//!   trip of its one query, and the whole ranking), median of many runs;
//! - windowed rankings (24 h, 7 d) from the summaries;
//! - the raw scan the ranking did before summaries (`rank --exact`), once.
//!
//! At the largest size it starts `llmrank serve` and sends a burst of distinct cache misses
//! (every statistic × window × metric), and reports serve's peak RSS.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::config::{Secret, Settings};
use crate::db::{self, catalogue, summaries};
use crate::domain::RunFilter;
use crate::ranking::Method;
use crate::stats::Statistic;
use crate::summary::{DAY, HOUR};
use crate::table::thousands;
use crate::window::{self, Bounds, Request};

/// Samples a day written by the chart's continuous simulate (100 per LLM × metric a minute).
const ROWS_PER_DAY: u64 = 7_000_000;

#[derive(Debug, Clone)]
pub struct Options {
    /// Cumulative sizes to measure at, in samples.
    pub sizes: Vec<u64>,
    pub database: String,
    /// Timed runs per uncached summary ranking.
    pub repeats: usize,
}

struct Point {
    size: u64,
    load_rate: f64,
    summary_rows: i64,
    db_ms: f64,
    rank_ms: f64,
    day_ms: f64,
    week_ms: f64,
    raw_ms: f64,
    /// The goodput ranking: its query's database time, the whole ranking, the joint rows
    /// read, and the exact answer from the raw requests (up to [`EXACT_GOODPUT_MAX`]).
    goodput_db_ms: f64,
    goodput_ms: f64,
    joint_cells: i64,
    goodput_exact_ms: Option<f64>,
    /// `compare` of the last hour against all before it, every metric: whole.
    compare_ms: f64,
    /// `regressions` over 30 days, every series: its day rows' database time, and whole.
    regressions_db_ms: f64,
    regressions_ms: f64,
    /// The day rows `regressions` read (one per series and day of history).
    day_rows: usize,
}

/// Sizes above this skip the exact goodput (a GROUP BY of every request: minutes at 100 M).
const EXACT_GOODPUT_MAX: u64 = 10_000_000;

/// The SLO the goodput timings ask.
const BENCH_SLO: &str = "TTFT<=500ms,TPOT<=12ms,e2e_latency<=6s";

pub async fn run(settings: &Settings, opts: &Options) -> Result<String> {
    let pairs = (settings.llms.len() * settings.metrics.len()) as u64;
    let (url, admin, base) = super::scratch::scratch_database(settings, &opts.database).await?;
    let mut s = settings.clone();
    s.database.url = Secret::new(url.clone());
    crate::cmd::seed::run(&s).await?;
    let client = db::connect(&base).await?;
    let exe = std::env::current_exe().context("failed to find the llmrank executable")?;

    let mut points = Vec::new();
    let mut loaded = 0u64;
    for (i, &size) in opts.sizes.iter().enumerate() {
        let samples = (size.saturating_sub(loaded)).div_ceil(pairs).max(1);
        let span = (size as u128 * 86_400 / ROWS_PER_DAY as u128).max(3_600) as u64;
        eprintln!(
            "bench --scale: loading {} more samples (to {}) spread over {:.1} h...",
            thousands(samples * pairs),
            thousands(size),
            span as f64 / 3_600.0
        );
        let started = Instant::now();
        let status = std::process::Command::new(&exe)
            .args(["simulate", "--seed", &(i + 1).to_string()])
            .args(["--samples", &samples.to_string()])
            .args(["--span", &format!("{}m", span.div_ceil(60))])
            .env("LLMRANK_DATABASE__URL", url.as_str())
            .env("LLMRANK_LOG__LEVEL", "warn")
            .stdout(std::process::Stdio::null())
            .status()
            .context("failed to run simulate")?;
        if !status.success() {
            bail!("simulate failed ({status})");
        }
        let load_rate = (samples * pairs) as f64 / started.elapsed().as_secs_f64();
        loaded += samples * pairs;
        client
            .batch_execute("VACUUM ANALYZE")
            .await
            .context("VACUUM failed")?;
        eprintln!("bench --scale: timing rankings at {}...", thousands(loaded));
        points.push(measure(&client, loaded, load_rate, opts.repeats).await?);
    }
    eprintln!("bench --scale: a burst of cache misses against serve...");
    let serve_rss = serve_burst(&exe, &url, settings).await?;
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            db::quote_ident(&opts.database)
        ))
        .await
        .ok();

    let mut out = String::from(
        "samples       load rows/s  summary rows  all-time ranking (db)  (whole)  24h window  7d window  raw scan (exact)\n",
    );
    for p in &points {
        out.push_str(&format!(
            "{:>11}  {:>12}  {:>12}  {:>17.2} ms  {:>6.2} ms  {:>7.2} ms  {:>6.2} ms  {:>11.0} ms\n",
            thousands(p.size),
            thousands(p.load_rate as u64),
            thousands(p.summary_rows as u64),
            p.db_ms,
            p.rank_ms,
            p.day_ms,
            p.week_ms,
            p.raw_ms
        ));
    }
    out.push_str(&format!(
        "\ngoodput ranking ({BENCH_SLO}), all time:\nsamples       joint cells  goodput (db)  (whole)  exact from raw requests\n"
    ));
    for p in &points {
        out.push_str(&format!(
            "{:>11}  {:>11}  {:>9.2} ms  {:>5.2} ms  {}\n",
            thousands(p.size),
            thousands(p.joint_cells as u64),
            p.goodput_db_ms,
            p.goodput_ms,
            p.goodput_exact_ms
                .map_or("skipped (above 10 M)".to_string(), |x| format!("{x:.0} ms"))
        ));
    }
    out.push_str(
        "\ncompare (window=1h against until=1h, every metric) and regressions (30 days, every series):\nsamples       compare (whole)  regressions (db)  (whole)  day rows  (whole per day row)\n",
    );
    for p in &points {
        out.push_str(&format!(
            "{:>11}  {:>12.2} ms  {:>13.2} ms  {:>5.2} ms  {:>8}  {:>8.1} us\n",
            thousands(p.size),
            p.compare_ms,
            p.regressions_db_ms,
            p.regressions_ms,
            p.day_rows,
            p.regressions_ms * 1000.0 / p.day_rows.max(1) as f64
        ));
    }
    let (first, last) = (&points[0], &points[points.len() - 1]);
    let growth = last.db_ms / first.db_ms;
    let good_growth = last.goodput_db_ms / first.goodput_db_ms;
    let verdict = |ok: bool| if ok { "meets" } else { "MISSES" };
    out.push_str(&format!(
        "all-time ranking, database time at {}: {:.2} ms ({} target <= 5 ms)\n\
         time({}) / time({}): {growth:.2}x ({} target <= 1.5x); the raw scan grew {:.1}x\n\
         raw scan / summaries at {}: {:.0}x\n\
         serve peak RSS during {} distinct cache misses at {}: {:.1} MiB ({} target <= 64 MiB)\n\
         goodput ranking, database time at {}: {:.2} ms ({} target <= 10 ms); time({}) / time({}): {good_growth:.2}x ({} target <= 1.5x)\n\
         compare at {}: {:.2} ms, regressions {:.2} ms ({} target <= 20 ms); time({}) / time({}): {:.2}x and {:.2}x\n",
        thousands(last.size),
        last.db_ms,
        verdict(last.db_ms <= 5.0),
        thousands(last.size),
        thousands(first.size),
        verdict(growth <= 1.5),
        last.raw_ms / first.raw_ms,
        thousands(last.size),
        last.raw_ms / last.rank_ms,
        serve_rss.0,
        thousands(last.size),
        serve_rss.1,
        verdict(serve_rss.1 <= 64.0),
        thousands(last.size),
        last.goodput_db_ms,
        verdict(last.goodput_db_ms <= 10.0),
        thousands(last.size),
        thousands(first.size),
        verdict(good_growth <= 1.5),
        thousands(last.size),
        last.compare_ms,
        last.regressions_ms,
        verdict(last.compare_ms <= 20.0 && last.regressions_ms <= 20.0),
        thousands(last.size),
        thousands(first.size),
        last.compare_ms / first.compare_ms,
        last.regressions_ms / first.regressions_ms,
    ));
    Ok(out)
}

/// Median of `f`'s durations over `n` runs, in ms.
async fn median_ms<F, Fut>(n: usize, mut f: F) -> Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await?;
        times.push(t.elapsed().as_secs_f64() * 1_000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

async fn measure(
    client: &tokio_postgres::Client,
    size: u64,
    load_rate: f64,
    repeats: usize,
) -> Result<Point> {
    let cat = catalogue::load(client).await?;
    let (metric_id, info) = cat.metric("TTFT").context("TTFT is not in the catalogue")?;
    let summary_rows: i64 = client
        .query_one("SELECT count(*) FROM llm_metric_summaries", &[])
        .await?
        .get(0);
    // Warm the connection and the plan.
    summaries::by_llm(client, metric_id, &Bounds::ALL_TIME, None).await?;
    let db_ms = median_ms(repeats, || async {
        summaries::by_llm(client, metric_id, &Bounds::ALL_TIME, None).await?;
        Ok(())
    })
    .await?;
    let ranked = |bounds: Bounds, method: Method| {
        let cat = &cat;
        async move {
            let ask = crate::query::Ask {
                metric_id,
                info,
                by: Statistic::P99,
                window: &bounds,
                method,
                filter: &RunFilter::default(),
                include_reported: false,
            };
            crate::query::ranking(client, cat, &ask)
                .await?
                .map_err(|e| e.into_error("TTFT"))?;
            Ok(())
        }
    };
    let rank_ms = median_ms(repeats, || ranked(Bounds::ALL_TIME, Method::Summary)).await?;
    let resolve = |secs: i64| {
        Request {
            window: Some(secs),
            ..Default::default()
        }
        .resolve(window::now(), HOUR)
        .map_err(anyhow::Error::msg)
    };
    let (day, week) = (resolve(86_400)?, resolve(7 * 86_400)?);
    let day_ms = median_ms(repeats, || ranked(day, Method::Summary)).await?;
    let week_ms = median_ms(repeats, || ranked(week, Method::Summary)).await?;
    let raw_ms = median_ms(1, || ranked(Bounds::ALL_TIME, Method::Exact)).await?;
    let slo: crate::slo::Slo = BENCH_SLO.parse().map_err(anyhow::Error::msg)?;
    let joint_cells: i64 = client
        .query_one(
            "SELECT coalesce(sum(cardinality(cells)), 0)::bigint FROM llm_request_summaries
             WHERE bucket_secs = 0",
            &[],
        )
        .await?
        .get(0);
    crate::db::joint::rows(client, &Bounds::ALL_TIME, None).await?;
    let goodput_db_ms = median_ms(repeats, || async {
        crate::db::joint::rows(client, &Bounds::ALL_TIME, None).await?;
        Ok(())
    })
    .await?;
    let good = |method: Method| {
        let (cat, slo) = (&cat, &slo);
        async move {
            let ask = crate::query::GoodputAsk {
                slo,
                window: &Bounds::ALL_TIME,
                method,
                filter: &RunFilter::default(),
            };
            crate::query::goodput(client, cat, &ask)
                .await?
                .map_err(|e| e.into_error("goodput"))?;
            Ok(())
        }
    };
    let goodput_ms = median_ms(repeats, || good(Method::Summary)).await?;
    let goodput_exact_ms = if size <= EXACT_GOODPUT_MAX {
        Some(median_ms(1, || good(Method::Exact)).await?)
    } else {
        None
    };
    let (base, cand): (crate::compare::Side, crate::compare::Side) = (
        // Everything before the last hour against the last hour: a question every size can
        // answer (1 M samples span 3.4 hours, 100 M two weeks).
        "until=1h".parse().map_err(anyhow::Error::msg)?,
        "window=1h".parse().map_err(anyhow::Error::msg)?,
    );
    let compare_ms = median_ms(repeats, || async {
        let ask = crate::query::compare::CompareAsk {
            base: &base,
            cand: &cand,
            metrics: &[],
            by: Statistic::P50,
            thresholds: crate::regress::Thresholds::default(),
        };
        crate::query::compare::compare(client, &cat, &ask, window::now())
            .await?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    })
    .await?;
    let month = crate::cmd::regressions::days(30 * DAY)?;
    let metric_ids: Vec<i16> = cat.metrics.iter().map(|(id, _)| *id).collect();
    let day_rows = summaries::days(client, &month, &metric_ids, None)
        .await?
        .len();
    let regressions_db_ms = median_ms(repeats, || async {
        summaries::days(client, &month, &metric_ids, None).await?;
        Ok(())
    })
    .await?;
    let regressions_ms = median_ms(repeats, || async {
        let ask = crate::query::regressions::RegressionsAsk {
            window: &month,
            filter: &RunFilter::default(),
            metrics: &[],
            rule: crate::regress::Rule::default(),
        };
        crate::query::regressions::regressions(client, &cat, &ask)
            .await?
            .map_err(|e| e.into_error("regressions"))?;
        Ok(())
    })
    .await?;
    Ok(Point {
        compare_ms,
        regressions_db_ms,
        regressions_ms,
        day_rows,
        size,
        load_rate,
        summary_rows,
        db_ms,
        rank_ms,
        day_ms,
        week_ms,
        raw_ms,
        goodput_db_ms,
        goodput_ms,
        joint_cells,
        goodput_exact_ms,
    })
}

/// Starts serve on the scratch database, sends every distinct (metric, statistic, window)
/// ranking once, 16 at a time (all cache misses), and returns how many and serve's peak RSS (MiB).
async fn serve_burst(
    exe: &std::path::Path,
    url: &str,
    settings: &Settings,
) -> Result<(usize, f64)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    drop(listener);
    const KEY: &str = "bench-key-0123456789abcdef";
    let mut child = std::process::Command::new(exe)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("LLMRANK_DATABASE__URL", url)
        .env("LLMRANK_SERVER__API_KEYS", KEY)
        .env("LLMRANK_REDIS__URL", settings.redis.url.expose())
        .env("LLMRANK_LOG__LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("failed to start serve")?;
    let base = format!("http://127.0.0.1:{port}");
    let result = async {
        let mut up = false;
        for _ in 0..200 {
            if crate::client::health(&format!("{base}/healthz"), Duration::from_secs(1))
                .await
                .is_ok()
            {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !up {
            bail!("serve did not start");
        }
        let key = Secret::new(KEY);
        // Every URL is a distinct key, and the scratch database's data version is new, so
        // every request is a miss in memory and in Redis.
        let mut urls = Vec::new();
        for metric in ["TTFT", "TPS", "e2e_latency", "RPS"] {
            for by in Statistic::ALL {
                for window in ["", "&window=24h", "&window=7d", "&window=30d"] {
                    urls.push(format!(
                        "{base}/ranking/{metric}?by={}{window}",
                        by.as_str()
                    ));
                }
            }
        }
        let n = urls.len();
        let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
        let mut tasks = tokio::task::JoinSet::new();
        for u in urls {
            let (sem, key) = (sem.clone(), key.clone());
            tasks.spawn(async move {
                let _permit = sem.acquire().await;
                crate::client::fetch(&u, Some(&key), Duration::from_secs(120)).await
            });
        }
        while let Some(r) = tasks.join_next().await {
            let (status, body) = r??;
            if !status.is_success() {
                bail!(
                    "serve answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
        Ok(n)
    }
    .await;
    let rss = peak_rss_mib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    Ok((result?, rss?))
}

/// VmHWM of a live process, MiB.
fn peak_rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("failed to read the process status")?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in the process status")?;
    Ok(kib / 1024.0)
}
