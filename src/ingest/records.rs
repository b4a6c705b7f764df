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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use futures_util::SinkExt;
use serde::Serialize;
use sha2::Digest;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Client;

use crate::db::copy::{self, copy_in_statement, Encoder, PG_EPOCH_OFFSET_US};
use crate::db::{catalogue, notify, runs, summaries, workloads};
use crate::domain::{MetricKind, SourceKind};
use crate::import::{self, Benchmark, Format, Options, Tally};
use crate::summary::{Rollup, RowKey, SeriesKey, Summary};
use crate::table::thousands;

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
    /// Bytes of the input read so far, for a progress display.
    pub progress: Option<Arc<AtomicU64>>,
}

/// A tool's format, or llmrank's JSON array of records (`POST /samples`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Tool(Format),
    RecordsArray,
}

/// What ingesting one input did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputReport {
    pub name: String,
    pub format: String,
    pub sha256: String,
    pub runs: Vec<RunReport>,
    /// The same input was ingested before: its runs, and nothing was written now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub existing: Vec<i32>,
    #[serde(skip)]
    pub seconds: f64,
    /// Attempts after the first (a lost connection; see `cmd::import`).
    #[serde(skip)]
    pub retries: u32,
}

/// One run an input created (or, on a dry run, would create).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// 0 on a dry run.
    pub run_id: i32,
    pub tool: String,
    pub llms: BTreeSet<String>,
    pub workload: BTreeMap<String, String>,
    pub samples: u64,
    /// Samples per metric.
    pub per_metric: BTreeMap<String, u64>,
    /// Statistics kept as the tool reported them (aggregate-only files).
    pub reported: Vec<String>,
    pub failed: u64,
    pub dropped: BTreeMap<String, u64>,
}

impl InputReport {
    /// Written before (`existing`): nothing written now.
    fn found(
        name: String,
        format: InputFormat,
        sha256: String,
        existing: Vec<i32>,
        started: Instant,
    ) -> InputReport {
        InputReport {
            name,
            format: format_name(format),
            sha256,
            runs: Vec::new(),
            existing,
            seconds: started.elapsed().as_secs_f64(),
            retries: 0,
        }
    }

    pub fn rows(&self) -> u64 {
        self.runs.iter().map(|r| r.samples).sum()
    }

    /// Lines for the terminal.
    pub fn describe(&self, dry_run: bool) -> String {
        if !self.existing.is_empty() {
            let ids: Vec<String> = self.existing.iter().map(|i| i.to_string()).collect();
            if self.retries > 0 {
                return format!(
                    "{}: written as run{} {} (the connection was lost as it committed; trying again found it)\n",
                    self.name,
                    if ids.len() > 1 { "s" } else { "" },
                    ids.join(", ")
                );
            }
            return format!(
                "{}: already imported as run{} {}; nothing written (--force imports it again)\n",
                self.name,
                if ids.len() > 1 { "s" } else { "" },
                ids.join(", ")
            );
        }
        let mut out = format!(
            "{} ({}): {} {} run{}, {} samples{}\n",
            self.name,
            self.format,
            if dry_run { "would write" } else { "wrote" },
            self.runs.len(),
            if self.runs.len() == 1 { "" } else { "s" },
            thousands(self.rows()),
            if dry_run || self.seconds <= 0.0 || self.rows() == 0 {
                String::new()
            } else {
                format!(
                    " in {:.2} s ({} rows/s)",
                    self.seconds,
                    thousands((self.rows() as f64 / self.seconds.max(1e-9)) as u64)
                )
            }
        );
        for r in &self.runs {
            let id = if r.run_id > 0 {
                format!("run {}", r.run_id)
            } else {
                "run".to_string()
            };
            let llms: Vec<&str> = r.llms.iter().map(String::as_str).collect();
            let workload: Vec<String> =
                r.workload.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!(
                "  {id}: {} [{}]\n",
                llms.join(", "),
                workload.join(" ")
            ));
            if r.samples > 0 {
                let per: Vec<String> = r
                    .per_metric
                    .iter()
                    .map(|(m, n)| format!("{m} {}", thousands(*n)))
                    .collect();
                out.push_str(&format!(
                    "    {} samples: {}\n",
                    thousands(r.samples),
                    per.join(", ")
                ));
            }
            if !r.reported.is_empty() {
                out.push_str(&format!(
                    "    aggregate-only: kept as {} reported them: {} (rank --include-reported shows them)\n",
                    r.tool,
                    r.reported.join(", ")
                ));
            }
            if r.failed > 0 {
                out.push_str(&format!(
                    "    {} failed requests (not samples)\n",
                    thousands(r.failed)
                ));
            }
            for (why, n) in &r.dropped {
                out.push_str(&format!("    {} dropped: {why}\n", thousands(*n)));
            }
            if r.samples == 0 && r.reported.is_empty() {
                out.push_str("    no samples and no statistics: every request failed\n");
            }
        }
        out
    }
}

