//! The real binary: its output and its one-line errors.

use crate::helpers::{llmrank, stderr, stdout, TestDb};

#[test]
fn help_and_version_need_no_config_or_database() {
    let out = llmrank(
        &["--help"],
        &[("LLMRANK_DATABASE__URL", "postgres://nobody@127.0.0.1:1/x")],
    );
    assert!(out.status.success());
    for sub in ["seed", "simulate", "rank", "runs", "config"] {
        assert!(stdout(&out).contains(sub), "{sub} missing from --help");
    }
    let out = llmrank(
        &["simulate", "--help"],
        &[("LLMRANK_CONFIG", "/nonexistent.toml")],
    );
    assert!(out.status.success());
    assert!(stdout(&out).contains("--resume <RUN>"));
}

#[test]
fn bad_flag_values_get_one_line_naming_what_is_allowed() {
    let out = llmrank(&["rank", "TTFT", "--format", "xml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "llmrank: invalid value 'xml' for '--format <FORMAT>' [possible values: table, json, csv]\n"
    );
}

#[test]
fn bad_config_lists_every_problem_with_key_and_file() {
    let dir = std::env::temp_dir().join(format!("llmrank-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[simulate]\nsamples = 0\nworkerz = 2\n").unwrap();
    let f = file.display().to_string();
    let out = llmrank(
        &["--config", &f, "config"],
        &[("LLMRANK_REDIS__URL", "http://x")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "llmrank: invalid configuration (3 problems):\n  {f}: `simulate.workerz`: unknown key (allowed here: batch_rows, interval_secs, metrics_listen, retry, samples, seed, workers)\n  `redis.url` (from env LLMRANK_REDIS__URL): must start with redis:// or rediss://\n  `simulate.samples` (from file {f}): must be between 1 and 10000000000\n"
        )
    );
    std::fs::write(&file, "[simulate]\nsamples = 5\n").unwrap();
    let out = llmrank(&["--config", &f, "config"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("simulate.samples = 5  # file {f}")));
}

#[test]
fn unreachable_database_names_host_and_port() {
    let out = llmrank(
        &["rank", "TTFT"],
        &[(
            "LLMRANK_DATABASE__URL",
            "postgres://postgres@127.0.0.1:1/llmrank",
        )],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "llmrank: cannot connect to PostgreSQL at 127.0.0.1:1 (database llmrank): connection refused (is it running? `scripts/services.sh` starts one locally)\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_fit_columns_and_print_whole_for_scripts_and_with_wide() {
    let db = TestDb::new().await;
    let url = db.url();
    let env = [
        ("LLMRANK_DATABASE__URL", url.as_str()),
        ("LLMRANK_SIMULATE__SAMPLES", "20"),
    ];
    assert!(llmrank(&["seed"], &env).status.success());
    let long =
        "meta/llama-2-70b-chat:02e509c789964a7ea8736978a43525956ef40397be9033abf9fd2badfe68c9e3";
    let file = std::env::temp_dir().join(format!("llmrank-wide-{}.csv", rand::random::<u32>()));
    let rows: String = (0..5)
        .map(|i| format!("{long},TTFT,{}\nshort-one,TTFT,{}\n", 100 + i, 50 + i))
        .collect();
    std::fs::write(&file, format!("llm,metric,value\n{rows}")).unwrap();
    let out = llmrank(&["import", file.to_str().unwrap()], &env);
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "{}", stderr(&out));
    let widest =
        |o: &std::process::Output| stdout(o).lines().map(|l| l.chars().count()).max().unwrap();
    // Not a terminal, COLUMNS unset: whole, as before (scripts parse it).
    let whole = llmrank(&["rank", "TTFT"], &env);
    assert!(whole.status.success(), "{}", stderr(&whole));
    assert!(stdout(&whole).contains(long), "{}", stdout(&whole));
    assert!(widest(&whole) > 120);
    // COLUMNS=120: names keep their first 20 characters, lines fit.
    let e120 = [env[0], ("COLUMNS", "120")];
    let out = llmrank(&["rank", "TTFT"], &e120);
    let text = stdout(&out);
    assert!(widest(&out) <= 120, "{text}");
    assert!(text.contains(&long[..20]) && text.contains('…'), "{text}");
    // COLUMNS=70: the bar and p95 go before names shorten further; the header wraps.
    let e70 = [env[0], ("COLUMNS", "70")];
    let out = llmrank(&["rank", "TTFT"], &e70);
    let text = stdout(&out);
    assert!(widest(&out) <= 70, "{text}");
    assert!(
        !text.contains("p95") && text.contains("short-one"),
        "{text}"
    );
    // An invalid COLUMNS is ignored; --wide prints names whole; JSON keeps names whole.
    let bad = llmrank(&["rank", "TTFT"], &[env[0], ("COLUMNS", "wide")]);
    assert_eq!(stdout(&bad), stdout(&whole));
    let wide = llmrank(&["rank", "TTFT", "--wide"], &e70);
    assert_eq!(stdout(&wide), stdout(&whole));
    let json = llmrank(&["rank", "TTFT", "--format", "json"], &e70);
    assert!(stdout(&json).contains(long));
    // history and runs fit too.
    for args in [&["history", "TTFT", "--bucket", "1d"][..], &["runs"][..]] {
        let out = llmrank(args, &e70);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(widest(&out) <= 70, "{args:?}: {}", stdout(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_simulate_rank_runs_through_the_binary() {
    let db = TestDb::new().await;
    let url = db.url();
    let env = [
        ("LLMRANK_DATABASE__URL", url.as_str()),
        ("LLMRANK_SIMULATE__SAMPLES", "100"),
    ];
    let out = llmrank(&["seed"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("12 LLMs (12 new), 4 metrics (4 new, 0 updated)"));

    let out = llmrank(&["rank", "TTFT"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "llmrank: no samples for TTFT yet; `llmrank simulate` generates some\n"
    );

    let out = llmrank(&["simulate", "--seed", "7", "--workers", "2"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("run 1 completed: 4,800 rows written in "),
        "{}",
        stdout(&out)
    );

    let out = llmrank(&["simulate", "--seed", "7"], &env);
    assert!(out.status.success());
    assert!(
        stdout(&out).starts_with("run 1 already holds this data"),
        "{}",
        stdout(&out)
    );

    let out = llmrank(&["rank", "ttft"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "llmrank: unknown metric \"ttft\" (did you mean TTFT?); valid metrics: TTFT, TPS, e2e_latency, RPS\n"
    );
    // Near misses get the same suggestion as the API's (at most two edits, any case), and
    // history says it the same way.
    for args in [["rank", "e2e-latency"], ["history", "e2e-latency"]] {
        let out = llmrank(&args, &env);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            stderr(&out),
            "llmrank: unknown metric \"e2e-latency\" (did you mean e2e_latency?); valid metrics: TTFT, TPS, e2e_latency, RPS\n"
        );
    }
    let out = llmrank(&["rank", "throughput"], &env);
    assert_eq!(
        stderr(&out),
        "llmrank: unknown metric \"throughput\"; valid metrics: TTFT, TPS, e2e_latency, RPS\n"
    );

    let out = llmrank(&["rank", "TPS", "--format", "json", "--by", "p99"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["metric"], "TPS");
    assert_eq!(json["unit"], "tokens/s");
    assert_eq!(json["direction"], "higher");
    assert_eq!(json["by"], "p99");
    let rows = json["rankings"].as_array().unwrap();
    assert_eq!(rows.len(), 12);
    for key in [
        "rank",
        "llm",
        "n",
        "mean",
        "p50",
        "p90",
        "p99",
        "stddev",
        "ci95",
        "tied",
        "llm_name",
        "avg_value",
    ] {
        assert!(rows[0].get(key).is_some(), "missing {key}");
    }
    assert_eq!(rows[0]["n"], 100);

    let out = llmrank(&["rank", "RPS", "--format", "csv"], &env);
    let csv = stdout(&out);
    assert_eq!(csv.lines().count(), 13);
    assert!(csv.starts_with(
        "rank,llm,n,mean,p50,p90,p95,p99,stddev,ci95_low,ci95_high,tied,reported_run,\
         interval_over,runs,run_value,run_ci95_low,run_ci95_high\n"
    ));

    let out = llmrank(&["rank", "TTFT"], &env);
    let table = stdout(&out);
    assert!(
        table.starts_with("TTFT (ms, lower is better), best first by mean, all time, from summaries (percentiles within 0.5%)\n"),
        "{table}"
    );
    assert!(table.contains("Llama 3.1 8B"));
    // --exact says so; a window resolves to whole hours and shows them.
    let out = llmrank(&["rank", "TTFT", "--exact", "--window", "2h"], &env);
    let table = stdout(&out);
    assert!(table.contains(", exact (from raw samples)\n"), "{table}");
    assert!(table.contains(":00:00Z to "), "{table}");
    let out = llmrank(
        &[
            "rank",
            "TTFT",
            "--window",
            "1h",
            "--from",
            "2026-01-01T00:00:00Z",
            "--to",
            "2026-01-02T00:00:00Z",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "llmrank: give at most two of window, from and to\n"
    );
    let out = llmrank(&["rank", "TTFT", "--from", "yesterday"], &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid time \"yesterday\"; expected RFC 3339"),
        "{}",
        stderr(&out)
    );

    let out = llmrank(&["runs"], &env);
    let runs = stdout(&out);
    assert!(runs.contains("simulate  7     4,800  completed"), "{runs}");
}

#[test]
fn config_shows_sources_and_hides_secrets() {
    let out = llmrank(
        &["config"],
        &[
            (
                "LLMRANK_DATABASE__URL",
                "postgres://app:s3cret@db.internal:6432/prod",
            ),
            ("LLMRANK_SERVER__API_KEYS", "topsecret-key"),
            ("LLMRANK_SERVICE_HOST", "10.0.0.7"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        !text.contains("s3cret") && !text.contains("topsecret"),
        "{text}"
    );
    assert!(text.contains("database.url = \"postgres://app:[redacted]@db.internal:6432/prod\"  # env LLMRANK_DATABASE__URL"));
    assert!(text.contains("simulate.seed = 42  # default"));
    // Passwords in a URL's query are secrets too.
    let out = llmrank(
        &["config"],
        &[
            (
                "LLMRANK_DATABASE__URL",
                "postgres://h/db?user=u&password=qu3ry-s3cret",
            ),
            ("LLMRANK_REDIS__URL", "redis://h/0?password=r3dis-s3cret"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("s3cret"), "{text}");
    assert!(
        text.contains("redis.url = \"redis://h/0?password=[redacted]\""),
        "{text}"
    );
}

#[test]
fn flags_for_one_run_conflict_with_continuous_mode_from_any_layer() {
    let out = llmrank(
        &["simulate", "--resume", "1"],
        &[("LLMRANK_SIMULATE__INTERVAL_SECS", "60")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "llmrank: --resume cannot be combined with continuous mode (simulate.interval_secs = 60 (from env LLMRANK_SIMULATE__INTERVAL_SECS)); unset it to run once\n"
    );
    let out = llmrank(
        &["simulate", "--span", "24h"],
        &[("LLMRANK_SIMULATE__INTERVAL_SECS", "60")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("llmrank: --span cannot be combined with continuous mode"));
    // On the command line, clap says it.
    let out = llmrank(&["simulate", "--interval", "5", "--resume", "1"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn non_utf8_environment_values_never_panic() {
    use std::os::unix::ffi::OsStringExt;
    let bad = std::ffi::OsString::from_vec(vec![0xff, 0xfe]);
    // Someone else's variable: ignored.
    let out = std::process::Command::new(crate::helpers::bin())
        .arg("config")
        .env("FOO", &bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // One of ours: one line naming it.
    let out = std::process::Command::new(crate::helpers::bin())
        .arg("config")
        .env("LLMRANK_LOG__LEVEL", &bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "llmrank: environment variable LLMRANK_LOG__LEVEL is not valid UTF-8\n"
    );
}

#[test]
fn serve_refuses_to_start_without_api_keys() {
    let out = llmrank(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("LLMRANK_SERVER__API_KEYS", "")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "llmrank: no API keys configured: set server.api_keys in the config file or LLMRANK_SERVER__API_KEYS=key1,key2\n"
    );
}

#[test]
fn serve_refuses_short_keys_and_the_published_key_off_loopback() {
    let out = llmrank(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("LLMRANK_SERVER__API_KEYS", "long-enough-key-0123,tiny-k3y")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "llmrank: server.api_keys: key 2 has 8 characters; at least 16 are required (or give its SHA-256 as sha256:HEX)\n"
    );
    let out = llmrank(
        &["serve", "--listen", "0.0.0.0:0"],
        &[("LLMRANK_SERVER__API_KEYS", "GPA-prince-edusei-2024")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "llmrank: a publicly documented API key is configured and server.listen 0.0.0.0:0 is not a loopback address: set your own keys (server.api_keys, at least 16 characters), or server.allow_published_key = true\n"
    );
}
