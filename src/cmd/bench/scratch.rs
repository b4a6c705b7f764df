//! What every benchmark shares: a scratch database made afresh, and `simulate` as a child
//! process (so its peak RSS can be read).

use anyhow::{bail, Context, Result};

use crate::config::Settings;
use crate::db;

/// `llmrank simulate` as a child process writing `rows` (the same data every time: --force).
/// `simulate` of `samples` per LLM × metric with `workers` (seed 1, forced), as a child.
pub fn simulate_command(
    exe: &std::path::Path,
    url: &str,
    samples: u64,
    workers: usize,
) -> std::process::Command {
    let mut c = std::process::Command::new(exe);
    c.args([
        "simulate",
        "--seed",
        "1",
        "--force",
        "--samples",
        &samples.to_string(),
    ])
    .args(["--workers", &workers.to_string()])
    .env("LLMRANK_DATABASE__URL", url)
    .env("LLMRANK_LOG__LEVEL", "warn")
    .stdout(std::process::Stdio::null());
    c
}

/// Drops and recreates `database`; returns its URL, an admin connection and its config.
pub async fn scratch_database(
    settings: &Settings,
    database: &str,
) -> Result<(String, tokio_postgres::Client, db::Pg)> {
    let mut base = db::pg_config(&settings.database, "llmrank-bench")?;
    let mut admin_cfg = base.clone();
    admin_cfg.dbname("postgres");
    let admin = db::connect(&admin_cfg).await?;
    let name = db::quote_ident(database);
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin
            .batch_execute(&sql)
            .await
            .with_context(|| format!("failed to recreate database {database}"))?;
    }
    base.dbname(database);
    Ok((bench_url(&base)?, admin, base))
}

fn bench_url(c: &tokio_postgres::Config) -> Result<String> {
    use tokio_postgres::config::Host;
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        _ => bail!("bench needs a TCP database address"),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let user = c.get_user().unwrap_or("postgres");
    let password = c
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    let db = c.get_dbname().unwrap_or("llmrank_bench");
    Ok(format!("postgres://{user}{password}@{host}:{port}/{db}"))
}
