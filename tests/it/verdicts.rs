//! Verdicts on change against a real PostgreSQL. `compare` and `GET /compare`: a drift injected
//! by `simulate` is caught and what did not move passes, the ratios equal exact ones computed by
//! SQL from the raw samples (within the sketches' bound) or from the files themselves (exactly),
//! and the exit status gates CI like `diff`'s. `regressions`, `GET /regressions` and serve's
//! gauges: a lasting drift is regressed from its first full day and never before it, and the
//! shipped alert rules fire on the series serve exports (`promtool test rules`).

use std::collections::BTreeMap;

use llmrank::cmd::import;
use llmrank::config::Secret;
use serde_json::Value;

use crate::helpers::{llmrank, simulate_drifted, stderr, stdout, tempdir, TestDb};
use crate::serve::{get, Server, KEY};

/// (llm, metric) → (verdict, ratio) of a JSON answer.
fn verdicts(j: &Value) -> BTreeMap<(String, String), (String, f64)> {
    j["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (
                    c["llm"].as_str().unwrap().to_string(),
                    c["metric"].as_str().unwrap().to_string(),
                ),
                (
                    c["verdict"].as_str().unwrap().to_string(),
                    c["ratio"].as_f64().unwrap_or(f64::NAN),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_catches_injected_drifts_passes_the_rest_and_gates_like_diff_in_the_cli_and_the_api(
) {
    let (db, mut s) = TestDb::seeded().await;
    // 512 requests a day for each LLM over four days.
    s.simulate.samples = 2_048;
    let drifts = [
        "GPT-4o:TTFT=+35%@2d",
        "Llama 3.1 8B:TPS=-30%@2d",
        "Claude 3 Haiku:TTFT=+10%@2d",
    ];
    simulate_drifted(&s, 4 * 86_400, &drifts).await;
    // Sides on whole hours, so SQL can take the same samples: the first day, and the last.
    let hour = llmrank::window::now() / 3_600 * 3_600;
    let t = |secs: i64| llmrank::window::rfc3339(secs);
    let (b0, b1) = (hour - 4 * 86_400, hour - 3 * 86_400);
    let (c0, c1) = (hour - 86_400 + 3_600, hour + 3_600);
    let base = format!("from={},to={}", t(b0), t(b1));
    let cand = format!("from={},to={}", t(c0), t(c1));
    let url = db.url();
    let env = [("LLMRANK_DATABASE__URL", url.as_str())];
    let o = llmrank(
        &[
            "compare", "--base", &base, "--cand", &cand, "--format", "json",
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let cli: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let v = verdicts(&cli);
    assert_eq!(v.len(), 12 * 4, "every LLM × metric: {v:?}");
    let regressed: Vec<&(String, String)> = v
        .iter()
        .filter(|(_, (verdict, _))| verdict == "regressed")
        .map(|(k, _)| k)
        .collect();
    assert!(
        regressed.contains(&&("GPT-4o".into(), "TTFT".into())),
        "{v:?}"
    );
    assert!(
        regressed.contains(&&("Llama 3.1 8B".into(), "TPS".into())),
        "{v:?}"
    );
    // Only the two LLMs that drifted past the threshold regressed (a slower decode also
    // lengthens e2e); the 10% drift did not, nor anything else.
    for (llm, metric) in &regressed {
        assert!(
            llm == "GPT-4o" || llm == "Llama 3.1 8B",
            "{llm} {metric}: {v:?}"
        );
    }
    assert_ne!(v[&("Claude 3 Haiku".into(), "TTFT".into())].0, "regressed");
    let (_, r) = &v[&("GPT-4o".into(), "TTFT".into())];
    assert!((1.28..1.43).contains(r), "GPT-4o TTFT ratio {r}");
    // The worst come first, and the JSON says which noise the intervals are over.
    assert_eq!(cli["comparisons"][0]["verdict"], "regressed");
    assert_eq!(cli["comparisons"][0]["interval_over"], "requests");
    assert_eq!(cli["statistic"], "p50");
    // Every TTFT ratio is the exact one (percentile_cont over the same samples) within the
    // sketches' stated error on each side (0.5%).
    let c = db.client().await;
    let rows = c
        .query(
            "SELECT l.name,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY value) FILTER (WHERE created_at >= to_timestamp($1) AND created_at < to_timestamp($2)),
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY value) FILTER (WHERE created_at >= to_timestamp($3) AND created_at < to_timestamp($4))
             FROM llm_metrics m JOIN llms l ON l.id = m.llm_id JOIN metrics k ON k.id = m.metric_id
             WHERE k.name = 'TTFT' GROUP BY l.name",
            &[&(b0 as f64), &(b1 as f64), &(c0 as f64), &(c1 as f64)],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 12);
    for r in &rows {
        let llm: String = r.get(0);
        let exact = r.get::<_, f64>(2) / r.get::<_, f64>(1);
        let (_, ratio) = v[&(llm.clone(), "TTFT".to_string())];
        assert!(
            (ratio / exact - 1.0).abs() < 0.011,
            "{llm}: ratio {ratio}, exact {exact}"
        );
    }
    // One metric that did not move: exit 0; Markdown for a pull request marks regressions.
    let o = llmrank(
        &[
            "compare", "--base", &base, "--cand", &cand, "--metric", "RPS",
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stdout(&o).contains("regressed  "), "{}", stdout(&o));
    let o = llmrank(
        &[
            "compare", "--base", &base, "--cand", &cand, "--metric", "TTFT", "--format", "markdown",
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(1));
    let md = stdout(&o);
    assert!(md.contains("| **regressed** | GPT-4o | TTFT |"), "{md}");
    // A looser threshold lets the 35% through: nothing regressed on TTFT.
    let o = llmrank(
        &[
            "compare",
            "--base",
            &base,
            "--cand",
            &cand,
            "--metric",
            "TTFT",
            "--latency-threshold",
            "1.5",
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));

    // Bad usage and missing data: exit 2, one line naming what was wrong.
    for (args, says) in [
        (
            vec!["--base", "run=1", "--cand", "run=1"],
            "run 1 is on both sides",
        ),
        (vec!["--base", "run=99", "--cand", "run=1"], "run 99"),
        (
            vec!["--base", "window=1d,until=30d", "--cand", &cand],
            "holds no samples",
        ),
        (
            vec!["--base", "colour=red", "--cand", &cand],
            "unknown key \"colour\"",
        ),
        (
            vec!["--base", &base, "--cand", &cand, "--metric", "TTTF"],
            "did you mean TTFT",
        ),
        (
            vec![
                "--base",
                &base,
                "--cand",
                &cand,
                "--latency-threshold",
                "0.9",
            ],
            "must be above 1",
        ),
        (
            vec![
                "--base",
                &base,
                "--cand",
                &cand,
                "--throughput-threshold",
                "1.1",
            ],
            "between 0 and 1",
        ),
        (vec!["--base", &base], "--cand"),
    ] {
        let mut all = vec!["compare"];
        all.extend(args.iter().copied());
        let o = llmrank(&all, &env);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{all:?}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{all:?}: {e}");
        assert!(e.contains(says), "{all:?}: {e}");
    }

    // The API answers the same, and refuses the same with the right status.
    s.server.api_keys = vec![Secret::new(KEY)];
    s.redis.url = Secret::new(crate::helpers::redis_url().await);
    let srv = Server::start(&s).await;
    let q = |side: &str| side.replace('+', "%2B").replace(',', "%2C");
    let r = get(
        srv.addr,
        &format!("/compare?base={}&cand={}", q(&base), q(&cand)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let api = r.json();
    assert_eq!(verdicts(&api), v);
    assert!(api["data_version"].is_string());
    for (path, status, says) in [
        ("/compare?cand=run=1".to_string(), 400, "base is required"),
        ("/compare?base=run=1&cand=run=1".into(), 400, "both sides"),
        ("/compare?base=run=99&cand=run=1".into(), 404, "run 99"),
        ("/compare?base=nope&cand=run=1".into(), 400, "KEY=VALUE"),
        (
            format!("/compare?base={}&cand=run=1&latency_threshold=1", q(&base)),
            400,
            "above 1",
        ),
        (
            format!("/compare?base={}&cand=run=1&metric=TTTF", q(&base)),
            404,
            "TTTF",
        ),
        (
            "/compare?base=run=1&cand=run=1&bogus=1".into(),
            400,
            "unknown query parameter",
        ),
    ] {
        let r = get(srv.addr, &path).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
        assert!(r.body.contains(says), "{path}: {}", r.body);
    }
    srv.stop().await;
}

/// A vLLM `--save-detailed` result of `model` whose request `i` has TTFT `ttft(i)` seconds.
fn vllm_file(model: &str, n: usize, ttft: impl Fn(usize) -> f64) -> Value {
    let ttfts: Vec<f64> = (0..n).map(&ttft).collect();
    serde_json::json!({
        "date": "20260901-120000", "model_id": model, "request_rate": 2.0,
        "completed": n, "failed": 0, "duration": n as f64,
        "ttfts": ttfts,
        "latencies": ttfts.iter().map(|t| t + 1.0).collect::<Vec<_>>(),
        "output_lens": vec![50; n], "input_lens": vec![10; n],
        "itls": vec![Vec::<f64>::new(); n], "errors": vec![""; n],
        "start_times": (0..n).map(|i| 1_755_000_000.0 + i as f64).collect::<Vec<_>>(),
    })
}

/// numpy's default (linear) percentile, as vLLM computes it and `percentile_cont` does.
fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_of_two_runs_gives_the_ratios_their_files_give() {
    let (db, s) = TestDb::seeded().await;
    let dir = tempdir("compare");
    // Two per-request runs of one model, the second ~15% slower with its own spread.
    let a = |i: usize| 0.2 + 0.001 * ((i * 37) % 101) as f64;
    let b = |i: usize| 0.23 + 0.0013 * ((i * 53) % 89) as f64;
    let (n_a, n_b) = (301, 257);
    // Two aggregate-only runs: the real llm-d pair of one model where the shared samples are
    // here, else two files of that format written for this test.
    let shared =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/import-samples/vllm");
    let pair = [
        "llmd_exp7_H100_vllm-2replicas_benchmark_2025-05-13_04-55-27.json",
        "llmd_exp7_H100_llm-d-1p1d_benchmark_2025-05-13_04-37-51.json",
    ];
    let mut files = Vec::new();
    for (name, body) in [
        ("a.json", vllm_file("org/model-x", n_a, a)),
        ("b.json", vllm_file("org/model-x", n_b, b)),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, body.to_string()).unwrap();
        files.push(p);
    }
    for (i, name) in pair.iter().enumerate() {
        let real = shared.join(name);
        if real.exists() {
            files.push(real);
        } else {
            let p = dir.join(format!("aggregate-{i}.json"));
            let body = serde_json::json!({
                "date": "20250513-043912", "backend": "openai",
                "model_id": "meta-llama/Llama-3.1-8B-Instruct", "num_prompts": 200,
                "request_rate": 3.6, "duration": 57.2, "completed": 200,
                "request_throughput": 3.49 - i as f64 * 0.2, "output_throughput": 698.5,
                "mean_ttft_ms": 249.5 + i as f64 * 30.0, "median_ttft_ms": 248.4 + i as f64 * 31.0,
                "std_ttft_ms": 6.1, "p99_ttft_ms": 267.2 + i as f64 * 31.0,
            });
            std::fs::write(&p, body.to_string()).unwrap();
            files.push(p);
        }
    }
    let req = import::Request {
        files: files
            .iter()
            .map(|f| f.to_string_lossy().into_owned())
            .collect(),
        ..Default::default()
    };
    for (f, r) in import::run(&s, &req).await.unwrap() {
        r.unwrap_or_else(|e| panic!("{f}: {e:#}"));
    }
    let url = db.url();
    let env = [("LLMRANK_DATABASE__URL", url.as_str())];
    let ttfts = |f: &dyn Fn(usize) -> f64, n: usize| -> Vec<f64> {
        (0..n).map(|i| f(i) * 1_000.0).collect()
    };
    let (va, vb) = (ttfts(&a, n_a), ttfts(&b, n_b));
    for (by, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
        let o = llmrank(
            &[
                "compare", "--base", "run=1", "--cand", "run=2", "--metric", "TTFT", "--by", by,
                "--format", "json",
            ],
            &env,
        );
        assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
        let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
        let c = &j["comparisons"][0];
        assert_eq!(c["llm"], "org/model-x");
        let want = percentile(&vb, q) / percentile(&va, q);
        let got = c["ratio"].as_f64().unwrap();
        assert!((got / want - 1.0).abs() < 1e-9, "{by}: {got} vs {want}");
        assert_eq!(c["base_n"], n_a as u64);
        assert_eq!(c["reported"], false);
    }
    // The aggregate-only pair: the ratio of the medians the files hold; no interval (the tool
    // kept none), so no verdict but insufficient_data.
    let medians: Vec<f64> = files[2..]
        .iter()
        .map(|f| {
            let j: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            j["median_ttft_ms"].as_f64().unwrap()
        })
        .collect();
    let o = llmrank(
        &[
            "compare", "--base", "run=3", "--cand", "run=4", "--metric", "TTFT", "--format", "json",
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let c = &j["comparisons"][0];
    assert_eq!(c["llm"], "meta-llama/Llama-3.1-8B-Instruct");
    assert_eq!(c["reported"], true);
    assert_eq!(c["verdict"], "insufficient_data");
    let got = c["ratio"].as_f64().unwrap();
    assert!(
        (got / (medians[1] / medians[0]) - 1.0).abs() < 1e-12,
        "{got} {medians:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_of_three_runs_a_side_judges_on_the_noise_between_runs() {
    let (db, mut s) = TestDb::seeded().await;
    s.simulate.samples = 400;
    // Three runs a side, each its own seed; the candidate's GPT-4o 40% slower throughout.
    for seed in 1..=6u64 {
        s.simulate.seed = seed;
        let drift: &[&str] = if seed > 3 {
            &["GPT-4o:TTFT=+40%@1d"]
        } else {
            &[]
        };
        simulate_drifted(&s, 86_400, drift).await;
    }
    let url = db.url();
    let env = [("LLMRANK_DATABASE__URL", url.as_str())];
    let o = llmrank(
        &[
            "compare",
            "--base",
            "run=1,run=2,run=3",
            "--cand",
            "run=4,run=5,run=6",
            "--metric",
            "TTFT",
            "--format",
            "json",
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let comparisons = j["comparisons"].as_array().unwrap();
    assert_eq!(comparisons.len(), 12);
    assert_eq!(comparisons[0]["llm"], "GPT-4o");
    assert_eq!(comparisons[0]["verdict"], "regressed");
    // Each side's value is the mean of its runs' medians (percentile_cont by SQL, per run),
    // and the ratio's interval comes from their t-intervals (t(2) = 4.302653).
    let c = db.client().await;
    let medians = c
        .query(
            "SELECT l.name, m.run_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY m.value)
             FROM llm_metrics m JOIN llms l ON l.id = m.llm_id JOIN metrics k ON k.id = m.metric_id
             WHERE k.name = 'TTFT' GROUP BY 1, 2 ORDER BY 1, 2",
            &[],
        )
        .await
        .unwrap();
    let side = |llm: &str, runs: std::ops::RangeInclusive<i32>| -> (f64, [f64; 2]) {
        let v: Vec<f64> = medians
            .iter()
            .filter(|r| r.get::<_, String>(0) == llm && runs.contains(&r.get::<_, i32>(1)))
            .map(|r| r.get(2))
            .collect();
        assert_eq!(v.len(), 3);
        let mean = v.iter().sum::<f64>() / 3.0;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        let half = 4.302_653 * sd / 3f64.sqrt();
        (mean, [mean - half, mean + half])
    };
    for cmp in comparisons {
        let llm = cmp["llm"].as_str().unwrap();
        assert_eq!(cmp["interval_over"], "runs", "{cmp}");
        assert_eq!(
            (cmp["base_runs"].as_u64(), cmp["cand_runs"].as_u64()),
            (Some(3), Some(3))
        );
        let (b, bi) = side(llm, 1..=3);
        let (c, ci) = side(llm, 4..=6);
        let close = |x: f64, y: f64| (x / y - 1.0).abs() < 1e-9;
        assert!(close(cmp["base"].as_f64().unwrap(), b), "{llm}: {cmp}");
        assert!(close(cmp["cand"].as_f64().unwrap(), c), "{llm}: {cmp}");
        assert!(close(cmp["ratio"].as_f64().unwrap(), c / b), "{llm}: {cmp}");
        if let Some((_, want)) = llmrank::regress::ratio(b, bi, c, ci) {
            let got = cmp["ci95"].as_array().unwrap();
            assert!(close(got[0].as_f64().unwrap(), want[0]), "{llm}: {cmp}");
            assert!(close(got[1].as_f64().unwrap(), want[1]), "{llm}: {cmp}");
        }
    }
    // One run a side is judged on its requests.
    let o = llmrank(
        &[
            "compare", "--base", "run=1", "--cand", "run=4", "--metric", "TTFT", "--format", "json",
        ],
        &env,
    );
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["comparisons"][0]["interval_over"], "requests");
    assert_eq!(j["comparisons"][0]["base_runs"], Value::Null);
}

/// `promtool test rules` of the shipped alert rules on `exposition`'s regression states, held
/// for 20 minutes: what fires at 3 minutes (nothing: `for: 5m`) and at 10.
fn promtool_test(exposition: &str, states: &[(BTreeMap<String, String>, i64)]) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempdir("alerts");
    let rules = root.join("charts/llmrank/files/alerts.rules.yaml");
    let mut series = String::new();
    for line in exposition.lines().filter(|l| {
        l.starts_with("llmrank_regression_state{")
            || l.starts_with("llmrank_regression_series_dropped ")
    }) {
        let (name, value) = line.rsplit_once(' ').unwrap();
        series.push_str(&format!(
            "      - series: '{name}'\n        values: '{value}x20'\n"
        ));
    }
    let alert = |name: &str, eval: &str, want: &[&(BTreeMap<String, String>, i64)]| {
        let mut t =
            format!("      - eval_time: {eval}\n        alertname: {name}\n        exp_alerts:");
        if want.is_empty() {
            t.push_str(" []\n");
        } else {
            t.push('\n');
        }
        for (labels, state) in want {
            let (llm, metric, workload) = (&labels["llm"], &labels["metric"], &labels["workload"]);
            let severity = if *state == 2 { "warning" } else { "info" };
            t.push_str(&format!(
                "          - exp_labels: {{llm: \"{llm}\", metric: \"{metric}\", workload: \"{workload}\", severity: {severity}}}\n"
            ));
            if *state == 2 {
                t.push_str(&format!(
                    "            exp_annotations:\n              summary: \"{llm}: {metric} regressed ({workload})\"\n              description: \"The daily median of {metric} for {llm} ({workload}) has been past its threshold for two days or more. `llmrank regressions --metric {metric}` shows the days.\"\n"
                ));
            } else {
                t.push_str(&format!(
                    "            exp_annotations:\n              summary: \"{llm}: {metric} past its threshold for one day ({workload})\"\n"
                ));
            }
        }
        t
    };
    let regressed: Vec<&(BTreeMap<String, String>, i64)> =
        states.iter().filter(|(_, s)| *s == 2).collect();
    let suspicious: Vec<&(BTreeMap<String, String>, i64)> =
        states.iter().filter(|(_, s)| *s == 1).collect();
    let mut test = format!(
        "rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{series}    alert_rule_test:\n",
        rules.display()
    );
    test.push_str(&alert("LLMPerformanceRegression", "3m", &[]));
    test.push_str(&alert("LLMPerformanceRegression", "10m", &regressed));
    test.push_str(&alert("LLMPerformanceSuspicious", "10m", &suspicious));
    test.push_str(&alert("LLMRegressionSeriesDropped", "10m", &[]));
    let file = dir.join("alerts.test.yaml");
    std::fs::write(&file, &test).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .expect("promtool (scripts/tools.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}\n{test}");
    text
}

/// The regression states of an exposition: (labels, state).
fn states(exposition: &str) -> Vec<(BTreeMap<String, String>, i64)> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix("llmrank_regression_state{"))
        .map(|rest| {
            let (labels, value) = rest.rsplit_once("} ").unwrap();
            let labels = labels
                .split("\",")
                .map(|kv| {
                    let (k, v) = kv.split_once("=\"").unwrap();
                    (k.to_string(), v.trim_end_matches('"').to_string())
                })
                .collect();
            (labels, value.parse().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regressions_flag_a_lasting_drift_from_its_first_full_day_never_before_and_alerts_fire() {
    let (db, mut s) = TestDb::seeded().await;
    // 400 requests a day for each LLM over fourteen days.
    s.simulate.samples = 5_600;
    let drifts = [
        ("GPT-4o", "TTFT=+35%", 2),
        ("Llama 3.1 8B", "TPS=-30%", 3),
        ("Claude 3 Haiku", "TTFT=+10%", 4),
    ];
    let now = llmrank::window::now();
    let specs: Vec<String> = drifts
        .iter()
        .map(|(llm, m, d)| format!("{llm}:{m}@{d}d"))
        .collect();
    simulate_drifted(
        &s,
        14 * 86_400,
        &specs.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    let url = db.url();
    let env = [("LLMRANK_DATABASE__URL", url.as_str())];
    let o = llmrank(&["regressions", "--format", "json"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let series = j["series"].as_array().unwrap();
    assert_eq!(series.len(), 12 * 4);
    let find = |llm: &str, metric: &str| {
        series
            .iter()
            .find(|s| s["llm"] == llm && s["metric"] == metric)
            .unwrap_or_else(|| panic!("{llm} {metric}"))
    };
    for (llm, metric, days) in [("GPT-4o", "TTFT", 2), ("Llama 3.1 8B", "TPS", 3)] {
        let s = find(llm, metric);
        assert_eq!(s["verdict"], "regressed", "{s}");
        let start = now - days * 86_400;
        let first_full = (start / 86_400 + 1) * 86_400;
        for p in s["points"].as_array().unwrap() {
            let t = llmrank::window::parse_rfc3339(p["time"].as_str().unwrap()).unwrap();
            if t + 86_400 <= start {
                // Never before it starts.
                assert_ne!(p["verdict"], "regressed", "{llm} {metric} at {}", p["time"]);
                assert_ne!(
                    p["verdict"], "suspicious",
                    "{llm} {metric} at {}",
                    p["time"]
                );
            } else if t >= first_full && t + 86_400 <= now {
                // Every full day of it, from the first.
                assert_eq!(p["verdict"], "regressed", "{llm} {metric} at {}", p["time"]);
            } else if t >= first_full {
                // Today, so far: regressed, or too few requests yet to tell (never cleared).
                assert!(
                    p["verdict"] == "regressed" || p["verdict"] == "noisy",
                    "{llm} {metric} today: {p}"
                );
            }
        }
        let since = llmrank::window::parse_rfc3339(s["since"].as_str().unwrap()).unwrap();
        assert!(
            since <= first_full && since + 86_400 > start,
            "{llm} since {}",
            s["since"]
        );
    }
    // Nothing else regressed but what the drifts moved (a slower decode lengthens e2e too),
    // and the 10% drift never did.
    for s in series.iter().filter(|s| s["verdict"] == "regressed") {
        let key = (s["llm"].as_str().unwrap(), s["metric"].as_str().unwrap());
        assert!(
            matches!(
                key,
                ("GPT-4o", "TTFT") | ("Llama 3.1 8B", "TPS" | "e2e_latency")
            ),
            "{key:?} regressed"
        );
    }
    let haiku = find("Claude 3 Haiku", "TTFT");
    assert!(
        haiku["points"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["verdict"] != "regressed"),
        "{haiku}"
    );
    // Too few days for a verdict.
    let o = llmrank(&["regressions", "--window", "5d", "--format", "json"], &env);
    let short: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(short["series"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["verdict"] == "insufficient_data"));
    let o = llmrank(&["regressions", "--min-points", "1"], &env);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // The API answers the same.
    s.server.api_keys = vec![Secret::new(KEY)];
    s.redis.url = Secret::new(crate::helpers::redis_url().await);
    let srv = Server::start(&s).await;
    let r = get(srv.addr, "/regressions?metric=TTFT&metric=TPS").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let api = r.json();
    let verdict_of = |j: &Value| -> BTreeMap<(String, String), String> {
        j["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    (
                        s["llm"].as_str().unwrap().into(),
                        s["metric"].as_str().unwrap().into(),
                    ),
                    s["verdict"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let mut cli = verdict_of(&j);
    cli.retain(|(_, m), _| m == "TTFT" || m == "TPS");
    assert_eq!(verdict_of(&api), cli);
    for (path, says) in [
        ("/regressions?baseline=0", "allowed: 1 to 365"),
        ("/regressions?throughput_threshold=1.5", "between 0 and 1"),
        ("/regressions?by=p99", "unknown query parameter"),
    ] {
        let r = get(srv.addr, path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(r.body.contains(says), "{path}: {}", r.body);
    }
    srv.stop().await;

    // serve exports the latest verdicts as gauges, and the shipped rules alert on them.
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let _serve = tokio::process::Command::new(crate::helpers::bin())
        .args(["serve", "--listen", &listen.to_string()])
        .env("LLMRANK_DATABASE__URL", db.url())
        .env("LLMRANK_SERVER__API_KEYS", KEY)
        .env("LLMRANK_SERVER__REGRESSION_SERIES_MAX", "40")
        .env("LLMRANK_LOG__LEVEL", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut exposition = String::new();
    for _ in 0..300 {
        if let Ok(mut c) = tokio::net::TcpStream::connect(listen).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            c.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut raw = String::new();
            c.read_to_string(&mut raw).await.unwrap();
            if raw.contains("llmrank_regression_state{") {
                exposition = raw;
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let got = states(&exposition);
    assert_eq!(
        got.len(),
        40,
        "bounded by server.regression_series_max:\n{exposition}"
    );
    assert!(
        exposition.contains("llmrank_regression_series_dropped 8"),
        "{exposition}"
    );
    let state = |llm: &str, metric: &str| {
        got.iter()
            .find(|(l, _)| l["llm"] == llm && l["metric"] == metric)
            .map(|(_, s)| *s)
    };
    assert_eq!(state("GPT-4o", "TTFT"), Some(2));
    assert_eq!(state("Llama 3.1 8B", "TPS"), Some(2));
    assert!(exposition.contains("llmrank_regression_since_seconds{llm=\"GPT-4o\",metric=\"TTFT\""));
    // The worst are kept: every regressed series is among the forty.
    let regressed = got.iter().filter(|(_, s)| *s == 2).count();
    assert_eq!(
        regressed,
        series
            .iter()
            .filter(|s| s["verdict"] == "regressed")
            .count()
    );
    let out = promtool_test(&exposition, &got);
    assert!(out.contains("SUCCESS"), "{out}");
    // The whole exposition, gauges included, lints clean.
    let body = exposition.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let mut lint = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(lint.stdin.as_mut().unwrap(), body.as_bytes()).unwrap();
    let lint = lint.wait_with_output().unwrap();
    assert!(
        lint.status.success(),
        "{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
}
