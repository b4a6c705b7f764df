//! The parsing thread's side: sinks a pure parser streams records into. `Counting` tallies
//! them (a dry run, and every report), `HashingReader` hashes the input as it is read, and
//! `Writing` encodes binary COPY rows and summary rows, asking the database side (over a
//! channel, see [`Msg`]) for run, LLM and metric ids.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{anyhow, Result};
use bytes::Bytes;
use sha2::Digest;
use tokio::sync::{mpsc, oneshot};

use super::report::RunReport;
use crate::db::copy::{self, Encoder, PG_EPOCH_OFFSET_US};
use crate::import::{self, Benchmark, Options, Tally};
use crate::summary::{Rollup, RowKey, SeriesKey, Summary};

/// Messages from the parsing thread to the writing side.
pub enum Msg {
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

/// Counts what a parse yields (dry runs, and the report of a real one).
#[derive(Default)]
pub struct Counting {
    pub runs: Vec<RunReport>,
    /// On a dry run: the options, to name the LLM of aggregate-only benchmarks.
    pub opts: Options,
    llm: Option<String>,
}

impl Counting {
    /// A counter for a dry run (`opts` names the LLM of aggregate-only benchmarks).
    pub fn new(opts: Options) -> Counting {
        Counting {
            opts,
            ..Default::default()
        }
    }

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

/// A reader that hashes what passes through it (the input's SHA-256, whatever its size),
/// unless the hash was known before.
pub struct HashingReader<R> {
    inner: R,
    hasher: InputHash,
    read: Option<Arc<AtomicU64>>,
}

/// The input's SHA-256: computed as it is read, or known before (a file hashed up front, a
/// body hashed for its Idempotency-Key), so never computed twice.
enum InputHash {
    Computing(sha2::Sha256),
    Known(String),
}

impl<R: BufRead> HashingReader<R> {
    pub fn new(inner: R, read: Option<Arc<AtomicU64>>, known: Option<String>) -> Self {
        HashingReader {
            inner,
            hasher: match known {
                Some(hex) => InputHash::Known(hex),
                None => InputHash::Computing(sha2::Sha256::new()),
            },
            read,
        }
    }

    fn count(&self, n: usize) {
        if let Some(r) = &self.read {
            r.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    pub fn hex(&self) -> String {
        match &self.hasher {
            InputHash::Computing(h) => crate::hash::hex(&h.clone().finalize()),
            InputHash::Known(hex) => hex.clone(),
        }
    }
}

impl<R: BufRead> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let InputHash::Computing(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
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
            if let InputHash::Computing(h) = &mut self.hasher {
                h.update(&buf[..n]);
            }
            self.count(n);
        }
        self.inner.consume(amt);
    }
}

/// The sink on the parsing thread: ids through the writing side, rows and summaries here.
pub struct Writing {
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
    /// A sink sending what the database side must do over `tx`.
    pub fn new(tx: mpsc::Sender<Msg>, opts: Options) -> Writing {
        Writing {
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
            opts,
            last_log: Instant::now(),
            total: 0,
        }
    }

    /// Sends the input's summary rows once everything is parsed; returns what it counted.
    pub fn finish(self) -> Result<Vec<RunReport>> {
        self.tx
            .blocking_send(Msg::Summaries(self.rollup.rows()))
            .map_err(|_| anyhow!("the database side stopped"))?;
        Ok(self.counting.runs)
    }

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

/// A benchmark whose records were all sent.
pub struct FinishedRun {
    pub run_id: i32,
    /// The LLM its reported statistics belong to (`--llm`, or the file's model).
    pub llm: Option<String>,
    /// When the benchmark ran (Unix seconds), when the file says.
    pub measured_at: Option<i64>,
    pub tally: Tally,
    pub rows: u64,
}
