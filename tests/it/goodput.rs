//! Requests kept as requests, SLO attainment and goodput, sweeps and capacity, against a real
//! PostgreSQL: summaries within the stated bound of exact counts, exact counts equal to counts
//! taken from the files themselves, capacity equal to a brute-force scan of the raw requests.

use std::collections::BTreeMap;

use llmrank::cmd::{capacity, import, runs, simulate};
use llmrank::config::Secret;
use llmrank::domain::RunFilter;
use llmrank::goodput::Goodput;
use llmrank::joint;
use llmrank::ranking::Method;
use llmrank::slo::Slo;
use llmrank::window::{self, Bounds};

use crate::helpers::{count, llmrank, stderr, tempdir, TestDb};
use crate::serve::{get, Server, KEY};

async fn goodput(s: &llmrank::config::Settings, slo: &str, method: Method, w: &Bounds) -> Goodput {
    goodput_in(s, slo, method, w, &RunFilter::default()).await
}

async fn goodput_in(
    s: &llmrank::config::Settings,
    slo: &str,
    method: Method,
    w: &Bounds,
    filter: &RunFilter,
) -> Goodput {
    let slo: Slo = slo.parse().unwrap();
    let pg = llmrank::db::pg_config(&s.database, "test").unwrap();
    let client = llmrank::db::connect(&pg).await.unwrap();
    let cat = llmrank::db::catalogue::load(&client).await.unwrap();
    let ask = llmrank::query::GoodputAsk {
        slo: &slo,
        window: w,
        method,
        filter,
    };
    llmrank::query::goodput(&client, &cat, &ask)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{}", e.into_error("goodput")))
}

/// Per LLM: (good, n).
fn counts(g: &Goodput) -> BTreeMap<String, (u64, u64)> {
    g.rankings
        .iter()
        .map(|e| (e.llm.clone(), (e.good, e.n)))
        .collect()
}

/// The SLO text with every threshold scaled by `k`.
fn scaled(slo: &str, k: f64) -> String {
    let slo: Slo = slo.parse().unwrap();
    slo.constraints
        .iter()
        .map(|c| format!("{}<={}ms", c.metric.name(), c.max * k))
        .collect::<Vec<_>>()
        .join(",")
}

