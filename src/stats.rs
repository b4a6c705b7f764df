//! Descriptive statistics of one LLM's samples for one metric. Pure, no I/O.
//!
//! - mean and sample variance (n − 1) in two compensated passes (accurate whatever the common
//!   offset of the values), merged across pieces with Chan's formula;
//! - percentiles by linear interpolation between order statistics, the definition of
//!   PostgreSQL's `percentile_cont` and numpy's default, so one SQL query checks them;
//! - the 95% confidence interval of the mean, mean ± t(0.975, n − 1)·s/√n with Student's t
//!   (exact table to 30 degrees of freedom, a Cornish–Fisher expansion beyond);
//! - a distribution-free 95% interval for a percentile from the order statistics around its
//!   rank (normal approximation of the binomial), used to decide ties when ranking by a
//!   percentile.
//!
//! With fewer than 2 samples the standard deviation and both intervals are `None`, never NaN.
//!
//! Percentiles and their intervals read order statistics through [`OrderStats`], so the same
//! code serves sorted raw samples (exact) and a summary's sketch (within its error bound).

use serde::{Deserialize, Serialize};

/// Summary of a set of samples. A statistic a tool did not report (an aggregate-only import)
/// is NaN, written as JSON null and read back as NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: u64,
    #[serde(deserialize_with = "nan_if_null")]
    pub mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p50: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p90: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p95: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p99: f64,
    pub stddev: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    #[serde(deserialize_with = "nan_if_null")]
    pub min: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub max: f64,
}

fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// The statistic a ranking orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Statistic {
    Mean,
    P50,
    P90,
    P95,
    P99,
}

impl Statistic {
    pub const ALL: [Statistic; 5] = [
        Statistic::Mean,
        Statistic::P50,
        Statistic::P90,
        Statistic::P95,
        Statistic::P99,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Statistic::Mean => "mean",
            Statistic::P50 => "p50",
            Statistic::P90 => "p90",
            Statistic::P95 => "p95",
            Statistic::P99 => "p99",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }

    /// `mean, p50, p90, p95, p99`, for error messages.
    pub fn allowed() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }

    /// The quantile, for percentiles.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Statistic::Mean => None,
            Statistic::P50 => Some(0.5),
            Statistic::P90 => Some(0.9),
            Statistic::P95 => Some(0.95),
            Statistic::P99 => Some(0.99),
        }
    }
}

/// Order statistics of a sample: the `i`-th smallest value (0-based) of `n`. Sorted raw
/// values give them exactly; a sketch gives each within its relative error bound.
pub trait OrderStats {
    fn count(&self) -> u64;
    /// The `i`-th smallest value, `i < count()`.
    fn order_stat(&self, i: u64) -> f64;
}

impl OrderStats for [f64] {
    fn count(&self) -> u64 {
        self.len() as u64
    }
    fn order_stat(&self, i: u64) -> f64 {
        self[i as usize]
    }
}

/// The moments of a sample: count, mean and M2 (the sum of squared deviations from the mean).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    pub n: u64,
    pub mean: f64,
    pub m2: f64,
}

impl Moments {
    /// Two passes (mean, then squared deviations from it, with the rounding of the first pass
    /// corrected): accurate even when the values share a large common offset.
    pub fn of(values: &[f64]) -> Moments {
        let n = values.len();
        if n == 0 {
            return Moments {
                n: 0,
                mean: 0.0,
                m2: 0.0,
            };
        }
        let mean = neumaier_sum(values.iter().copied()) / n as f64;
        // Deviations from a mean this close are small: plain sums keep their digits.
        let (mut dev, mut sq) = (0.0_f64, 0.0_f64);
        for &x in values {
            let d = x - mean;
            dev += d;
            sq += d * d;
        }
        Moments {
            n: n as u64,
            mean: mean + dev / n as f64,
            m2: (sq - dev * dev / n as f64).max(0.0),
        }
    }

