//! Migrations, seed, simulate: counts, idempotence, reproducibility.

use llmrank::cmd::{seed, simulate};
use llmrank::db::migrate;

use crate::helpers::{count, run_data, TestDb};

async fn llms(c: &tokio_postgres::Client) -> Vec<(i16, String)> {
    c.query("SELECT id, name FROM llms ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn opts() -> simulate::Options {
    simulate::Options::default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_even_when_two_processes_race() {
    let db = TestDb::new().await;
    let (mut a, mut b) = (db.client().await, db.client().await);
    let (ra, rb) = tokio::join!(migrate::apply(&mut a), migrate::apply(&mut b));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    // One of them applied everything, the other nothing.
    assert_eq!(
        ra.len() + rb.len(),
        migrate::MIGRATIONS.len(),
        "{ra:?} {rb:?}"
    );
    assert!(migrate::apply(&mut a).await.unwrap().is_empty());
    let tables = count(
        &a,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'
         AND table_name IN ('llms', 'metrics', 'runs', 'batches', 'llm_metrics', 'schema_migrations')",
    )
    .await;
    assert_eq!(tables, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_is_idempotent_and_creates_the_catalogue() {
    let db = TestDb::new().await;
    let s = db.settings();
    let first = seed::run(&s).await.unwrap();
    assert_eq!(first.migrations.len(), migrate::MIGRATIONS.len());
    assert_eq!(
        (first.catalogue.llms_added, first.catalogue.metrics_added),
        (12, 4)
    );
    let c = db.client().await;
    let before = llms(&c).await;
    let second = seed::run(&s).await.unwrap();
    assert!(second.migrations.is_empty());
    assert_eq!(second.catalogue, Default::default());
    let after = llms(&c).await;
    assert_eq!(before, after);
    let names: Vec<&str> = after.iter().map(|(_, n)| n.as_str()).collect();
    assert!(names.contains(&"Llama 3.1 405B") && names.contains(&"Jamba 1.5 Large"));
    let metrics: Vec<(String, String, String)> = c
        .query("SELECT name, unit, direction FROM metrics ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        metrics,
        [
            ("TTFT", "ms", "lower"),
            ("TPS", "tokens/s", "higher"),
            ("e2e_latency", "ms", "lower"),
            ("RPS", "requests/s", "higher")
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_writes_exactly_samples_times_llms_times_metrics() {
    let (db, mut s) = TestDb::seeded().await;
    s.simulate.samples = 1_500;
    s.simulate.batch_rows = 4_096;
    let report = simulate::run(&s, &opts()).await.unwrap();
    let expected = 1_500 * 12 * 4;
    assert!(report.wrote());
    assert_eq!(report.rows_written, expected);
    assert_eq!(report.rows_total, expected);
    let c = db.client().await;
    assert_eq!(
        count(&c, "SELECT count(*) FROM llm_metrics").await,
        expected as i64
    );
    // Every LLM × metric has exactly `samples` rows.
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM (SELECT llm_id, metric_id FROM llm_metrics
             GROUP BY 1, 2 HAVING count(*) = 1500) t"
        )
        .await,
        48
    );
    // Ledger and run record agree.
    assert_eq!(
        count(&c, "SELECT sum(rows)::bigint FROM batches").await,
        expected as i64
    );
    let row = c
        .query_one(
            "SELECT status, seed, finished_at IS NOT NULL FROM runs",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "completed");
    assert_eq!(row.get::<_, Option<i64>>(1), Some(42));
    assert!(row.get::<_, bool>(2));
    // e2e ≥ TTFT within each simulated request is a model property; per LLM the means follow.
    let bad = count(
        &c,
        "SELECT count(*) FROM (SELECT llm_id,
                avg(value) FILTER (WHERE metric_id = 1) AS ttft,
                avg(value) FILTER (WHERE metric_id = 3) AS e2e
             FROM llm_metrics GROUP BY llm_id) t WHERE e2e < ttft",
    )
    .await;
    assert_eq!(bad, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_gives_identical_data_at_any_worker_count_and_batch_size() {
    let (db, mut s) = TestDb::seeded().await;
    s.simulate.samples = 3_000;
    s.simulate.workers = 1;
    s.simulate.batch_rows = 4_096;
    let one = simulate::run(&s, &opts()).await.unwrap();
    s.simulate.workers = 4;
    s.simulate.batch_rows = 65_536;
    let four = simulate::run(&s, &opts()).await.unwrap();
    assert_ne!(one.run_id, four.run_id);
    let c = db.client().await;
    let (a, b) = (
        run_data(&c, one.run_id).await,
        run_data(&c, four.run_id).await,
    );
    assert_eq!(a.len(), 3_000 * 48);
    assert!(a == b, "same seed, different data");

    s.simulate.seed = 43;
    let other = simulate::run(&s, &opts()).await.unwrap();
    let d = run_data(&c, other.run_id).await;
    assert_eq!(d.len(), a.len());
    let same = a.iter().zip(&d).filter(|(x, y)| x == y).count();
    assert_eq!(same, 0, "a different seed must give different values");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerunning_a_completed_run_adds_nothing_unless_forced() {
    let (db, s) = TestDb::seeded().await;
    let first = simulate::run(&s, &opts()).await.unwrap();
    let again = simulate::run(&s, &opts()).await.unwrap();
    assert!(!again.wrote());
    assert_eq!(again.run_id, first.run_id);
    assert!(again
        .summary()
        .contains(&format!("run {} already holds this data", first.run_id)));
    let c = db.client().await;
    assert_eq!(
        count(&c, "SELECT count(*) FROM llm_metrics").await,
        200 * 48
    );
    let forced = simulate::run(
        &s,
        &simulate::Options {
            force: true,
            ..opts()
        },
    )
    .await
    .unwrap();
    assert!(forced.wrote() && forced.run_id != first.run_id);
    assert_eq!(
        count(&c, "SELECT count(*) FROM llm_metrics").await,
        2 * 200 * 48
    );
    assert_eq!(count(&c, "SELECT count(*) FROM runs").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_on_an_unseeded_database_says_to_seed() {
    let db = TestDb::new().await;
    let err = simulate::run(&db.settings(), &opts()).await.unwrap_err();
    assert_eq!(
        format!("{err:#}"),
        "failed to read the LLM catalogue: the database has no llmrank schema yet; run `llmrank seed` first"
    );
}

/// `simulate --drift`: the named LLM's metric moves by the share from its start on, the
/// request moving with it, and nothing else moves (request by request against the same seed
/// without the drift); the drift is part of the run's parameters; bad drifts get one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drift_moves_one_llms_metric_from_its_start_and_nothing_else() {
    let (db, mut s) = TestDb::seeded().await;
    s.simulate.samples = 2_048;
    let span = simulate::Options {
        span_secs: 4 * 86_400,
        ..opts()
    };
    simulate::run(&s, &span).await.unwrap();
    let drift = llmrank::sim::drift::parse("GPT-4o:TTFT=+25%@2d").unwrap();
    simulate::run(
        &s,
        &simulate::Options {
            drift: vec![drift],
            ..span
        },
    )
    .await
    .unwrap();
    let c = db.client().await;
    // Per LLM and request of the two runs: TTFT, and e2e − TTFT (the decode time).
    let rows = c
        .query(
            "WITH q AS (
                 SELECT m.run_id, l.name AS llm, m.request,
                        min(m.value) FILTER (WHERE k.name = 'TTFT') AS ttft,
                        min(m.value) FILTER (WHERE k.name = 'e2e_latency') AS e2e,
                        min(m.value) FILTER (WHERE k.name = 'TPS') AS tps,
                        min(m.value) FILTER (WHERE k.name = 'RPS') AS rps
                 FROM llm_metrics m JOIN llms l ON l.id = m.llm_id JOIN metrics k ON k.id = m.metric_id
                 GROUP BY 1, 2, 3)
             SELECT a.llm, a.request, b.ttft / a.ttft, (b.e2e - b.ttft) / (a.e2e - a.ttft),
                    b.tps / a.tps, b.rps / a.rps
             FROM q a JOIN q b ON a.llm = b.llm AND a.request = b.request AND b.run_id = a.run_id + 1
             ORDER BY a.llm, a.request",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 12 * 2_048);
    let mut drifted = Vec::new();
    for r in &rows {
        let (llm, request): (String, i32) = (r.get(0), r.get(1));
        let [ttft, decode, tps, rps]: [f64; 4] = [r.get(2), r.get(3), r.get(4), r.get(5)];
        let same = |x: f64| (x - 1.0).abs() < 1e-9;
        assert!(same(decode) && same(tps) && same(rps), "{llm} {request}");
        if llm == "GPT-4o" && (ttft - 1.25).abs() < 1e-9 {
            drifted.push(request);
        } else {
            assert!(same(ttft), "{llm} {request}: TTFT × {ttft}");
        }
    }
    // The requests of the last two days of the four: the second half, give or take a request.
    let n = drifted.len() as i32;
    assert!((n - 1_024).abs() <= 2, "{n} requests drifted");
    assert_eq!(drifted, (2_048 - n..2_048).collect::<Vec<_>>());
    let params: serde_json::Value = c
        .query_one("SELECT params FROM runs ORDER BY id DESC LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(params["drift"][0]["llm"], "GPT-4o");
    assert_eq!(params["drift"][0]["factor"], 1.25);

    let url = db.url();
    let env = [("LLMRANK_DATABASE__URL", url.as_str())];
    for (args, code, says) in [
        (
            vec!["simulate", "--drift", "GPT-4o:TTFT=+25%@2d"],
            2,
            "--span",
        ),
        (
            vec!["simulate", "--span", "1d", "--drift", "GPT-4o:TTFT=25%@2h"],
            2,
            "signed percentage",
        ),
        (
            vec!["simulate", "--span", "1d", "--drift", "Nope:TTFT=+25%@2h"],
            1,
            "unknown LLM \"Nope\"",
        ),
        (
            vec!["simulate", "--span", "1d", "--drift", "GPT-4o:TTFT=+25%@2d"],
            1,
            "give --span at least that long",
        ),
    ] {
        let out = crate::helpers::llmrank(&args, &env);
        let err = crate::helpers::stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
}
