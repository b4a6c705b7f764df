//! The simulation model: what one simulated request to an LLM looks like. Pure, no I/O.
//!
//! One draw is one request: time to first token and decode speed are log-normal (latencies are
//! heavy-tailed), the output length is log-normal and rounded, and
//! `e2e_latency = TTFT + output_tokens / TPS`, so e2e ≥ TTFT always. RPS is the throughput of a
//! time window, log-normal around the LLM's capacity. The defaults are plausible, not measured.
//!
//! Reproducibility: samples are split into fixed chunks of [`CHUNK_SAMPLES`]; each chunk's
//! generator is seeded from `(seed, LLM name, chunk index)`, so the data depend on the seed only,
//! never on the number of workers or the batch size, and no generator is shared or reseeded per
//! value.

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use crate::domain::MetricKind;
use crate::hash::{fnv1a, splitmix64};

/// Samples per generator stream. Fixed: changing it changes every generated value.
pub const CHUNK_SAMPLES: u64 = 1_024;

/// Bump when the model changes what a seed produces; recorded with every run.
pub const MODEL_VERSION: u32 = 1;

/// An LLM's simulated performance: medians and log-normal spreads (sigma of the log).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Median time to first token, ms.
    pub ttft_ms: f64,
    pub ttft_sigma: f64,
    /// Median decode speed, tokens/s.
    pub tps: f64,
    pub tps_sigma: f64,
    /// Median output length, tokens.
    pub output_tokens: f64,
    pub output_tokens_sigma: f64,
    /// Median throughput capacity, requests/s.
    pub rps: f64,
    pub rps_sigma: f64,
    /// Concurrent requests the server serves before new ones queue, for load sweeps
    /// (`simulate --sweep`); 0: derived from `rps` (rps ÷ 2, at least 2).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub capacity: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl Profile {
    const fn new(ttft_ms: f64, tps: f64, rps: f64) -> Self {
        Profile {
            ttft_ms,
            ttft_sigma: 0.35,
            tps,
            tps_sigma: 0.2,
            output_tokens: 350.0,
            output_tokens_sigma: 0.6,
            rps,
            rps_sigma: 0.12,
            capacity: 0.0,
        }
    }

    /// The concurrency past which requests queue.
    pub fn capacity(&self) -> f64 {
        if self.capacity > 0.0 {
            self.capacity
        } else {
            (self.rps / 2.0).round().max(2.0)
        }
    }

    /// Says what is wrong with the profile, naming the field and the allowed range.
    pub fn validate(&self) -> Result<(), String> {
        let medians = [
            ("ttft_ms", self.ttft_ms),
            ("tps", self.tps),
            ("output_tokens", self.output_tokens),
            ("rps", self.rps),
        ];
        for (name, v) in medians {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("`{name}` must be a positive number, got {v}"));
            }
        }
        let sigmas = [
            ("ttft_sigma", self.ttft_sigma),
            ("tps_sigma", self.tps_sigma),
            ("output_tokens_sigma", self.output_tokens_sigma),
            ("rps_sigma", self.rps_sigma),
        ];
        for (name, v) in sigmas {
            if !(v.is_finite() && (0.0..=3.0).contains(&v)) {
                return Err(format!("`{name}` must be between 0 and 3, got {v}"));
            }
        }
        if !(self.capacity.is_finite() && (0.0..=1e6).contains(&self.capacity)) {
            return Err(format!(
                "`capacity` must be between 0 (derived from rps) and 1000000 concurrent requests, got {}",
                self.capacity
            ));
        }
        Ok(())
    }
}

