//! What every benchmark shares: a scratch database made afresh, and `simulate` as a child
//! process (so its peak RSS can be read).

use std::time::{Duration, Instant};

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

/// A child's wall time and peak RSS.
pub struct Measured {
    pub seconds: f64,
    pub peak_kib: u64,
}

/// Runs `cmd` to completion (stdout discarded), reading its own peak RSS (`VmHWM` in
/// /proc/PID/status, a high-water mark) every 5 ms as it runs: growth in its last 5 ms is
/// missed. Not the rusage of `wait4` or `RUSAGE_CHILDREN`: a spawned child shares this
/// process's memory until it execs, and Linux keeps that image's high-water mark in the child's
/// `ru_maxrss`, so every child measured there as large as the bench itself (56 MiB for a
/// simulate whose own peak was 43).
pub fn measured(mut cmd: std::process::Command, what: &str) -> Result<Measured> {
    let started = Instant::now();
    // spawn returns once the child has exec'd: from then on /proc shows its own memory.
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("failed to run {what}"))?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    let status = loop {
        if let Some(kib) = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|s| vm_hwm_kib(&s))
        {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("waiting for {what} failed"))?
        {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(Measured {
        seconds: started.elapsed().as_secs_f64(),
        peak_kib,
    })
}

/// The `VmHWM` of a /proc/PID/status text, KiB.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_read_from_vm_hwm() {
        let status =
            "Name:\tllmrank\nVmPeak:\t  120000 kB\nVmHWM:\t   43692 kB\nVmRSS:\t   40000 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(43_692));
        assert_eq!(vm_hwm_kib("Name:\tx\n"), None);
    }

    #[test]
    fn a_child_is_measured_at_its_own_size_not_ours() {
        // Hold 64 MiB here, resident, then measure a small child: its peak must not be ours.
        let held = vec![1u8; 64 << 20];
        let m = measured(std::process::Command::new("true"), "true").unwrap();
        assert!(held.iter().step_by(4096).all(|&b| b == 1));
        assert!(m.peak_kib < 32 << 10, "{} KiB", m.peak_kib);
    }
}