/// Every LLM's summary count lies between the exact counts at thresholds × (1 ∓ α), with the
/// same n; intervals hold the attainment.
async fn assert_within_bound(s: &llmrank::config::Settings, slo: &str, w: &Bounds) -> usize {
    let summary = goodput(s, slo, Method::Summary, w).await;
    let lo = counts(&goodput(s, &scaled(slo, 1.0 - joint::ALPHA), Method::Exact, w).await);
    let hi = counts(&goodput(s, &scaled(slo, 1.0 + joint::ALPHA), Method::Exact, w).await);
    let exact = counts(&goodput(s, slo, Method::Exact, w).await);
    assert_eq!(summary.threshold_relative_error, joint::ALPHA);
    for e in &summary.rankings {
        let (l, h, x) = (lo[&e.llm], hi[&e.llm], exact[&e.llm]);
        assert!(e.resolved, "{slo}: {} unresolved", e.llm);
        assert_eq!(e.n, x.1, "{slo}: {} n", e.llm);
        assert!(
            l.0 <= e.good && e.good <= h.0,
            "{slo}: {}: exact at -α {} <= summary {} <= exact at +α {}",
            e.llm,
            l.0,
            e.good,
            h.0
        );
        assert!((0.0..=1.0).contains(&e.attainment));
        assert!(e.ci95[0] <= e.attainment && e.attainment <= e.ci95[1]);
    }
    assert_eq!(summary.rankings.len(), exact.len());
    summary.rankings.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_answer_goodput_within_the_stated_bound_of_exact_counts() {
    let (_db, s) = TestDb::simulated(3_000, 24 * 3_600).await;
    let all = Bounds::default();
    // Thresholds anywhere, exactly on cell edges, and half-way between edges.
    let edge = joint::edge;
    let half = |k: u16| joint::edge(k) * (joint::edge(k + 1) / joint::edge(k)).sqrt();
    let slos = [
        "TTFT<=200ms,TPOT<=40ms".to_string(),
        "TTFT<=450ms".to_string(),
        "TTFT<=1s,TPOT<=12ms,e2e_latency<=5s".to_string(),
        format!("TTFT<={}ms,TPOT<={}ms", edge(575), edge(540)),
        format!("TTFT<={}ms,e2e_latency<={}ms", half(570), half(600)),
        "e2e_latency<=1us".to_string(),
    ];
    for slo in &slos {
        assert_eq!(assert_within_bound(&s, slo, &all).await, 12, "{slo}");
    }
    // A window of the last 6 hours reads hours and days, and stays within the bound.
    let w = window::Request {
        window: Some(6 * 3_600),
        ..Default::default()
    }
    .resolve(window::now(), 3_600)
    .unwrap();
    assert_within_bound(&s, "TTFT<=300ms,TPOT<=10ms", &w).await;
    // Nothing meets an impossible SLO; everything meets a generous one.
    let none = goodput(&s, "e2e_latency<=1us", Method::Summary, &all).await;
    assert!(none.rankings.iter().all(|e| e.good == 0 && e.n == 3_000));
    let every = goodput(&s, "e2e_latency<=1000s", Method::Summary, &all).await;
    assert!(every.rankings.iter().all(|e| e.good == 3_000));
    // Simulated runs know their time: goodput = attainment × throughput.
    assert!(every
        .rankings
        .iter()
        .all(|e| e.goodput_rps.is_some_and(|g| g > 0.0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_column_changes_no_value_or_row_count() {
    let (db, s) = TestDb::simulated(1_500, 0).await;
    let c = db.client().await;
    assert_eq!(
        count(&c, "SELECT count(*) FROM llm_metrics").await,
        1_500 * 48
    );
    // Every simulated row names its request; each request has one row per metric.
    assert_eq!(
        count(&c, "SELECT count(*) FROM llm_metrics WHERE request IS NULL").await,
        0
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM (SELECT 1 FROM llm_metrics GROUP BY run_id, llm_id, request
                                   HAVING count(*) <> 4) x"
        )
        .await,
        0
    );
    // The values are the model's draws for the seed, request by request.
    let model = llmrank::sim::model::Model::new(&s.llms[0].profile).unwrap();
    let mut drawn = Vec::new();
    model.generate(s.simulate.seed, &s.llms[0].name, 0, 1_500, |x| {
        drawn.push(x)
    });
    let rows = c
        .query(
            "SELECT m.request, m.value FROM llm_metrics m
             JOIN llms l ON l.id = m.llm_id JOIN metrics k ON k.id = m.metric_id
             WHERE l.name = $1 AND k.name = 'TTFT' ORDER BY m.request",
            &[&s.llms[0].name],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1_500);
    for (r, x) in rows.iter().zip(&drawn) {
        assert_eq!(
            r.get::<_, f64>(1),
            x.ttft_ms,
            "request {}",
            r.get::<_, i32>(0)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_all_failing_and_heavy_tails_stay_within_the_bound() {
    let (_db, s) = TestDb::seeded().await;
    // One request; a heavy-tailed one (Pareto TTFT, α = 1.1); values exactly on cell edges.
    let mut csv = String::from("llm,request,metric,value\n");
    csv.push_str("one,1,TTFT,100\none,1,TPOT,20\none,1,e2e_latency,900\n");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..2_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let u = (x >> 11) as f64 / (1u64 << 53) as f64;
        let ttft = 50.0 / (1.0 - u).max(1e-12).powf(1.0 / 1.1);
        csv.push_str(&format!(
            "tail,{i},TTFT,{ttft}\ntail,{i},TPOT,{}\ntail,{i},e2e_latency,{}\n",
            10.0 + (i % 40) as f64,
            ttft + 3_000.0
        ));
        let e = joint::edge(560 + (i % 20) as u16);
        csv.push_str(&format!(
            "edges,{i},TTFT,{e}\nedges,{i},TPOT,{}\n",
            joint::edge(540 + (i % 7) as u16)
        ));
    }
    let dir = tempdir("goodput");
    let path = dir.join("records.csv");
    std::fs::write(&path, csv).unwrap();
    let all_failed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import/vllm_all_failed.json");
    let req = import::Request {
        files: vec![
            path.to_string_lossy().into_owned(),
            all_failed.to_string_lossy().into_owned(),
        ],
        ..Default::default()
    };
    for (f, r) in import::run(&s, &req).await.unwrap() {
        r.unwrap_or_else(|e| panic!("{f}: {e:#}"));
    }
    let all = Bounds::default();
    let src = {
        let mut f = RunFilter::default();
        f.add_sources("import").unwrap();
        f
    };
    for slo in [
        "TTFT<=100ms",
        "TTFT<=200ms,TPOT<=30ms",
        &format!("TTFT<={}ms,TPOT<={}ms", joint::edge(570), joint::edge(543)),
        "TTFT<=10s,e2e_latency<=20s",
    ] {
        let summary = counts(&goodput_in(&s, slo, Method::Summary, &all, &src).await);
        let lo = counts(&goodput_in(&s, &scaled(slo, 0.95), Method::Exact, &all, &src).await);
        let hi = counts(&goodput_in(&s, &scaled(slo, 1.05), Method::Exact, &all, &src).await);
        for (llm, (good, n)) in &summary {
            assert!(
                lo[llm].0 <= *good && *good <= hi[llm].0 && lo[llm].1 == *n,
                "{slo}: {llm}: {lo:?} {summary:?} {hi:?}"
            );
        }
        assert_eq!(summary["one"].1, 1);
        // The all-failed file: every request counted, none good.
        let (_, failed) = summary
            .iter()
            .find(|(l, _)| l.contains("opt-125m") || l.contains("facebook"))
            .unwrap_or_else(|| panic!("the all-failed run is ranked: {summary:?}"));
        assert_eq!(failed.0, 0);
        assert!(failed.1 > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_goodput_of_real_files_equals_a_count_from_the_file_itself() {
    let (_db, s) = TestDb::seeded().await;
    // The tools' real files where `../shared/import-samples` exists beside the checkout (it is
    // not part of the repository, and may not be copied into it); else the project's own
    // fixtures of the same two formats. The counts below come from whichever file is read.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let samples = root.join("../shared/import-samples");
    let real = (
        samples.join("vllm/lambdalabs_Mistral-7B-Instruct-v0.3_tp1_len2048.json"),
        samples.join("llmperf/leaderboard_groq_70b_individual_responses.json"),
    );
    let (vllm, llmperf) = if real.0.exists() && real.1.exists() {
        real
    } else {
        let fixtures = root.join("tests/fixtures/import");
        eprintln!("../shared/import-samples is absent: counting the project's own fixtures");
        (
            fixtures.join("vllm_2024_detailed.json"),
            fixtures.join("llmperf_m_550_150_individual_responses.json"),
        )
    };
    let req = import::Request {
        files: vec![
            vllm.to_string_lossy().into_owned(),
            llmperf.to_string_lossy().into_owned(),
        ],
        llm: None,
        ..Default::default()
    };
    for (f, r) in import::run(&s, &req).await.unwrap() {
        r.unwrap_or_else(|e| panic!("{f}: {e:#}"));
    }
    let read = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let (v, l) = (read(&vllm), read(&llmperf));
    let num = |x: &serde_json::Value| x.as_f64().unwrap();
    // vLLM: TTFT = ttfts[i]; e2e = TTFT + Σ itls[i]; TPOT = (e2e − TTFT) / (out − 1).
    let vllm_requests: Vec<(f64, Option<f64>, f64)> = (0..v["ttfts"].as_array().unwrap().len())
        .filter(|&i| v["errors"][i].as_str().unwrap_or("").is_empty())
        .map(|i| {
            let ttft = num(&v["ttfts"][i]) * 1000.0;
            let gaps: f64 = v["itls"][i].as_array().unwrap().iter().map(num).sum();
            let e2e = ttft + gaps * 1000.0;
            let out = num(&v["output_lens"][i]);
            let tpot = (out > 1.0 && e2e > ttft).then(|| (e2e - ttft) / (out - 1.0));
            (ttft, tpot, e2e)
        })
        .filter(|&(ttft, _, _)| ttft > 0.0)
        .collect();
    // Requests with an error failed: counted in n, never good.
    let vllm_failed = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e.as_str().unwrap_or("").is_empty())
        .count() as u64;
    // LLMPerf: ttft_s, end_to_end_latency_s, number_output_tokens; errors fail.
    let items = l.as_array().unwrap();
    let failed = items.iter().filter(|r| !r["error_code"].is_null()).count() as u64;
    let llmperf_requests: Vec<(f64, Option<f64>, f64)> = items
        .iter()
        .filter(|r| r["error_code"].is_null())
        .map(|r| {
            let (ttft, e2e) = (
                num(&r["ttft_s"]) * 1000.0,
                num(&r["end_to_end_latency_s"]) * 1000.0,
            );
            let out = r["number_output_tokens"].as_f64().unwrap_or(0.0);
            let tpot = (out > 1.0 && e2e > ttft).then(|| (e2e - ttft) / (out - 1.0));
            (ttft, tpot, e2e)
        })
        .filter(|&(ttft, _, e2e)| ttft > 0.0 && e2e >= ttft)
        .collect();
    let meet = |reqs: &[(f64, Option<f64>, f64)], t: f64, p: f64| {
        reqs.iter()
            .filter(|(ttft, tpot, _)| *ttft <= t && tpot.is_some_and(|x| x <= p))
            .count() as u64
    };
    let all = Bounds::default();
    for (t, p) in [
        (100.0, 10.0),
        (300.0, 30.0),
        (1_000.0, 5.0),
        (5_000.0, 100.0),
    ] {
        let g = goodput(&s, &format!("TTFT<={t}ms,TPOT<={p}ms"), Method::Exact, &all).await;
        let c = counts(&g);
        let v_name = v["model_id"].as_str().unwrap();
        assert_eq!(
            c[v_name],
            (
                meet(&vllm_requests, t, p),
                vllm_requests.len() as u64 + vllm_failed
            ),
            "vLLM at {t}/{p}"
        );
        let l_entry = g
            .rankings
            .iter()
            .find(|e| e.llm != v_name)
            .expect("the LLMPerf LLM is ranked");
        assert_eq!(
            (l_entry.good, l_entry.n, l_entry.failed),
            (
                meet(&llmperf_requests, t, p),
                llmperf_requests.len() as u64 + failed,
                failed
            ),
            "LLMPerf at {t}/{p}"
        );
        // The vLLM file gives its duration: goodput in requests/s.
        let v_entry = g.rankings.iter().find(|e| e.llm == v_name).unwrap();
        let duration = num(&v["duration"]);
        let expected = meet(&vllm_requests, t, p) as f64 / duration;
        assert!(
            (v_entry.goodput_rps.unwrap() - expected).abs() < 1e-9 * expected.max(1.0),
            "{:?} vs {expected}",
            v_entry.goodput_rps
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_run_takes_its_requests_out_of_the_joint_summaries() {
    let (db, mut s) = TestDb::simulated(1_024, 3_600).await;
    s.simulate.seed = 9;
    simulate::run(&s, &simulate::Options::default())
        .await
        .unwrap();
    let all = Bounds::default();
    let slo = "TTFT<=400ms,TPOT<=10ms";
    let both = goodput(&s, slo, Method::Summary, &all).await;
    assert!(both.rankings.iter().all(|e| e.n == 2_048));
    runs::delete(&s, 1).await.unwrap();
    let after = goodput(&s, slo, Method::Summary, &all).await;
    assert!(after.rankings.iter().all(|e| e.n == 1_024), "{after:?}");
    assert_within_bound(&s, slo, &all).await;
    // summarize rebuilds them from the raw requests: the same counts.
    llmrank::cmd::summarize::run(&s).await.unwrap();
    assert_eq!(
        counts(&goodput(&s, slo, Method::Summary, &all).await),
        counts(&after)
    );
    let c = db.client().await;
    assert!(count(&c, "SELECT count(*) FROM llm_request_summaries").await > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_finds_the_level_a_brute_force_scan_of_the_raw_requests_finds() {
    let (db, s) = TestDb::swept(1_024, &[1, 2, 4, 8, 16, 32, 64]).await;
    let (slo_text, target) = ("TTFT<=1500ms,TPOT<=25ms", 0.95);
    // Brute force: per LLM and level, the share of raw requests meeting the SLO with its
    // thresholds scaled by k, walked upward.
    let c = db.client().await;
    let brute = async |k: f64| -> BTreeMap<String, Option<i32>> {
        let rows = c
            .query(
                "SELECT l.name, (w.params->>'concurrency')::int AS level,
                        (avg(CASE WHEN q.ttft <= 1500 * $1::float8 AND 1000 / q.tps <= 25 * $1::float8
                                  THEN 1.0 ELSE 0.0 END))::float8
                 FROM (SELECT m.run_id, m.llm_id, m.request,
                              min(m.value) FILTER (WHERE k.name = 'TTFT') AS ttft,
                              min(m.value) FILTER (WHERE k.name = 'TPS') AS tps
                       FROM llm_metrics m JOIN metrics k ON k.id = m.metric_id
                       GROUP BY 1, 2, 3) q
                 JOIN runs r ON r.id = q.run_id JOIN workloads w ON w.id = r.workload_id
                 JOIN llms l ON l.id = q.llm_id
                 GROUP BY 1, 2 ORDER BY 1, 2",
                &[&k],
            )
            .await
            .unwrap();
        let mut cap: BTreeMap<String, Option<i32>> = BTreeMap::new();
        let mut stopped: BTreeMap<String, bool> = BTreeMap::new();
        for r in &rows {
            let (llm, level, share): (String, i32, f64) = (r.get(0), r.get(1), r.get(2));
            let done = stopped.entry(llm.clone()).or_insert(false);
            let c = cap.entry(llm).or_insert(None);
            if !*done {
                if share >= target {
                    *c = Some(level);
                } else {
                    *done = true;
                }
            }
        }
        cap
    };
    let (exact_cap, tight, loose) = (brute(1.0).await, brute(0.95).await, brute(1.05).await);
    for exact in [true, false] {
        let req = capacity::Request {
            slo: slo_text.parse().unwrap(),
            attainment: target,
            interpolate: false,
            window: Default::default(),
            filter: RunFilter::default(),
            exact,
        };
        let got = capacity::run(&s, &req).await.unwrap();
        assert_eq!(got.rankings.len(), 12);
        let found: BTreeMap<String, Option<i32>> = got
            .rankings
            .iter()
            .map(|e| {
                (
                    e.llm.clone(),
                    e.capacity.as_ref().map(|c| c.parse().unwrap()),
                )
            })
            .collect();
        if exact {
            assert_eq!(found, exact_cap);
        } else {
            // The summaries' capacity lies between the scans at thresholds × (1 ∓ α).
            for (llm, cap) in &found {
                assert!(
                    tight[llm] <= *cap && *cap <= loose[llm],
                    "{llm}: {:?} <= {cap:?} <= {:?}",
                    tight[llm],
                    loose[llm]
                );
            }
        }
        // Ranked by the throughput at capacity, which rises with the level below the knee.
        let t: Vec<f64> = got.rankings.iter().filter_map(|e| e.throughput).collect();
        assert!(t.windows(2).all(|w| w[0] >= w[1]), "{t:?}");
    }
    // Every LLM's curve has its knee at or just past its profile's capacity.
    let curves = llmrank::cmd::sweep::run(
        &s,
        &llmrank::cmd::sweep::Request {
            metric: "TTFT".into(),
            slo: Some(slo_text.parse().unwrap()),
            attainment: target,
            at_interactivity: Some(60.0),
            window: Default::default(),
            filter: RunFilter::default(),
        },
    )
    .await
    .unwrap();
    assert_eq!(curves.series.len(), 12);
    // Output tokens/s per level from the summaries equal the raw requests' Σ tokens ÷ Σ run
    // time (tokens = decode time × decode speed; each request stands for 1 / RPS seconds).
    let rows = c
        .query(
            "SELECT l.name, (w.params->>'concurrency')::float8,
                    (sum((q.e2e - q.ttft) * q.tps / 1000) / sum(1 / q.rps))::float8
             FROM (SELECT m.run_id, m.llm_id, m.request,
                          min(m.value) FILTER (WHERE k.name = 'TTFT') AS ttft,
                          min(m.value) FILTER (WHERE k.name = 'e2e_latency') AS e2e,
                          min(m.value) FILTER (WHERE k.name = 'TPS') AS tps,
                          min(m.value) FILTER (WHERE k.name = 'RPS') AS rps
                   FROM llm_metrics m JOIN metrics k ON k.id = m.metric_id
                   GROUP BY 1, 2, 3) q
             JOIN runs r ON r.id = q.run_id JOIN workloads w ON w.id = r.workload_id
             JOIN llms l ON l.id = q.llm_id
             GROUP BY 1, 2",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 12 * 7);
    for r in &rows {
        let (llm, load, want): (String, f64, f64) = (r.get(0), r.get(1), r.get(2));
        let series = curves.series.iter().find(|s| s.llm == llm).unwrap();
        let got = series
            .points
            .iter()
            .find(|p| p.load == load)
            .and_then(|p| p.output_throughput)
            .unwrap();
        assert!(
            (got / want - 1.0).abs() < 1e-9,
            "{llm} at {load}: {got} vs {want}"
        );
    }
    // The frontier: exactly the points no other point beats on both interactivity and output
    // throughput; the matched throughput lies between the two levels around 60 tokens/s/user.
    assert!(!curves.per_gpu, "simulated workloads name no GPUs");
    let all: Vec<(f64, f64, bool)> = curves
        .series
        .iter()
        .flat_map(|s| &s.points)
        .map(|p| {
            (
                p.interactivity.unwrap(),
                p.output_throughput.unwrap(),
                p.pareto,
            )
        })
        .collect();
    for &(x, y, on) in &all {
        let beaten = all
            .iter()
            .any(|&(a, b, _)| a >= x && b >= y && (a, b) != (x, y));
        assert_eq!(on, !beaten, "({x}, {y})");
    }
    assert!(all.iter().any(|p| p.2));
    let mut matched = 0;
    for s in &curves.series {
        let xs: Vec<f64> = s.points.iter().filter_map(|p| p.interactivity).collect();
        let (lo, hi) = xs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        match s.throughput_at_interactivity {
            Some(t) => {
                matched += 1;
                assert!((lo..=hi).contains(&60.0), "{}", s.llm);
                let ys: Vec<f64> = s
                    .points
                    .iter()
                    .filter_map(|p| p.output_throughput)
                    .collect();
                let (ylo, yhi) = ys
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| {
                        (a.min(y), b.max(y))
                    });
                assert!(t >= ylo && t <= yhi, "{}: {t}", s.llm);
            }
            None => assert!(!(lo..=hi).contains(&60.0), "{}", s.llm),
        }
    }
    assert!(
        matched >= 3,
        "{matched} series matched at 60 tokens/s per user"
    );
    for series in &curves.series {
        let profile = s
            .llms
            .iter()
            .find(|l| l.name == series.llm)
            .unwrap()
            .profile;
        let k = profile.capacity();
        let knee = series.knee.unwrap();
        assert!(
            knee >= k / 2.0 && knee <= 2.0 * k.max(1.0) || knee == 64.0,
            "{}: knee {knee}, capacity {k}",
            series.llm
        );
        let loads: Vec<f64> = series.points.iter().map(|p| p.load).collect();
        assert!(loads.windows(2).all(|w| w[0] < w[1]));
        // Past the knee TTFT's median grows with the queue.
        let p50 = |load: f64| {
            series
                .points
                .iter()
                .find(|p| p.load == load)
                .unwrap()
                .p50
                .unwrap()
        };
        assert!(p50(64.0) > 2.0 * p50(1.0), "{}", series.llm);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_slos_sweeps_and_targets_get_one_line_and_exit_2() {
    let (db, _s) = TestDb::simulated(200, 0).await;
    let url = db.url();
    let env = [("LLMRANK_DATABASE__URL", url.as_str())];
    for (args, says) in [
        (vec!["rank", "goodput"], "--slo"),
        (vec!["rank", "goodput", "--slo", "TTFT<=200"], "no unit"),
        (
            vec!["rank", "goodput", "--slo", "TTFT>=2ms"],
            "only <= is allowed",
        ),
        (
            vec!["rank", "goodput", "--slo", "TPS<=2ms"],
            "higher is better",
        ),
        (
            vec!["rank", "goodput", "--slo", "ttfb<=2ms"],
            "unknown metric",
        ),
        (
            vec!["capacity", "--slo", "TTFT<=1s", "--attainment", "0"],
            "(0, 1]",
        ),
        (
            vec!["capacity", "--slo", "TTFT<=1s", "--attainment", "1.01"],
            "(0, 1]",
        ),
        (
            vec!["simulate", "--sweep", "concurrency=1,x"],
            "not a concurrency",
        ),
        (vec!["simulate", "--sweep", "rate=1,2"], "concurrency"),
    ] {
        let o = llmrank(&args, &env);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{args:?}: {e}");
        assert!(e.contains(says), "{args:?}: {e}");
    }
    // No sweep to read: a clear error, exit 1.
    let o = llmrank(&["capacity", "--slo", "TTFT<=1s"], &env);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no sweep to read"), "{}", stderr(&o));
    // Goodput of the simulated run prints a table naming the SLO.
    let o = llmrank(&["rank", "goodput", "--slo", "TTFT<=300ms"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("TTFT<=300ms"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_goodput_as_the_cli_does_and_refuses_bad_slos() {
    let (_db, mut s) = TestDb::simulated(500, 0).await;
    s.server.api_keys = vec![Secret::new(KEY)];
    s.redis.url = Secret::new(crate::helpers::redis_url().await);
    let srv = Server::start(&s).await;
    let r = get(srv.addr, "/goodput?slo=TTFT%3C%3D300ms,TPOT%3C%3D12ms").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["metric"], "goodput");
    assert_eq!(j["slo"], "TTFT<=300ms,TPOT<=12ms");
    assert_eq!(j["threshold_relative_error"], 0.05);
    let cli = goodput(
        &s,
        "TTFT<=300ms,TPOT<=12ms",
        Method::Summary,
        &Bounds::default(),
    )
    .await;
    let api: Vec<(String, u64, u64)> = j["rankings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["llm"].as_str().unwrap().to_string(),
                e["good"].as_u64().unwrap(),
                e["n"].as_u64().unwrap(),
            )
        })
        .collect();
    let from_cli: Vec<(String, u64, u64)> = cli
        .rankings
        .iter()
        .map(|e| (e.llm.clone(), e.good, e.n))
        .collect();
    assert_eq!(api, from_cli);
    for (path, says) in [
        ("/goodput", "\"slo\" is required"),
        ("/goodput?slo=TTFT%3E%3D1ms", "only <= is allowed"),
        ("/goodput?slo=TTFT%3C%3D1", "no unit"),
        (
            "/goodput?slo=TTFT%3C%3D1ms&by=p99",
            "unknown query parameter",
        ),
    ] {
        let r = get(srv.addr, path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        let e = r.json()["error"].as_str().unwrap().to_string();
        assert!(e.contains(says), "{path}: {e}");
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_capacity_and_sweeps_as_the_cli_does() {
    let (_db, mut s) = TestDb::swept(256, &[1, 8, 64]).await;
    s.server.api_keys = vec![Secret::new(KEY)];
    s.redis.url = Secret::new(crate::helpers::redis_url().await);
    let srv = Server::start(&s).await;
    let slo = "TTFT%3C%3D1s,TPOT%3C%3D20ms";
    let r = get(srv.addr, &format!("/capacity?slo={slo}&attainment=0.9")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let api = r.json();
    let cli = capacity::run(
        &s,
        &capacity::Request {
            slo: "TTFT<=1s,TPOT<=20ms".parse().unwrap(),
            attainment: 0.9,
            interpolate: false,
            window: Default::default(),
            filter: RunFilter::default(),
            exact: false,
        },
    )
    .await
    .unwrap();
    let api_caps: Vec<(String, Option<String>)> = api["rankings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["llm"].as_str().unwrap().to_string(),
                e["capacity"].as_str().map(String::from),
            )
        })
        .collect();
    let cli_caps: Vec<(String, Option<String>)> = cli
        .rankings
        .iter()
        .map(|e| (e.llm.clone(), e.capacity.clone()))
        .collect();
    assert_eq!(api_caps, cli_caps);
    assert_eq!(api["rankings"][0]["load_kind"], "concurrency");
    let r = get(srv.addr, &format!("/sweep/TTFT?slo={slo}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["metric"], "TTFT");
    let series = j["series"].as_array().unwrap();
    assert_eq!(series.len(), 12);
    for sr in series {
        let loads: Vec<f64> = sr["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["load"].as_f64().unwrap())
            .collect();
        assert_eq!(loads, [1.0, 8.0, 64.0]);
        assert!(sr["knee"].as_f64().is_some());
    }
    // The charts of the same answers: SVG, a line per LLM.
    for path in [
        format!("/plot/sweep/TTFT?slo={slo}"),
        "/plot/interactivity/TTFT?at_interactivity=50".to_string(),
        format!("/plot/ranking/goodput?slo={slo}"),
    ] {
        let r = get(srv.addr, &path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("image/svg+xml"), "{path}");
        let doc = roxmltree::Document::parse(&r.body).expect("valid SVG");
        let llms: std::collections::BTreeSet<&str> = doc
            .descendants()
            .filter_map(|n| n.attribute("data-llm"))
            .collect();
        assert_eq!(llms.len(), 12, "{path}");
    }
    for (path, status, says) in [
        ("/capacity", 400, "\"slo\" is required"),
        ("/capacity?slo=TTFT%3C%3D1s&attainment=2", 400, "(0, 1]"),
        ("/sweep/NOPE", 404, "unknown metric"),
        ("/sweep/TTFT?by=p99", 400, "unknown query parameter"),
        ("/sweep/TTFT?at_interactivity=-1", 400, "at_interactivity"),
        ("/plot/ranking/goodput", 400, "\"slo\" is required"),
        (
            "/plot/sweep/TTFT?at_interactivity=5",
            400,
            "unknown query parameter",
        ),
        (
            "/plot/interactivity/TTFT?slo=TTFT%3C%3D1s",
            400,
            "unknown query parameter",
        ),
        ("/plot/sweep/TTFT?source=import", 404, "no runs"),
    ] {
        let r = get(srv.addr, path).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
        let e = r.json()["error"].as_str().unwrap().to_string();
        assert!(e.contains(says), "{path}: {e}");
    }
    srv.stop().await;
}