/// The catalogue the original design seeded, names corrected, with plausible profiles:
/// small models answer sooner and decode faster, the largest are slowest.
pub fn default_llms() -> Vec<(&'static str, Profile)> {
    vec![
        ("GPT-4o", Profile::new(450.0, 95.0, 30.0)),
        ("GPT-4o mini", Profile::new(330.0, 140.0, 60.0)),
        ("Llama 3.1 405B", Profile::new(820.0, 30.0, 8.0)),
        ("Llama 3.1 70B", Profile::new(430.0, 70.0, 20.0)),
        ("Llama 3.1 8B", Profile::new(180.0, 185.0, 90.0)),
        ("Mistral Large 2", Profile::new(560.0, 45.0, 15.0)),
        ("Mixtral 8x22B", Profile::new(400.0, 75.0, 25.0)),
        ("Claude 3.5 Sonnet", Profile::new(700.0, 80.0, 24.0)),
        ("Claude 3 Haiku", Profile::new(300.0, 150.0, 70.0)),
        ("Gemini 1.5 Pro", Profile::new(900.0, 60.0, 18.0)),
        ("Gemini 1.5 Flash", Profile::new(260.0, 195.0, 80.0)),
        ("Jamba 1.5 Large", Profile::new(650.0, 55.0, 14.0)),
    ]
}

/// One simulated request: a value for every metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub ttft_ms: f64,
    pub tps: f64,
    pub e2e_ms: f64,
    pub rps: f64,
}

impl Sample {
    /// The sample's value of `m`; `None` for a metric the model does not simulate.
    pub fn get(&self, m: MetricKind) -> Option<f64> {
        match m {
            MetricKind::Ttft => Some(self.ttft_ms),
            MetricKind::Tps => Some(self.tps),
            MetricKind::E2eLatency => Some(self.e2e_ms),
            MetricKind::Rps => Some(self.rps),
            _ => None,
        }
    }
}

/// Draws samples for one LLM.
#[derive(Debug, Clone)]
pub struct Model {
    ttft: LogNormal<f64>,
    tps: LogNormal<f64>,
    tokens: LogNormal<f64>,
    rps: LogNormal<f64>,
    capacity: f64,
}

/// How prefill and decode slow as the server fills: at capacity, TTFT's own part takes
/// [`PREFILL_SLOWDOWN`]× and decoding [`DECODE_SLOWDOWN`]× as long as for a lone request.
pub const PREFILL_SLOWDOWN: f64 = 1.3;
pub const DECODE_SLOWDOWN: f64 = 1.6;

impl Model {
    /// Fails only on a profile that [`Profile::validate`] rejects.
    pub fn new(p: &Profile) -> Result<Self, String> {
        p.validate()?;
        let ln = |median: f64, sigma: f64| {
            LogNormal::new(median.ln(), sigma).map_err(|e| format!("bad profile: {e}"))
        };
        Ok(Model {
            ttft: ln(p.ttft_ms, p.ttft_sigma)?,
            tps: ln(p.tps, p.tps_sigma)?,
            tokens: ln(p.output_tokens, p.output_tokens_sigma)?,
            rps: ln(p.rps, p.rps_sigma)?,
            capacity: p.capacity(),
        })
    }

    /// One request at `concurrency` requests in flight (a closed-loop load level): the same
    /// draws as [`Model::sample`], then the load. Below the capacity K the server batches:
    /// prefill and decode slow linearly with c/K (to [`PREFILL_SLOWDOWN`] and
    /// [`DECODE_SLOWDOWN`] at K). Past it, c − K requests wait for a slot: a request queues for
    /// (c/K − 1) of its own service time before its first token, so TTFT and e2e grow
    /// linearly while throughput stays at K ÷ service time: the knee at c = K. Its RPS is
    /// min(c, K) ÷ its service time (s), so the harmonic mean over requests is Little's law.
    pub fn sample_at<R: Rng + ?Sized>(&self, rng: &mut R, concurrency: f64) -> Sample {
        let base = self.sample(rng);
        let k = self.capacity;
        let fill = (concurrency / k).min(1.0);
        let tps = base.tps / (1.0 + (DECODE_SLOWDOWN - 1.0) * fill);
        let decode_ms = (base.e2e_ms - base.ttft_ms) * base.tps / tps;
        let prefill_ms = base.ttft_ms * (1.0 + (PREFILL_SLOWDOWN - 1.0) * fill);
        let service_ms = prefill_ms + decode_ms;
        let wait_ms = (concurrency / k - 1.0).max(0.0) * service_ms;
        Sample {
            ttft_ms: prefill_ms + wait_ms,
            tps,
            e2e_ms: prefill_ms + wait_ms + decode_ms,
            rps: concurrency.min(k) / (service_ms / 1_000.0),
        }
    }

    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Sample {
        let ttft_ms = self.ttft.sample(rng);
        let tps = self.tps.sample(rng);
        let tokens = self.tokens.sample(rng).round().max(1.0);
        let e2e_ms = ttft_ms + tokens / tps * 1_000.0;
        let rps = self.rps.sample(rng);
        Sample {
            ttft_ms,
            tps,
            e2e_ms,
            rps,
        }
    }

