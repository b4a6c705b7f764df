//! Records from outside (`llmrank import`, `POST /samples`) through the one ingest path: a
//! pure parser streams records (see `import`) into a sink on a blocking thread, which encodes
//! them as binary COPY rows and summary rows; this side writes them in **one transaction per
//! input**: its runs (one per benchmark, each under its workload), the new LLMs and metrics it
//! names, its samples (COPY), the summaries (the same upsert as every batch), the tool-reported
//! statistics, and one ledger row per run. All of it commits or none of it does.
//!
//! Exactly once: an input is known by its SHA-256 (imports) or its Idempotency-Key (the API).
//! Both are checked under a transaction-scoped advisory lock just before COMMIT, so two
//! imports of one file at once write it once, and a second import names the runs of the first.
//! Memory stays flat for line-oriented inputs: COPY data go out in chunks of a few MiB and the
//! summaries are bounded (see `summary::Rollup`).

mod report;
mod sink;

pub use report::{InputReport, RunReport};

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Client;

use crate::db::copy;
use crate::db::runs::{self, Identity};
use crate::db::{catalogue, notify, reported, run_summaries, summaries, workloads};
use crate::domain::SourceKind;
use crate::import::{self, Benchmark, Format, Options};
use sink::{Counting, FinishedRun, HashingReader, Msg, Writing};

/// The most LLMs one input may add to the catalogue (its ids are a smallint: 32,767 in all).
pub const NEW_LLMS_MAX: usize = 1_000;

/// One input to ingest.
pub struct Input {
    /// How errors and the report name it (a path, `-`, or `POST /samples`).
    pub name: String,
    pub format: InputFormat,
    pub opts: Options,
    pub source: SourceKind,
    pub reader: Box<dyn BufRead + Send>,
    /// Write it even when the same file was imported before.
    pub force: bool,
    /// `POST /samples`: a retried request with this key adds nothing.
    pub idempotency_key: Option<String>,
    /// The input's SHA-256 (hex) when known before reading it (`POST /samples` holds its
    /// body; `import` hashes a file first): a key used again with another body is refused
    /// ([`KeyReused`]), not a duplicate, and a file imported before is found before any of it
    /// is copied.
    pub body_sha256: Option<String>,
    /// Bytes of the input read so far, for a progress display.
    pub progress: Option<Arc<AtomicU64>>,
}

/// A tool's format, or llmrank's JSON array of records (`POST /samples`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Tool(Format),
    RecordsArray,
}

impl InputFormat {
    /// About how many bytes of memory ingesting one byte of this format takes at its peak,
    /// the input's own bytes included: 1 for what is read record by record (lines, a JSON
    /// array); 8 for a whole JSON document (its bytes, a copy, and the tree parsed from it:
    /// 3.3× measured on a vLLM file with 6-digit gaps, 6.6× with 4-digit ones). A document
    /// of bare one-digit numbers would take more (a parsed number is 32 bytes).
    pub fn memory_per_byte(self) -> u64 {
        match self {
            InputFormat::RecordsArray => 1,
            InputFormat::Tool(f) if f.streamed() => 1,
            InputFormat::Tool(_) => 8,
        }
    }
}

/// Parses `input` without writing anything: what an import would do (`--dry-run`).
pub fn dry_run(input: Input) -> Result<InputReport> {
    let format = input.format;
    let mut sink = Counting::new(input.opts.clone());
    let known = input.body_sha256.clone();
    let mut hasher = HashingReader::new(input.reader, input.progress.clone(), known);
    parse_into(format, &mut hasher, &input.opts, &mut sink)
        .map_err(|e| e.context(input.name.clone()))?;
    Ok(InputReport {
        name: input.name,
        format: format_name(format),
        sha256: hasher.hex(),
        runs: sink.runs,
        existing: Vec::new(),
        seconds: 0.0,
        retries: 0,
    })
}