/// Messages from the parsing thread to the writing side.
enum Msg {
    Begin(Box<Benchmark>, oneshot::Sender<Result<(i32, i32)>>),
    Llm(String, oneshot::Sender<Result<i16>>),
    Metric(String, oneshot::Sender<Result<i16>>),
    /// Complete binary COPY data, its row count, and the UTC day every row falls in when they
    /// share one (copied straight into that day's partition when it exists).
    Copy(Vec<Bytes>, u64, Option<i64>),
    End(Box<FinishedRun>),
    Summaries(Vec<(RowKey, Summary)>),
}

/// COPY data are sent in pieces of about this size.
const FLUSH_BYTES: usize = 2 << 20;

/// Parses `input` without writing anything: what an import would do (`--dry-run`).
pub fn dry_run(input: Input) -> Result<InputReport> {
    let format = input.format;
    let mut sink = Counting {
        opts: input.opts.clone(),
        ..Default::default()
    };
    let mut hasher = HashingReader::new(input.reader, input.progress.clone());
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
        InputFormat::RecordsArray => {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes)?;
            import::generic::parse_json_array(&bytes, opts, sink)
        }
    }
}

/// Counts what a parse yields (dry runs, and the report of a real one).
#[derive(Default)]
struct Counting {
    runs: Vec<RunReport>,
    /// On a dry run: the options, to name the LLM of aggregate-only benchmarks.
    opts: Options,
    llm: Option<String>,
}

impl Counting {
    fn begin(&mut self, b: &Benchmark) {
        self.runs.push(RunReport {
            run_id: 0,
            tool: b.tool.clone(),
            llms: BTreeSet::new(),
            workload: b.workload.clone(),
            samples: 0,
            per_metric: BTreeMap::new(),
            reported: Vec::new(),
            failed: 0,
            dropped: BTreeMap::new(),
        });
    }

    fn sample(&mut self, llm: &str, metric: &str) {
        if let Some(r) = self.runs.last_mut() {
            if !r.llms.contains(llm) {
                r.llms.insert(llm.to_string());
            }
            r.samples += 1;
            match r.per_metric.get_mut(metric) {
                Some(n) => *n += 1,
                None => {
                    r.per_metric.insert(metric.to_string(), 1);
                }
            }
        }
    }

    fn end(&mut self, t: &Tally, llm: Option<&str>) {
        if let Some(r) = self.runs.last_mut() {
            r.failed = t.failed;
            r.dropped = t.dropped.clone();
            r.reported = t
                .reported
                .iter()
                .filter_map(|x| x.metric.map(|m| m.name().to_string()))
                .collect();
            if let (Some(l), false) = (llm, t.reported.is_empty()) {
                r.llms.insert(l.to_string());
            }
        }
    }
}

impl import::Sink for Counting {
    fn begin(&mut self, b: Benchmark) -> Result<()> {
        self.llm = b.llm(&self.opts, "").ok();
        Counting::begin(self, &b);
        Ok(())
    }
    fn sample(&mut self, llm: &str, metric: &str, _: f64, _: Option<i64>) -> Result<()> {
        Counting::sample(self, llm, metric);
        Ok(())
    }
    fn end(&mut self, t: Tally) -> Result<()> {
        let llm = self.llm.take();
        Counting::end(self, &t, llm.as_deref());
        Ok(())
    }
}

