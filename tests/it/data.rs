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