    /// Calls `f` with samples `start..end` of this LLM's stream under `seed`.
    pub fn generate(&self, seed: u64, llm: &str, start: u64, end: u64, f: impl FnMut(Sample)) {
        self.generate_at(seed, llm, None, start, end, f)
    }

    /// [`Model::generate`] at a load level (`None`: no load model, the plain draws). Each
    /// level has its own streams, so the levels of a sweep are independent samples.
    pub fn generate_at(
        &self,
        seed: u64,
        llm: &str,
        concurrency: Option<u32>,
        start: u64,
        end: u64,
        mut f: impl FnMut(Sample),
    ) {
        let llm_key = match concurrency {
            None => fnv1a(llm.as_bytes()),
            Some(c) => fnv1a(format!("{llm}\0concurrency={c}").as_bytes()),
        };
        let draw = |rng: &mut Pcg64Mcg| match concurrency {
            None => self.sample(rng),
            Some(c) => self.sample_at(rng, f64::from(c)),
        };
        let mut i = start;
        while i < end {
            let chunk = i / CHUNK_SAMPLES;
            let mut rng = chunk_rng(seed, llm_key, chunk);
            // Only a range that starts mid-chunk pays for skipping; planned batches never do.
            for _ in chunk * CHUNK_SAMPLES..i {
                draw(&mut rng);
            }
            let chunk_end = ((chunk + 1) * CHUNK_SAMPLES).min(end);
            for _ in i..chunk_end {
                f(draw(&mut rng));
            }
            i = chunk_end;
        }
    }
}

