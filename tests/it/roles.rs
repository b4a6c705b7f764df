//! Least privilege: a writer role writes runs, samples and summaries without any DDL; a reader
//! role ranks and reads but writes nothing.

use llmrank::cmd::{rank, simulate};
use llmrank::config::Secret;
use llmrank::ranking::Method;
use llmrank::stats::Statistic;

use crate::helpers::{admin, count, pg_addr, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_role_writes_without_ddl_and_the_reader_only_reads() {
    let (db, s) = TestDb::seeded().await;
    let tag = rand::random::<u32>();
    let (writer, reader) = (format!("w_{tag}"), format!("r_{tag}"));
    let a = admin().await;
    a.batch_execute(&format!(
        "CREATE ROLE {writer} LOGIN IN ROLE llmrank_writer; CREATE ROLE {reader} LOGIN IN ROLE llmrank_reader"
    ))
    .await
    .unwrap();
    let as_role = |role: &str| {
        let mut s = s.clone();
        s.database.url = Secret::new(format!("postgres://{role}@{}/{}", pg_addr(), db.name));
        s
    };

    // The writer: a run over two days (today's partition and the default one), summaries too.
    let ws = as_role(&writer);
    let report = simulate::run(
        &ws,
        &simulate::Options {
            span_secs: 3 * 86_400,
            ..Default::default()
        },
    )
    .await
    .expect("the writer role writes a run");
    assert_eq!(report.rows_total, 200 * 48);
    // ... and imports: new LLMs, metrics, workloads, reported statistics, all without DDL.
    let files = ["vllm_2024_detailed.json", "vllm_v0.25_aggregate.json"]
        .map(|f| format!("{}/tests/fixtures/import/{f}", env!("CARGO_MANIFEST_DIR")));
    let imported = llmrank::cmd::import::run(
        &ws,
        &llmrank::cmd::import::Request {
            files: files.to_vec(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for (f, r) in imported {
        r.unwrap_or_else(|e| panic!("the writer role imports {f}: {e:#}"));
    }
    let (wc, conn) = tokio_postgres::connect(ws.database.url.expose(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    for ddl in [
        "CREATE TABLE x (a int)",
        "DROP TABLE llm_metrics_default",
        "TRUNCATE llm_metrics",
        "DELETE FROM runs",
    ] {
        let e = wc.batch_execute(ddl).await.expect_err(ddl);
        assert_eq!(
            e.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{ddl}: {e}"
        );
    }

    // The reader: rankings from summaries and from raw samples; no writes.
    let rs = as_role(&reader);
    for method in [Method::Summary, Method::Exact] {
        let mut o = rank::Options::new(Statistic::P99, &Default::default(), method);
        o.filter.sources = [llmrank::domain::SourceKind::Simulate].into();
        let r = rank::ranking(&rs, "TTFT", &o)
            .await
            .expect("the reader ranks");
        assert_eq!(r.rankings.len(), 12);
        o.filter.sources = [llmrank::domain::SourceKind::Import].into();
        let r = rank::ranking(&rs, "TTFT", &o)
            .await
            .expect("the reader ranks imports");
        assert_eq!(r.rankings[0].llm, "org/model-a");
    }
    let (rc, conn) = tokio_postgres::connect(rs.database.url.expose(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    for write in [
        "INSERT INTO runs (source, params) VALUES ('api', '{}')",
        "UPDATE llm_metric_summaries SET n = n + 1",
        "INSERT INTO llm_metrics_default VALUES (1, 1, 1, 1.0, now())",
    ] {
        let e = rc.batch_execute(write).await.expect_err(write);
        assert_eq!(
            e.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{write}: {e}"
        );
    }
    // A reader's simulate is refused with the database's reason, and nothing is written.
    let err = simulate::run(
        &rs,
        &simulate::Options {
            force: true,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("permission denied"), "{err:#}");
    assert_eq!(
        count(&db.client().await, "SELECT count(*) FROM runs").await,
        3,
        "the simulate run and the two imports only"
    );

    drop((wc, rc));
    drop(db);
    let _ = a
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {writer}; DROP ROLE IF EXISTS {reader}"
        ))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upkeep_steps_aside_for_roles_without_ddl() {
    let (db, _s) = TestDb::seeded().await;
    let tag = rand::random::<u32>();
    let reader = format!("r_{tag}");
    let a = admin().await;
    a.batch_execute(&format!(
        "CREATE ROLE {reader} LOGIN IN ROLE llmrank_reader"
    ))
    .await
    .unwrap();
    let url = format!("postgres://{reader}@{}/{}", pg_addr(), db.name);
    let (mut c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let e = llmrank::db::maintain::upkeep(&mut c, 1).await.unwrap_err();
    assert!(
        format!("{e:#}").contains("permission denied")
            || format!("{e:#}").contains("must be owner"),
        "{e:#}"
    );
    // The background loop ends instead of failing every hour.
    let pg: tokio_postgres::Config = url.parse().unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        llmrank::db::maintain::upkeep_forever(llmrank::db::Pg::plain(pg), 1),
    )
    .await
    .expect("upkeep_forever returns for a role that may not do it");
    drop(c);
    drop(db);
    let _ = a
        .batch_execute(&format!("DROP ROLE IF EXISTS {reader}"))
        .await;
}
