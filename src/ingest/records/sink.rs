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
use crate::domain::MetricKind;
use crate::import::{self, Benchmark, Options, Tally};
use crate::joint::{self, Joint, JointKey, JointRollup};
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
    /// The input's summary rows, its joint request rows, and the run of each series (`None`:
    /// several runs of the input share it, so no run row can be told apart).
    Summaries(
        Vec<(RowKey, Summary)>,
        Vec<(JointKey, Joint)>,
        BTreeMap<SeriesKey, Option<i32>>,
    ),
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
    /// The series of the current run (a few: one per metric and LLM), and of the runs ended.
    run_series: BTreeSet<SeriesKey>,
    series_runs: BTreeMap<SeriesKey, Option<i32>>,
    /// Joint summaries of the input's finished runs, and of the current run's requests.
    joint: JointRollup,
    run_joint: JointRollup,
    /// The current run's requests: the next number, the one samples now belong to, its
    /// values so far (LLM id, Unix s, values), how many were closed, the first one's LLM and time.
    next_request: i32,
    request: Option<i32>,
    open: Option<(i16, i64, joint::Request)>,
    requests: u64,
    first_request: Option<(i16, i64)>,
    workload_id: i32,
    duration_secs: Option<f64>,
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
            run_series: BTreeSet::new(),
            series_runs: BTreeMap::new(),
            joint: JointRollup::default(),
            run_joint: JointRollup::default(),
            next_request: 0,
            request: None,
            open: None,
            requests: 0,
            first_request: None,
            workload_id: 0,
            duration_secs: None,
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
            .blocking_send(Msg::Summaries(
                self.rollup.rows(),
                self.joint.rows(),
                self.series_runs,
            ))
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

    /// The id of `llm`, asked of the database side the first time.
    fn llm_id(&mut self, llm: &str) -> Result<i16> {
        if let Some(&id) = self.llms.get(llm) {
            return Ok(id);
        }
        let id = self.ask(|r| Msg::Llm(llm.to_string(), r))?;
        self.llms.insert(llm.to_string(), id);
        Ok(id)
    }

    /// The request whose values were being collected is complete.
    fn close_request(&mut self) {
        if let Some((llm_id, at, mut r)) = self.open.take() {
            if !r.is_empty() {
                let [ttft, tpot, e2e] = r.values;
                r.tokens = joint::output_tokens(ttft, tpot, e2e, None);
                self.run_joint.add(llm_id, self.workload_id, at, r);
                self.requests += 1;
                self.first_request.get_or_insert((llm_id, at));
            }
        }
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
        self.duration_secs = b.duration_secs.filter(|d| d.is_finite() && *d > 0.0);
        let ids = self.ask(|r| Msg::Begin(Box::new(b), r))?;
        self.run = Some(ids);
        self.workload_id = ids.1;
        self.rows = 0;
        self.next_request = 0;
        self.request = None;
        self.requests = 0;
        self.first_request = None;
        Ok(())
    }

    fn request(&mut self) -> Result<()> {
        self.close_request();
        self.request = Some(self.next_request);
        self.next_request = self
            .next_request
            .checked_add(1)
            .ok_or_else(|| anyhow!("more than {} requests in one benchmark", i32::MAX))?;
        Ok(())
    }

    fn sample(&mut self, llm: &str, metric: &str, value: f64, at: Option<i64>) -> Result<()> {
        let (run_id, workload_id) = self
            .run
            .ok_or_else(|| anyhow!("a sample before any benchmark began"))?;
        let llm_id = self.llm_id(llm)?;
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
            request: self.request,
        });
        if self.request.is_some() {
            let at_secs = at_us.div_euclid(1_000_000);
            let open = self
                .open
                .get_or_insert_with(|| (llm_id, at_secs, joint::Request::default()));
            if let (true, Some(m)) = (open.0 == llm_id, MetricKind::from_name(metric)) {
                open.2.set(m, value);
            }
        }
        self.pending_bytes += copy::ROW_BYTES;
        let day = at_us.div_euclid(1_000_000).div_euclid(crate::summary::DAY) * crate::summary::DAY;
        self.pending_day = match self.pending_day {
            None => Some(Some(day)),
            Some(Some(d)) if d == day => Some(Some(d)),
            _ => Some(None),
        };
        let series = SeriesKey {
            metric_id,
            llm_id,
            workload_id,
        };
        self.run_series.insert(series);
        self.rollup.add(series, at_us.div_euclid(1_000_000), value);
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
        self.close_request();
        self.request = None;
        for series in std::mem::take(&mut self.run_series) {
            self.series_runs
                .entry(series)
                .and_modify(|r| *r = r.filter(|&r| r == run_id))
                .or_insert(Some(run_id));
        }
        // Failed requests stand for their share of the run's time too, and are counted where
        // its first request was taken, under its LLM (the benchmark's, else its requests').
        let total = self.requests + t.failed;
        let share = self.duration_secs.map(|d| d / total.max(1) as f64);
        if let Some(d) = self.duration_secs {
            self.run_joint.spread_seconds(d, total);
        }
        let failed_llm = match (&self.current_llm, self.first_request) {
            (Some(l), _) if t.failed > 0 => Some(self.llm_id(&l.clone())?),
            (_, Some((id, _))) => Some(id),
            _ => None,
        };
        let first_at = self
            .first_request
            .map(|(_, at)| at)
            .or(self.measured_at)
            .unwrap_or(self.now_us.div_euclid(1_000_000));
        if let (Some(id), true) = (failed_llm, t.failed > 0) {
            let f = Joint::failures(t.failed, share);
            self.run_joint.add_joint(id, self.workload_id, first_at, &f);
        }
        self.joint.absorb(std::mem::take(&mut self.run_joint));
        // Aggregate-only runs name their LLM through the reported rows.
        self.counting.end(&t, self.current_llm.as_deref());
        let finished = FinishedRun {
            run_id,
            llm: self.current_llm.clone(),
            measured_at: self.measured_at,
            tally: t,
            rows: self.rows,
            requests: RequestTotals {
                requests: self.requests,
                duration_secs: self.duration_secs,
                first_request_at: (self.requests > 0 || failed_llm.is_some()).then_some(first_at),
                failed_llm_id: failed_llm,
            },
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
    pub requests: RequestTotals,
}

/// What the run's requests add to its recorded outcome (the exact goodput reads them).
#[derive(Debug, Clone, Default)]
pub struct RequestTotals {
    /// Successful requests kept as requests.
    pub requests: u64,
    pub duration_secs: Option<f64>,
    /// Where the run's failures are counted (Unix s), and under which LLM.
    pub first_request_at: Option<i64>,
    pub failed_llm_id: Option<i16>,
}
