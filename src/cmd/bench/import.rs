//! `llmrank bench --import`: how fast `llmrank import` writes next to `simulate` writing the
//! same number of rows, in one run on one scratch database, and the importer's peak RSS on
//! line-oriented files of growing size.
//!
//! The import reads a generated vLLM `--save-detailed` result (one JSON document; per request
//! TTFT, latency and output length, no chunk gaps: four samples a request). Both sides run as
//! child processes of this one (so their peak RSS is measured), alternately over two rounds,
//! best of each, on emptied tables. The ratio of rows/s is the result; machines are noisy.

use std::io::Write;

use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};

use super::scratch::{measured, Measured};
use crate::config::{Secret, Settings};
use crate::db;
use crate::table::thousands;

#[derive(Debug, Clone)]
pub struct Options {
    /// Requests in the generated vLLM file (four samples each).
    pub requests: u64,
    /// Records of the largest NDJSON and CSV files (RSS is measured at a quarter and at this).
    pub records: u64,
    pub database: String,
}

/// A vLLM `--save-detailed` result with `n` requests (deterministic).
fn write_vllm(path: &std::path::Path, n: u64) -> Result<()> {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
    let mut ttfts = Vec::with_capacity(n as usize);
    let mut lat = Vec::with_capacity(n as usize);
    let mut outs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let ttft: f64 = 0.02 + rng.random::<f64>() * 0.3;
        let out: u32 = rng.random_range(2..512);
        ttfts.push(ttft);
        outs.push(out);
        lat.push(ttft + f64::from(out) * (0.005 + rng.random::<f64>() * 0.02));
    }
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    // Run today, as a result imported right after its benchmark: its day has a partition.
    let date = crate::window::rfc3339(crate::window::now());
    let date = format!(
        "{}{}{}-{}{}{}",
        &date[0..4],
        &date[5..7],
        &date[8..10],
        &date[11..13],
        &date[14..16],
        &date[17..19]
    );
    write!(
        f,
        "{{\"date\": \"{date}\", \"backend\": \"vllm\", \"model_id\": \"bench/model\", \"num_prompts\": {n}, \"request_rate\": \"inf\", \"completed\": {n}, \"failed\": 0, \"duration\": 100.0"
    )?;
    let mut list = |name: &str, items: &mut dyn Iterator<Item = String>| -> std::io::Result<()> {
        write!(f, ", \"{name}\": [")?;
        for (i, x) in items.enumerate() {
            if i > 0 {
                f.write_all(b", ")?;
            }
            f.write_all(x.as_bytes())?;
        }
        f.write_all(b"]")
    };
    list("ttfts", &mut ttfts.iter().map(|x| x.to_string()))?;
    list("latencies", &mut lat.iter().map(|x| x.to_string()))?;
    list("output_lens", &mut outs.iter().map(|x| x.to_string()))?;
    list("input_lens", &mut outs.iter().map(|_| "128".to_string()))?;
    list("itls", &mut outs.iter().map(|_| "[]".to_string()))?;
    list("errors", &mut outs.iter().map(|_| "\"\"".to_string()))?;
    f.write_all(b"}\n")?;
    f.flush()?;
    Ok(())
}

/// `n` records as NDJSON or CSV.
fn write_records(path: &std::path::Path, n: u64, csv: bool) -> Result<()> {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(11);
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    if csv {
        writeln!(f, "llm,metric,value")?;
    }
    for i in 0..n {
        let v = 10.0 + rng.random::<f64>() * 500.0;
        let llm = i % 12;
        if csv {
            writeln!(f, "bench/llm-{llm},TTFT,{v}")?;
        } else {
            writeln!(
                f,
                "{{\"llm\": \"bench/llm-{llm}\", \"metric\": \"TTFT\", \"value\": {v}}}"
            )?;
        }
    }
    f.flush()?;
    Ok(())
}

