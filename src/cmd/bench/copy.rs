//! `llmrank bench` (the default): how fast `simulate` writes, against two baselines timed in the same run on
//! the same database and table:
//! 1. `simulate` itself (a child process, so its peak RSS is measured) writing N rows; and in
//!    process with summaries, without them, and without them into an unpartitioned table
//!    (what summaries and partitioning cost);
//! 2. PostgreSQL's own server-side `COPY ... FROM '<file>' (FORMAT binary)` of the same rows,
//!    one stream per core in parallel: the most this machine's PostgreSQL can ingest
//!    (interleaved with simulate over rounds, best of each);
//! 3. the original design's path: 100-row multi-value INSERT statements one after another.
//!
//! Ratios, not absolute figures, are the result: machines are noisy. Needs a superuser (for
//! server-side COPY files) and a server on this machine (it reads and writes files in /tmp).

use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use tokio_postgres::types::ToSql;

use super::scratch::{measured, scratch_database, simulate_command};
use crate::config::{Secret, Settings};
use crate::db::{self, copy};
use crate::table::thousands;

#[derive(Debug, Clone)]
pub struct Options {
    /// Rows for the simulate and server-side COPY phases.
    pub rows: u64,
    /// Rows for the INSERT phase.
    pub insert_rows: u64,
    /// Scratch database (dropped and recreated).
    pub database: String,
}

/// One timed phase.
struct Phase {
    rows: u64,
    seconds: f64,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.rows as f64 / self.seconds.max(1e-9)
    }
}

