//! Summaries, windows, history, retention, partitions and the upgrade path.

use std::time::{Duration, SystemTime};

use llmrank::cmd::{rank, simulate};
use llmrank::db::retry::RetryPolicy;
use llmrank::db::{copy, maintain, runs};
use llmrank::ingest::writer::{Batch, Writer};
use llmrank::ranking::Method;
use llmrank::stats::Statistic;
use llmrank::summary::{Rollup, HOUR};
use llmrank::window::{self, Request};

use crate::helpers::{assert_summaries_match_samples, count, TestDb};

/// A batch of `values` for one LLM and metric, taken at `unix_secs`, built the way every
/// source builds them (COPY rows and their summary rows).
fn batch(
    run_id: i32,
    batch_no: i32,
    llm: i16,
    metric: i16,
    unix_secs: i64,
    values: &[f64],
) -> Batch {
    let mut enc = copy::Encoder::new();
    let created_at = copy::from_unix_secs(unix_secs);
    for &value in values {
        enc.push(&copy::Row {
            llm_id: llm,
            metric_id: metric,
            run_id,
            value,
            created_at,
            request: None,
        });
    }
    let mut rollup = Rollup::default();
    rollup.add_slice(
        llmrank::summary::SeriesKey {
            metric_id: metric,
            llm_id: llm,
            workload_id: 1,
        },
        unix_secs,
        values,
    );
    let (chunks, rows) = enc.finish();
    Batch {
        run_id,
        batch_no,
        rows,
        chunks,
        summaries: rollup.rows(),
        joint: Vec::new(),
        // Straight into the day's partition when it exists (through the parent otherwise).
        day: Some(unix_secs.div_euclid(86_400) * 86_400),
    }
}

fn writer(db: &TestDb) -> Writer {
    let policy = RetryPolicy {
        max_attempts: 20,
        initial: Duration::from_millis(5),
        max: Duration::from_millis(100),
    };
    Writer::new(llmrank::db::Pg::plain(db.url().parse().unwrap()), policy)
}