pub async fn run(settings: &Settings, opts: &Options) -> Result<String> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (url, _admin, base) = super::scratch::scratch_database(settings, &opts.database).await?;
    let mut s = settings.clone();
    s.database.url = Secret::new(url.clone());
    crate::cmd::seed::run(&s).await?;
    let client = db::connect(&base).await?;
    let exe = std::env::current_exe().context("failed to find the llmrank executable")?;
    let dir = std::env::temp_dir().join(format!("llmrank-bench-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let vllm = dir.join("vllm-detailed.json");
    eprintln!(
        "bench: writing a vLLM --save-detailed file of {} requests...",
        thousands(opts.requests)
    );
    write_vllm(&vllm, opts.requests)?;
    let rows = opts.requests * 4;
    let pairs = (s.llms.len() * s.metrics.len()) as u64;
    let samples = rows.div_ceil(pairs);
    let sim_rows = samples * pairs;

    let empty = || async {
        client
            .batch_execute(
                "TRUNCATE llm_metrics, llm_metric_summaries, run_summaries, batches, run_reported; CHECKPOINT",
            )
            .await
            .context("failed to empty the tables")
    };
    let import_cmd = |file: &std::path::Path| {
        let mut c = std::process::Command::new(&exe);
        c.args(["import", "--force"])
            .arg(file)
            .env("LLMRANK_DATABASE__URL", &url)
            .env("LLMRANK_LOG__LEVEL", "warn");
        c
    };
    let (mut best_import, mut best_sim): (Option<Measured>, Option<Measured>) = (None, None);
    for round in 1..=2 {
        eprintln!(
            "bench: round {round}: import of {} rows, simulate of {}...",
            thousands(rows),
            thousands(sim_rows)
        );
        empty().await?;
        let m = measured(import_cmd(&vllm), "import")?;
        let stored: i64 = client
            .query_one("SELECT count(*) FROM llm_metrics", &[])
            .await?
            .get(0);
        if stored as u64 != rows {
            bail!("the import stored {stored} rows, expected {rows}");
        }
        if best_import.as_ref().is_none_or(|b| m.seconds < b.seconds) {
            best_import = Some(m);
        }
        empty().await?;
        let c = super::scratch::simulate_command(&exe, &url, samples, cores);
        let m = measured(c, "simulate")?;
        if best_sim.as_ref().is_none_or(|b| m.seconds < b.seconds) {
            best_sim = Some(m);
        }
    }
    let (imp, sim) = (
        best_import.context("no import round")?,
        best_sim.context("no simulate round")?,
    );
    let import_rate = rows as f64 / imp.seconds;
    let sim_rate = sim_rows as f64 / sim.seconds;

    // Peak RSS of line-oriented imports as the file grows.
    let mut rss = Vec::new();
    for (kind, csv) in [("NDJSON", false), ("CSV", true)] {
        for n in [opts.records / 4, opts.records] {
            let f = dir.join(format!(
                "records-{n}.{}",
                if csv { "csv" } else { "ndjson" }
            ));
            write_records(&f, n, csv)?;
            empty().await?;
            let bytes = std::fs::metadata(&f)?.len();
            let m = measured(import_cmd(&f), "import")?;
            rss.push((kind, n, bytes, m));
            let _ = std::fs::remove_file(&f);
        }
    }
    let vllm_bytes = std::fs::metadata(&vllm)?.len();
    let _ = std::fs::remove_dir_all(&dir);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut out = format!(
        "import vs simulate, {} rows each way (best of 2 rounds, {cores} cores)\n\
         import of a vLLM --save-detailed file ({} requests, {:.0} MiB): {:.2} s, {} rows/s, peak RSS {:.1} MiB\n\
         simulate of the same rows:                                {:.2} s, {} rows/s, peak RSS {:.1} MiB\n\
         import ÷ simulate (rows/s): {:.2}x  (target ≥ 0.5)\n\n\
         peak RSS of line-oriented imports (target ≤ 64 MiB whatever the size)\n",
        thousands(rows),
        thousands(opts.requests),
        vllm_bytes as f64 / 1048576.0,
        imp.seconds,
        thousands(import_rate as u64),
        mib(imp.peak_kib),
        sim.seconds,
        thousands(sim_rate as u64),
        mib(sim.peak_kib),
        import_rate / sim_rate,
    );
    for (kind, n, bytes, m) in &rss {
        out.push_str(&format!(
            "  {kind:6} {:>11} records, {:>6.0} MiB: {:.2} s, {} rows/s, peak RSS {:.1} MiB\n",
            thousands(*n),
            *bytes as f64 / 1048576.0,
            m.seconds,
            thousands((*n as f64 / m.seconds) as u64),
            mib(m.peak_kib)
        ));
    }
    Ok(out)
}