pub async fn run(settings: &Settings, opts: &Options) -> Result<String> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pairs = (settings.llms.len() * settings.metrics.len()) as u64;
    let samples = opts.rows.div_ceil(pairs).max(1);
    let rows = samples * pairs;

    // A fresh scratch database with the schema.
    let (url, admin, base) = scratch_database(settings, &opts.database).await?;
    let name = db::quote_ident(&opts.database);
    let mut s = settings.clone();
    s.database.url = Secret::new(url.clone());
    crate::cmd::seed::run(&s).await?;
    let client = db::connect(&base).await?;

    // 1. simulate, as a child process (twice more below, interleaved with the server-side
    // COPY: best of each, since one run of either moves by ±10% here).
    eprintln!(
        "bench: simulate writing {} rows with {cores} workers...",
        thousands(rows)
    );
    client.batch_execute("CHECKPOINT").await?;
    let exe = std::env::current_exe().context("failed to find the llmrank executable")?;
    let (mut sim, mut peak_kib) = child_simulate(&exe, &url, samples, cores, rows).await?;
    let stored = count(&client).await?;
    if stored != rows {
        bail!("simulate stored {stored} rows, expected {rows}");
    }

    // 2a. The same rows, exported to one file per core (for the server-side COPY below).
    let cols: Vec<&str> = copy::COLUMNS.iter().map(|c| c.0).collect();
    let cols = cols.join(", ");
    let files: Vec<String> = (0..cores)
        .map(|i| format!("/tmp/llmrank-bench-{}-{i}.bin", std::process::id()))
        .collect();
    for (i, f) in files.iter().enumerate() {
        client
            .batch_execute(&format!(
                "COPY (SELECT {cols} FROM {t} WHERE (llm_id * 131 + metric_id) % {cores} = {i}) TO '{f}' (FORMAT binary)",
                t = copy::TABLE
            ))
            .await
            .map_err(|e| anyhow!("failed to export rows to {f} (server-side COPY needs a superuser and a local server): {e}"))?;
    }
    // 1b. What summaries and partitioning cost: the same simulate in this process, with
    // summaries, without them, and without them into an unpartitioned table (the layout before
    // summaries), interleaved over two rounds, best of each.
    // Writers copy a day's batch straight into its partition, found by name on the search
    // path: the unpartitioned variant finds plain tables of the same names first.
    let today = copy::partition_name(crate::window::floor(crate::window::now(), 86_400));
    client
        .batch_execute(&format!(
            "CREATE SCHEMA bench_plain;
             CREATE TABLE bench_plain.{t} (LIKE public.{t});
             CREATE TABLE bench_plain.{today} (LIKE public.{t})",
            t = copy::TABLE
        ))
        .await
        .context("failed to create the unpartitioned table")?;
    let mut plain_cfg = base.clone();
    plain_cfg.options("-c search_path=bench_plain,public");
    let mut best = [0.0_f64; 3];
    for round in 0..2 {
        for (variant, cfg, summaries) in
            [(0, &base, true), (1, &base, false), (2, &plain_cfg, false)]
        {
            client
                .batch_execute(&format!(
                    "TRUNCATE {t}, bench_plain.{t}, bench_plain.{today}, llm_metric_summaries, run_summaries, batches;
                     CHECKPOINT",
                    t = copy::TABLE
                ))
                .await?;
            eprintln!(
                "bench: in-process simulate, {} (round {})...",
                [
                    "with summaries",
                    "without summaries",
                    "unpartitioned, without summaries"
                ][variant],
                round + 1
            );
            let rate = in_process(settings, cfg, samples, summaries, cores)
                .await?
                .rate();
            best[variant] = best[variant].max(rate);
        }
    }
    client
        .batch_execute(&format!(
            "TRUNCATE {t}, llm_metric_summaries, run_summaries, batches; DROP SCHEMA bench_plain CASCADE",
            t = copy::TABLE
        ))
        .await?;

    // 2b. Server-side COPY of the exported rows in parallel, interleaved with simulate.
    let mut server = Phase {
        rows,
        seconds: f64::INFINITY,
    };
    for round in 0..2 {
        client
            .batch_execute(&format!(
                "TRUNCATE {}, batches, llm_metric_summaries, run_summaries; CHECKPOINT",
                copy::TABLE
            ))
            .await?;
        eprintln!(
            "bench: server-side COPY of the same rows, {cores} streams (round {})...",
            round + 1
        );
        let copied = server_copy(&base, &files, &cols, rows).await?;
        if copied.seconds < server.seconds {
            server = copied;
        }
        let stored = count(&client).await?;
        if stored != rows {
            bail!("server-side COPY stored {stored} rows, expected {rows}");
        }
        client
            .batch_execute(&format!(
                "TRUNCATE {}, batches, llm_metric_summaries, run_summaries; CHECKPOINT",
                copy::TABLE
            ))
            .await?;
        eprintln!("bench: simulate again (round {})...", round + 1);
        let (again, peak) = child_simulate(&exe, &url, samples, cores, rows).await?;
        peak_kib = peak_kib.max(peak);
        if again.seconds < sim.seconds {
            sim = again;
        }
    }
    let peak_rss_mib = peak_kib as f64 / 1024.0;
    for f in &files {
        let _ = std::fs::remove_file(f);
    }

    // 3. The original design's path: 100-row multi-value INSERTs, one after another.
    client
        .batch_execute(&format!("TRUNCATE {}", copy::TABLE))
        .await?;
    client.batch_execute("CHECKPOINT").await?;
    eprintln!(
        "bench: 100-row INSERT statements, {} rows...",
        thousands(opts.insert_rows)
    );
    let insert = insert_phase(&client, opts.insert_rows).await?;

    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .ok();

    let vs_copy = sim.rate() / server.rate();
    let vs_insert = sim.rate() / insert.rate();
    let verdict = |ok: bool| if ok { "meets" } else { "MISSES" };
    let [with, without, plain] = best;
    let summaries_cost = with / without;
    let partition_cost = without / plain;
    Ok(format!(
        "in process: with summaries {} rows/s, without {} rows/s, unpartitioned without {} rows/s\n\
         with summaries / without: {summaries_cost:.2}x  ({} target >= 0.9x)\n\
         partitioned / unpartitioned (both without summaries): {partition_cost:.2}x\n",
        thousands(with as u64),
        thousands(without as u64),
        thousands(plain as u64),
        verdict(summaries_cost >= 0.9),
    ) + &format!(
        "rows: {} ({} LLM x metric pairs x {} samples), {cores} cores\n\
         simulate (generate + binary COPY, {cores} writers):  {:>10} rows/s  ({:.2} s)\n\
         server-side COPY FROM file ({cores} streams):        {:>10} rows/s  ({:.2} s)\n\
         100-row INSERT statements ({} rows):       {:>10} rows/s  ({:.2} s)\n\
         simulate / server-side COPY: {vs_copy:.2}x  ({} target >= 0.85x)\n\
         simulate / INSERT path:      {vs_insert:.1}x  ({} target >= 40x)\n\
         simulate peak RSS:           {peak_rss_mib:.1} MiB  ({} target <= 48 MiB at 10M rows)\n",
        thousands(rows),
        pairs,
        thousands(samples),
        thousands(sim.rate() as u64),
        sim.seconds,
        thousands(server.rate() as u64),
        server.seconds,
        thousands(insert.rows),
        thousands(insert.rate() as u64),
        insert.seconds,
        verdict(vs_copy >= 0.85),
        verdict(vs_insert >= 40.0),
        verdict(peak_rss_mib <= 48.0),
    ))
}

