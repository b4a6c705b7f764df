//! Descriptive statistics of one LLM's samples for one metric. Pure, no I/O.
//!
//! - mean and sample variance (n − 1) by Welford's method, which stays accurate for large n;
//! - percentiles by linear interpolation between order statistics, the definition of
//!   PostgreSQL's `percentile_cont` and numpy's default, so one SQL query checks them;
//! - the 95% confidence interval of the mean, mean ± t(0.975, n − 1)·s/√n with Student's t
//!   (exact table to 30 degrees of freedom, a Cornish–Fisher expansion beyond);
//! - a distribution-free 95% interval for a percentile from the order statistics around its
//!   rank (normal approximation of the binomial), used to decide ties when ranking by a
//!   percentile.
//!
//! With fewer than 2 samples the standard deviation and both intervals are `None`, never NaN.

use serde::{Deserialize, Serialize};

/// Summary of a set of samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub stddev: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    pub min: f64,
    pub max: f64,
}

/// The statistic a ranking orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Statistic {
    Mean,
    P50,
    P90,
    P99,
}

impl Statistic {
    pub const ALL: [Statistic; 4] = [
        Statistic::Mean,
        Statistic::P50,
        Statistic::P90,
        Statistic::P99,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Statistic::Mean => "mean",
            Statistic::P50 => "p50",
            Statistic::P90 => "p90",
            Statistic::P99 => "p99",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }

    /// The quantile, for percentiles.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Statistic::Mean => None,
            Statistic::P50 => Some(0.5),
            Statistic::P90 => Some(0.9),
            Statistic::P99 => Some(0.99),
        }
    }
}

impl Summary {
    /// Summarises `values`, sorting them in place. `None` when empty.
    pub fn of(values: &mut [f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable_by(f64::total_cmp);
        let (mut mean, mut m2) = (0.0_f64, 0.0_f64);
        for (i, &x) in values.iter().enumerate() {
            let delta = x - mean;
            mean += delta / (i + 1) as f64;
            m2 += delta * (x - mean);
        }
        let n = values.len() as u64;
        let stddev = (n >= 2).then(|| (m2 / (n - 1) as f64).sqrt());
        let ci95 = stddev.map(|s| {
            let half = t_975(n - 1) * s / (n as f64).sqrt();
            [mean - half, mean + half]
        });
        Some(Summary {
            n,
            mean,
            p50: percentile(values, 0.5),
            p90: percentile(values, 0.9),
            p99: percentile(values, 0.99),
            stddev,
            ci95,
            min: values[0],
            max: values[values.len() - 1],
        })
    }

    pub fn get(&self, s: Statistic) -> f64 {
        match s {
            Statistic::Mean => self.mean,
            Statistic::P50 => self.p50,
            Statistic::P90 => self.p90,
            Statistic::P99 => self.p99,
        }
    }
}

/// `percentile_cont(q)` of sorted values: linear interpolation between order statistics.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            let frac = pos - lo as f64;
            sorted[lo] + (sorted[hi] - sorted[lo]) * frac
        }
    }
}

/// A distribution-free 95% interval for the `q` quantile of sorted values: the order
/// statistics at ranks n·q ∓ 1.96·√(n·q·(1−q)), clamped to the sample. `None` below 2 values.
pub fn percentile_ci95(sorted: &[f64], q: f64) -> Option<[f64; 2]> {
    let n = sorted.len();
    if n < 2 {
        return None;
    }
    let nf = n as f64;
    let half = 1.959_964 * (nf * q * (1.0 - q)).sqrt();
    let lo = ((nf * q - half).floor().max(1.0) as usize).min(n) - 1;
    let hi = ((nf * q + half).ceil().max(1.0) as usize).min(n) - 1;
    Some([sorted[lo], sorted[hi]])
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom.
pub fn t_975(df: u64) -> f64 {
    const TABLE: [f64; 30] = [
        12.706_205, 4.302_653, 3.182_446, 2.776_445, 2.570_582, 2.446_912, 2.364_624, 2.306_004,
        2.262_157, 2.228_139, 2.200_985, 2.178_813, 2.160_369, 2.144_787, 2.131_450, 2.119_905,
        2.109_816, 2.100_922, 2.093_024, 2.085_963, 2.079_614, 2.073_873, 2.068_658, 2.063_899,
        2.059_539, 2.055_529, 2.051_831, 2.048_407, 2.045_230, 2.042_272,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df as usize - 1],
        _ => {
            // Cornish–Fisher expansion around the normal quantile; error < 1e-5 for df > 30.
            let z = 1.959_963_984_540_054_f64;
            let d = df as f64;
            let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
            z + (z3 + z) / (4.0 * d)
                + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * d * d)
                + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * d * d * d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_small_known_set() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        let s = Summary::of(&mut v).unwrap();
        assert_eq!(s.n, 4);
        assert_eq!(s.mean, 2.5);
        assert_eq!(s.p50, 2.5);
        assert!((s.p90 - 3.7).abs() < 1e-12);
        assert!((s.p99 - 3.97).abs() < 1e-12);
        let sd = (5.0_f64 / 3.0).sqrt();
        assert!((s.stddev.unwrap() - sd).abs() < 1e-12);
        let half = 3.182_446 * sd / 2.0;
        let ci = s.ci95.unwrap();
        assert!((ci[0] - (2.5 - half)).abs() < 1e-9 && (ci[1] - (2.5 + half)).abs() < 1e-9);
        assert_eq!((s.min, s.max), (1.0, 4.0));
    }

    #[test]
    fn one_sample_has_no_spread_and_no_interval() {
        let s = Summary::of(&mut [5.0]).unwrap();
        assert_eq!((s.mean, s.p50, s.p99), (5.0, 5.0, 5.0));
        assert_eq!(s.stddev, None);
        assert_eq!(s.ci95, None);
        assert_eq!(percentile_ci95(&[5.0], 0.5), None);
        assert!(Summary::of(&mut []).is_none());
    }

    #[test]
    fn welford_is_stable_with_a_large_offset() {
        let mut v: Vec<f64> = (0..1000).map(|i| 1e9 + (i % 2) as f64).collect();
        let s = Summary::of(&mut v).unwrap();
        assert!((s.mean - (1e9 + 0.5)).abs() < 1e-6);
        let expected = (0.25_f64 * 1000.0 / 999.0).sqrt();
        // A naive sum of squares loses everything here (values near 1e18, ulp 128).
        assert!((s.stddev.unwrap() - expected).abs() < 1e-6);
    }

    #[test]
    fn t_quantiles_match_published_values() {
        assert_eq!(t_975(1), 12.706_205);
        assert!((t_975(40) - 2.021_075).abs() < 1e-5);
        assert!((t_975(100) - 1.983_972).abs() < 1e-5);
        assert!((t_975(999) - 1.962_341).abs() < 1e-5);
        assert!((t_975(1_000_000) - 1.959_966).abs() < 1e-5);
    }

    #[test]
    fn percentile_interval_brackets_the_percentile() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        let [lo, hi] = percentile_ci95(&v, 0.99).unwrap();
        let p = percentile(&v, 0.99);
        assert!(lo < p && p < hi, "{lo} {p} {hi}");
        assert_eq!((lo, hi), (983.0, 997.0));
    }
}