fn format_name(f: InputFormat) -> String {
    match f {
        InputFormat::Tool(f) => f.name().to_string(),
        InputFormat::RecordsArray => "json".to_string(),
    }
}

/// Detects the format of a reader from its first MiB (which stays buffered).
/// Detects the format of a reader from the bytes it has buffered (up to its capacity, 1 MiB
/// here), without consuming them.
pub fn detect(name: &str, reader: &mut dyn BufRead) -> Result<Format> {
    let head = reader.fill_buf()?;
    import::detect(name, head)
}

fn parse_into(
    format: InputFormat,
    reader: &mut dyn BufRead,
    opts: &Options,
    sink: &mut dyn import::Sink,
) -> Result<()> {
    match format {
        InputFormat::Tool(f) => import::parse(f, reader, opts, sink),
        InputFormat::RecordsArray => import::generic::parse_json_array(reader, opts, sink),
    }
}

/// An Idempotency-Key used before with another body: nothing written (HTTP 422).
#[derive(Debug, Clone, Copy)]
pub struct KeyReused;

impl std::fmt::Display for KeyReused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("this Idempotency-Key was used before with a different body: nothing written (use a new key for new data)")
    }
}

impl std::error::Error for KeyReused {}

/// Ingests `input` over `client` in one transaction: all of it, or (on any error) nothing.
pub async fn ingest(client: &mut Client, input: Input) -> Result<InputReport> {
    let started = Instant::now();
    let format = input.format;
    let name = input.name.clone();
    let source = input.source;
    let opts = input.opts.clone();
    let (tx, mut rx) = mpsc::channel::<Msg>(3);
    let reader = input.reader;
    let progress = input.progress.clone();
    let known_sha256 = input.body_sha256.clone();
    let parse_opts = opts.clone();
    let parser = tokio::task::spawn_blocking(move || {
        let mut hashing = HashingReader::new(reader, progress, known_sha256);
        let mut sink = Writing::new(tx, parse_opts.clone());
        // A UTF-8 byte order mark (Excel's CSV, some Windows tools' JSON) is read past in every
        // format alike; the hash still covers it.
        if hashing.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
            hashing.consume(3);
        }
        parse_into(format, &mut hashing, &parse_opts, &mut sink)?;
        // Drain what the parser did not read (a JSON document's trailing bytes): the hash
        // covers the whole input.
        std::io::copy(&mut hashing, &mut std::io::sink())?;
        Ok::<_, anyhow::Error>((hashing.hex(), sink.finish()?))
    });

    let txn = client
        .transaction()
        .await
        .context("failed to start the import's transaction")?;
    // A retried request: answered before its body is even parsed. The lock (held to COMMIT)
    // makes a concurrent retry wait for the first attempt's outcome.
    if let Some(k) = &input.idempotency_key {
        let earlier = runs::written_before(&txn, Identity::Key(k), &[]).await?;
        if !earlier.is_empty() {
            drop(rx);
            let _ = parser.await;
            if let Some(sha) = &input.body_sha256 {
                if !runs::inputs_are(&txn, &earlier, sha).await? {
                    txn.rollback().await.ok();
                    return Err(anyhow::Error::new(KeyReused));
                }
            }
            txn.rollback().await.ok();
            return Ok(InputReport::found(
                name,
                format_name(format),
                String::new(),
                earlier,
                started,
            ));
        }
    }
    // A file imported before: found by its hash before a row of it is copied.
    if let (None, Some(sha), false) = (&input.idempotency_key, &input.body_sha256, input.force) {
        if source != SourceKind::Api {
            let earlier = runs::written_before(&txn, Identity::File(sha, source), &[]).await?;
            if !earlier.is_empty() {
                drop(rx);
                let _ = parser.await;
                txn.rollback().await.ok();
                let sha = sha.clone();
                return Ok(InputReport::found(
                    name,
                    format_name(format),
                    sha,
                    earlier,
                    started,
                ));
            }
        }
    }
    let mut cat = catalogue::load(&txn).await?;
    let known_llms = cat.llms.len();
    let mut created: Vec<i32> = Vec::new();
    let mut partitions: HashMap<i64, bool> = HashMap::new();
    let mut failure: Option<anyhow::Error> = None;
    while let Some(msg) = rx.recv().await {
        let step: Result<()> = async {
            match msg {
                Msg::Begin(b, reply) => {
                    let r = async {
                        let workload_id = workloads::ensure(&txn, source, &b.workload).await?;
                        let params = run_params(&b, &name, input.idempotency_key.as_deref());
                        let run_id = runs::create(&txn, source, workload_id, None, &params).await?;
                        created.push(run_id);
                        Ok((run_id, workload_id))
                    }
                    .await;
                    answer(reply, r)
                }
                Msg::Llm(llm, reply) => {
                    let r = catalogue::ensure_llm(&txn, &mut cat, &llm).await;
                    // The whole input rolls back on this error: nothing it added stays.
                    let r = r.and_then(|id| match cat.llms.len() - known_llms {
                        n if n > NEW_LLMS_MAX => Err(anyhow!(
                            "the input names more than {NEW_LLMS_MAX} LLMs the catalogue does not \
                             hold ({llm:?} is one more); import them in several inputs"
                        )),
                        _ => Ok(id),
                    });
                    answer(reply, r)
                }
                Msg::Metric(metric, reply) => {
                    let r = catalogue::ensure_metric(&txn, &mut cat, &metric).await;
                    answer(reply, r)
                }
                Msg::Copy(chunks, rows, day) => {
                    copy_rows(&txn, &mut partitions, chunks, rows, day).await
                }
                Msg::End(run) => finish_run(&txn, &mut cat, &run).await,
                Msg::Summaries(rows, joint_rows, runs) => {
                    summaries::upsert(&txn, &rows)
                        .await
                        .context("failed to write summaries")?;
                    let run_rows = run_summaries::of_batch(&rows, |k| runs.get(&k).copied()?);
                    run_summaries::upsert_with(&txn, run_summaries::UPSERT, &run_rows)
                        .await
                        .context("failed to write run summaries")?;
                    crate::db::joint::merge(&txn, &joint_rows)
                        .await
                        .context("failed to write request summaries")?;
                    Ok(())
                }
            }
        }
        .await;
        if let Err(e) = step {
            failure = Some(e);
            break;
        }
    }
    drop(rx); // a parser still sending sees the channel closed and stops
    let parsed = parser
        .await
        .map_err(|e| anyhow!("the parser panicked: {e}"))?;
    if let Some(e) = failure {
        return Err(e.context("nothing written"));
    }
    let (sha, mut reports) = parsed.map_err(|e| e.context("nothing written"))?;

    // Exactly once: the same file (or the same Idempotency-Key) is written once.
    let ids = created;
    // An API body without a key is a new measurement each time, however alike.
    let identity = match (&input.idempotency_key, source) {
        (Some(k), _) => Some(Identity::Key(k)),
        (None, SourceKind::Api) => None,
        (None, _) => Some(Identity::File(&sha, source)),
    };
    let existing = match identity {
        Some(identity) => runs::written_before(&txn, identity, &ids).await?,
        None => Vec::new(),
    };
    if !existing.is_empty() && !input.force {
        txn.rollback().await.ok();
        return Ok(InputReport::found(
            name,
            format_name(format),
            sha,
            existing,
            started,
        ));
    }
    runs::complete_input(&txn, &ids, &sha).await?;
    notify::commit_announced(txn, "import")
        .await
        .context("failed to commit the import")?;
    for (r, id) in reports.iter_mut().zip(&ids) {
        r.run_id = *id;
    }
    Ok(InputReport {
        name,
        format: format_name(format),
        sha256: sha,
        runs: reports,
        existing: Vec::new(),
        seconds: started.elapsed().as_secs_f64(),
        retries: 0,
    })
}

