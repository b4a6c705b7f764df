//! Rankings against an independent SQL computation, direction, ordering statistic.

use llmrank::cmd::{rank, simulate};
use llmrank::ranking::{Method, Ranking};
use llmrank::stats::Statistic;
use llmrank::summary::ALPHA;

use crate::helpers::TestDb;

async fn ranking(
    s: &llmrank::config::Settings,
    metric: &str,
    by: Statistic,
    method: Method,
) -> anyhow::Result<Ranking> {
    rank::ranking(
        s,
        metric,
        &rank::Options::new(by, &Default::default(), method),
    )
    .await
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranking_statistics_equal_sql_and_follow_each_metric_direction() {
    let (db, s) = TestDb::seeded().await;
    simulate::run(&s, &simulate::Options::default())
        .await
        .unwrap();
    let c = db.client().await;
    for (metric, lower_better, method) in [
        ("TTFT", true, Method::Exact),
        ("TPS", false, Method::Exact),
        ("e2e_latency", true, Method::Exact),
        ("RPS", false, Method::Exact),
        ("TTFT", true, Method::Summary),
        ("TPS", false, Method::Summary),
        ("e2e_latency", true, Method::Summary),
        ("RPS", false, Method::Summary),
    ] {
        let r = ranking(&s, metric, Statistic::Mean, method).await.unwrap();
        assert_eq!(r.method, method);
        assert_eq!(r.rankings.len(), 12);
        assert_eq!(
            r.direction.as_str(),
            if lower_better { "lower" } else { "higher" }
        );
        for w in r.rankings.windows(2) {
            if lower_better {
                assert!(
                    w[0].stats.mean <= w[1].stats.mean,
                    "{metric}: {} before {}",
                    w[0].llm,
                    w[1].llm
                );
            } else {
                assert!(
                    w[0].stats.mean >= w[1].stats.mean,
                    "{metric}: {} before {}",
                    w[0].llm,
                    w[1].llm
                );
            }
            assert!(w[0].rank <= w[1].rank);
        }
        let sql = c
            .query(
                "SELECT l.name, count(*), avg(v.value), stddev_samp(v.value),
                        percentile_cont(0.5) WITHIN GROUP (ORDER BY v.value),
                        percentile_cont(0.9) WITHIN GROUP (ORDER BY v.value),
                        percentile_cont(0.99) WITHIN GROUP (ORDER BY v.value),
                        percentile_cont(0.95) WITHIN GROUP (ORDER BY v.value),
                        min(v.value), max(v.value)
                 FROM llm_metrics v JOIN llms l ON l.id = v.llm_id
                 JOIN metrics m ON m.id = v.metric_id WHERE m.name = $1 GROUP BY l.name",
                &[&metric],
            )
            .await
            .unwrap();
        assert_eq!(sql.len(), 12);
        for row in sql {
            let name: String = row.get(0);
            let e = r.rankings.iter().find(|e| e.llm == name).unwrap();
            assert_eq!(e.stats.n as i64, row.get::<_, i64>(1));
            for (ours, theirs, what) in [
                (e.stats.mean, row.get::<_, f64>(2), "mean"),
                (e.stats.stddev.unwrap(), row.get(3), "stddev"),
                (e.stats.min, row.get(8), "min"),
                (e.stats.max, row.get(9), "max"),
            ] {
                assert!(
                    close(ours, theirs),
                    "{metric} {name} {what}: {ours} vs {theirs}"
                );
            }
            // Exact percentiles equal percentile_cont; sketched ones are within the bound.
            for (ours, theirs, what) in [
                (e.stats.p50, row.get::<_, f64>(4), "p50"),
                (e.stats.p90, row.get(5), "p90"),
                (e.stats.p95, row.get(7), "p95"),
                (e.stats.p99, row.get(6), "p99"),
            ] {
                let ok = match method {
                    Method::Exact => close(ours, theirs),
                    Method::Summary => ((ours - theirs) / theirs).abs() <= ALPHA * (1.0 + 1e-9),
                };
                assert!(
                    ok,
                    "{metric} {name} {what} ({method:?}): {ours} vs {theirs}"
                );
            }
            assert_eq!(e.avg_value, e.stats.mean);
            assert_eq!(e.llm_name, e.llm);
            // The interval is mean ± t·s/√n with n − 1 = 199 degrees of freedom.
            // t(0.975, 199) = 1.971957 (published tables).
            let [lo, hi] = e.stats.ci95.unwrap();
            let t = (hi - lo) / 2.0 / (e.stats.stddev.unwrap() / (e.stats.n as f64).sqrt());
            assert!((t - 1.971_957).abs() < 1e-5, "{t}");
            assert!(close((lo + hi) / 2.0, e.stats.mean));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_p99_orders_by_the_tail() {
    let (_db, s) = TestDb::seeded().await;
    simulate::run(&s, &simulate::Options::default())
        .await
        .unwrap();
    let r = ranking(&s, "e2e_latency", Statistic::P99, Method::Summary)
        .await
        .unwrap();
    assert_eq!(r.by, Statistic::P99);
    for w in r.rankings.windows(2) {
        assert!(
            w[0].stats.p99 <= w[1].stats.p99,
            "{} {} before {} {}",
            w[0].llm,
            w[0].stats.p99,
            w[1].llm,
            w[1].stats.p99
        );
    }
    let by_tps = ranking(&s, "TPS", Statistic::P95, Method::Exact)
        .await
        .unwrap();
    for w in by_tps.rankings.windows(2) {
        assert!(w[0].stats.p95 >= w[1].stats.p95);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_samples_says_so() {
    let (_db, s) = TestDb::seeded().await;
    for method in [Method::Summary, Method::Exact] {
        let err = ranking(&s, "TTFT", Statistic::Mean, method)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no samples for TTFT yet; `llmrank simulate` generates some"
        );
    }
}

/// A window open at the start and ending recently is read as all time less what follows it:
/// the same summaries as the same window read directly (from before the first sample), and
/// the same again when what follows holds an LLM's maximum (then it is read directly).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_until_a_recent_end_equals_the_same_window_read_directly() {
    use llmrank::db::summaries::by_llm;
    use llmrank::summary::{Rollup, SeriesKey, HOUR};
    use llmrank::window::Bounds;
    let (db, _s) = TestDb::simulated(3_000, 3 * 86_400).await;
    let c = db.client().await;
    let now = llmrank::window::now();
    let end = now.div_euclid(HOUR) * HOUR - 5 * HOUR;
    let until = Bounds {
        from: None,
        to: Some(end),
    };
    let direct = Bounds {
        from: Some(end - 30 * 86_400),
        to: Some(end),
    };
    let same = |a: &[(i16, llmrank::summary::Summary)], b: &[(i16, llmrank::summary::Summary)]| {
        assert_eq!(a.len(), b.len());
        for ((la, x), (lb, y)) in a.iter().zip(b) {
            assert_eq!(la, lb);
            assert_eq!(x.moments.n, y.moments.n, "LLM {la}");
            assert!(close(x.moments.mean, y.moments.mean), "LLM {la}");
            // Subtracting moments loses a few more digits than merging them.
            let m2 = (x.moments.m2 - y.moments.m2).abs() / y.moments.m2;
            assert!(m2 < 1e-9, "LLM {la}: M2 differs by {m2:e}");
            assert_eq!((x.min, x.max), (y.min, y.max), "LLM {la}");
            assert_eq!(x.sketch, y.sketch, "LLM {la}");
        }
    };
    let got = by_llm(&c, 1, &until, None).await.unwrap();
    assert!(!got.is_empty());
    same(&got, &by_llm(&c, 1, &direct, None).await.unwrap());
    let all = by_llm(&c, 1, &Bounds::ALL_TIME, None).await.unwrap();
    assert!(
        got.iter()
            .zip(&all)
            .all(|((_, w), (_, a))| w.moments.n < a.moments.n),
        "the hours after the end hold samples, so the window holds fewer"
    );
    // An LLM's largest value ever, two hours after the end (written as a batch writes it:
    // its hour, day and all-time rows together).
    let mut rollup = Rollup::default();
    let series = SeriesKey {
        metric_id: 1,
        llm_id: got[0].0,
        workload_id: 1,
    };
    rollup.add(series, end + 2 * HOUR + 10, got[0].1.max * 10.0);
    llmrank::db::summaries::upsert(&c, &rollup.rows())
        .await
        .unwrap();
    let got = by_llm(&c, 1, &until, None).await.unwrap();
    same(&got, &by_llm(&c, 1, &direct, None).await.unwrap());
}

/// Three runs of one workload: each LLM is judged over its runs (the mean of each run's
/// statistic and its t-interval, from one run row per run), and the tie rule uses that
/// interval; with a run deleted (two left) it is judged over requests again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_runs_of_one_workload_are_judged_over_runs_and_two_over_requests() {
    use llmrank::ranking::{Noise, RunNoise};
    let (db, mut s) = TestDb::seeded().await;
    s.simulate.samples = 400;
    for seed in [11, 12, 13] {
        s.simulate.seed = seed;
        simulate::run(&s, &Default::default()).await.unwrap();
    }
    let c = db.client().await;
    // Each run's mean and median of TTFT (metric 1), by LLM, from the raw samples.
    let per_run = c
        .query(
            "SELECT l.name, avg(m.value), percentile_cont(0.5) WITHIN GROUP (ORDER BY m.value)
             FROM llm_metrics m JOIN llms l ON l.id = m.llm_id
             WHERE m.metric_id = 1 GROUP BY l.name, m.run_id ORDER BY l.name, m.run_id",
            &[],
        )
        .await
        .unwrap();
    let of = |llm: &str, col: usize| -> Vec<f64> {
        per_run
            .iter()
            .filter(|r| r.get::<_, String>(0) == llm)
            .map(|r| r.get(col))
            .collect()
    };
    let by_mean = ranking(&s, "TTFT", Statistic::Mean, Method::Summary)
        .await
        .unwrap();
    assert!(!by_mean.rankings.is_empty());
    for e in &by_mean.rankings {
        assert_eq!(e.interval_over, Noise::Runs, "{}", e.llm);
        assert_eq!(e.runs, Some(3), "{}", e.llm);
        let want = RunNoise::of(&of(&e.llm, 1)).unwrap();
        assert!(close(e.run_value.unwrap(), want.value), "{}", e.llm);
        let got = e.run_ci95.unwrap();
        assert!(close(got[0], want.interval[0]) && close(got[1], want.interval[1]));
        // The request interval of the mean keeps its meaning, beside it.
        let ci = e.stats.ci95.unwrap();
        assert!(ci[0] < e.stats.mean && e.stats.mean < ci[1], "{}", e.llm);
    }
    // The tie rule judged by the runs' intervals: neighbours share a group when they overlap,
    // and an LLM is tied when it overlaps either neighbour.
    let e = &by_mean.rankings;
    let overlap = |i: usize| {
        let (a, b) = (e[i - 1].run_ci95.unwrap(), e[i].run_ci95.unwrap());
        a[0] <= b[1] && b[0] <= a[1]
    };
    for i in 0..e.len() {
        let before = i > 0 && overlap(i);
        let after = i + 1 < e.len() && overlap(i + 1);
        assert_eq!(e[i].tied, before || after, "{}", e[i].llm);
        if i > 0 {
            assert_eq!(e[i].tie_group == e[i - 1].tie_group, before, "{}", e[i].llm);
        }
    }
    let table = by_mean.render(llmrank::ranking::Format::Table);
    assert!(table.contains("judged over runs"), "{table}");
    // The chart's whiskers are the intervals the tie rule used.
    let svg = llmrank::plot::ranking(&by_mean, 880.0);
    for e in &by_mean.rankings {
        let [lo, hi] = e.run_ci95.unwrap();
        let whisker = format!("data-llm=\"{}\" data-lo=\"{lo}\" data-hi=\"{hi}\"", e.llm);
        assert!(svg.contains(&whisker), "{}: no whisker over runs", e.llm);
    }
    assert!(svg.contains("interval over 3 runs"));
    // By the median: each run's median from its sketch, within the sketch's bound.
    let by_p50 = ranking(&s, "TTFT", Statistic::P50, Method::Summary)
        .await
        .unwrap();
    for e in &by_p50.rankings {
        let exact = RunNoise::of(&of(&e.llm, 2)).unwrap().value;
        let got = e.run_value.unwrap();
        assert!(
            (got - exact).abs() <= ALPHA * exact,
            "{}: {got} vs {exact}",
            e.llm
        );
    }
    // Two runs are too few: over requests, as before.
    llmrank::cmd::runs::delete(&s, 2).await.unwrap();
    let two = ranking(&s, "TTFT", Statistic::Mean, Method::Summary)
        .await
        .unwrap();
    for e in &two.rankings {
        assert_eq!(e.interval_over, Noise::Requests, "{}", e.llm);
        assert!(e.runs.is_none() && e.run_ci95.is_none());
    }
    let rows =
        crate::helpers::count(&c, "SELECT count(*) FROM run_summaries WHERE run_id = 2").await;
    assert_eq!(rows, 0, "a deleted run's rows go with it");
}

/// A ranking reads at most `MAX_READ` run rows (a continuous simulate writes a run a minute):
/// one more and it reads none, judging over requests; running runs are never read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_rows_are_read_up_to_a_bound_and_only_of_completed_runs() {
    use llmrank::db::run_summaries::{within, MAX_READ};
    use llmrank::window::Bounds;
    let (db, _s) = TestDb::seeded().await;
    let c = db.client().await;
    let runs = |status: &'static str, n: i64| {
        let c = &c;
        async move {
            c.execute(
                "WITH r AS (INSERT INTO runs (source, params, status, workload_id)
                            SELECT 'simulate', '{}', $1, 1 FROM generate_series(1, $2::bigint) RETURNING id)
                 INSERT INTO run_summaries (metric_id, run_id, llm_id, workload_id, first_hour,
                                            last_hour, n, mean, m2, min, max, sketch)
                 SELECT 1, id, 1, 1, now(), now(), 10, 5, 1, 4, 6, '{}' FROM r",
                &[&status, &n],
            )
            .await
            .unwrap();
        }
    };
    runs("completed", MAX_READ).await;
    runs("running", 3).await;
    let all = within(&c, 1, &Bounds::ALL_TIME, None, false).await.unwrap();
    assert_eq!(
        all.map(|r| r.len() as i64),
        Some(MAX_READ),
        "completed runs only"
    );
    runs("completed", 1).await;
    assert!(within(&c, 1, &Bounds::ALL_TIME, None, true)
        .await
        .unwrap()
        .is_none());
}

/// A run's completion moves the data version: rankings judge the noise
/// over completed runs, so an answer cached while the run was being written is stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_completion_moves_the_data_version() {
    use llmrank::db::{notify, runs};
    let (db, _s) = TestDb::simulated(50, 0).await;
    let c = db.client().await;
    c.execute("UPDATE runs SET status = 'running' WHERE id = 1", &[])
        .await
        .unwrap();
    let before = notify::read_state(&c).await.unwrap().version;
    runs::finish(&c, 1, runs::Status::Running, None)
        .await
        .unwrap();
    assert_eq!(
        notify::read_state(&c).await.unwrap().version,
        before,
        "still running: nothing changed"
    );
    runs::finish(&c, 1, runs::Status::Completed, None)
        .await
        .unwrap();
    let after = notify::read_state(&c).await.unwrap().version;
    assert_ne!(after, before, "completed: answers may change");
    let status: String = c
        .query_one("SELECT status FROM runs WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "completed");
}