async fn child_simulate(
    exe: &std::path::Path,
    url: &str,
    samples: u64,
    workers: usize,
    rows: u64,
) -> Result<(Phase, u64)> {
    let m = measured(simulate_command(exe, url, samples, workers), "simulate")?;
    Ok((
        Phase {
            rows,
            seconds: m.seconds,
        },
        m.peak_kib,
    ))
}

/// PostgreSQL's own server-side COPY of `files`, one stream each, in parallel.
async fn server_copy(base: &db::Pg, files: &[String], cols: &str, rows: u64) -> Result<Phase> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for f in files {
        let (c, f) = (base.clone(), f.clone());
        let cols = cols.to_string();
        tasks.spawn(async move {
            let client = db::connect(&c).await?;
            client
                .batch_execute(&format!(
                    "COPY {} ({cols}) FROM '{f}' (FORMAT binary)",
                    copy::TABLE
                ))
                .await
                .with_context(|| format!("server-side COPY of {f} failed"))
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.context("COPY task failed")??;
    }
    Ok(Phase {
        rows,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// One simulate run of `samples` per LLM × metric in this process; the rows/s it wrote.
async fn in_process(
    settings: &Settings,
    pg: &db::Pg,
    samples: u64,
    summaries: bool,
    workers: usize,
) -> Result<Phase> {
    use crate::ingest::simulated::{Ids, SimSource};
    use crate::ingest::{self, Pipeline};
    let control = db::connect(pg).await?;
    let mut params = crate::cmd::simulate::params_from(settings);
    params.samples = samples;
    let rows = params.total_rows();
    let json = serde_json::to_value(&params)?;
    let id = crate::db::runs::create(
        &control,
        crate::domain::SourceKind::Simulate,
        crate::domain::SIMULATE_WORKLOAD,
        None,
        &json,
    )
    .await?;
    let started_at = crate::db::runs::started_at(&control, id).await?;
    let pipeline = Pipeline {
        pg: pg.clone(),
        workers,
        policy: crate::db::retry::RetryPolicy::from(&settings.simulate.retry),
    };
    let prepare = move |cat: &crate::db::catalogue::Catalogue| {
        let ids = Ids::resolve(&params, cat)?;
        let source = SimSource::new(params, ids, started_at);
        Ok(if summaries {
            source
        } else {
            source.without_summaries()
        })
    };
    let started = Instant::now();
    ingest::write_run(&pipeline, control, id, prepare, false)
        .await
        .map_err(anyhow::Error::from)?;
    Ok(Phase {
        rows,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn count(client: &tokio_postgres::Client) -> Result<u64> {
    let n: i64 = client
        .query_one(&format!("SELECT count(*) FROM {}", copy::TABLE), &[])
        .await?
        .get(0);
    Ok(n as u64)
}

async fn insert_phase(client: &tokio_postgres::Client, rows: u64) -> Result<Phase> {
    const PER_STATEMENT: usize = 100;
    let mut sql = format!(
        "INSERT INTO {} (llm_id, metric_id, run_id, value, created_at) VALUES ",
        copy::TABLE
    );
    for i in 0..PER_STATEMENT {
        let b = i * 5;
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5
        ));
    }
    let now = std::time::SystemTime::now();
    let started = Instant::now();
    let mut done = 0u64;
    let mut k = 0u64;
    while done < rows {
        let vals: Vec<(i16, i16, i32, f64, std::time::SystemTime)> = (0..PER_STATEMENT)
            .map(|_| {
                k += 1;
                (
                    (k % 12 + 1) as i16,
                    (k % 4 + 1) as i16,
                    1,
                    k as f64 * 0.5,
                    now,
                )
            })
            .collect();
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(PER_STATEMENT * 5);
        for v in &vals {
            params.extend_from_slice(&[&v.0, &v.1, &v.2, &v.3, &v.4]);
        }
        // Like the original: the statement text is sent (and planned) every time.
        client
            .execute(sql.as_str(), &params)
            .await
            .context("INSERT failed")?;
        done += PER_STATEMENT as u64;
    }
    Ok(Phase {
        rows: done,
        seconds: started.elapsed().as_secs_f64(),
    })
}
