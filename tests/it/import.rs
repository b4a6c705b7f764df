//! `llmrank import`, `POST /samples` and `runs delete` against a real PostgreSQL: one
//! transaction per input, exactly once, like-with-like rankings, rebuilt summaries.

use std::io::Write;
use std::process::{Command, Stdio};

use llmrank::cmd::{import, rank, simulate};
use llmrank::config::{Secret, Settings};
use llmrank::ranking::Method;
use llmrank::stats::Statistic;

use crate::helpers::{
    assert_summaries_match_samples, bin, count, llmrank, stderr, stdout, tempdir, TestDb,
};
use crate::serve::{http, Server};

fn fixture(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn request(files: &[&str]) -> import::Request {
    import::Request {
        files: files.iter().map(|f| fixture(f)).collect(),
        ..Default::default()
    }
}

async fn import_ok(
    s: &Settings,
    req: &import::Request,
) -> Vec<llmrank::ingest::records::InputReport> {
    import::run(s, req)
        .await
        .unwrap()
        .into_iter()
        .map(|(f, r)| r.unwrap_or_else(|e| panic!("{f}: {e:#}")))
        .collect()
}

fn opts(filter: &[&str], source: Option<&str>, reported: bool) -> rank::Options {
    let mut f = llmrank::domain::RunFilter::default();
    if let Some(list) = source {
        f.add_sources(list).unwrap();
    }
    for w in filter {
        f.add_workload(w).unwrap();
    }
    rank::Options {
        by: Statistic::Mean,
        window: Default::default(),
        method: Method::Summary,
        filter: f,
        include_reported: reported,
    }
}

/// A seeded database and a server taking posts with [`WRITE`] (reads with [`READ`]), its
/// settings first adjusted by `adjust`.
async fn write_server(adjust: impl FnOnce(&mut Settings)) -> (TestDb, Server) {
    let (db, mut s) = TestDb::seeded().await;
    s.server.api_keys = vec![Secret::new(READ)];
    s.server.write_keys = vec![Secret::new(WRITE)];
    s.redis.url = Secret::new(crate::helpers::redis_url().await);
    adjust(&mut s);
    let srv = Server::start(&s).await;
    (db, srv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_writes_runs_samples_and_summaries_once_and_names_them_the_second_time() {
    let (db, s) = TestDb::seeded().await;
    let c = db.client().await;
    let reports = import_ok(&s, &request(&["vllm_2024_detailed.json"])).await;
    let run = &reports[0].runs[0];
    assert_eq!(run.samples, 14, "2 TTFT, 2 e2e, 2 TPOT, 2 TPS, 6 ITL");
    assert_eq!((run.failed, run.dropped.values().sum::<u64>()), (1, 1));
    let id = run.run_id;
    assert_eq!(
        count(
            &c,
            &format!("SELECT count(*) FROM llm_metrics WHERE run_id = {id}")
        )
        .await,
        14
    );
    assert_eq!(
        count(
            &c,
            &format!("SELECT rows FROM batches WHERE run_id = {id} AND batch_no = 0")
        )
        .await,
        14
    );
    let row = c
        .query_one(
            "SELECT r.source, r.status, r.params ->> 'file_sha256', w.params ->> 'tool', r.params ->> 'model_as_written'
             FROM runs r JOIN workloads w ON w.id = r.workload_id WHERE r.id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "import");
    assert_eq!(row.get::<_, String>(1), "completed");
    assert_eq!(row.get::<_, String>(2), reports[0].sha256);
    assert_eq!(row.get::<_, String>(3), "vllm");
    assert_eq!(row.get::<_, String>(4), "org/model-a");
    // New metrics come with their unit and direction; the LLM under the model's name.
    let m = c
        .query_one(
            "SELECT unit, direction FROM metrics WHERE name = 'TPOT'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (m.get::<_, String>(0), m.get::<_, String>(1)),
        ("ms".into(), "lower".into())
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM llms WHERE name = 'org/model-a'").await,
        1
    );
    assert!(assert_summaries_match_samples(&c).await > 0);
    // Samples are stamped with the benchmark's own time.
    assert_eq!(
        count(&c, &format!("SELECT count(*) FROM llm_metrics WHERE run_id = {id} AND created_at = '2024-09-07T08:30:41Z'")).await,
        14
    );

    // Again: nothing written, the earlier run named. --force writes it once more.
    let again = import_ok(&s, &request(&["vllm_2024_detailed.json"])).await;
    assert_eq!(again[0].existing, vec![id]);
    assert!(again[0]
        .describe(false)
        .contains(&format!("already imported as run {id}")));
    assert_eq!(count(&c, "SELECT count(*) FROM llm_metrics").await, 14);
    let mut forced = request(&["vllm_2024_detailed.json"]);
    forced.force = true;
    let f = import_ok(&s, &forced).await;
    // The refusal came from the file's hash, before any of it was written: no run was even
    // begun (and rolled back) for it, so the next run's id follows the first's.
    assert_eq!(f[0].runs[0].run_id, id + 1);
    assert_eq!(count(&c, "SELECT count(*) FROM llm_metrics").await, 28);
    assert_summaries_match_samples(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_imports_of_one_file_at_once_write_it_once() {
    let (db, s) = TestDb::seeded().await;
    let req = request(&["records.csv"]);
    let (a, b) = tokio::join!(import::run(&s, &req), import::run(&s, &req));
    let (a, b) = (
        a.unwrap().remove(0).1.unwrap(),
        b.unwrap().remove(0).1.unwrap(),
    );
    let wrote = [&a, &b].iter().filter(|r| r.existing.is_empty()).count();
    assert_eq!(wrote, 1, "one writes, the other names its run: {a:?} {b:?}");
    let c = db.client().await;
    assert_eq!(count(&c, "SELECT count(*) FROM llm_metrics").await, 3);
    assert_eq!(
        count(&c, "SELECT count(*) FROM runs WHERE source = 'import'").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_writes_nothing_and_the_others_still_import() {
    let (db, s) = TestDb::seeded().await;
    let dir = tempdir("import");
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "llm,metric,value\nzzz-model,TTFT,12\nzzz-model,TTFT,-4\n",
    )
    .unwrap();
    let url = s.database.url.expose().to_string();
    let out = llmrank(
        &["import", &fixture("records.csv"), bad.to_str().unwrap()],
        &[("LLMRANK_DATABASE__URL", &url)],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("bad.csv")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("line 3") && lines[0].contains("negative"),
        "{err}"
    );
    assert!(err.contains("1 of 2 files not imported"), "{err}");
    assert!(
        stdout(&out).contains("records.csv (csv): wrote 1 run, 3 samples"),
        "{}",
        stdout(&out)
    );
    let c = db.client().await;
    assert_eq!(
        count(&c, "SELECT count(*) FROM llms WHERE name = 'zzz-model'").await,
        0,
        "nothing of the bad file"
    );
    assert_eq!(count(&c, "SELECT count(*) FROM runs").await, 1);
    // An unknown format: one line naming what was expected and found.
    let junk = dir.join("junk.json");
    std::fs::write(&junk, r#"{"hello": "world"}"#).unwrap();
    let out = llmrank(
        &["import", junk.to_str().unwrap()],
        &[("LLMRANK_DATABASE__URL", &url)],
    );
    assert!(
        stderr(&out).contains("junk.json: no known benchmark format recognised"),
        "{}",
        stderr(&out)
    );
    // A file with no model and no --llm.
    let out = llmrank(
        &["import", &fixture("sglang_output.jsonl")],
        &[("LLMRANK_DATABASE__URL", &url)],
    );
    assert!(stderr(&out).contains("pass --llm NAME"), "{}", stderr(&out));
    // --dry-run writes nothing and says what it would.
    let out = llmrank(
        &[
            "import",
            "--dry-run",
            "--llm",
            "org/llama",
            &fixture("sglang_output.jsonl"),
        ],
        &[("LLMRANK_DATABASE__URL", &url)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("would write 2 runs"),
        "{}",
        stdout(&out)
    );
    assert_eq!(count(&c, "SELECT count(*) FROM runs").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_from_files_cannot_drive_the_terminal_or_run_as_spreadsheet_formulas() {
    let (db, s) = TestDb::seeded().await;
    let dir = tempdir("import");
    let file = dir.join("hostile.csv");
    let formulas = [
        "=HYPERLINK(\"http://evil\",\"GPT-4o\")",
        "+1+cmd|calc",
        "@SUM(A1)",
        "-2+3",
    ];
    let mut csv = String::from("llm,metric,value,time\n");
    for (i, f) in formulas.iter().enumerate() {
        let quoted = format!("\"{}\"", f.replace('"', "\"\""));
        for v in 1..=3 {
            csv.push_str(&format!(
                "{quoted},TTFT,{},2026-01-01T00:00:00Z\n",
                10 * (i + 1) + v
            ));
        }
    }
    std::fs::write(&file, csv).unwrap();
    let url = s.database.url.expose().to_string();
    let env = [("LLMRANK_DATABASE__URL", url.as_str())];
    let evil_label = "lab\u{1b}]0;pwned\u{7}el";
    let out = llmrank(
        &["import", "--label", evil_label, file.to_str().unwrap()],
        &env,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // A name stored before names were checked (an older llmrank): printed, never obeyed.
    let c = db.client().await;
    c.execute(
        "UPDATE llms SET name = E'old\\x1b[2J\\r\\nforged 1 row\\u202e' WHERE name = '-2+3'",
        &[],
    )
    .await
    .unwrap();
    let no_controls = |what: &str, text: &str| {
        assert!(
            !text.contains(|ch: char| ch != '\n' && llmrank::domain::invisible(ch)),
            "{what} prints a control character: {text:?}"
        );
    };
    let src = ["--source", "import"];
    for args in [
        vec!["rank", "TTFT"],
        vec!["rank", "TTFT", "--exact"],
        vec!["rank", "TTFT", "--format", "csv"],
        vec!["history", "TTFT", "--bucket", "auto"],
        vec!["history", "TTFT", "--bucket", "auto", "--format", "csv"],
        vec!["runs"],
    ] {
        let mut args = args.clone();
        if args[0] != "runs" {
            args.extend(src);
        }
        let out = llmrank(&args, &env);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        no_controls(&args.join(" "), &text);
        if args[0] == "rank" && !args.contains(&"csv") {
            assert!(
                text.contains("old\\u{1b}[2J\\u{d}\\u{a}forged 1 row\\u{202e}"),
                "{text}"
            );
        }
        if args.contains(&"csv") {
            // Every formula reads as text: a quoted field starting with '.
            for f in &formulas[..3] {
                let field = format!("\"'{}\"", f.replace('"', "\"\""));
                assert!(text.contains(&field), "{field} in\n{text}");
            }
            for line in text.lines() {
                let llm = line.split(',').nth(1).unwrap_or("");
                assert!(!llm.starts_with(['=', '+', '-', '@']), "{line}");
            }
        }
        if args[0] == "runs" {
            assert!(text.contains("lab\\u{1b}]0;pwned\\u{7}el"), "{text}");
        }
    }
    // JSON keeps the very name, escaped as JSON spells it.
    let out = llmrank(
        &["rank", "TTFT", "--format", "json", "--source", "import"],
        &env,
    );
    let text = stdout(&out);
    no_controls("rank --format json", &text);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = v["rankings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["llm"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"old\u{1b}[2J\r\nforged 1 row\u{202e}"),
        "{names:?}"
    );
    // The chart isolates each name, so its override ends where the name does.
    let svg = dir.join("rank.svg");
    let out = llmrank(
        &[
            "plot",
            "TTFT",
            "--source",
            "import",
            "--output",
            svg.to_str().unwrap(),
        ],
        &env,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.contains("forged 1 row\u{202e}\u{2069} (n=3)"), "{svg}");
    assert!(!svg.contains('\u{1b}'), "{svg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rankings_compare_like_with_like_and_mark_reported_rows() {
    let (db, mut s) = TestDb::seeded().await;
    s.simulate.samples = 50;
    simulate::run(&s, &simulate::Options::default())
        .await
        .unwrap();
    import_ok(&s, &request(&["records.csv", "vllm_append.jsonl"])).await;
    let names = |r: &llmrank::ranking::Ranking| -> Vec<String> {
        r.rankings.iter().map(|e| e.llm.clone()).collect()
    };
    // No source named: the measured data only, never mixed with the simulated.
    let default = rank::ranking(&s, "TTFT", &opts(&[], None, false))
        .await
        .unwrap();
    assert_eq!(names(&default), ["org/model-a"]);
    let sources = |r: &llmrank::ranking::Ranking| -> Vec<&str> {
        r.covered.sources.iter().map(|s| s.as_str()).collect()
    };
    assert_eq!(sources(&default), ["import"]);
    assert!(default.covered.workloads >= 2, "{:?}", default.covered);
    assert!(default
        .render(llmrank::ranking::Format::Table)
        .contains("sources: import"));
    // Both named: one list, and it says so.
    let all = rank::ranking(&s, "TTFT", &opts(&[], Some("import,simulate"), false))
        .await
        .unwrap();
    assert_eq!(
        all.rankings.len(),
        13,
        "12 simulated LLMs and the imported one"
    );
    assert_eq!(sources(&all), ["simulate", "import"]);
    let imported = rank::ranking(&s, "TTFT", &opts(&[], Some("import"), false))
        .await
        .unwrap();
    assert_eq!(names(&imported), ["org/model-a"]);
    assert_eq!(imported.rankings[0].stats.n, 2);
    assert_eq!(sources(&imported), ["import"]);
    let simulated = rank::ranking(&s, "TTFT", &opts(&[], Some("simulate"), false))
        .await
        .unwrap();
    assert!(!names(&simulated).contains(&"org/model-a".to_string()));
    assert_eq!(simulated.rankings.len(), 12);
    // Aggregate-only runs appear only on request, marked with their run and tool.
    let e = rank::ranking(&s, "TTFT", &opts(&["engine=sgl"], None, false))
        .await
        .unwrap_err();
    // It says what to add, not to simulate.
    let e = format!("{e:#}");
    assert!(
        e.contains("no samples") && e.contains("--include-reported"),
        "{e}"
    );
    assert!(!e.contains("simulate"), "{e}");
    let rep = rank::ranking(&s, "TTFT", &opts(&["engine=sgl"], None, true))
        .await
        .unwrap();
    assert_eq!(rep.rankings.len(), 1);
    let r = rep.rankings[0]
        .reported
        .as_ref()
        .expect("marked as reported");
    assert_eq!(r.tool, "vllm");
    assert_eq!(rep.rankings[0].stats.mean, 65.0);
    assert_eq!(rep.rankings[0].stats.n, 120);
    assert!(rep
        .render(llmrank::ranking::Format::Table)
        .contains("[reported by vllm, run"));
    // A filter nothing matches says so.
    let e = rank::ranking(&s, "TTFT", &opts(&["engine=none"], None, false))
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("no runs match"), "{e:#}");
    // Exact answers honour the filter too.
    let mut exact = opts(&["tool=csv"], None, false);
    exact.method = Method::Exact;
    let ex = rank::ranking(&s, "TTFT", &exact).await.unwrap();
    assert_eq!(names(&ex), ["org/model-a"]);
    assert_eq!(ex.rankings[0].stats.mean, 13.0);
    let c = db.client().await;
    assert_summaries_match_samples(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_delete_rebuilds_what_the_run_touched_and_refuses_once_samples_aged_out() {
    let (db, mut s) = TestDb::seeded().await;
    s.simulate.samples = 50;
    simulate::run(&s, &simulate::Options::default())
        .await
        .unwrap();
    let c = db.client().await;
    let before = rank::ranking(&s, "TTFT", &opts(&[], None, false))
        .await
        .unwrap();
    // Two imports of one workload into the same hours, and an aggregate-only one.
    let dir = tempdir("import");
    let other = dir.join("more.csv");
    std::fs::write(&other, "llm,metric,value,time\norg/model-a,TTFT,20,2026-01-01T00:10:00Z\nsim-llm-x,TTFT,7,2026-01-01T00:20:00Z\n").unwrap();
    let a = import_ok(&s, &request(&["records.csv"])).await[0].runs[0].run_id;
    let b = import::run(
        &s,
        &import::Request {
            files: vec![other.to_string_lossy().into()],
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .remove(0)
    .1
    .unwrap()
    .runs[0]
        .run_id;
    let agg = import_ok(&s, &request(&["vllm_v0.25_aggregate.json"])).await[0].runs[0].run_id;
    assert_summaries_match_samples(&c).await;
    let rows_before = count(&c, "SELECT count(*) FROM llm_metric_summaries").await;

    let r = llmrank::cmd::runs::delete(&s, b).await.unwrap();
    assert_eq!(r.samples, 2);
    assert!(r.summary_rows > 0);
    assert_summaries_match_samples(&c).await;
    let after = rank::ranking(&s, "TTFT", &opts(&["tool=csv"], None, false))
        .await
        .unwrap();
    assert_eq!(after.rankings.len(), 1);
    assert_eq!(
        (after.rankings[0].stats.n, after.rankings[0].stats.mean),
        (2, 13.0)
    );
    assert!(count(&c, "SELECT count(*) FROM llm_metric_summaries").await < rows_before);
    assert_eq!(
        count(
            &c,
            &format!("SELECT count(*) FROM runs WHERE id = {b} AND status = 'deleted'")
        )
        .await,
        1
    );
    let e = llmrank::cmd::runs::delete(&s, b).await.unwrap_err();
    assert!(format!("{e:#}").contains("already deleted"), "{e:#}");

    // The aggregate-only run's statistics go with it.
    assert!(llmrank::cmd::runs::delete(&s, agg).await.unwrap().reported > 0);
    assert_eq!(count(&c, "SELECT count(*) FROM run_reported").await, 0);

    // Samples that aged out: refused, nothing changed.
    c.execute(
        &format!("DELETE FROM llm_metrics WHERE run_id = {a} AND value = 12.5"),
        &[],
    )
    .await
    .unwrap();
    let rows = count(&c, "SELECT count(*) FROM llm_metric_summaries").await;
    let e = llmrank::cmd::runs::delete(&s, a).await.unwrap_err();
    assert!(format!("{e:#}").contains("aged out"), "{e:#}");
    assert_eq!(
        count(&c, "SELECT count(*) FROM llm_metric_summaries").await,
        rows
    );
    assert_eq!(
        count(
            &c,
            &format!("SELECT count(*) FROM llm_metrics WHERE run_id = {a}")
        )
        .await,
        2
    );
    // The simulated data never moved.
    let sim = rank::ranking(&s, "TTFT", &opts(&[], Some("simulate"), false))
        .await
        .unwrap();
    assert_eq!(
        sim.rankings
            .iter()
            .map(|e| (&e.llm, e.stats.n))
            .collect::<Vec<_>>(),
        before
            .rankings
            .iter()
            .map(|e| (&e.llm, e.stats.n))
            .collect::<Vec<_>>()
    );
}

const READ: &str = "read-key-0123456789";
const WRITE: &str = "write-key-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_without_a_key_are_all_written_and_keys_are_scoped_per_write_key() {
    const OTHER: &str = "other-write-key-0123456789";
    let (db, srv) = write_server(|s| s.server.write_keys.push(Secret::new(OTHER))).await;
    let c = db.client().await;
    let nd = ("Content-Type", "application/x-ndjson");
    let body = "{\"llm\":\"api-llm\",\"metric\":\"TTFT\",\"value\":9}\n";
    // The same body three times without a key: three measurements, three samples.
    for i in 0..3 {
        let r = http(
            srv.addr,
            "POST",
            "/samples",
            &[nd, ("X-API-KEY", WRITE)],
            body,
        )
        .await;
        assert_eq!(r.status, 201, "post {i}: {}", r.body);
        assert!(r.json()["duplicate"].is_null(), "{}", r.body);
    }
    assert_eq!(count(&c, "SELECT count(*) FROM llm_metrics").await, 3);
    // One key from two write keys: two namespaces, both written; a retry within one is not.
    let idem = ("Idempotency-Key", "shared-0001");
    let a = http(
        srv.addr,
        "POST",
        "/samples",
        &[nd, ("X-API-KEY", WRITE), idem],
        body,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let b = http(
        srv.addr,
        "POST",
        "/samples",
        &[nd, ("X-API-KEY", OTHER), idem],
        body,
    )
    .await;
    assert_eq!(b.status, 201, "{}", b.body);
    assert_ne!(a.json()["runs"][0]["run_id"], b.json()["runs"][0]["run_id"]);
    let retry = http(
        srv.addr,
        "POST",
        "/samples",
        &[nd, ("X-API-KEY", OTHER), idem],
        body,
    )
    .await;
    assert_eq!(retry.status, 200, "{}", retry.body);
    assert_eq!(
        retry.json()["runs"][0]["run_id"],
        b.json()["runs"][0]["run_id"]
    );
    assert_eq!(count(&c, "SELECT count(*) FROM llm_metrics").await, 5);
    // The key itself is not in the database.
    assert_eq!(
        count(
            &c,
            &format!("SELECT count(*) FROM runs WHERE params::text LIKE '%{OTHER}%'")
        )
        .await,
        0
    );
    assert_summaries_match_samples(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_normalised_look_alikes_refused_and_rejected_posts_burn_no_llm_id() {
    let (db, srv) = write_server(|_| {}).await;
    let c = db.client().await;
    let post = |body: String| {
        let addr = srv.addr;
        async move {
            let h = [
                ("Content-Type", "application/x-ndjson"),
                ("X-API-KEY", WRITE),
            ];
            http(addr, "POST", "/samples", &h, &body).await
        }
    };
    let llms = "SELECT count(*) FROM llms";
    let seeded = count(&c, llms).await;
    let max_id = "SELECT max(id)::int8 FROM llms";
    // A trailing space and a decomposed accent name the LLMs their look-alikes do.
    let r = post("{\"llm\":\" GPT-4o \",\"metric\":\"TTFT\",\"value\":9}\n".into()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(count(&c, llms).await, seeded);
    for (name, code) in [("GPT\\u200b-4o", "U+200B"), ("GPT-4o\\u202exet", "U+202E")] {
        let r = post(format!(
            "{{\"llm\":\"{name}\",\"metric\":\"TTFT\",\"value\":9}}\n"
        ))
        .await;
        assert_eq!(r.status, 400, "{name}: {}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains(code),
            "{}",
            r.body
        );
    }
    assert_eq!(count(&c, llms).await, seeded);
    // 600 new names, then a bad record: nothing written, and no id spent.
    let mut body: String = (0..600)
        .map(|i| format!("{{\"llm\":\"new-{i}\",\"metric\":\"TTFT\",\"value\":9}}\n"))
        .collect();
    body.push_str("{\"llm\":\"new-x\",\"metric\":\"TTFT\",\"value\":-1}\n");
    let r = post(body).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(count(&c, llms).await, seeded);
    let r = post("{\"llm\":\"fresh\",\"metric\":\"TTFT\",\"value\":9}\n".into()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        count(&c, max_id).await,
        seeded + 1,
        "the next id follows the last"
    );
    // More new LLMs than one input may add: refused with the limit, nothing added.
    let cap = llmrank::ingest::records::NEW_LLMS_MAX;
    let body: String = (0..=cap)
        .map(|i| format!("{{\"llm\":\"many-{i}\",\"metric\":\"TTFT\",\"value\":9}}\n"))
        .collect();
    let r = post(body).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains(&cap.to_string()),
        "{}",
        r.body
    );
    assert_eq!(count(&c, llms).await, seeded + 1);
    // Exactly the limit is allowed.
    let body: String = (0..cap)
        .map(|i| format!("{{\"llm\":\"many-{i}\",\"metric\":\"TTFT\",\"value\":9}}\n"))
        .collect();
    let r = post(body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(count(&c, max_id).await, seeded + 1 + cap as i64);
    assert_summaries_match_samples(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_cut_short_busy_or_oddly_spelt_get_the_right_answer_and_write_nothing_wrong() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (db, srv) = write_server(|s| s.server.max_concurrent_writes = 1).await;
    let c = db.client().await;
    let head = |ct: &str, len: usize| {
        format!("POST /samples HTTP/1.1\r\nHost: x\r\nX-API-KEY: {WRITE}\r\nContent-Type: {ct}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
    };
    let answer = |mut st: tokio::net::TcpStream| async move {
        let mut buf = Vec::new();
        tokio::time::timeout(std::time::Duration::from_secs(10), st.read_to_end(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    };
    let record = "{\"llm\":\"edge-llm\",\"metric\":\"TTFT\",\"value\":9}\n";
    // A body the client stops sending: 400 (its fault, not "too large"), nothing written.
    let mut st = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    st.write_all(head("application/x-ndjson", 1000).as_bytes())
        .await
        .unwrap();
    st.write_all(record.as_bytes()).await.unwrap();
    st.shutdown().await.unwrap();
    let text = answer(st).await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("cut short"), "{text}");
    // One write at a time here: a second while the first is sending its body is 503 with
    // Retry-After, before its body is read; the first still lands.
    let mut slow = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let body = record.repeat(3);
    slow.write_all(head("application/x-ndjson", body.len()).as_bytes())
        .await
        .unwrap();
    slow.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let nd = ("Content-Type", "application/x-ndjson");
    let r = http(
        srv.addr,
        "POST",
        "/samples",
        &[nd, ("X-API-KEY", WRITE)],
        record,
    )
    .await;
    crate::serve::assert_busy(&r, "server.max_concurrent_writes");
    slow.write_all(&body.as_bytes()[10..]).await.unwrap();
    let text = answer(slow).await;
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");
    assert_eq!(count(&c, "SELECT count(*) FROM llm_metrics").await, 3);
    // A JSON array refuses a repeated key as NDJSON does, naming the element.
    let json = ("Content-Type", "application/json");
    let dup = r#"[{"llm":"edge-llm","metric":"TTFT","value":1},{"llm":"a","llm":"b","metric":"TTFT","value":2}]"#;
    let r = http(
        srv.addr,
        "POST",
        "/samples",
        &[json, ("X-API-KEY", WRITE)],
        dup,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let e = r.json()["error"].as_str().unwrap().to_string();
    assert!(
        e.contains("element 1") && e.contains("duplicate field `llm`"),
        "{e}"
    );
    let dup_line = "{\"llm\":\"a\",\"llm\":\"b\",\"metric\":\"TTFT\",\"value\":2}\n";
    let r = http(
        srv.addr,
        "POST",
        "/samples",
        &[nd, ("X-API-KEY", WRITE)],
        dup_line,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("duplicate field `llm`"),
        "{}",
        r.body
    );
    // A byte order mark is read past in JSON, NDJSON and CSV alike.
    let bom = "\u{feff}";
    for (ct, body) in [
        ("application/json", format!("{bom}[{}]", record.trim())),
        ("application/x-ndjson", format!("{bom}{record}")),
        (
            "text/csv",
            format!("{bom}llm,metric,value\nedge-llm,TTFT,9\n"),
        ),
    ] {
        let r = http(
            srv.addr,
            "POST",
            "/samples",
            &[("Content-Type", ct), ("X-API-KEY", WRITE)],
            &body,
        )
        .await;
        assert_eq!(r.status, 201, "{ct}: {}", r.body);
    }
    assert_eq!(count(&c, "SELECT count(*) FROM llm_metrics").await, 6);
    // A format parameter on a type the route does not read, or two of them: 415.
    for ct in [
        "text/plain; format=ndjson",
        "application/json; format=vllm; format=sglang",
    ] {
        let r = http(
            srv.addr,
            "POST",
            "/samples",
            &[("Content-Type", ct), ("X-API-KEY", WRITE)],
            record,
        )
        .await;
        assert_eq!(r.status, 415, "{ct}: {}", r.body);
    }
    // One workload key twice is refused like any other repeat.
    let r = http(
        srv.addr,
        "GET",
        "/ranking/TTFT?source=api&workload=tool=a&workload=tool=b",
        &[("X-API-KEY", READ)],
        "",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["error"].as_str().unwrap().contains("named twice"),
        "{}",
        r.body
    );
    assert_summaries_match_samples(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_in_progress_stay_within_the_write_memory_budget() {
    use tokio::io::AsyncWriteExt;
    let (db, srv) = write_server(|s| s.server.write_memory_bytes = 2 << 20).await;
    // A post announcing 1.5 MiB holds 2 MiB of the budget (MiB rounded up) while it sends.
    let mut slow = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let head = format!(
        "POST /samples HTTP/1.1\r\nHost: x\r\nX-API-KEY: {WRITE}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
        3 << 19
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let nd = ("Content-Type", "application/x-ndjson");
    let record = "{\"llm\":\"budget-llm\",\"metric\":\"TTFT\",\"value\":9}\n";
    let r = http(
        srv.addr,
        "POST",
        "/samples",
        &[nd, ("X-API-KEY", WRITE)],
        record,
    )
    .await;
    crate::serve::assert_busy(&r, "server.write_memory_bytes");
    // Its place comes back when it ends: the small post is then written.
    drop(slow);
    let mut status = 0;
    for _ in 0..50 {
        status = http(
            srv.addr,
            "POST",
            "/samples",
            &[nd, ("X-API-KEY", WRITE)],
            record,
        )
        .await
        .status;
        if status == 201 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 201);
    assert_eq!(
        count(&db.client().await, "SELECT count(*) FROM llm_metrics").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_samples_needs_a_write_key_and_writes_all_or_nothing_once() {
    let (db, srv) = write_server(|s| s.server.max_samples_bytes = 4096).await;
    let c = db.client().await;
    let json = ("Content-Type", "application/json");
    let good = r#"[{"llm":"api-llm","metric":"TTFT","value":12.5},{"llm":"api-llm","metric":"TTFT","value":14.5,"time":"2026-01-01T00:00:00Z"}]"#;

    let r = http(srv.addr, "POST", "/samples", &[json], good).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = http(
        srv.addr,
        "POST",
        "/samples",
        &[json, ("X-API-KEY", READ)],
        good,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("write key"));
    let r = http(srv.addr, "GET", "/samples", &[("X-API-KEY", WRITE)], "").await;
    assert_eq!(r.status, 405);
    assert_eq!(count(&c, "SELECT count(*) FROM runs").await, 0);

    let r = http(
        srv.addr,
        "POST",
        "/samples",
        &[json, ("X-API-KEY", WRITE)],
        good,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(v["rows"], 2);
    let run = v["runs"][0]["run_id"].as_i64().unwrap();
    assert_eq!(
        count(
            &c,
            &format!("SELECT count(*) FROM runs WHERE id = {run} AND source = 'api'")
        )
        .await,
        1
    );

    // A bad record: 400 naming its line and field; nothing written.
    let nd = ("Content-Type", "application/x-ndjson");
    let bad = "{\"llm\":\"api-llm\",\"metric\":\"TTFT\",\"value\":3}\n{\"llm\":\"api-llm\",\"metric\":\"TTFT\"}\n";
    let r = http(
        srv.addr,
        "POST",
        "/samples",
        &[nd, ("X-API-KEY", WRITE)],
        bad,
    )
    .await;
    assert_eq!(r.status, 400);
    let msg = r.json()["error"].as_str().unwrap().to_string();
    assert!(
        msg.contains("line 2") && msg.contains("\"value\" is missing"),
        "{msg}"
    );
    let r = http(
        srv.addr,
        "POST",
        "/samples",
        &[json, ("X-API-KEY", WRITE)],
        r#"[{"llm":"x","metric":"TTFX","value":1}]"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("valid metrics: TTFT"), "{}", r.body);
    assert_eq!(count(&c, "SELECT count(*) FROM llm_metrics").await, 2);
    assert_eq!(
        count(&c, "SELECT count(*) FROM llms WHERE name = 'x'").await,
        0
    );

    // Idempotency: the retry adds nothing and names the first run.
    let once = "{\"llm\":\"api-llm\",\"metric\":\"TTFT\",\"value\":9}\n";
    let idem = ("Idempotency-Key", "batch-0001");
    let first = http(
        srv.addr,
        "POST",
        "/samples",
        &[nd, ("X-API-KEY", WRITE), idem],
        once,
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.body);
    let retry = http(
        srv.addr,
        "POST",
        "/samples",
        &[nd, ("X-API-KEY", WRITE), idem],
        once,
    )
    .await;
    assert_eq!(retry.status, 200, "{}", retry.body);
    assert_eq!(retry.json()["duplicate"], true);
    assert_eq!(
        retry.json()["runs"][0]["run_id"],
        first.json()["runs"][0]["run_id"]
    );
    assert_eq!(count(&c, "SELECT count(*) FROM llm_metrics").await, 3);
    // The same key with another body (or an empty one) is refused, not "a duplicate".
    let other = "{\"llm\":\"api-llm\",\"metric\":\"TTFT\",\"value\":10}\n";
    let reused = http(
        srv.addr,
        "POST",
        "/samples",
        &[nd, ("X-API-KEY", WRITE), idem],
        other,
    )
    .await;
    assert_eq!(reused.status, 422, "{}", reused.body);
    assert!(reused.body.contains("different body"), "{}", reused.body);
    let empty = http(
        srv.addr,
        "POST",
        "/samples",
        &[
            ("Content-Type", "application/json"),
            ("X-API-KEY", WRITE),
            idem,
        ],
        " [ ] ",
    )
    .await;
    assert_eq!(empty.status, 400, "{}", empty.body);
    assert_eq!(count(&c, "SELECT count(*) FROM llm_metrics").await, 3);

    // Body type and size.
    let r = http(
        srv.addr,
        "POST",
        "/samples",
        &[("Content-Type", "text/plain"), ("X-API-KEY", WRITE)],
        "x",
    )
    .await;
    assert_eq!(r.status, 415);
    assert!(r.body.contains("application/x-ndjson"), "{}", r.body);
    let big = format!(
        "[{}]",
        vec![r#"{"llm":"a","metric":"TTFT","value":1}"#; 200].join(",")
    );
    let r = http(
        srv.addr,
        "POST",
        "/samples",
        &[json, ("X-API-KEY", WRITE)],
        &big,
    )
    .await;
    assert_eq!(r.status, 413);

    // A tool's own file, named by the Content-Type.
    let file = std::fs::read_to_string(fixture("vllm_v0.25_aggregate.json")).unwrap();
    let r = http(
        srv.addr,
        "POST",
        "/samples",
        &[
            ("Content-Type", "application/json; format=vllm"),
            ("X-API-KEY", WRITE),
        ],
        &file,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["runs"][0]["reported"][0], "TTFT");

    // Rankings see the API's data by source.
    let r = http(
        srv.addr,
        "GET",
        "/ranking/TTFT?source=api",
        &[("X-API-KEY", READ)],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["rankings"][0]["llm"], "api-llm", "{}", r.body);
    assert_eq!(r.json()["rankings"][0]["n"], 3);
    let r = http(
        srv.addr,
        "GET",
        "/ranking/TTFT?source=api&include_reported=true&workload=tool%3Dvllm",
        &[("X-API-KEY", READ)],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["rankings"][0]["reported"]["tool"], "vllm");
    let r = http(
        srv.addr,
        "GET",
        "/ranking/TTFT?source=apis",
        &[("X-API-KEY", READ)],
        "",
    )
    .await;
    assert_eq!(r.status, 400);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2_gb_jsonl_stream_with_a_bad_last_line_writes_nothing() {
    let (db, s) = TestDb::seeded().await;
    let url = s.database.url.expose().to_string();
    let mut child = Command::new(bin())
        .args(["import", "--format", "ndjson", "-"])
        .env("LLMRANK_DATABASE__URL", &url)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let pad = "x".repeat(1000);
    let lines: u64 = 2 * 1024 * 1024; // ~1 KiB each: 2 GiB in all
    let writer = std::thread::spawn(move || {
        let mut buf = Vec::with_capacity(1 << 20);
        for i in 0..lines {
            writeln!(
                buf,
                "{{\"llm\":\"big-{}\",\"metric\":\"TTFT\",\"value\":{},\"pad\":\"{pad}\"}}",
                i % 4,
                1 + i % 100
            )
            .unwrap();
            if buf.len() >= 1 << 20 {
                if stdin.write_all(&buf).is_err() {
                    return;
                }
                buf.clear();
            }
        }
        buf.extend_from_slice(b"{\"llm\":\"big-0\",\"metric\":\"TTFT\",\"value\":-1}\n");
        let _ = stdin.write_all(&buf);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("line {}", lines + 1)) && err.contains("negative"),
        "{err}"
    );
    let c = db.client().await;
    assert_eq!(count(&c, "SELECT count(*) FROM llm_metrics").await, 0);
    assert_eq!(count(&c, "SELECT count(*) FROM runs").await, 0);
    assert_eq!(
        count(&c, "SELECT count(*) FROM llms WHERE name LIKE 'big-%'").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_whose_commit_answer_is_lost_is_written_once() {
    let (db, mut s) = TestDb::seeded().await;
    let proxy = crate::helpers::CommitCutter::start(crate::helpers::pg_addr(), 1).await;
    s.database.url = Secret::new(format!("postgres://postgres@{}/{}", proxy.addr, db.name));
    s.simulate.retry.initial_backoff_ms = 5;
    let report = import_ok(&s, &request(&["vllm_2024_detailed.json"]))
        .await
        .remove(0);
    assert_eq!(
        proxy.cuts.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the commit was cut"
    );
    assert_eq!(report.retries, 1);
    assert_eq!(
        report.existing.len(),
        1,
        "the retry found the committed run: {report:?}"
    );
    assert!(
        report.describe(false).contains("written as run"),
        "{}",
        report.describe(false)
    );
    let c = db.client().await;
    assert_eq!(count(&c, "SELECT count(*) FROM runs").await, 1);
    assert_eq!(count(&c, "SELECT count(*) FROM llm_metrics").await, 14);
    assert_summaries_match_samples(&c).await;
}

/// Three imported files of one LLM and workload are three runs: the ranking judges the LLM
/// over them, each run's statistic from its own file (the run rows an input writes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_imported_runs_of_one_workload_are_judged_over_runs() {
    let (_db, s) = TestDb::seeded().await;
    let dir = crate::helpers::tempdir("import-runs");
    let mut files = Vec::new();
    let mut means = Vec::new();
    for (i, base) in [100.0, 130.0, 90.0].iter().enumerate() {
        let values: Vec<f64> = (0..50).map(|k| base + f64::from(k % 7)).collect();
        means.push(values.iter().sum::<f64>() / values.len() as f64);
        let mut csv = String::from("llm,metric,value,time\n");
        for (k, v) in values.iter().enumerate() {
            csv.push_str(&format!(
                "org/model-a,TTFT,{v},2026-01-0{}T00:{:02}:00Z\n",
                i + 1,
                k
            ));
        }
        let path = dir.join(format!("run{i}.csv"));
        std::fs::write(&path, csv).unwrap();
        files.push(path.to_string_lossy().into_owned());
    }
    import_ok(
        &s,
        &import::Request {
            files,
            ..Default::default()
        },
    )
    .await;
    let r = rank::ranking(&s, "TTFT", &opts(&[], None, false))
        .await
        .unwrap();
    let e = &r.rankings[0];
    assert_eq!(e.interval_over, llmrank::ranking::Noise::Runs);
    assert_eq!(e.runs, Some(3));
    let want = llmrank::ranking::RunNoise::of(&means).unwrap();
    assert!((e.run_value.unwrap() - want.value).abs() < 1e-9);
    let got = e.run_ci95.unwrap();
    assert!((got[0] - want.interval[0]).abs() < 1e-9 && (got[1] - want.interval[1]).abs() < 1e-9);
}