/// A reader that hashes what passes through it (the input's SHA-256, whatever its size).
pub struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
    read: Option<Arc<AtomicU64>>,
}

impl<R: BufRead> HashingReader<R> {
    pub fn new(inner: R, read: Option<Arc<AtomicU64>>) -> Self {
        HashingReader {
            inner,
            hasher: sha2::Sha256::new(),
            read,
        }
    }

    fn count(&self, n: usize) {
        if let Some(r) = &self.read {
            r.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    pub fn hex(&self) -> String {
        crate::hash::hex(&self.hasher.clone().finalize())
    }
}

impl<R: BufRead> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for HashingReader<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let n = amt.min(buf.len());
            self.hasher.update(&buf[..n]);
            self.count(n);
        }
        self.inner.consume(amt);
    }
}

/// The sink on the parsing thread: ids through the writing side, rows and summaries here.
struct Writing {
    tx: mpsc::Sender<Msg>,
    llms: HashMap<String, i16>,
    metrics: HashMap<String, i16>,
    run: Option<(i32, i32)>,
    measured_at: Option<i64>,
    /// Samples of the current run.
    rows: u64,
    encoder: Encoder,
    pending_bytes: usize,
    /// The day of the rows pending: `None` before the first, `Some(None)` when they differ.
    pending_day: Option<Option<i64>>,
    rollup: Rollup,
    now_us: i64,
    counting: Counting,
    /// The benchmark's LLM (`--llm` or the file's model), for aggregate-only runs.
    current_llm: Option<String>,
    opts: Options,
    last_log: Instant,
    total: u64,
}

impl Writing {
    fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Msg) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .blocking_send(make(reply))
            .map_err(|_| anyhow!("the database side stopped"))?;
        rx.blocking_recv()
            .map_err(|_| anyhow!("the database side stopped"))?
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending_bytes == 0 {
            return Ok(());
        }
        let (chunks, rows) = std::mem::take(&mut self.encoder).finish();
        self.pending_bytes = 0;
        let day = self.pending_day.take().flatten();
        self.tx
            .blocking_send(Msg::Copy(chunks, rows, day))
            .map_err(|_| anyhow!("the database side stopped"))
    }
}

impl import::Sink for Writing {
    fn begin(&mut self, b: Benchmark) -> Result<()> {
        self.counting.begin(&b);
        self.measured_at = b.measured_at;
        self.current_llm = b.llm(&self.opts, "").ok();
        let ids = self.ask(|r| Msg::Begin(Box::new(b), r))?;
        self.run = Some(ids);
        self.rows = 0;
        Ok(())
    }

    fn sample(&mut self, llm: &str, metric: &str, value: f64, at: Option<i64>) -> Result<()> {
        let (run_id, workload_id) = self
            .run
            .ok_or_else(|| anyhow!("a sample before any benchmark began"))?;
        let llm_id = match self.llms.get(llm) {
            Some(&id) => id,
            None => {
                let id = self.ask(|r| Msg::Llm(llm.to_string(), r))?;
                self.llms.insert(llm.to_string(), id);
                id
            }
        };
        let metric_id = match self.metrics.get(metric) {
            Some(&id) => id,
            None => {
                let id = self.ask(|r| Msg::Metric(metric.to_string(), r))?;
                self.metrics.insert(metric.to_string(), id);
                id
            }
        };
        self.counting.sample(llm, metric);
        let at_us = at
            .or(self.measured_at.map(|s| s * 1_000_000))
            .unwrap_or(self.now_us);
        self.encoder.push(&copy::Row {
            llm_id,
            metric_id,
            run_id,
            value,
            created_at: at_us - PG_EPOCH_OFFSET_US,
        });
        self.pending_bytes += copy::ROW_BYTES;
        let day = at_us.div_euclid(1_000_000).div_euclid(crate::summary::DAY) * crate::summary::DAY;
        self.pending_day = match self.pending_day {
            None => Some(Some(day)),
            Some(Some(d)) if d == day => Some(Some(d)),
            _ => Some(None),
        };
        self.rollup.add(
            SeriesKey {
                metric_id,
                llm_id,
                workload_id,
            },
            at_us.div_euclid(1_000_000),
            value,
        );
        self.rows += 1;
        self.total += 1;
        if self.pending_bytes >= FLUSH_BYTES {
            self.flush()?;
            if self.last_log.elapsed().as_secs() >= 5 {
                self.last_log = Instant::now();
                tracing::info!(rows = self.total, "importing");
            }
        }
        Ok(())
    }