async fn new_run(c: &tokio_postgres::Client) -> i32 {
    runs::create(
        c,
        llmrank::domain::SourceKind::Simulate,
        1,
        None,
        &serde_json::json!({"test": true}),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_equal_the_raw_samples_for_random_data_over_a_span() {
    let (db, mut s) = TestDb::seeded().await;
    s.simulate.samples = 3_000;
    s.simulate.batch_rows = 4_096;
    let opts = simulate::Options {
        span_secs: 30 * 3_600,
        ..Default::default()
    };
    simulate::run(&s, &opts).await.unwrap();
    let c = db.client().await;
    let rows = assert_summaries_match_samples(&c).await;
    // 48 totals, 48 × 31 or so hours, 48 × 2 or 3 days.
    assert!(rows > 48 * 30, "{rows} summary rows");
    // The all-time ranking reads one row per LLM.
    let totals = count(
        &c,
        "SELECT count(*) FROM llm_metric_summaries WHERE bucket_secs = 0 AND metric_id = 1",
    )
    .await;
    assert_eq!(totals, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adversarial_values_summarize_exactly_through_the_writer() {
    let (db, _s) = TestDb::seeded().await;
    let c = db.client().await;
    let run = new_run(&c).await;
    let hour = (window::now() / HOUR) * HOUR;
    let mut outlier = vec![100.0; 4_999];
    outlier.push(1e12);
    let offset: Vec<f64> = (0..30_000)
        .map(|i| 1e9 + (i % 7) as f64 * 0.1 / 7.0 * 7.0)
        .collect();
    let cases: Vec<(i16, Vec<f64>)> = vec![
        (1, outlier),
        (2, vec![42.5; 3_000]),
        (3, vec![7.0]),
        (4, offset.clone()),
        (5, vec![0.0, 0.0, 1e-3, 5.0]),
    ];
    let mut w = writer(&db);
    let mut no = 0;
    for (llm, values) in &cases {
        // Several batches per LLM, so the summaries are merged many times.
        for piece in values.chunks(997) {
            w.write(&batch(run, no, *llm, 1, hour + 10, piece))
                .await
                .unwrap();
            no += 1;
        }
    }
    assert_summaries_match_samples(&c).await;
    // The standard deviation of values near 1e9 that differ by 0.1, merged over 31 batches,
    // keeps at least 6 significant digits (checked against a two-pass computation here).
    let devs: Vec<f64> = offset.iter().map(|x| x - 1e9).collect();
    let m = devs.iter().sum::<f64>() / devs.len() as f64;
    let sd = (devs.iter().map(|d| (d - m) * (d - m)).sum::<f64>() / (devs.len() - 1) as f64).sqrt();
    let row = c
        .query_one(
            "SELECT sqrt(m2 / (n - 1)), n FROM llm_metric_summaries WHERE llm_id = 4 AND bucket_secs = 0",
            &[],
        )
        .await
        .unwrap();
    let ours: f64 = row.get(0);
    assert_eq!(row.get::<_, i64>(1), 30_000);
    assert!(((ours - sd) / sd).abs() < 1e-6, "{ours} vs {sd}");
    // A single sample has no spread.
    let one = c
        .query_one(
            "SELECT n, m2 FROM llm_metric_summaries WHERE llm_id = 3 AND bucket_secs = 0",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((one.get::<_, i64>(0), one.get::<_, f64>(1)), (1, 0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_never_lose_a_summary_update() {
    let (db, _s) = TestDb::seeded().await;
    let c = db.client().await;
    let run = new_run(&c).await;
    let hour = (window::now() / HOUR) * HOUR;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let mut w = writer(&db);
        tasks.push(tokio::spawn(async move {
            for k in 0..15 {
                let values: Vec<f64> = (0..200).map(|i| f64::from(t * 1000 + k * 7 + i)).collect();
                w.write(&batch(run, t * 100 + k, 1, 1, hour + 60, &values))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = count(&c, "SELECT n FROM llm_metric_summaries WHERE bucket_secs = 3600 AND llm_id = 1 AND metric_id = 1").await;
    assert_eq!(n, 8 * 15 * 200);
    assert_summaries_match_samples(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_include_and_exclude_the_right_buckets() {
    let (db, mut s) = TestDb::seeded().await;
    s.simulate.samples = 4_000;
    let span = 80 * 3_600;
    simulate::run(
        &s,
        &simulate::Options {
            span_secs: span as u64,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let c = db.client().await;
    let now = window::now();
    let windows = [
        Request {
            window: Some(3 * HOUR),
            ..Default::default()
        },
        Request {
            window: Some(50 * HOUR),
            ..Default::default()
        },
        Request {
            from: Some(now - 70 * HOUR - 1_234),
            to: Some(now - 30 * HOUR + 17),
            ..Default::default()
        },
        Request {
            to: Some(now - 40 * HOUR),
            ..Default::default()
        },
        Request {
            from: Some(now - 2 * HOUR),
            ..Default::default()
        },
    ];
    for req in windows {
        let bounds = req.resolve(window::now(), HOUR).unwrap();
        for method in [Method::Summary, Method::Exact] {
            let r = rank::ranking(
                &s,
                "TTFT",
                &rank::Options::new(Statistic::Mean, &req, method),
            )
            .await
            .unwrap();
            assert_eq!(r.window, bounds.to_json());
            let from = bounds.from.map_or(f64::NEG_INFINITY, |x| x as f64);
            let to = bounds.to.map_or(f64::INFINITY, |x| x as f64);
            let expected = c
                .query(
                    "SELECT l.name, count(*), avg(value) FROM llm_metrics v JOIN llms l ON l.id = v.llm_id
                     WHERE v.metric_id = 1 AND created_at >= to_timestamp($1) AND created_at < to_timestamp($2)
                     GROUP BY l.name",
                    &[&from, &to],
                )
                .await
                .unwrap();
            assert_eq!(r.rankings.len(), expected.len(), "{req:?} {method:?}");
            for row in expected {
                let name: String = row.get(0);
                let e = r.rankings.iter().find(|e| e.llm == name).unwrap();
                assert_eq!(
                    e.stats.n as i64,
                    row.get::<_, i64>(1),
                    "{req:?} {method:?} {name}"
                );
                let mean: f64 = row.get(2);
                assert!(((e.stats.mean - mean) / mean).abs() < 1e-9);
            }
        }
    }
    // A window with no samples says so.
    let empty = Request {
        to: Some(now - 100 * HOUR),
        ..Default::default()
    };
    let err = rank::ranking(
        &s,
        "TTFT",
        &rank::Options::new(Statistic::Mean, &empty, Method::Summary),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no samples for TTFT in this window"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_old_raw_samples_but_rankings_of_old_windows_still_answer() {
    let (db, s) = TestDb::simulated(2_000, 5 * 86_400).await;
    let c = db.client().await;
    let before = rank::ranking(
        &s,
        "TPS",
        &rank::Options::new(Statistic::P99, &Request::default(), Method::Summary),
    )
    .await
    .unwrap();
    let old = Request {
        to: Some(window::now() - 3 * 86_400),
        ..Default::default()
    };
    let old_before = rank::ranking(
        &s,
        "TPS",
        &rank::Options::new(Statistic::Mean, &old, Method::Summary),
    )
    .await
    .unwrap();
    let raw_before = count(&c, "SELECT count(*) FROM llm_metrics").await;
    let version_before = llmrank::db::notify::read_state(&c).await.unwrap().version;

    let mut admin = db.client().await;
    let done = maintain::upkeep(&mut admin, 2).await.unwrap();
    assert!(!done.dropped.is_empty(), "{done:?}");
    let horizon = done.horizon.unwrap();
    assert_eq!(
        count(
            &c,
            &format!("SELECT count(*) FROM llm_metrics WHERE created_at < to_timestamp({horizon})")
        )
        .await,
        0
    );
    let raw_after = count(&c, "SELECT count(*) FROM llm_metrics").await;
    assert!(
        raw_after < raw_before && raw_after > 0,
        "{raw_before} -> {raw_after}"
    );
    // Summaries stay: the same answers for all time and for the old window.
    let after = rank::ranking(
        &s,
        "TPS",
        &rank::Options::new(Statistic::P99, &Request::default(), Method::Summary),
    )
    .await
    .unwrap();
    assert_eq!(before.rankings, after.rankings);
    let old_after = rank::ranking(
        &s,
        "TPS",
        &rank::Options::new(Statistic::Mean, &old, Method::Summary),
    )
    .await
    .unwrap();
    assert_eq!(old_before.rankings, old_after.rankings);
    // An exact answer that needs dropped samples says so; a recent window still works.
    let err = rank::ranking(
        &s,
        "TPS",
        &rank::Options::new(Statistic::Mean, &old, Method::Exact),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("dropped by retention"), "{err}");
    let recent = Request {
        window: Some(24 * HOUR),
        ..Default::default()
    };
    rank::ranking(
        &s,
        "TPS",
        &rank::Options::new(Statistic::Mean, &recent, Method::Exact),
    )
    .await
    .unwrap();
    // The data version moved, so cached answers are recomputed.
    let version_after = llmrank::db::notify::read_state(&c).await.unwrap().version;
    assert_ne!(version_before, version_after);
    // A rebuild would lose the dropped days' summaries: refused.
    let err = llmrank::cmd::summarize::run(&s).await.unwrap_err();
    assert!(err.to_string().contains("dropped by retention"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_never_fails_for_want_of_a_partition() {
    let (db, mut s) = TestDb::seeded().await;
    s.simulate.samples = 300;
    // Three years back: far beyond any partition created ahead of time.
    let span = 3 * 365 * 86_400;
    let report = simulate::run(
        &s,
        &simulate::Options {
            span_secs: span,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(report.rows_total, 300 * 48);
    let c = db.client().await;
    assert_eq!(
        count(&c, "SELECT count(*) FROM llm_metrics").await,
        300 * 48
    );
    // Old days wait in the default partition; recent ones get partitions from the upkeep.
    let mut admin = db.client().await;
    maintain::upkeep(&mut admin, 0).await.unwrap();
    assert_eq!(
        count(&c, "SELECT count(*) FROM llm_metrics").await,
        300 * 48
    );
    let recent_in_default = count(
        &c,
        "SELECT count(*) FROM llm_metrics_default WHERE created_at > now() - interval '30 days'",
    )
    .await;
    assert_eq!(recent_in_default, 0);
    // A batch of one old day with no partition goes through the parent, into the default one.
    let run = new_run(&c).await;
    let old_day = window::now() - 400 * 86_400;
    writer(&db)
        .write(&batch(run, 0, 1, 1, old_day, &[1.0, 2.0, 3.0]))
        .await
        .unwrap();
    let in_default = count(
        &c,
        &format!("SELECT count(*) FROM llm_metrics_default WHERE run_id = {run}"),
    )
    .await;
    assert_eq!(in_default, 3);
    // Today's batch lands straight in today's partition.
    writer(&db)
        .write(&batch(run, 1, 1, 1, window::now(), &[4.0, 5.0]))
        .await
        .unwrap();
    let today = llmrank::db::copy::partition_name(window::floor(window::now(), 86_400));
    assert_eq!(
        count(
            &c,
            &format!("SELECT count(*) FROM {today} WHERE run_id = {run}")
        )
        .await,
        2
    );
    assert_summaries_match_samples(&c).await;
    // An old window answers from the summaries.
    let old = Request {
        from: window::parse_rfc3339(&window::rfc3339(window::now() - 2 * 365 * 86_400)).ok(),
        window: Some(200 * 86_400),
        ..Default::default()
    };
    let r = rank::ranking(
        &s,
        "TTFT",
        &rank::Options::new(Statistic::P50, &old, Method::Summary),
    )
    .await
    .unwrap();
    assert_eq!(r.rankings.len(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_before_summaries_is_upgraded_and_equals_live_summaries() {
    // Live: written with summaries, spread over two days.
    let (live, mut s) = TestDb::seeded().await;
    s.simulate.samples = 1_500;
    simulate::run(
        &s,
        &simulate::Options {
            span_secs: 40 * 3_600,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let lc = live.client().await;

    // Old: the schema of the previous release (migrations 0001-0004), the same catalogue and
    // the same samples, written as that release wrote them (no summaries).
    let old = TestDb::new().await;
    let mut oc = old.client().await;
    llmrank::db::migrate::apply_first(&mut oc, 4).await.unwrap();
    let mut os = s.clone();
    os.database.url = llmrank::config::Secret::new(old.url());
    llmrank::db::catalogue::seed(&oc, &os.llms, &os.metrics)
        .await
        .unwrap();
    let rows = lc
        .query(
            "SELECT llm_id, metric_id, run_id, value, created_at FROM llm_metrics",
            &[],
        )
        .await
        .unwrap();
    let col = |i: usize| rows.iter().map(|r| r.get::<_, i16>(i)).collect::<Vec<_>>();
    let (llms, metrics) = (col(0), col(1));
    let run_ids: Vec<i32> = rows.iter().map(|r| r.get(2)).collect();
    let values: Vec<f64> = rows.iter().map(|r| r.get(3)).collect();
    let times: Vec<SystemTime> = rows.iter().map(|r| r.get(4)).collect();
    oc.execute(
        "INSERT INTO runs (id, source, params, status) VALUES (1, 'simulate', '{}', 'completed')",
        &[],
    )
    .await
    .unwrap();
    oc.execute(
        "INSERT INTO llm_metrics SELECT * FROM unnest($1::int2[], $2::int2[], $3::int4[], $4::float8[], $5::timestamptz[])",
        &[&llms, &metrics, &run_ids, &values, &times],
    )
    .await
    .unwrap();

    // The upgrade: `seed` migrates and builds the summaries from the samples.
    let report = llmrank::cmd::seed::run(&os).await.unwrap();
    assert_eq!(
        report.migrations,
        [
            "0005_summaries_and_partitions",
            "0006_roles",
            "0007_workloads_and_imports",
            "0008_runs_by_workload",
            "0009_llm_ids_without_a_sequence",
            "0010_requests",
            "0011_request_tokens",
            "0012_run_summaries",
            "0013_run_completion_is_a_change"
        ]
    );
    let rebuilt = report
        .rebuilt
        .expect("summaries built from the existing samples");
    assert_eq!(rebuilt.samples, 1_500 * 48);
    assert_eq!(
        count(&oc, "SELECT count(*) FROM llm_metrics").await,
        1_500 * 48
    );
    assert_summaries_match_samples(&oc).await;

    // Rebuilt equals live: the same rows, n, min, max and sketch exactly, mean and M2 to 1e-9.
    let q = "SELECT metric_id, bucket_secs, bucket_start, llm_id, n, mean, m2, min, max, sketch
             FROM llm_metric_summaries ORDER BY 1, 2, 3, 4";
    let (a, b) = (
        lc.query(q, &[]).await.unwrap(),
        oc.query(q, &[]).await.unwrap(),
    );
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        for i in [0, 3] {
            assert_eq!(x.get::<_, i16>(i), y.get::<_, i16>(i));
        }
        assert_eq!(x.get::<_, i32>(1), y.get::<_, i32>(1));
        assert_eq!(x.get::<_, SystemTime>(2), y.get::<_, SystemTime>(2));
        assert_eq!(x.get::<_, i64>(4), y.get::<_, i64>(4));
        for i in [5, 6] {
            let (p, q): (f64, f64) = (x.get(i), y.get(i));
            assert!(
                (p - q).abs() <= 1e-9 * p.abs().max(1e-9),
                "column {i}: {p} vs {q}"
            );
        }
        assert_eq!(x.get::<_, f64>(7), y.get::<_, f64>(7));
        assert_eq!(x.get::<_, f64>(8), y.get::<_, f64>(8));
        assert_eq!(x.get::<_, Vec<i64>>(9), y.get::<_, Vec<i64>>(9));
    }
    // `llmrank summarize` on the live database rebuilds the same rows it wrote live.
    let again = llmrank::cmd::summarize::run(&s).await.unwrap();
    assert_eq!(again.samples, 1_500 * 48);
    assert_summaries_match_samples(&lc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_gives_one_point_per_bucket_with_the_bucket_counts() {
    let (db, _) = TestDb::simulated(1_200, 12 * 3_600).await;
    let env = [("LLMRANK_DATABASE__URL", db.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = crate::helpers::llmrank(
        &[
            "history", "TTFT", "--window", "24h", "--llm", "GPT-4o", "--format", "json",
        ],
        &env,
    );
    assert!(out.status.success(), "{}", crate::helpers::stderr(&out));
    let h: serde_json::Value = serde_json::from_str(&crate::helpers::stdout(&out)).unwrap();
    let series = h["series"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0]["llm"], "GPT-4o");
    let points = series[0]["points"].as_array().unwrap();
    assert!(points.len() >= 12, "{} points", points.len());
    let c = db.client().await;
    let per_hour = c
        .query(
            "SELECT extract(epoch FROM date_bin('1 hour', created_at, timestamptz '2000-01-01 00:00:00+00'))::bigint, count(*)
             FROM llm_metrics v JOIN llms l ON l.id = v.llm_id
             WHERE l.name = 'GPT-4o' AND v.metric_id = 1 GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(points.len(), per_hour.len());
    for (p, row) in points.iter().zip(&per_hour) {
        assert_eq!(p["time"], window::rfc3339(row.get(0)));
        assert_eq!(p["n"].as_i64().unwrap(), row.get::<_, i64>(1));
    }
    let out = crate::helpers::llmrank(&["history", "TTFT", "--llm", "GPT-5"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(crate::helpers::stderr(&out)
        .starts_with("llmrank: unknown LLM \"GPT-5\"; valid LLMs: GPT-4o,"));
}