/// The generator of one chunk: independent of every other chunk, LLM and seed.
pub fn chunk_rng(seed: u64, llm_key: u64, chunk: u64) -> Pcg64Mcg {
    let mixed = splitmix64(splitmix64(splitmix64(seed) ^ llm_key) ^ chunk);
    Pcg64Mcg::seed_from_u64(mixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_load_throughput_rises_to_the_capacity_then_flattens_while_ttft_grows() {
        let profile = default_llms()[0].1; // capacity 15
        let model = Model::new(&profile).unwrap();
        let k = profile.capacity();
        assert_eq!(k, 15.0);
        let at = |c: u32| {
            let mut v = Vec::new();
            model.generate_at(1, "x", Some(c), 0, 20_000, |s| v.push(s));
            let throughput = v.len() as f64 / v.iter().map(|s| 1.0 / s.rps).sum::<f64>();
            let mut ttft: Vec<f64> = v.iter().map(|s| s.ttft_ms).collect();
            ttft.sort_by(f64::total_cmp);
            assert!(v.iter().all(|s| s.e2e_ms >= s.ttft_ms));
            (throughput, ttft[ttft.len() / 2])
        };
        let (t1, f1) = at(1);
        let (t8, _) = at(8);
        let (t15, f15) = at(15);
        let (t30, f30) = at(30);
        let (t60, f60) = at(60);
        assert!(t8 > 5.0 * t1 && t15 > 1.5 * t8, "{t1} {t8} {t15}");
        // Past the knee: flat throughput, TTFT growing with the queue.
        assert!((t30 / t15 - 1.0).abs() < 0.05 && (t60 / t15 - 1.0).abs() < 0.05);
        assert!(
            f15 < 1.5 * f1 && f30 > 3.0 * f15 && f60 > 1.8 * f30,
            "{f1} {f15} {f30} {f60}"
        );
        // No load model: today's draws, unchanged.
        let mut plain = Vec::new();
        model.generate(1, "x", 0, 10, |s| plain.push(s));
        let mut again = Vec::new();
        model.generate_at(1, "x", None, 0, 10, |s| again.push(s));
        assert_eq!(plain, again);
    }

    fn collect(seed: u64, llm: &str, start: u64, end: u64) -> Vec<Sample> {
        let model = Model::new(&default_llms()[0].1).unwrap();
        let mut v = Vec::new();
        model.generate(seed, llm, start, end, |s| v.push(s));
        v
    }

    #[test]
    fn same_seed_same_values_however_the_range_is_split() {
        let whole = collect(42, "GPT-4o", 0, 5_000);
        let mut parts = collect(42, "GPT-4o", 0, 1_024);
        parts.extend(collect(42, "GPT-4o", 1_024, 3_000));
        parts.extend(collect(42, "GPT-4o", 3_000, 5_000));
        assert_eq!(whole.len(), 5_000);
        assert_eq!(whole, parts);
    }

    #[test]
    fn seeds_llms_and_chunks_give_different_streams() {
        let a = collect(42, "GPT-4o", 0, 100);
        assert_ne!(a, collect(43, "GPT-4o", 0, 100));
        assert_ne!(a, collect(42, "GPT-4o mini", 0, 100));
        assert_ne!(a, collect(42, "GPT-4o", CHUNK_SAMPLES, CHUNK_SAMPLES + 100));
    }

    #[test]
    fn e2e_is_never_below_ttft_and_values_are_positive() {
        for s in collect(7, "x", 0, 20_000) {
            assert!(s.e2e_ms >= s.ttft_ms, "{s:?}");
            assert!(s.ttft_ms > 0.0 && s.tps > 0.0 && s.rps > 0.0, "{s:?}");
        }
    }

    #[test]
    fn medians_follow_the_profile() {
        let p = Profile::new(400.0, 80.0, 20.0);
        let model = Model::new(&p).unwrap();
        let mut ttft = Vec::new();
        let mut tps = Vec::new();
        model.generate(1, "m", 0, 40_000, |s| {
            ttft.push(s.ttft_ms);
            tps.push(s.tps);
        });
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        assert!((median(&mut ttft) / 400.0 - 1.0).abs() < 0.02);
        assert!((median(&mut tps) / 80.0 - 1.0).abs() < 0.02);
    }

    #[test]
    fn latency_is_heavy_tailed() {
        let mut v = Vec::new();
        let model = Model::new(&Profile::new(400.0, 80.0, 20.0)).unwrap();
        model.generate(3, "m", 0, 50_000, |s| v.push(s.ttft_ms));
        v.sort_by(f64::total_cmp);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let p50 = v[v.len() / 2];
        let p99 = v[v.len() * 99 / 100];
        assert!(mean > p50, "mean {mean} should exceed the median {p50}");
        assert!(p99 / p50 > 2.0, "p99/p50 = {}", p99 / p50);
    }

    #[test]
    fn bad_profiles_are_named() {
        let mut p = Profile::new(400.0, 80.0, 20.0);
        p.tps = -1.0;
        assert_eq!(
            p.validate().unwrap_err(),
            "`tps` must be a positive number, got -1"
        );
        p.tps = 1.0;
        p.ttft_sigma = 9.0;
        assert_eq!(
            p.validate().unwrap_err(),
            "`ttft_sigma` must be between 0 and 3, got 9"
        );
    }

    #[test]
    fn metric_names_round_trip() {
        for m in MetricKind::ALL {
            assert_eq!(MetricKind::from_name(m.name()), Some(m));
        }
        assert_eq!(MetricKind::from_name("ttft"), None);
    }
}
