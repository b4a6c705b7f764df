//! Run parameters and batch planning. Pure, no I/O.
//!
//! A batch is a contiguous, chunk-aligned range of one LLM's samples, written for every metric
//! in one transaction. Its number is a function of the parameters only, so the same run always
//! plans the same batches, `--resume` plans exactly the ones missing from the ledger, and a
//! retried batch rewrites exactly the same rows.

use serde::{Deserialize, Serialize};

use super::model::{Profile, CHUNK_SAMPLES, MODEL_VERSION};

/// Everything that determines a simulate run's data; stored as `runs.params`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub seed: u64,
    /// Samples per LLM x metric.
    pub samples: u64,
    /// Samples per batch (a multiple of `chunk_samples`).
    pub batch_samples: u64,
    pub chunk_samples: u64,
    pub model_version: u32,
    pub llms: Vec<LlmParams>,
    pub metrics: Vec<String>,
    /// Sample timestamps spread evenly over this many seconds before the run started
    /// (0: each batch is stamped when it is generated). Absent from older runs' params.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub span_secs: u64,
    /// The load level of one step of a sweep (`simulate --sweep concurrency=...`): requests in
    /// flight; absent for plain runs, whose draws have no load model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Injected drifts (`simulate --drift`); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<super::drift::Drift>,
}

/// `--sweep concurrency=1,2,4,8`: the load levels of a simulated sweep, ascending, each once.
pub fn parse_sweep(text: &str) -> Result<Vec<u32>, String> {
    let shape = "write --sweep concurrency=N,N,... (e.g. concurrency=1,2,4,8,16,32,64)";
    let Some((kind, list)) = text.split_once('=') else {
        return Err(format!("--sweep {text:?} is not KIND=LEVELS; {shape}"));
    };
    match kind.trim() {
        "concurrency" => {}
        "request_rate" => {
            return Err(format!(
                "--sweep request_rate is not simulated (the model is a closed loop of requests in flight); {shape}"
            ))
        }
        other => return Err(format!("--sweep {other:?}: the load to sweep is concurrency; {shape}")),
    }
    let mut levels = Vec::new();
    for part in list.split(',').map(str::trim) {
        let level: u32 = part
            .parse()
            .ok()
            .filter(|&c| (1..=100_000).contains(&c))
            .ok_or_else(|| {
                format!("--sweep level {part:?} is not a concurrency from 1 to 100000; {shape}")
            })?;
        if levels.contains(&level) {
            return Err(format!("--sweep names concurrency {level} twice; {shape}"));
        }
        levels.push(level);
    }
    if levels.len() < 2 {
        return Err(format!("a sweep needs at least two levels; {shape}"));
    }
    levels.sort_unstable();
    Ok(levels)
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmParams {
    pub name: String,
    pub profile: Profile,
}

/// One planned batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSpec {
    pub batch_no: i32,
    pub llm_index: usize,
    pub start: u64,
    pub end: u64,
}

impl Params {
    pub fn new(
        seed: u64,
        samples: u64,
        batch_rows: u64,
        llms: Vec<LlmParams>,
        metrics: Vec<String>,
    ) -> Self {
        let per_batch = batch_rows / metrics.len().max(1) as u64;
        let batch_samples = (per_batch / CHUNK_SAMPLES).max(1) * CHUNK_SAMPLES;
        Params {
            seed,
            samples,
            batch_samples,
            chunk_samples: CHUNK_SAMPLES,
            model_version: MODEL_VERSION,
            llms,
            metrics,
            span_secs: 0,
            concurrency: None,
            drift: Vec::new(),
        }
    }

    /// The planned batch numbered `batch_no` (see [`Params::plan`]).
    pub fn batch(&self, batch_no: i32) -> BatchSpec {
        let per_llm = self.batches_per_llm();
        let no = batch_no as u64;
        let (llm_index, k) = ((no / per_llm) as usize, no % per_llm);
        let start = k * self.batch_samples;
        BatchSpec {
            batch_no,
            llm_index,
            start,
            end: (start + self.batch_samples).min(self.samples),
        }
    }

    pub fn batches_per_llm(&self) -> u64 {
        self.samples.div_ceil(self.batch_samples)
    }

    pub fn batch_count(&self) -> u64 {
        self.batches_per_llm() * self.llms.len() as u64
    }

    /// Rows the whole run writes.
    pub fn total_rows(&self) -> u64 {
        self.samples * (self.llms.len() * self.metrics.len()) as u64
    }

    /// Rows of one batch.
    pub fn rows(&self, b: &BatchSpec) -> u64 {
        (b.end - b.start) * self.metrics.len() as u64
    }