    /// Chan et al.'s parallel merge: exact in exact arithmetic, stable in floating point.
    pub fn merge(self, o: Moments) -> Moments {
        if self.n == 0 {
            return o;
        }
        if o.n == 0 {
            return self;
        }
        let n = self.n + o.n;
        let delta = o.mean - self.mean;
        let (na, nb, nf) = (self.n as f64, o.n as f64, n as f64);
        Moments {
            n,
            mean: self.mean + delta * (nb / nf),
            m2: self.m2 + o.m2 + delta * delta * (na * nb / nf),
        }
    }

    /// The moments of the values of `self` that are not in `part` (a subset of them): the
    /// inverse of [`Moments::merge`]. `None` when `part` holds more values than `self`.
    pub fn without(self, part: Moments) -> Option<Moments> {
        let n = self.n.checked_sub(part.n)?;
        if part.n == 0 {
            return Some(self);
        }
        if n == 0 {
            return Some(Moments {
                n: 0,
                mean: 0.0,
                m2: 0.0,
            });
        }
        let (nf, nr, np) = (self.n as f64, n as f64, part.n as f64);
        let mean = (nf * self.mean - np * part.mean) / nr;
        let delta = part.mean - mean;
        Some(Moments {
            n,
            mean,
            m2: (self.m2 - part.m2 - delta * delta * (nr * np / nf)).max(0.0),
        })
    }

    /// Sample standard deviation (n − 1); `None` below 2 values.
    pub fn stddev(&self) -> Option<f64> {
        (self.n >= 2).then(|| (self.m2 / (self.n - 1) as f64).sqrt())
    }
}

/// Sum with Neumaier's compensation: the error does not grow with the number of terms.
fn neumaier_sum(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut c) = (0.0_f64, 0.0_f64);
    for x in values {
        let t = sum + x;
        c += if sum.abs() >= x.abs() {
            (sum - t) + x
        } else {
            (x - t) + sum
        };
        sum = t;
    }
    sum + c
}

impl Summary {
    /// Summarises `values`, sorting them in place. `None` when empty.
    pub fn of(values: &mut [f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable_by(f64::total_cmp);
        let moments = Moments::of(values);
        let sorted: &[f64] = values;
        Some(Summary::describe(moments, sorted))
    }

    /// The summary of a sample from its moments and order statistics (exact or sketched).
    pub fn describe(moments: Moments, order: &(impl OrderStats + ?Sized)) -> Summary {
        let n = moments.n;
        let stddev = moments.stddev();
        let ci95 = stddev.map(|s| {
            let half = t_975(n - 1) * s / (n as f64).sqrt();
            [moments.mean - half, moments.mean + half]
        });
        Summary {
            n,
            mean: moments.mean,
            p50: percentile(order, 0.5),
            p90: percentile(order, 0.9),
            p95: percentile(order, 0.95),
            p99: percentile(order, 0.99),
            stddev,
            ci95,
            min: order.order_stat(0),
            max: order.order_stat(n - 1),
        }
    }

    pub fn get(&self, s: Statistic) -> f64 {
        match s {
            Statistic::Mean => self.mean,
            Statistic::P50 => self.p50,
            Statistic::P90 => self.p90,
            Statistic::P95 => self.p95,
            Statistic::P99 => self.p99,
        }
    }

    /// The 95% interval of statistic `by`: the t interval of the mean, or the order-statistic
    /// interval of a percentile.
    pub fn interval(&self, by: Statistic, order: &(impl OrderStats + ?Sized)) -> Option<[f64; 2]> {
        match by.quantile() {
            None => self.ci95,
            Some(q) => percentile_ci95(order, q),
        }
    }
}

/// `percentile_cont(q)`: linear interpolation between the order statistics around rank
/// q·(n − 1). NaN when empty.
pub fn percentile(order: &(impl OrderStats + ?Sized), q: f64) -> f64 {
    match order.count() {
        0 => f64::NAN,
        1 => order.order_stat(0),
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = (pos.floor() as u64).min(n - 1);
            let hi = (lo + 1).min(n - 1);
            let frac = pos - lo as f64;
            let (a, b) = (order.order_stat(lo), order.order_stat(hi));
            a + (b - a) * frac
        }
    }
}

