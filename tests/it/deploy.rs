//! The deployment as code: Dockerfile lint, Helm chart lint/render/validation, the env vars and
//! config the chart hands the binary, Prometheus config, and the Grafana dashboards' queries.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use serde_json::Value;

use crate::helpers::TestDb;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A checker installed by `scripts/tools.sh`; fails saying so when it is missing.
fn tool(name: &str) -> PathBuf {
    let local = root().join(".tools/bin").join(name);
    if local.exists() {
        return local;
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{name} is not installed: run `scripts/tools.sh` (scripts/test.sh does)")
    })
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const EXTERNAL: &[&str] = &[
    "--set",
    "postgresql.enabled=false",
    "--set",
    "postgresql.external.host=db.example.com",
    "--set",
    "postgresql.external.existingSecret=db-credentials",
    "--set",
    "redis.enabled=false",
    "--set",
    "redis.externalUrl=redis://cache.example.com:6379",
    "--set",
    "serve.ingress.enabled=true",
];

/// `helm template` output, and its documents as JSON (through PyYAML, installed with the tools).
fn render(extra: &[&str]) -> (String, Vec<Value>) {
    let yaml = run(Command::new(tool("helm"))
        .args([
            "template",
            "llmrank",
            "charts/llmrank",
            "--namespace",
            "llm",
        ])
        .args(extra)
        .current_dir(root()));
    let mut py = Command::new("python3");
    py.args([
        "-c",
        "import sys, json, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))",
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = py.spawn().expect("python3");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), yaml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "yaml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (yaml, serde_json::from_slice(&out.stdout).unwrap())
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// Every pod spec in the rendered chart, with the name of its owner.
fn pod_specs(docs: &[Value]) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for d in docs {
        let name = d["metadata"]["name"].as_str().unwrap_or("?").to_string();
        match d["kind"].as_str() {
            Some("Deployment" | "StatefulSet") => out.push((name, &d["spec"]["template"]["spec"])),
            Some("Pod") => out.push((name, &d["spec"])),
            Some("CronJob") => {
                out.push((name, &d["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
            }
            _ => {}
        }
    }
    out
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llmrank-deploy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn dockerfile_lints_clean() {
    run(Command::new(tool("hadolint"))
        .arg("Dockerfile")
        .current_dir(root()));
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(text.contains("ENTRYPOINT [\"llmrank\"]"));
    assert!(text.contains("USER 10001"));
    assert!(!text.contains("GPA-prince"), "no key baked into the image");
}

#[test]
fn helm_lint_strict_passes() {
    run(Command::new(tool("helm"))
        .args(["lint", "--strict", "charts/llmrank"])
        .current_dir(root()));
    run(Command::new(tool("helm"))
        .args(["lint", "--strict", "charts/llmrank"])
        .args(EXTERNAL)
        .current_dir(root()));
}

#[test]
fn rendered_manifests_pass_kubernetes_schema_validation() {
    for (label, extra) in [("default", &[][..]), ("external", EXTERNAL)] {
        let (yaml, docs) = render(extra);
        let file = temp_file(&format!("{label}.yaml"), &yaml);
        run(Command::new(tool("kubernetes-validate"))
            .args(["--strict", "--quiet", "-k", "1.29.0"])
            .arg(&file));
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        for k in [
            "Deployment",
            "Service",
            "ConfigMap",
            "Secret",
            "Role",
            "RoleBinding",
            "ServiceAccount",
            "Pod",
        ] {
            assert!(kinds.contains(&k), "{label}: no {k}");
        }
        let statefulsets = of_kind(&docs, "StatefulSet").len();
        let names: Vec<&str> = docs
            .iter()
            .filter_map(|d| d["metadata"]["name"].as_str())
            .collect();
        if label == "default" {
            assert_eq!(statefulsets, 1, "postgres StatefulSet");
            assert!(names.contains(&"llmrank-redis"));
            assert!(of_kind(&docs, "Ingress").is_empty());
        } else {
            assert_eq!(statefulsets, 0, "external postgres: no StatefulSet");
            assert!(!names.contains(&"llmrank-redis"));
            assert_eq!(of_kind(&docs, "Ingress").len(), 1);
        }
    }
}

/// `helm template` with `--set value`, which must fail; its stderr.
fn render_fails(value: &str) -> String {
    let out = Command::new(tool("helm"))
        .args(["template", "x", "charts/llmrank", "--set", value])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(!out.status.success(), "--set {value} rendered");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn values_are_checked_by_the_schema() {
    assert!(render_fails("serve.replicas=two").contains("serve.replicas: Invalid type"));
    assert!(render_fails("log.format=xml").contains("log.format"));
    assert!(
        render_fails("postgresql.enabled=false").contains("postgresql.external.host is required")
    );
}

#[test]
fn pods_are_hardened_and_serve_has_probes() {
    let (_, docs) = render(&[]);
    for (name, spec) in pod_specs(&docs) {
        assert_eq!(
            spec["enableServiceLinks"], false,
            "{name}: enableServiceLinks"
        );
        assert_eq!(
            spec["securityContext"]["runAsNonRoot"], true,
            "{name}: runAsNonRoot"
        );
        for c in spec["containers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(spec["initContainers"].as_array().into_iter().flatten())
        {
            let sc = &c["securityContext"];
            assert_eq!(
                sc["allowPrivilegeEscalation"], false,
                "{name}/{}",
                c["name"]
            );
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}/{}", c["name"]);
            assert!(
                c["resources"].is_object(),
                "{name}/{}: resources",
                c["name"]
            );
        }
    }
    let serve = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "llmrank-serve")
        .expect("serve Deployment");
    let spec = &serve["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    // Probes and scraping go to the admin listener, which the Service does not expose.
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "admin");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "admin");
    let admin_port = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "admin")
        .expect("an admin port")["containerPort"]
        .clone();
    assert_eq!(
        serve["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"],
        admin_port.to_string()
    );
    let service = docs
        .iter()
        .find(|d| d["kind"] == "Service" && d["metadata"]["name"] == "llmrank-serve")
        .expect("serve Service");
    for p in service["spec"]["ports"].as_array().unwrap() {
        assert_ne!(
            p["targetPort"], "admin",
            "the Service exposes the admin port"
        );
    }
    assert_eq!(
        spec["initContainers"][0]["args"],
        serde_json::json!(["seed"])
    );
    let sim = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "llmrank-simulate")
        .expect("simulate Deployment");
    assert_eq!(
        sim["spec"]["template"]["spec"]["initContainers"][0]["args"],
        serde_json::json!(["seed"])
    );
    assert_eq!(
        sim["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"],
        "true"
    );
}

#[test]
fn every_env_var_and_argument_the_chart_gives_llmrank_is_one_it_reads() {
    for extra in [
        &[][..],
        EXTERNAL,
        &["--set", "serve.acceptSamples=true"][..],
    ] {
        let (_, docs) = render(extra);
        let mut seen = 0;
        for (name, spec) in pod_specs(&docs) {
            let containers = spec["containers"]
                .as_array()
                .unwrap()
                .iter()
                .chain(spec["initContainers"].as_array().into_iter().flatten());
            for c in containers {
                if !c["image"].as_str().unwrap_or("").starts_with("llmrank:") {
                    continue;
                }
                seen += 1;
                let mut args = vec!["llmrank".to_string()];
                args.extend(
                    c["args"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_string()),
                );
                if let Err(e) = llmrank::cli::Cli::try_parse_from(&args) {
                    panic!(
                        "{name}/{}: llmrank does not accept {args:?}: {e}",
                        c["name"]
                    );
                }
                for env in c["env"].as_array().into_iter().flatten() {
                    let var = env["name"].as_str().unwrap();
                    if var == llmrank::config::ENV_CONFIG_FILE {
                        assert_eq!(env["value"], "/etc/llmrank/llmrank.toml");
                        continue;
                    }
                    if var == "REDIS_PASSWORD" {
                        // Only there to be expanded into LLMRANK_REDIS__URL.
                        assert_eq!(env["valueFrom"]["secretKeyRef"]["key"], "redis-password");
                        continue;
                    }
                    assert!(
                        var.starts_with("LLMRANK_") && var.contains("__"),
                        "{name}: {var} is not a setting"
                    );
                    let loaded = llmrank::config::load_from(
                        None,
                        vec![(var.to_string(), "x1".to_string())],
                        &[],
                    );
                    if let Err(e) = loaded {
                        assert!(
                            !e.to_string().contains("unknown setting"),
                            "{name}: {var}: {e}"
                        );
                    }
                }
            }
        }
        assert!(seen >= 5, "found only {seen} llmrank containers");

        // The config file the chart mounts is valid, with the Kubernetes service links on top.
        let cm = docs
            .iter()
            .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "llmrank")
            .expect("llmrank ConfigMap");
        let toml = cm["data"]["llmrank.toml"].as_str().unwrap();
        let file = temp_file("llmrank.toml", toml);
        let loaded = llmrank::config::load_from(
            Some(&file),
            vec![
                ("LLMRANK_SERVICE_HOST".into(), "10.0.0.1".into()),
                ("LLMRANK_SERVE_PORT".into(), "tcp://10.0.0.2:8080".into()),
                ("LLMRANK_DATABASE__PASSWORD".into(), "from-secret".into()),
            ],
            &[],
        )
        .unwrap_or_else(|e| panic!("chart config: {e}"));
        assert_eq!(loaded.settings.server.listen, "0.0.0.0:8080");
        assert_eq!(loaded.settings.simulate.interval_secs, 60);
        assert_eq!(loaded.settings.simulate.metrics_listen, "0.0.0.0:9100");
        if extra.is_empty() || extra.contains(&"serve.acceptSamples=true") {
            assert_eq!(loaded.settings.database.host, "llmrank-postgresql");
            assert_eq!(
                loaded.settings.redis.url.expose(),
                "redis://llmrank-redis:6379"
            );
        } else {
            assert_eq!(loaded.settings.database.host, "db.example.com");
            assert_eq!(
                loaded.settings.redis.url.expose(),
                "redis://cache.example.com:6379"
            );
        }
    }
}

#[test]
fn post_samples_is_off_by_default_and_on_uses_write_keys_and_the_writer_role() {
    let env_of = |docs: &[Value]| -> Vec<(String, String)> {
        let (_, spec) = pod_specs(docs)
            .into_iter()
            .find(|(n, _)| n.ends_with("-serve"))
            .expect("the serve pod");
        spec["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    e["value"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let (_, docs) = render(&[]);
    let env = env_of(&docs);
    assert!(!env
        .iter()
        .any(|(k, _)| k == "LLMRANK_SERVER__WRITE_KEYS_FILE"));
    assert!(env.contains(&("LLMRANK_DATABASE__USER".into(), "llmrank_serve".into())));
    let (_, docs) = render(&["--set", "serve.acceptSamples=true"]);
    let env = env_of(&docs);
    assert!(env.contains(&(
        "LLMRANK_SERVER__WRITE_KEYS_FILE".into(),
        "/etc/llmrank-keys/write-keys".into()
    )));
    assert!(
        env.contains(&("LLMRANK_DATABASE__USER".into(), "llmrank_simulate".into())),
        "serve writes with the writer role: {env:?}"
    );
    let secret = of_kind(&docs, "Secret")
        .into_iter()
        .find(|d| d["data"]["write-keys"].is_string())
        .expect("the Secret holds write keys");
    assert_ne!(secret["data"]["write-keys"], secret["data"]["api-keys"]);
}

#[test]
fn prometheus_config_checks_and_discovers_pods() {
    let (_, docs) = render(&[]);
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["data"].get("prometheus.yml").is_some())
        .expect("prometheus ConfigMap");
    let cfg = cm["data"]["prometheus.yml"].as_str().unwrap();
    // Debian's promtool is built without Kubernetes discovery: check everything else with it
    // (globals, relabel rules and their regexes), and the discovery block here.
    let sd = "    kubernetes_sd_configs:\n      - role: pod\n        namespaces:\n          names: [\"llm\"]\n";
    assert!(
        cfg.contains(sd),
        "pod discovery in the release namespace:\n{cfg}"
    );
    let checkable = cfg.replace(
        sd,
        "    static_configs:\n      - targets: [\"127.0.0.1:8080\"]\n",
    );
    // The alert rules it loads are the ConfigMap's, checked with it (and alone).
    let rules = cm["data"]["alerts.rules.yaml"]
        .as_str()
        .expect("the alert rules in the prometheus ConfigMap");
    let rules_file = temp_file("alerts.rules.yaml", rules);
    assert!(
        cfg.contains("rule_files:\n  - /etc/prometheus/alerts.rules.yaml"),
        "{cfg}"
    );
    let checkable = checkable.replace(
        "/etc/prometheus/alerts.rules.yaml",
        &rules_file.to_string_lossy(),
    );
    let file = temp_file("prometheus.yml", &checkable);
    let out = run(Command::new(tool("promtool"))
        .args(["check", "config"])
        .arg(&file));
    assert!(out.contains("SUCCESS: 3 rules found"), "{out}");
    let role = of_kind(&docs, "Role")[0];
    let rules = role["rules"].to_string();
    for needed in ["pods", "list", "watch", "get"] {
        assert!(rules.contains(needed), "Role lacks {needed}: {rules}");
    }
    let prom = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "llmrank-prometheus")
        .unwrap();
    assert_eq!(
        prom["spec"]["template"]["spec"]["serviceAccountName"],
        "llmrank-prometheus"
    );
}

fn dashboards() -> Vec<(String, Value)> {
    let dir = root().join("charts/llmrank/dashboards");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let v = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `$__timeFilter(col)` → `col BETWEEN <7 days ago> AND <now>`, as Grafana's PostgreSQL
/// datasource expands it.
fn expand_time_filter(sql: &str) -> String {
    let mut out = sql.to_string();
    while let Some(start) = out.find("$__timeFilter(") {
        let rest = &out[start + "$__timeFilter(".len()..];
        let end = rest.find(')').expect("macro closes");
        let col = rest[..end].to_string();
        out = format!(
            "{}{col} BETWEEN now() - interval '7 days' AND now(){}",
            &out[..start],
            &rest[end + 1..]
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_postgres_panel_query_runs_on_a_seeded_database() {
    let (db, s) = TestDb::seeded().await;
    llmrank::cmd::simulate::run(&s, &Default::default())
        .await
        .unwrap();
    // And a load sweep, for the sweep panel.
    crate::helpers::simulate_sweep(&s, &[1, 8]).await;
    let client = db.client().await;
    let mut queries = 0;
    let mut bar_charts = Vec::new();
    for (file, dash) in dashboards() {
        for panel in dash["panels"].as_array().unwrap() {
            for t in panel["targets"].as_array().unwrap() {
                let Some(sql) = t["rawSql"].as_str() else {
                    continue;
                };
                queries += 1;
                // Grafana's time filter macro, as Grafana expands it for the last 7 days.
                let sql = expand_time_filter(sql);
                let sql = sql.as_str();
                let rows = client
                    .query(sql, &[])
                    .await
                    .unwrap_or_else(|e| panic!("{file}: panel {:?}: {e}\n{sql}", panel["title"]));
                assert!(
                    !rows.is_empty(),
                    "{file}: panel {:?} shows nothing",
                    panel["title"]
                );
                if panel["type"] == "barchart" {
                    // Best first: the first bar is the ranking's winner.
                    let first: String = rows[0].get("llm");
                    bar_charts.push((sql.to_string(), first, rows.len()));
                }
            }
        }
    }
    assert!(queries >= 5);
    assert_eq!(bar_charts.len(), 4, "one bar chart per metric");
    for (metric, _, _) in [
        ("TTFT", 0, 0),
        ("TPS", 0, 0),
        ("e2e_latency", 0, 0),
        ("RPS", 0, 0),
    ] {
        let (_, first, n) = bar_charts
            .iter()
            .find(|(sql, _, _)| sql.contains(&format!("'{metric}'")))
            .unwrap_or_else(|| panic!("no bar chart for {metric}"));
        assert_eq!(*n, 12);
        let best = llmrank::cmd::rank::ranking(
            &s,
            metric,
            &llmrank::cmd::rank::Options::new(
                llmrank::stats::Statistic::Mean,
                &Default::default(),
                llmrank::ranking::Method::Summary,
            ),
        )
        .await
        .unwrap();
        assert_eq!(
            first, &best.rankings[0].llm,
            "{metric}: the dashboard and `rank` disagree on the best"
        );
    }
}

#[test]
fn every_prometheus_series_a_panel_uses_is_exported() {
    let mut used = std::collections::BTreeSet::new();
    for (file, dash) in dashboards() {
        for panel in dash["panels"].as_array().unwrap() {
            for t in panel["targets"].as_array().unwrap() {
                let Some(expr) = t["expr"].as_str() else {
                    continue;
                };
                let mut rest = expr;
                while let Some(i) = rest.find("llmrank_") {
                    let tail = &rest[i..];
                    let end = tail
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(tail.len());
                    let name = &tail[..end];
                    let base = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|s| name.strip_suffix(s))
                        .unwrap_or(name);
                    assert!(
                        llmrank::telemetry::ALL.contains(&base),
                        "{file}: panel {:?} uses {name}, which llmrank does not export",
                        panel["title"]
                    );
                    used.insert(base.to_string());
                    rest = &tail[end..];
                }
            }
        }
    }
    for needed in [
        llmrank::telemetry::HTTP_REQUESTS,
        llmrank::telemetry::HTTP_DURATION,
        llmrank::telemetry::CACHE_REQUESTS,
        llmrank::telemetry::SAMPLES_WRITTEN,
        llmrank::telemetry::BATCHES_RETRIED,
    ] {
        assert!(
            used.contains(needed),
            "the service dashboard does not show {needed}"
        );
    }
}

#[test]
fn the_prometheus_rule_carries_the_alert_rules_the_chart_loads() {
    let (_, docs) = render(&[]);
    assert!(
        of_kind(&docs, "PrometheusRule").is_empty(),
        "off by default"
    );
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["data"].get("alerts.rules.yaml").is_some())
        .expect("the alert rules in the prometheus ConfigMap");
    let loaded = cm["data"]["alerts.rules.yaml"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, docs) = render(&[
        "--set",
        "prometheusRule.enabled=true",
        "--set",
        "prometheusRule.labels.release=kube-prometheus",
    ]);
    let rules = of_kind(&docs, "PrometheusRule");
    assert_eq!(rules.len(), 1);
    let rule = rules[0];
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["metadata"]["labels"]["release"], "kube-prometheus");
    let alerts: Vec<&str> = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap())
        .collect();
    assert_eq!(
        alerts,
        [
            "LLMPerformanceRegression",
            "LLMPerformanceSuspicious",
            "LLMRegressionSeriesDropped"
        ]
    );
    // The same rules as the chart's own Prometheus loads, expressions and all.
    for r in rule["spec"]["groups"][0]["rules"].as_array().unwrap() {
        let expr = r["expr"].as_str().unwrap();
        assert!(loaded.contains(expr), "{expr} not in the loaded rules");
        assert!(expr.contains("llmrank_regression_"), "{expr}");
    }
    run(Command::new(tool("helm"))
        .args([
            "lint",
            "--strict",
            "charts/llmrank",
            "--set",
            "prometheusRule.enabled=true",
        ])
        .current_dir(root()));
}

#[test]
fn the_chart_ships_both_dashboards() {
    let (_, docs) = render(&[]);
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "llmrank-grafana-dashboards")
        .expect("dashboards ConfigMap");
    for (file, dash) in dashboards() {
        let shipped: Value = serde_json::from_str(cm["data"][&file].as_str().unwrap()).unwrap();
        assert_eq!(shipped, dash, "{file}");
    }
    let titles: Vec<String> = dashboards()
        .iter()
        .map(|(_, d)| d["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(titles, ["LLM rankings", "llmrank service"]);
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_promql_evaluates_on_a_real_prometheus_scraping_serve() {
    use crate::serve::{get, http, setup, Server};
    let (_db, s) = setup().await;
    let srv = Server::start(&s).await;
    for path in [
        "/ranking/TTFT",
        "/ranking/TTFT",
        "/ranking/TPS?by=p99",
        "/nope",
    ] {
        get(srv.addr, path).await;
    }
    let port = crate::helpers::free_port();
    let dir = std::env::temp_dir().join(format!("llmrank-prom-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: llmrank\n    static_configs:\n      - targets: [\"{}\"]\n",
            srv.addr
        ),
    )
    .unwrap();
    let _prom = tokio::process::Command::new(tool("prometheus"))
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus");
    let prom: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let query = |expr: String| async move {
        let r = http(
            prom,
            "GET",
            &format!("/api/v1/query?query={}", url_encode(&expr)),
            &[],
            "",
        )
        .await;
        // Prometheus answers a plain-text 503 until its storage is ready: no JSON yet.
        let body = serde_json::from_str::<Value>(&r.body).unwrap_or(Value::Null);
        (r.status, body)
    };
    // Wait (polling, with a deadline) until Prometheus has scraped serve twice: rates need two points.
    let mut ready = false;
    for _ in 0..300 {
        let up = tokio::net::TcpStream::connect(prom).await.is_ok()
            && query("count_over_time(up[1m])".into()).await.1["data"]["result"][0]["value"][1]
                .as_str()
                .is_some_and(|v| v.parse::<f64>().unwrap_or(0.0) >= 2.0);
        if up {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "prometheus never scraped serve twice");
    let mut checked = 0;
    for (file, dash) in dashboards() {
        for panel in dash["panels"].as_array().unwrap() {
            for t in panel["targets"].as_array().unwrap() {
                let Some(expr) = t["expr"].as_str() else {
                    continue;
                };
                let (status, body) = query(expr.to_string()).await;
                assert_eq!(status, 200, "{file}: {expr}: {body}");
                assert_eq!(body["status"], "success", "{file}: {expr}: {body}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 10);
    // And the headline panel shows the traffic we made.
    let (_, body) = query("sum by (route) (rate(llmrank_http_requests_total[5m]))".into()).await;
    let routes = body["data"]["result"].to_string();
    assert!(routes.contains("/ranking/{metric}"), "{body}");
    srv.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dashboards_type_check_against_grafanas_schema() {
    // tests/grafana/check.ts assigns each dashboard to @grafana/schema's `Dashboard` type.
    let check = std::fs::read_to_string(root().join("tests/grafana/check.ts")).unwrap();
    for (file, _) in dashboards() {
        assert!(
            check.contains(&file),
            "tests/grafana/check.ts does not check {file}"
        );
    }
    run(Command::new(tool("tsc"))
        .args(["-p", "tests/grafana"])
        .current_dir(root()));
}

#[test]
fn redis_needs_a_password_and_network_policies_admit_only_the_release() {
    let (_, docs) = render(&[]);
    let redis = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "llmrank-redis")
        .expect("redis Deployment");
    let c = &redis["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let at = args
        .iter()
        .position(|a| *a == "--requirepass")
        .expect("--requirepass");
    assert_eq!(args[at + 1], "$(REDIS_PASSWORD)");
    // Every llmrank container reaches Redis with the password, from the Secret.
    for name in ["llmrank-serve", "llmrank-simulate"] {
        let d = docs
            .iter()
            .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == name)
            .expect(name);
        let env = d["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap();
        let var = |n: &str| env.iter().find(|e| e["name"] == n).cloned();
        let pw = var("REDIS_PASSWORD").expect("REDIS_PASSWORD");
        assert_eq!(pw["valueFrom"]["secretKeyRef"]["key"], "redis-password");
        let url = var("LLMRANK_REDIS__URL").expect("LLMRANK_REDIS__URL");
        assert!(
            url["value"]
                .as_str()
                .unwrap()
                .starts_with("redis://:$(REDIS_PASSWORD)@"),
            "{url}"
        );
        // Kubernetes expands $(VAR) only from variables defined before it.
        let pos = |n: &str| env.iter().position(|e| e["name"] == n).unwrap();
        assert!(pos("REDIS_PASSWORD") < pos("LLMRANK_REDIS__URL"));
    }
    // PostgreSQL and Redis admit only this release's pods; serve's API is open, its admin port not.
    let policies = of_kind(&docs, "NetworkPolicy");
    let policy = |component: &str| {
        policies
            .iter()
            .find(|p| {
                p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == component
            })
            .unwrap_or_else(|| panic!("no NetworkPolicy for {component}"))
    };
    for (component, port) in [("postgresql", 5432), ("redis", 6379), ("prometheus", 9090)] {
        let rules = policy(component)["spec"]["ingress"].as_array().unwrap();
        assert_eq!(rules.len(), 1, "{component}");
        assert_eq!(
            rules[0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"],
            "llmrank"
        );
        assert_eq!(rules[0]["ports"][0]["port"], port);
    }
    let serve = policy("serve")["spec"]["ingress"].as_array().unwrap();
    assert!(serve[0].get("from").is_none() && serve[0]["ports"][0]["port"] == 8080);
    assert_eq!(serve[1]["ports"][0]["port"], 9091);
    assert!(serve[1]["from"][0]["podSelector"].is_object());
    // Off when asked.
    let (_, docs) = render(&["--set", "networkPolicy.enabled=false"]);
    assert!(of_kind(&docs, "NetworkPolicy").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_runs_nothing_as_a_superuser_and_its_roles_work_on_a_real_server() {
    let (_, docs) = render(&[]);
    // Who connects as whom.
    let user_of = |container: &Value| -> Option<String> {
        container["env"]
            .as_array()?
            .iter()
            .find(|e| e["name"] == "LLMRANK_DATABASE__USER")
            .map(|e| e["value"].as_str().unwrap_or("").to_string())
    };
    for (name, spec) in pod_specs(&docs) {
        for c in spec["initContainers"].as_array().into_iter().flatten() {
            assert_eq!(
                user_of(c).as_deref(),
                Some("llmrank_owner"),
                "{name} init {}",
                c["name"]
            );
        }
        for c in spec["containers"].as_array().into_iter().flatten() {
            let expected = match c["name"].as_str().unwrap_or("") {
                "serve" => Some("llmrank_serve"),
                "simulate" => Some("llmrank_simulate"),
                "seed" => Some("llmrank_owner"),
                _ => None,
            };
            if expected.is_some() {
                assert_eq!(user_of(c).as_deref(), expected, "{name}/{}", c["name"]);
            }
        }
    }
    let grafana = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["data"].get("datasources.yaml").is_some())
        .expect("Grafana's datasources");
    assert!(grafana["data"]["datasources.yaml"]
        .as_str()
        .unwrap()
        .contains("user: llmrank_grafana"));

    // The init script, run on a private server, gives roles that do the jobs.
    let init = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "llmrank-postgresql-init")
        .expect("the PostgreSQL init script");
    let script = init["data"]["10-llmrank-roles.sh"].as_str().unwrap();
    let sql = script
        .split("<<'SQL'\n")
        .nth(1)
        .and_then(|s| s.split("\nSQL").next())
        .expect("the script's SQL");
    let pg = tokio::task::spawn_blocking(crate::helpers::PrivatePg::start)
        .await
        .unwrap();
    // The script's SQL through psql, with the variables the script passes.
    let psql = |db: &str, sql: &str| {
        let file = temp_file("init.sql", sql);
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &pg.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-v", "owner=o", "-v", "serve=s"])
            .args([
                "-v",
                "simulate=w",
                "-v",
                "grafana=g",
                "-v",
                "db=llmrank",
                "-f",
            ])
            .arg(&file)
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql("postgres", "CREATE DATABASE llmrank;\n");
    psql("llmrank", &format!("{sql}\n"));
    let as_user = |user: &str| {
        let mut s = llmrank::config::Settings::default();
        s.database.url = llmrank::config::Secret::new(format!(
            "{}?user={user}",
            pg.url("llmrank").replace("postgres@", "")
        ));
        s.simulate.samples = 300;
        s
    };
    llmrank::cmd::seed::run(&as_user("llmrank_owner"))
        .await
        .expect("the owner seeds");
    llmrank::cmd::simulate::run(&as_user("llmrank_simulate"), &Default::default())
        .await
        .expect("simulate writes as llmrank_simulate");
    let r = llmrank::cmd::rank::ranking(
        &as_user("llmrank_serve"),
        "TTFT",
        &llmrank::cmd::rank::Options::new(
            llmrank::stats::Statistic::Mean,
            &Default::default(),
            llmrank::ranking::Method::Summary,
        ),
    )
    .await
    .expect("serve's login ranks");
    assert_eq!(r.rankings.len(), 12);
    let (g, conn) = tokio_postgres::connect(
        &format!(
            "{}?user=llmrank_grafana",
            pg.url("llmrank").replace("postgres@", "")
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let rows = g
        .query(
            "SELECT llm FROM llm_metric_stats WHERE metric = 'TTFT' ORDER BY rank_by_mean",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 12);
    let supers = g
        .query(
            "SELECT rolname FROM pg_roles WHERE rolsuper AND rolname LIKE 'llmrank%'",
            &[],
        )
        .await
        .unwrap();
    assert!(supers.is_empty(), "a superuser login: {:?}", supers.len());
}

#[test]
fn an_existing_secret_replaces_the_generated_one_everywhere() {
    let (_, docs) = render(&["--set", "existingSecret=team-llmrank"]);
    assert!(
        of_kind(&docs, "Secret").is_empty(),
        "the chart still renders a Secret"
    );
    let text = serde_json::to_string(&docs).unwrap();
    let refs = text.matches("\"name\":\"team-llmrank\"").count();
    assert!(refs >= 10, "only {refs} references to the existing Secret");
    assert!(
        !text.contains("\"name\":\"llmrank\",\"key\""),
        "a reference to the generated Secret remains"
    );
}