    fn end(&mut self, t: Tally) -> Result<()> {
        let (run_id, _) = self
            .run
            .take()
            .ok_or_else(|| anyhow!("a benchmark ended before it began"))?;
        self.flush()?;
        // Aggregate-only runs name their LLM through the reported rows.
        self.counting.end(&t, self.current_llm.as_deref());
        let finished = FinishedRun {
            run_id,
            llm: self.current_llm.clone(),
            measured_at: self.measured_at,
            tally: t,
            rows: self.rows,
        };
        self.tx
            .blocking_send(Msg::End(Box::new(finished)))
            .map_err(|_| anyhow!("the database side stopped"))
    }
}

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
    let parse_opts = opts.clone();
    let parser = tokio::task::spawn_blocking(move || {
        let mut hashing = HashingReader::new(reader, progress);
        let mut sink = Writing {
            tx,
            llms: HashMap::new(),
            metrics: HashMap::new(),
            run: None,
            measured_at: None,
            rows: 0,
            encoder: Encoder::new(),
            pending_bytes: 0,
            pending_day: None,
            rollup: Rollup::default(),
            now_us: copy::pg_timestamp(SystemTime::now()) + PG_EPOCH_OFFSET_US,
            counting: Counting::default(),
            current_llm: None,
            opts: parse_opts.clone(),
            last_log: Instant::now(),
            total: 0,
        };
        parse_into(format, &mut hashing, &parse_opts, &mut sink)?;
        // Drain what the parser did not read (a JSON document's trailing bytes): the hash
        // covers the whole input.
        std::io::copy(&mut hashing, &mut std::io::sink())?;
        let rows = sink.rollup.rows();
        sink.tx
            .blocking_send(Msg::Summaries(rows))
            .map_err(|_| anyhow!("the database side stopped"))?;
        Ok::<_, anyhow::Error>((hashing.hex(), sink.counting.runs))
    });

    let txn = client
        .transaction()
        .await
        .context("failed to start the import's transaction")?;
    // A retried request: answered before its body is even parsed. The lock (held to COMMIT)
    // makes a concurrent retry wait for the first attempt's outcome.
    if let Some(k) = &input.idempotency_key {
        let earlier = written_before(&txn, Identity::Key(k), &[]).await?;
        if !earlier.is_empty() {
            drop(rx);
            let _ = parser.await;
            txn.rollback().await.ok();
            return Ok(InputReport::found(
                name,
                format,
                String::new(),
                earlier,
                started,
            ));
        }
    }
    let mut cat = catalogue::load(&txn).await?;
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
                    let r = ensure_llm(&txn, &mut cat, &llm).await;
                    answer(reply, r)
                }
                Msg::Metric(metric, reply) => {
                    let r = ensure_metric(&txn, &mut cat, &metric).await;
                    answer(reply, r)
                }
                Msg::Copy(chunks, rows, day) => {
                    copy_rows(&txn, &mut partitions, chunks, rows, day).await
                }
                Msg::End(run) => finish_run(&txn, &mut cat, &run).await,
                Msg::Summaries(rows) => {
                    summaries::upsert(&txn, &rows)
                        .await
                        .context("failed to write summaries")?;
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
    let identity = match &input.idempotency_key {
        Some(k) => Identity::Key(k),
        None => Identity::File(&sha, source),
    };
    let existing = written_before(&txn, identity, &ids).await?;
    if !existing.is_empty() && !input.force {
        txn.rollback().await.ok();
        return Ok(InputReport::found(name, format, sha, existing, started));
    }
    txn.execute(
        "UPDATE runs SET status = 'completed', finished_at = now(),
                params = params || jsonb_build_object('file_sha256', $2::text)
         WHERE id = ANY($1)",
        &[&ids, &sha],
    )
    .await
    .context("failed to complete the runs")?;
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

/// What identifies an input written before: its Idempotency-Key, or its file's SHA-256.
enum Identity<'a> {
    Key(&'a str),
    File(&'a str, SourceKind),
}

/// The completed runs of an input written before (other than `except`, this attempt's own),
/// under a transaction-scoped lock on its identity: a concurrent attempt waits for this one's
/// outcome, so an input is written once.
async fn written_before(
    txn: &tokio_postgres::Transaction<'_>,
    identity: Identity<'_>,
    except: &[i32],
) -> Result<Vec<i32>> {
    let lock = |key: String| async move {
        txn.execute(
            "SELECT pg_advisory_xact_lock(1819045219, hashtext($1))",
            &[&key],
        )
        .await
        .context("failed to take the import lock")
    };
    let found = match identity {
        Identity::Key(k) => {
            lock(format!("api\n{k}")).await?;
            txn.query(
                "SELECT id FROM runs WHERE source = 'api' AND params ->> 'idempotency_key' = $1
                   AND status = 'completed' AND NOT (id = ANY($2)) ORDER BY id",
                &[&k, &except],
            )
            .await
        }
        Identity::File(sha, source) => {
            lock(format!("import\n{sha}")).await?;
            txn.query(
                "SELECT id FROM runs WHERE source = $3 AND params ->> 'file_sha256' = $1
                   AND status = 'completed' AND NOT (id = ANY($2)) ORDER BY id",
                &[&sha, &except, &source.as_str()],
            )
            .await
        }
    }
    .context("failed to look for an earlier import")?;
    Ok(found.iter().map(|r| r.get(0)).collect())
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
    let mut target = None;
    if let Some(d) = day {
        let name = crate::db::copy::partition_name(d);
        let exists = match partitions.get(&d) {
            Some(&e) => e,
            None => {
                let e: bool = txn
                    .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
                    .await
                    .context("failed to look up a partition")?
                    .get(0);
                partitions.insert(d, e);
                e
            }
        };
        target = exists.then_some(name);
    }
    let statement = match &target {
        Some(t) => crate::db::copy::copy_in_statement_into(t),
        None => copy_in_statement(),
    };
    let sink = txn
        .copy_in::<_, Bytes>(&statement)
        .await
        .context("failed to start COPY")?;
    futures_util::pin_mut!(sink);
    for c in chunks {
        sink.feed(c).await.context("COPY failed")?;
    }
    let n = sink.as_mut().finish().await.context("COPY failed")?;
    if n != rows {
        bail!("COPY stored {n} rows, expected {rows}");
    }
    metrics::counter!(crate::telemetry::SAMPLES_WRITTEN).increment(rows);
    Ok(())
}

/// A benchmark whose records were all sent.
struct FinishedRun {
    run_id: i32,
    /// The LLM its reported statistics belong to (`--llm`, or the file's model).
    llm: Option<String>,
    /// When the benchmark ran (Unix seconds), when the file says.
    measured_at: Option<i64>,
    tally: Tally,
    rows: u64,
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
    } = run;
    let (run_id, measured_at, rows) = (*run_id, *measured_at, *rows);
    if !tally.reported.is_empty() {
        let llm = llm.as_deref().ok_or_else(|| {
            anyhow!("an aggregate-only benchmark names no model; pass --llm NAME")
        })?;
        let llm_id = ensure_llm(txn, cat, llm).await?;
        for r in &tally.reported {
            let Some(m) = r.metric else { continue };
            let metric_id = ensure_metric(txn, cat, m.name()).await?;
            store_reported(txn, run_id, llm_id, metric_id, measured_at, r).await?;
        }
    }
    let outcome = serde_json::json!({
        "failed_requests": tally.failed,
        "dropped": tally.dropped,
        "samples": rows,
        "reported_metrics": tally.reported.len(),
    });
    txn.execute(
        "UPDATE runs SET params = params || jsonb_build_object('outcome', $2::jsonb) WHERE id = $1",
        &[&run_id, &outcome],
    )
    .await
    .context("failed to record the run's outcome")?;
    txn.execute(
        "INSERT INTO batches (run_id, batch_no, rows) VALUES ($1, 0, $2)",
        &[&run_id, &(rows as i64)],
    )
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

async fn ensure_llm(
    client: &impl tokio_postgres::GenericClient,
    cat: &mut catalogue::Catalogue,
    name: &str,
) -> Result<i16> {
    if let Some(id) = cat.llm_id(name) {
        return Ok(id);
    }
    if name.trim().is_empty() || name.len() > 200 {
        anyhow::bail!("LLM name {name:?} must be 1 to 200 characters");
    }
    let id: i16 = crate::db::insert_or_get(
        client,
        "WITH new AS (INSERT INTO llms (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id)
         SELECT id FROM new UNION ALL SELECT id FROM llms WHERE name = $1 LIMIT 1",
        "SELECT id FROM llms WHERE name = $1",
        &[&name],
    )
    .await
    .with_context(|| format!("failed to add LLM {name:?}"))?;
    cat.llms.push((id, name.to_string()));
    Ok(id)
}

async fn ensure_metric(
    client: &impl tokio_postgres::GenericClient,
    cat: &mut catalogue::Catalogue,
    name: &str,
) -> Result<i16> {
    if let Some((id, _)) = cat.metric(name) {
        return Ok(id);
    }
    let Some(kind) = MetricKind::from_name(name) else {
        anyhow::bail!(
            "unknown metric {name:?}; valid metrics: {}",
            known_metric_names(cat).join(", ")
        );
    };
    let id: i16 = crate::db::insert_or_get(
        client,
        "WITH new AS (INSERT INTO metrics (name, unit, direction) VALUES ($1, $2, $3)
                      ON CONFLICT (name) DO NOTHING RETURNING id)
         SELECT id FROM new UNION ALL SELECT id FROM metrics WHERE name = $1 LIMIT 1",
        "SELECT id FROM metrics WHERE name = $1 AND $2::text IS NOT NULL AND $3::text IS NOT NULL",
        &[&name, &kind.unit(), &kind.direction().as_str()],
    )
    .await
    .with_context(|| format!("failed to add metric {name:?}"))?;
    cat.metrics.push((id, kind.info()));
    Ok(id)
}

/// The catalogue's metrics and llmrank's own, which imports add on first sight.
pub fn known_metric_names(cat: &catalogue::Catalogue) -> Vec<String> {
    let mut names: Vec<String> = cat.metric_names().into_iter().map(String::from).collect();
    for m in MetricKind::ALL {
        if !names.iter().any(|n| n == m.name()) {
            names.push(m.name().to_string());
        }
    }
    names
}

async fn store_reported(
    client: &impl tokio_postgres::GenericClient,
    run_id: i32,
    llm_id: i16,
    metric_id: i16,
    measured_at: Option<i64>,
    r: &import::Reported,
) -> Result<()> {
    let percentiles = serde_json::to_value(&r.percentiles)?;
    let at = measured_at.map(|s| s as f64);
    client
        .execute(
            "INSERT INTO run_reported (run_id, llm_id, metric_id, measured_at, n, mean, stddev, min, max,
                                       p50, p90, p95, p99, percentiles, origin)
             VALUES ($1, $2, $3, coalesce(to_timestamp($4), now()), $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (run_id, llm_id, metric_id) DO NOTHING",
            &[
                &run_id,
                &llm_id,
                &metric_id,
                &at,
                &r.n.map(|n| n as i64),
                &r.mean,
                &r.stddev,
                &r.min,
                &r.max,
                &r.percentile("p50"),
                &r.percentile("p90"),
                &r.percentile("p95"),
                &r.percentile("p99"),
                &percentiles,
                &r.origin,
            ],
        )
        .await
        .context("failed to store the reported statistics")?;
    Ok(())
}