/// Copies one piece of COPY data, straight into its day's partition when there is one
/// (routing each row through the partitioned parent costs ~20% of COPY speed).
async fn copy_rows(
    txn: &tokio_postgres::Transaction<'_>,
    partitions: &mut HashMap<i64, bool>,
    chunks: Vec<Bytes>,
    rows: u64,
    day: Option<i64>,
) -> Result<()> {
    let mut table = copy::TABLE.to_string();
    if let Some(d) = day {
        let exists = match partitions.get(&d) {
            Some(&e) => e,
            None => {
                let e = copy::partition_exists(txn, d)
                    .await
                    .context("failed to look up a partition")?;
                partitions.insert(d, e);
                e
            }
        };
        if exists {
            table = copy::partition_name(d);
        }
    }
    copy::send(txn, &table, chunks, rows).await?;
    metrics::counter!(crate::telemetry::SAMPLES_WRITTEN).increment(rows);
    Ok(())
}

/// Stores a run's reported statistics and what it counted, and its ledger row.
async fn finish_run(
    txn: &tokio_postgres::Transaction<'_>,
    cat: &mut catalogue::Catalogue,
    run: &FinishedRun,
) -> Result<()> {
    let FinishedRun {
        run_id,
        llm,
        measured_at,
        tally,
        rows,
        requests,
    } = run;
    let (run_id, measured_at, rows) = (*run_id, *measured_at, *rows);
    if !tally.reported.is_empty() {
        let llm = llm.as_deref().ok_or_else(|| {
            anyhow!("an aggregate-only benchmark names no model; pass --llm NAME")
        })?;
        let llm_id = catalogue::ensure_llm(txn, cat, llm).await?;
        for r in &tally.reported {
            let Some(m) = r.metric else { continue };
            let metric_id = catalogue::ensure_metric(txn, cat, m.name()).await?;
            reported::store(txn, run_id, llm_id, metric_id, measured_at, r).await?;
        }
    }
    let outcome = serde_json::json!({
        "failed_requests": tally.failed,
        "dropped": tally.dropped,
        "samples": rows,
        "reported_metrics": tally.reported.len(),
        "requests": requests.requests,
        "duration_secs": requests.duration_secs,
        "first_request_at": requests.first_request_at,
        "failed_llm_id": requests.failed_llm_id,
    });
    runs::record_outcome(txn, run_id, &outcome).await?;
    runs::record_batch(txn, run_id, 0, rows)
        .await
        .context("failed to record the run in the ledger")?;
    Ok(())
}

/// Sends the parser its answer; an error goes to it as text and stays here with its type
/// (so a database failure is still told from bad input).
fn answer<T>(reply: oneshot::Sender<Result<T>>, r: Result<T>) -> Result<()> {
    match r {
        Ok(v) => {
            let _ = reply.send(Ok(v));
            Ok(())
        }
        Err(e) => {
            let _ = reply.send(Err(anyhow!("{e:#}")));
            Err(e)
        }
    }
}

fn run_params(b: &Benchmark, name: &str, idempotency_key: Option<&str>) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let mut o = Map::new();
    o.insert("tool".into(), json!(b.tool));
    o.insert("workload".into(), json!(b.workload));
    o.insert("details".into(), json!(b.details));
    o.insert("input".into(), json!(name));
    if let Some(v) = &b.tool_version {
        o.insert("tool_version".into(), json!(v));
    }
    if let Some(m) = &b.model {
        o.insert("model_as_written".into(), json!(m));
    }
    if let Some(t) = b.measured_at {
        o.insert("measured_at".into(), json!(crate::window::rfc3339(t)));
    }
    if let Some(k) = idempotency_key {
        o.insert("idempotency_key".into(), json!(k));
    }
    Value::Object(o)
}
