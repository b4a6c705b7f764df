//! The simulation as an ingest [`Source`]: a run's parameters (`sim::plan`) and catalogue ids
//! in, the model's samples (`sim::model`) encoded as batches (binary COPY rows and their
//! summary rows) out. It lives beside the pipeline it feeds so that `sim/` stays pure; it reads
//! nothing but the clock (a batch's timestamp when the run has no span).

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Result};

use super::{writer, Planned, Source};
use crate::db::catalogue::Catalogue;
use crate::db::copy;
use crate::domain::{MetricKind, SIMULATE_WORKLOAD};
use crate::joint::{self, JointRollup};
use crate::sim::model::{Model, Sample};
use crate::sim::plan::Params;
use crate::summary::{Rollup, SeriesKey, DAY};

/// Database ids of the run's LLMs and metrics.
#[derive(Debug, Clone)]
pub struct Ids {
    llms: Vec<i16>,
    metrics: Vec<(i16, MetricKind)>,
}

impl Ids {
    pub fn resolve(params: &Params, cat: &Catalogue) -> Result<Ids> {
        let llms = params
            .llms
            .iter()
            .map(|l| {
                cat.llm_id(&l.name).ok_or_else(|| {
                    anyhow!(
                        "LLM {:?} is not in the database catalogue; run `llmrank seed`",
                        l.name
                    )
                })
            })
            .collect::<Result<_>>()?;
        let metrics = params
            .metrics
            .iter()
            .map(|m| {
                let kind = MetricKind::from_name(m)
                    .filter(|k| k.simulated())
                    .ok_or_else(|| anyhow!("metric {m:?} cannot be simulated"))?;
                let (id, _) = cat.metric(m).ok_or_else(|| {
                    anyhow!("metric {m:?} is not in the database catalogue; run `llmrank seed`")
                })?;
                Ok((id, kind))
            })
            .collect::<Result<_>>()?;
        Ok(Ids { llms, metrics })
    }
}

/// A simulate run as a [`Source`].
pub struct SimSource {
    params: Params,
    ids: Ids,
    /// µs since 2000-01-01 at which the span ends (the run's start), when it has a span.
    span_end: Option<i64>,
    summaries: bool,
    /// The run's workload: the simulate one, or a sweep level's.
    workload_id: i32,
}

impl SimSource {
    /// `started_at` anchors the span (the run's `started_at`, so a resume stamps the same times).
    pub fn new(params: Params, ids: Ids, started_at: SystemTime) -> SimSource {
        let span_end = (params.span_secs > 0).then(|| copy::pg_timestamp(started_at));
        SimSource {
            params,
            ids,
            span_end,
            summaries: true,
            workload_id: SIMULATE_WORKLOAD,
        }
    }

    /// The run's workload when it is not the plain simulate one (a sweep level's).
    pub fn in_workload(mut self, workload_id: i32) -> SimSource {
        self.workload_id = workload_id;
        self
    }

    /// Batches without summary rows: only for `llmrank bench`, which measures what the
    /// summaries cost. Rankings would not see such data until `llmrank summarize`.
    pub fn without_summaries(mut self) -> SimSource {
        self.summaries = false;
        self
    }

    /// The timestamp of sample `i` (µs since 2000-01-01): spread evenly over the span, or `now`.
    fn stamp(&self, i: u64, now: i64) -> i64 {
        match self.span_end {
            None => now,
            Some(end) => {
                let span = self.params.span_secs as i128 * 1_000_000;
                let offset =
                    span * i128::from(i as i64) / i128::from(self.params.samples.max(1) as i64);
                end - span as i64 + offset as i64
            }
        }
    }
}

impl Source for SimSource {
    fn plan(&self) -> Vec<Planned> {
        self.params
            .plan()
            .iter()
            .map(|b| Planned {
                batch_no: b.batch_no,
                rows: self.params.rows(b),
            })
            .collect()
    }

