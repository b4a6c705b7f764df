//! Exactly-once under faults: killed connections, unknown commit outcomes, interruption.

use std::sync::atomic::Ordering;
use std::time::Duration;

use llmrank::cmd::simulate;

use crate::helpers::{bin, count, pg_addr, run_data, CommitCutter, TestDb};

/// No (LLM, metric, run, value) appears twice, and the data equal a clean run's.
async fn assert_exact(db: &TestDb, run_id: i32, reference: &[(i16, i16, f64)]) {
    let c = db.client().await;
    let data = run_data(&c, run_id).await;
    assert_eq!(data.len(), reference.len(), "row count");
    assert!(
        data == reference,
        "data differ from a clean run with the same seed"
    );
    let dups = count(
        &c,
        "SELECT count(*) FROM (SELECT 1 FROM llm_metrics GROUP BY llm_id, metric_id, run_id, value
         HAVING count(*) > 1) d",
    )
    .await;
    assert_eq!(dups, 0);
    // Each batch is summarized exactly once, whatever was retried.
    crate::helpers::assert_summaries_match_samples(&c).await;
}

/// The data a fault-free run with these settings writes.
async fn reference(s: &llmrank::config::Settings) -> Vec<(i16, i16, f64)> {
    let db = TestDb::new().await;
    let mut s = s.clone();
    s.database.url = llmrank::config::Secret::new(db.url());
    llmrank::cmd::seed::run(&s).await.unwrap();
    let r = simulate::run(&s, &simulate::Options::default())
        .await
        .unwrap();
    run_data(&db.client().await, r.run_id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_killed_mid_run_leave_an_exact_count() {
    let (db, mut s) = TestDb::seeded().await;
    s.simulate.samples = 6_000;
    s.simulate.batch_rows = 4_096;
    s.simulate.workers = 2;
    let expected = reference(&s).await;

    let killer_db = db.name.clone();
    let admin = crate::helpers::admin().await;
    let killer = tokio::spawn(async move {
        let mut killed = 0i64;
        for _ in 0..400 {
            let n: i64 = admin
                .query_one(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                     WHERE datname = $1 AND application_name = 'llmrank-writer'",
                    &[&killer_db],
                )
                .await
                .unwrap()
                .get(0);
            killed += n;
            if killed >= 6 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        killed
    });
    let report = simulate::run(&s, &simulate::Options::default())
        .await
        .unwrap();
    let killed = killer.await.unwrap();
    assert!(
        killed >= 1,
        "no writer connection was killed; the test proved nothing"
    );
    assert_eq!(report.rows_total, 6_000 * 48);
    assert_exact(&db, report.run_id, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_with_unknown_outcome_are_neither_lost_nor_duplicated() {
    let (db, mut s) = TestDb::seeded().await;
    s.simulate.samples = 3_000;
    s.simulate.batch_rows = 4_096;
    s.simulate.workers = 2;
    let expected = reference(&s).await;

    let proxy = CommitCutter::start(pg_addr(), 5).await;
    s.database.url =
        llmrank::config::Secret::new(format!("postgres://postgres@{}/{}", proxy.addr, db.name));
    let report = simulate::run(&s, &simulate::Options::default())
        .await
        .unwrap();
    assert_eq!(
        proxy.cuts.load(Ordering::SeqCst),
        5,
        "the proxy cut fewer commits than planned"
    );
    assert_eq!(report.rows_total, 3_000 * 48);
    // Each cut commit had committed: the writer found it in the ledger and did not rewrite it.
    assert_eq!(report.rows_written, 3_000 * 48);
    assert_exact(&db, report.run_id, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_is_cancelled_then_resumed_to_the_exact_data() {
    let (db, mut s) = TestDb::seeded().await;
    s.simulate.samples = 40_000;
    s.simulate.batch_rows = 4_096;
    s.simulate.workers = 1;
    let expected = reference(&s).await;
    let url = db.url();
    let envs = [
        ("LLMRANK_DATABASE__URL", url.as_str()),
        ("LLMRANK_SIMULATE__SAMPLES", "40000"),
        ("LLMRANK_SIMULATE__BATCH_ROWS", "4096"),
        ("LLMRANK_SIMULATE__WORKERS", "1"),
    ];
    let mut cmd = tokio::process::Command::new(bin());
    cmd.arg("simulate").current_dir(std::env::temp_dir());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let c = db.client().await;
    // Wait (by polling the ledger, not by sleeping blind) until some batches committed.
    let mut committed = 0;
    for _ in 0..2_000 {
        committed = count(&c, "SELECT count(*) FROM batches").await;
        if committed >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(committed >= 3, "the run never committed a batch");
    let pid = child.id().unwrap() as i32;
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
    let out = child.wait_with_output().await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("llmrank: interrupted: run 1 cancelled with ")
            && err.contains("`llmrank simulate --resume 1` completes it"),
        "{err}"
    );
    let status: String = c
        .query_one("SELECT status FROM runs WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "cancelled");
    let partial = count(&c, "SELECT count(*) FROM llm_metrics").await;
    assert!(partial > 0 && partial < expected.len() as i64, "{partial}");
    assert_eq!(
        partial,
        count(&c, "SELECT sum(rows)::bigint FROM batches").await
    );

    // Resuming writes only what is missing.
    let report = simulate::run(
        &s,
        &simulate::Options {
            resume: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(report.run_id, 1);
    assert_eq!(report.rows_written as i64, expected.len() as i64 - partial);
    let status: String = c
        .query_one("SELECT status FROM runs WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "completed");
    assert_exact(&db, 1, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_mode_writes_distinct_seeded_runs_from_two_replicas() {
    let (db, _s) = TestDb::seeded().await;
    let url = db.url();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let spawn = |listen: Option<String>| {
        let mut cmd = tokio::process::Command::new(bin());
        cmd.args(["simulate", "--interval", "1", "--samples", "50"])
            .current_dir(std::env::temp_dir())
            .env("LLMRANK_DATABASE__URL", &url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some(l) = listen {
            cmd.args(["--metrics-listen", &l]);
        }
        cmd.spawn().unwrap()
    };
    let a = spawn(Some(format!("127.0.0.1:{port}")));
    let b = spawn(None);
    let c = db.client().await;
    for _ in 0..600 {
        if count(&c, "SELECT count(*) FROM runs WHERE status = 'completed'").await >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The metrics port answers while it runs.
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    assert!(body.contains("llmrank_samples_written_total "), "{body}");
    assert!(
        !body.contains("llmrank_samples_written_total 0\n"),
        "{body}"
    );

    for child in [&a, &b] {
        unsafe {
            libc::kill(child.id().unwrap() as i32, libc::SIGTERM);
        }
    }
    for child in [a, b] {
        let out = child.wait_with_output().await.unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let runs = c
        .query(
            "SELECT id, seed, status FROM runs WHERE status = 'completed' ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert!(runs.len() >= 4, "{} completed runs", runs.len());
    let mut seeds = std::collections::HashSet::new();
    for r in &runs {
        let (id, seed): (i32, i64) = (r.get(0), r.get(1));
        assert!(seed >= 0, "run {id} has seed {seed}");
        assert_eq!(seed as u64, simulate::derived_seed(42, id), "run {id}");
        assert!(seeds.insert(seed), "two runs share seed {seed}");
        let rows = count(
            &c,
            &format!("SELECT count(*) FROM llm_metrics WHERE run_id = {id}"),
        )
        .await;
        assert_eq!(rows, 50 * 48, "run {id}");
    }
    // Different seeds, different data: no value is shared between the first two runs.
    let (r1, r2): (i32, i32) = (runs[0].get(0), runs[1].get(0));
    let shared = count(
        &c,
        &format!(
            "SELECT count(*) FROM (SELECT value FROM llm_metrics WHERE run_id = {r1}
             INTERSECT SELECT value FROM llm_metrics WHERE run_id = {r2}) x"
        ),
    )
    .await;
    assert_eq!(shared, 0);
    // A continuous run is replayed by its recorded seed: the very same parameters (so the
    // replay is recognised as that run), and with --force the same values.
    let seed: i64 = runs[0].get(1);
    let replay_args = ["simulate", "--seed", &seed.to_string(), "--samples", "50"];
    let env = [("LLMRANK_DATABASE__URL", url.as_str())];
    let out = crate::helpers::llmrank(&replay_args, &env);
    assert!(out.status.success(), "{}", crate::helpers::stderr(&out));
    assert!(
        crate::helpers::stdout(&out).starts_with(&format!("run {r1} already holds this data")),
        "{}",
        crate::helpers::stdout(&out)
    );
    let out = crate::helpers::llmrank(&[&replay_args[..], &["--force"]].concat(), &env);
    assert!(out.status.success(), "{}", crate::helpers::stderr(&out));
    let replay = c
        .query_one("SELECT max(id) FROM runs", &[])
        .await
        .unwrap()
        .get::<_, i32>(0);
    assert_eq!(run_data(&c, replay).await, run_data(&c, r1).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_lost_after_commit_are_written_again_before_the_run_completes() {
    // Asynchronous commit means a server crash can lose batches a writer saw commit. Stand in
    // for the crash by deleting committed batches (ledger and rows together) mid-run, and
    // rebuilding the summaries from what is left (a crash loses a batch's summary update with
    // it); writers keep committing during the rebuild.
    let (db, mut s) = TestDb::seeded().await;
    s.simulate.samples = 20_000;
    s.simulate.batch_rows = 4_096;
    s.simulate.workers = 1;
    let expected = reference(&s).await;
    let eraser = {
        let url = db.url();
        tokio::spawn(async move {
            let (mut c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            for _ in 0..4_000 {
                let n: i64 = c
                    .query_one("SELECT count(*) FROM batches", &[])
                    .await
                    .unwrap()
                    .get(0);
                if n >= 4 {
                    // One writer commits batches in the order it stamped them, so the newest
                    // ledger rows and the newest timestamps belong to the same batches.
                    let tx = c
                        .build_transaction()
                        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                        .start()
                        .await
                        .unwrap();
                    let ledger = tx
                        .execute(
                            "DELETE FROM batches b USING (SELECT run_id, batch_no FROM batches
                             ORDER BY committed_at DESC, batch_no DESC LIMIT 2) lost
                             WHERE b.run_id = lost.run_id AND b.batch_no = lost.batch_no",
                            &[],
                        )
                        .await
                        .unwrap();
                    let rows = tx
                        .execute(
                            "DELETE FROM llm_metrics WHERE created_at IN
                             (SELECT DISTINCT created_at FROM llm_metrics ORDER BY created_at DESC LIMIT 2)",
                            &[],
                        )
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                    llmrank::ingest::summarize::rebuild(&mut c).await.unwrap();
                    return (ledger, rows);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (0, 0)
        })
    };
    let report = simulate::run(&s, &simulate::Options::default())
        .await
        .unwrap();
    let (ledger, rows) = eraser.await.unwrap();
    assert_eq!(
        (ledger, rows),
        (2, 2 * 1_024 * 4),
        "the eraser did not remove two whole batches"
    );
    assert_eq!(report.rows_total, 20_000 * 48);
    assert_exact(&db, report.run_id, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_errors_and_no_ops_are_one_clear_line() {
    let (db, s) = TestDb::seeded().await;
    let url = db.url();
    let env = [("LLMRANK_DATABASE__URL", url.as_str())];
    let out = crate::helpers::llmrank(&["simulate", "--resume", "7"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        crate::helpers::stderr(&out),
        "llmrank: there is no run 7; `llmrank runs` lists them\n"
    );
    let report = simulate::run(&s, &simulate::Options::default())
        .await
        .unwrap();
    let out = crate::helpers::llmrank(&["simulate", "--resume", &report.run_id.to_string()], &env);
    assert!(out.status.success());
    assert_eq!(
        crate::helpers::stdout(&out),
        format!(
            "run {} is already complete (9,600 rows); nothing to resume\n",
            report.run_id
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_runs_started_together_write_the_data_once() {
    let (db, _s) = TestDb::seeded().await;
    let url = db.url();
    let c = db.client().await;
    for trial in 0..5 {
        let seed = (4_242 + trial).to_string();
        let spawn = || {
            tokio::process::Command::new(bin())
                .args(["simulate", "--seed", &seed, "--samples", "3000"])
                .current_dir(std::env::temp_dir())
                .env("LLMRANK_DATABASE__URL", &url)
                .env("LLMRANK_LOG__LEVEL", "warn")
                .output()
        };
        let (a, b) = tokio::join!(spawn(), spawn());
        let (a, b) = (a.unwrap(), b.unwrap());
        let ok = [&a, &b].iter().filter(|o| o.status.success()).count();
        assert!(ok >= 1, "trial {trial}: neither run succeeded");
        for o in [&a, &b] {
            if !o.status.success() {
                // The loser says which run holds the data, in one line.
                let err = String::from_utf8_lossy(&o.stderr);
                assert!(
                    err.contains("has the same seed and parameters and is running"),
                    "{err}"
                );
            }
        }
        let runs = count(
            &c,
            &format!("SELECT count(*) FROM runs WHERE seed = {seed}"),
        )
        .await;
        assert_eq!(
            runs, 1,
            "trial {trial}: the same seeded run was recorded twice"
        );
        let rows = count(
            &c,
            &format!(
                "SELECT count(*) FROM llm_metrics m JOIN runs r ON r.id = m.run_id WHERE r.seed = {seed}"
            ),
        )
        .await;
        assert_eq!(rows, 3_000 * 48, "trial {trial}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_resume_leaves_the_live_run_alone() {
    let (db, _s) = TestDb::seeded().await;
    let url = db.url();
    let env = [("LLMRANK_DATABASE__URL", url.as_str())];
    let live = tokio::process::Command::new(bin())
        .args([
            "simulate",
            "--seed",
            "77",
            "--samples",
            "60000",
            "--workers",
            "1",
        ])
        .current_dir(std::env::temp_dir())
        .env("LLMRANK_DATABASE__URL", &url)
        .env("LLMRANK_LOG__LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let c = db.client().await;
    let mut id = 0;
    for _ in 0..2_000 {
        id = count(&c, "SELECT coalesce(max(run_id), 0)::bigint FROM batches").await;
        if id > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(id > 0, "the live run never committed a batch");
    let out = crate::helpers::llmrank(&["simulate", "--resume", &id.to_string()], &env);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        crate::helpers::stderr(&out),
        format!("llmrank: run {id} is being written by another process; nothing done\n")
    );
    let status: String = c
        .query_one("SELECT status FROM runs WHERE id = $1", &[&(id as i32)])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "running", "the refused resume marked the live run");
    let done = live.wait_with_output().await.unwrap();
    assert!(done.status.success());
    let status: String = c
        .query_one("SELECT status FROM runs WHERE id = $1", &[&(id as i32)])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "completed");
}

/// What `db::error` calls transient, on a real server: a terminated backend (57P01, or the
/// closed connection that follows) and a serialization failure are; bad SQL, a missing table
/// and a unique violation are not, and a statement timeout is "busy".
#[tokio::test]
async fn transient_errors_are_told_from_bad_requests_by_sqlstate() {
    use llmrank::db::error::{any_transient, is_busy, is_transient};
    let db = TestDb::new().await;
    let c = db.client().await;
    let bad = c.batch_execute("SELEC 1").await.unwrap_err();
    assert!(!is_transient(&bad), "{bad}");
    let missing = c
        .batch_execute("SELECT * FROM no_such_table")
        .await
        .unwrap_err();
    assert!(!is_transient(&missing), "{missing}");
    c.batch_execute("CREATE TABLE u (k int PRIMARY KEY); INSERT INTO u VALUES (1)")
        .await
        .unwrap();
    let dup = c
        .batch_execute("INSERT INTO u VALUES (1)")
        .await
        .unwrap_err();
    assert!(!is_transient(&dup), "{dup}");
    let raised = c
        .batch_execute("DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40001'; END $$")
        .await
        .unwrap_err();
    assert!(is_transient(&raised), "{raised}");
    let slow = c
        .batch_execute("SET statement_timeout = 10; SELECT pg_sleep(1)")
        .await
        .unwrap_err();
    assert!(is_busy(&slow) && !is_transient(&slow), "{slow}");

    let victim = db.client().await;
    let pid: i32 = victim
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    c.execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    let gone = victim.batch_execute("SELECT 1").await.unwrap_err();
    assert!(is_transient(&gone), "{gone}");
    assert!(any_transient(&anyhow::Error::new(gone).context("reading")));
}