/// A distribution-free 95% interval for the `q` quantile: the order statistics at ranks
/// n·q ∓ 1.96·√(n·q·(1−q)), clamped to the sample. `None` below 2 values.
pub fn percentile_ci95(order: &(impl OrderStats + ?Sized), q: f64) -> Option<[f64; 2]> {
    let n = order.count();
    if n < 2 {
        return None;
    }
    let nf = n as f64;
    let half = 1.959_964 * (nf * q * (1.0 - q)).sqrt();
    let lo = ((nf * q - half).floor().max(1.0) as u64).min(n) - 1;
    let hi = ((nf * q + half).ceil().max(1.0) as u64).min(n) - 1;
    Some([order.order_stat(lo), order.order_stat(hi)])
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
        assert_eq!(percentile_ci95(&[5.0][..], 0.5), None);
        assert!(Summary::of(&mut []).is_none());
    }

    #[test]
    fn two_pass_is_stable_with_a_large_offset() {
        let mut v: Vec<f64> = (0..1000).map(|i| 1e9 + (i % 2) as f64).collect();
        let s = Summary::of(&mut v).unwrap();
        assert!((s.mean - (1e9 + 0.5)).abs() < 1e-6);
        let expected = (0.25_f64 * 1000.0 / 999.0).sqrt();
        // A naive sum of squares loses everything here (values near 1e18, ulp 128).
        assert!((s.stddev.unwrap() - expected).abs() < 1e-6);
    }

    #[test]
    fn two_pass_moments_keep_six_digits_with_a_large_offset_and_merge_exactly() {
        // Values near 1e9 that differ by 0.1: a naive sum of squares keeps no digit here.
        let v: Vec<f64> = (0..10_000).map(|i| 1e9 + (i % 11) as f64 * 0.01).collect();
        // Subtracting 1e9 is exact here (Sterbenz), so this is the stored values' truth.
        let devs: Vec<f64> = v.iter().map(|x| x - 1e9).collect();
        let m = devs.iter().sum::<f64>() / 1e4;
        let exact_mean = 1e9 + m;
        let exact_sd = (devs.iter().map(|d| (d - m) * (d - m)).sum::<f64>() / 9_999.0).sqrt();
        let whole = Moments::of(&v);
        assert!((whole.mean - exact_mean).abs() < 1e-6);
        let rel = |a: f64, b: f64| ((a - b) / b).abs();
        assert!(
            rel(whole.stddev().unwrap(), exact_sd) < 1e-6,
            "{whole:?} {exact_sd}"
        );
        // Merged from 1,000 uneven pieces, in order.
        let mut merged = Moments {
            n: 0,
            mean: 0.0,
            m2: 0.0,
        };
        let mut start = 0;
        for k in 0..1_000 {
            let end = (start + 1 + k % 19).min(v.len());
            merged = merged.merge(Moments::of(&v[start..end]));
            start = end;
        }
        merged = merged.merge(Moments::of(&v[start..]));
        assert_eq!(merged.n, 10_000);
        assert!(
            rel(merged.stddev().unwrap(), exact_sd) < 1e-6,
            "{merged:?} {exact_sd}"
        );
        assert!((merged.mean - exact_mean).abs() < 1e-6);
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
        let [lo, hi] = percentile_ci95(&v[..], 0.99).unwrap();
        let p = percentile(&v[..], 0.99);
        assert!(lo < p && p < hi, "{lo} {p} {hi}");
        assert_eq!((lo, hi), (983.0, 997.0));
    }
}