    /// Every batch of the run, in a fixed order (LLMs interleaved so that all workers stay busy
    /// and an interrupted run has data for every LLM).
    pub fn plan(&self) -> Vec<BatchSpec> {
        let per_llm = self.batches_per_llm();
        let mut out = Vec::with_capacity(self.batch_count() as usize);
        for k in 0..per_llm {
            for llm_index in 0..self.llms.len() {
                let start = k * self.batch_samples;
                let end = (start + self.batch_samples).min(self.samples);
                let batch_no = (llm_index as u64 * per_llm + k) as i32;
                out.push(BatchSpec {
                    batch_no,
                    llm_index,
                    start,
                    end,
                });
            }
        }
        out
    }

    /// Says why these parameters cannot be planned (batch numbers are 32-bit).
    pub fn check(&self) -> Result<(), String> {
        if self.batch_count() > i32::MAX as u64 {
            return Err(format!(
                "{} batches do not fit the ledger; raise simulate.batch_rows",
                self.batch_count()
            ));
        }
        if self.chunk_samples != CHUNK_SAMPLES || self.model_version != MODEL_VERSION {
            return Err(format!(
                "run was written by simulation model v{} (chunks of {}); this build is v{} (chunks of {})",
                self.model_version, self.chunk_samples, MODEL_VERSION, CHUNK_SAMPLES
            ));
        }
        for d in &self.drift {
            if !self.llms.iter().any(|l| l.name == d.llm) {
                let known: Vec<&str> = self.llms.iter().map(|l| l.name.as_str()).collect();
                return Err(format!(
                    "--drift names unknown LLM {:?}; simulated LLMs: {}",
                    d.llm,
                    known.join(", ")
                ));
            }
            if d.before_end_secs as u64 > self.span_secs {
                return Err(format!(
                    "--drift for {} starts {} s before the end of the span, but the span is {} s: give --span at least that long",
                    d.llm, d.before_end_secs, self.span_secs
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_parse_and_bad_ones_say_what_is_allowed() {
        assert_eq!(parse_sweep("concurrency=4,1,2").unwrap(), [1, 2, 4]);
        for (bad, says) in [
            ("concurrency", "not KIND=LEVELS"),
            ("request_rate=1,2", "not simulated"),
            ("qps=1,2", "the load to sweep is concurrency"),
            ("concurrency=1,x", "not a concurrency from 1 to 100000"),
            ("concurrency=0,1", "not a concurrency"),
            ("concurrency=1,1", "twice"),
            ("concurrency=4", "at least two levels"),
        ] {
            let e = parse_sweep(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
    use crate::sim::model::default_llms;

    fn params(samples: u64, batch_rows: u64) -> Params {
        let llms = default_llms()
            .into_iter()
            .take(3)
            .map(|(n, p)| LlmParams {
                name: n.into(),
                profile: p,
            })
            .collect();
        let metrics = ["TTFT", "TPS", "e2e_latency", "RPS"]
            .map(String::from)
            .to_vec();
        Params::new(1, samples, batch_rows, llms, metrics)
    }

    #[test]
    fn batches_cover_every_sample_once_and_are_chunk_aligned() {
        let p = params(10_000, 16_384);
        assert_eq!(p.batch_samples, 4_096);
        let plan = p.plan();
        assert_eq!(plan.len() as u64, p.batch_count());
        for llm in 0..3 {
            let mut covered: Vec<_> = plan.iter().filter(|b| b.llm_index == llm).collect();
            covered.sort_by_key(|b| b.start);
            assert_eq!(covered.first().unwrap().start, 0);
            assert_eq!(covered.last().unwrap().end, 10_000);
            for w in covered.windows(2) {
                assert_eq!(w[0].end, w[1].start);
                assert_eq!(w[1].start % CHUNK_SAMPLES, 0);
            }
        }
        let rows: u64 = plan.iter().map(|b| p.rows(b)).sum();
        assert_eq!(rows, p.total_rows());
        assert_eq!(rows, 10_000 * 3 * 4);
        for b in &plan {
            assert_eq!(p.batch(b.batch_no), *b);
        }
        let mut nos: Vec<_> = plan.iter().map(|b| b.batch_no).collect();
        nos.sort();
        nos.dedup();
        assert_eq!(nos.len(), plan.len());
    }

    #[test]
    fn small_batches_round_up_to_one_chunk() {
        let p = params(1_000, 1_024);
        assert_eq!(p.batch_samples, CHUNK_SAMPLES);
        assert_eq!(p.plan().len(), 3);
    }

    #[test]
    fn params_round_trip_through_json() {
        let p = params(1_000, 65_536);
        let json = serde_json::to_value(&p).unwrap();
        let back: Params = serde_json::from_value(json).unwrap();
        assert_eq!(p, back);
    }
}