    /// Rows grouped by metric; summary rows grouped by metric, LLM and hour of their timestamps.
    fn produce(&self, run_id: i32, batch_no: i32) -> writer::Batch {
        let spec = self.params.batch(batch_no);
        let llm = &self.params.llms[spec.llm_index];
        let llm_id = self.ids.llms[spec.llm_index];
        let model =
            Model::new(&llm.profile).expect("profiles are validated before a run is planned");
        let mut samples: Vec<Sample> = Vec::with_capacity((spec.end - spec.start) as usize);
        model.generate_at(
            self.params.seed,
            &llm.name,
            self.params.concurrency,
            spec.start,
            spec.end,
            |s| samples.push(s),
        );
        let now = copy::pg_timestamp(SystemTime::now());
        let stamps: Vec<i64> = (spec.start..spec.end).map(|i| self.stamp(i, now)).collect();
        // Injected drifts move this LLM's requests stamped from their start on.
        if let Some(end) = self.span_end {
            for d in self.params.drift.iter().filter(|d| d.llm == llm.name) {
                let start = end - d.before_end_secs * 1_000_000;
                for (s, _) in samples.iter_mut().zip(&stamps).filter(|(_, &t)| t >= start) {
                    d.apply(s);
                }
            }
        }
        let mut enc = copy::Encoder::new();
        let mut rollup = Rollup::default();
        let mut joint = JointRollup::default();
        let mut values = Vec::with_capacity(samples.len());
        for &(metric_id, kind) in &self.ids.metrics {
            values.clear();
            values.extend(samples.iter().filter_map(|s| s.get(kind)));
            for ((&value, &created_at), request) in values.iter().zip(&stamps).zip(spec.start..) {
                enc.push(&copy::Row {
                    llm_id,
                    metric_id,
                    run_id,
                    value,
                    created_at,
                    request: Some(request as i32),
                });
            }
            // Runs of samples in the same hour go to the rollup together.
            let mut from = 0;
            while self.summaries && from < values.len() {
                let secs = copy::unix_secs(stamps[from]);
                let hour = secs.div_euclid(crate::summary::HOUR);
                let mut to = from + 1;
                while to < values.len()
                    && copy::unix_secs(stamps[to]).div_euclid(crate::summary::HOUR) == hour
                {
                    to += 1;
                }
                let series = SeriesKey {
                    metric_id,
                    llm_id,
                    workload_id: self.workload_id,
                };
                rollup.add_slice(series, secs, &values[from..to]);
                from = to;
            }
        }
        // Each sample is one request: its TTFT, TPOT (1000 / its decode speed) and e2e, standing
        // for 1 / RPS seconds of run time (its share at the simulated throughput), and its
        // output tokens (decode time × decode speed, as a rebuild from the rows finds them).
        if self.summaries {
            let requests: Vec<joint::Request> = samples
                .iter()
                .map(|s| joint::Request {
                    values: [Some(s.ttft_ms), Some(1_000.0 / s.tps), Some(s.e2e_ms)],
                    seconds: Some(1.0 / s.rps),
                    tokens: joint::output_tokens(
                        Some(s.ttft_ms),
                        None,
                        Some(s.e2e_ms),
                        Some(s.tps),
                    ),
                })
                .collect();
            // Runs of requests in the same hour go to the rollup together.
            let hour = |i: usize| copy::unix_secs(stamps[i]).div_euclid(crate::summary::HOUR);
            let mut from = 0;
            while from < requests.len() {
                let mut to = from + 1;
                while to < requests.len() && hour(to) == hour(from) {
                    to += 1;
                }
                let at = copy::unix_secs(stamps[from]);
                joint.add_slice(llm_id, self.workload_id, at, &requests[from..to]);
                from = to;
            }
        }
        let (chunks, rows) = enc.finish();
        // Stamps ascend, so the first and last give the batch's days.
        let day = |us: i64| copy::unix_secs(us).div_euclid(DAY) * DAY;
        let (first, last) = (
            stamps.first().map(|&t| day(t)),
            stamps.last().map(|&t| day(t)),
        );
        writer::Batch {
            run_id,
            batch_no,
            rows,
            chunks,
            summaries: rollup.rows(),
            joint: joint.rows(),
            day: first.filter(|_| first == last),
        }
    }
}

/// Seconds since the Unix epoch of a `SystemTime` (for anchoring spans in tests and logs).
pub fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
