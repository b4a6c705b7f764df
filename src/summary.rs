//! Mergeable summaries of samples: what rankings and history read instead of raw samples.
//! Pure, no I/O.
//!
//! A [`Summary`] holds n, mean and M2 (merged with Chan's formula, see [`Moments`]), min and max
//! exactly, and a [`Sketch`]: a DDSketch-style histogram whose bin `k` counts the values in
//! (γ^(k−1), γ^k] with γ = (1 + α)/(1 − α). Each bin's representative, 2γ^k/(γ + 1), is within
//! relative error α of every value in the bin, so every order statistic read from the sketch
//! is within α of the true one, and a percentile interpolated between two of them (as
//! `percentile_cont` does) is within α of the exact percentile too. Merging adds counts, so
//! summaries of any set of batches merge without loss.
//!
//! Bound: [`ALPHA`] = 0.5% relative error on percentiles of positive values at least
//! [`MIN_POSITIVE`]; values below it (zero, negatives) share one bin read as 0 (clamped to the
//! exact min and max). LLM serving metrics (latencies, rates) are non-negative.
//!
//! Grains: each batch updates an hourly and a daily bucket per LLM × metric and an all-time
//! total, so an all-time ranking reads one row per LLM and any window reads at most ~2 × 23
//! hourly rows plus its whole days, whatever the number of samples.

use std::collections::BTreeMap;

use crate::stats::{Moments, OrderStats};

/// The sketch's relative accuracy.
pub const ALPHA: f64 = 0.005;
/// Smallest value with a bin of its own; anything below is counted in the zero bin.
pub const MIN_POSITIVE: f64 = 1e-9;
/// Key of the zero bin (sorts before every other key).
pub const ZERO_KEY: i32 = -(1 << 23);
const MAX_KEY: i32 = (1 << 23) - 1;
/// Bits of a packed bin that hold its count.
const COUNT_BITS: u32 = 40;
const COUNT_MASK: i64 = (1 << COUNT_BITS) - 1;

fn gamma() -> f64 {
    (1.0 + ALPHA) / (1.0 - ALPHA)
}

/// ln γ, precomputed: the bin of every value divides by it (a test checks it against `gamma`).
const LN_GAMMA: f64 = 0.010_000_083_334_583_179;
const INV_LN_GAMMA: f64 = 1.0 / LN_GAMMA;

/// The bin of a value.
#[inline]
pub fn key(x: f64) -> i32 {
    if x.is_nan() || x < MIN_POSITIVE {
        return ZERO_KEY;
    }
    let k = (x.ln() * INV_LN_GAMMA).ceil();
    (k as i32).clamp(ZERO_KEY + 1, MAX_KEY)
}

/// The value a bin stands for: within α of everything in it.
pub fn representative(key: i32) -> f64 {
    if key == ZERO_KEY {
        return 0.0;
    }
    2.0 * (f64::from(key) * LN_GAMMA).exp() / (gamma() + 1.0)
}

/// Bins in key order, non-empty only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sketch {
    bins: Vec<(i32, u64)>,
}

impl Sketch {
    pub fn add(&mut self, x: f64) {
        self.add_key(key(x), 1);
    }

    /// The sketch of `values`, counted in a dense array over their key range (one pass for the
    /// keys, no search per value).
    pub fn of(values: &[f64]) -> Sketch {
        let keys: Vec<i32> = values.iter().map(|&x| key(x)).collect();
        let zeros = keys.iter().filter(|&&k| k == ZERO_KEY).count() as u64;
        let (lo, hi) = keys
            .iter()
            .filter(|&&k| k != ZERO_KEY)
            .fold((i32::MAX, i32::MIN), |(lo, hi), &k| (lo.min(k), hi.max(k)));
        let mut bins = Vec::new();
        if zeros > 0 {
            bins.push((ZERO_KEY, zeros));
        }
        if lo <= hi {
            let mut counts = vec![0u64; (hi - lo) as usize + 1];
            for &k in keys.iter().filter(|&&k| k != ZERO_KEY) {
                counts[(k - lo) as usize] += 1;
            }
            bins.extend(
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, &c)| c > 0)
                    .map(|(i, &c)| (lo + i as i32, c)),
            );
        }
        Sketch { bins }
    }

    fn add_key(&mut self, k: i32, count: u64) {
        match self.bins.binary_search_by_key(&k, |b| b.0) {
            Ok(i) => self.bins[i].1 += count,
            Err(i) => self.bins.insert(i, (k, count)),
        }
    }

    pub fn merge(&mut self, other: &Sketch) {
        let mut out = Vec::with_capacity(self.bins.len().max(other.bins.len()));
        let (mut a, mut b) = (self.bins.iter().peekable(), other.bins.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    out.push((x.0, x.1 + y.1));
                    a.next();
                    b.next();
                }
                (Some(x), Some(y)) if x.0 < y.0 => {
                    out.push(**x);
                    a.next();
                }
                (Some(_), Some(y)) => {
                    out.push(**y);
                    b.next();
                }
                (Some(x), None) => {
                    out.push(**x);
                    a.next();
                }
                (None, Some(y)) => {
                    out.push(**y);
                    b.next();
                }
                (None, None) => break,
            }
        }
        self.bins = out;
    }

    /// The bins of `self` less those of `part` (a subset of its values): `None` when `part`
    /// has a bin `self` lacks or a larger count, which a subset cannot.
    pub fn without(&self, part: &Sketch) -> Option<Sketch> {
        let mut bins = Vec::with_capacity(self.bins.len());
        let mut rest = part.bins.iter().peekable();
        for &(k, c) in &self.bins {
            let mut left = c;
            if let Some(&&(pk, pc)) = rest.peek() {
                if pk < k {
                    return None;
                }
                if pk == k {
                    left = c.checked_sub(pc)?;
                    rest.next();
                }
            }
            if left > 0 {
                bins.push((k, left));
            }
        }
        rest.peek().is_none().then_some(Sketch { bins })
    }

    pub fn count(&self) -> u64 {
        self.bins.iter().map(|b| b.1).sum()
    }

    pub fn bins(&self) -> usize {
        self.bins.len()
    }

    /// The database form: one bigint per bin, key in the high bits, count in the low 40,
    /// so sorting the integers sorts the keys (`llmrank_sketch_merge` in `sql/` relies on it).
    pub fn pack(&self) -> impl Iterator<Item = i64> + '_ {
        self.bins
            .iter()
            .map(|&(k, c)| (i64::from(k) << COUNT_BITS) | (c as i64 & COUNT_MASK))
    }

    pub fn unpack(packed: &[i64]) -> Sketch {
        Sketch::from_packed(packed.iter().copied())
    }

    /// [`Sketch::unpack`] of the bins as they come (in key order, as they are stored, each is
    /// appended; out of order, each is searched for).
    pub fn from_packed(packed: impl IntoIterator<Item = i64>) -> Sketch {
        let packed = packed.into_iter();
        let mut s = Sketch {
            bins: Vec::with_capacity(packed.size_hint().0),
        };
        for e in packed {
            let (k, c) = ((e >> COUNT_BITS) as i32, (e & COUNT_MASK) as u64);
            match s.bins.last() {
                Some(&(last, _)) if last >= k => s.add_key(k, c),
                _ => s.bins.push((k, c)),
            }
        }
        s
    }

    /// The representative of the `i`-th smallest value (0-based).
    fn value_at(&self, i: u64) -> f64 {
        let mut seen = 0;
        for &(k, c) in &self.bins {
            seen += c;
            if seen > i {
                return representative(k);
            }
        }
        self.bins.last().map_or(f64::NAN, |b| representative(b.0))
    }
}

/// The summary of a set of samples: exact moments, min and max, and a sketch of the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub moments: Moments,
    pub min: f64,
    pub max: f64,
    pub sketch: Sketch,
}

impl Summary {
    /// The summary of `values` (not empty).
    pub fn of(values: &[f64]) -> Summary {
        let (min, max) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        Summary {
            moments: Moments::of(values),
            min,
            max,
            sketch: Sketch::of(values),
        }
    }

    pub fn merge(&mut self, o: &Summary) {
        self.moments = self.moments.merge(o.moments);
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sketch.merge(&o.sketch);
    }

    /// The summary of the values of `self` not in `part` (a subset of them, e.g. the last
    /// hours of an all-time row): exact counts and moments, and the exact min and max when
    /// `part` does not hold them. `None` when they cannot be known that way (`part` holds the
    /// extreme), when nothing is left, or when `part` is not a subset.
    pub fn without(&self, part: &Summary) -> Option<Summary> {
        let moments = self.moments.without(part.moments)?;
        let sketch = self.sketch.without(&part.sketch)?;
        if moments.n == 0 || part.moments.n > 0 && (part.min <= self.min || part.max >= self.max) {
            return None;
        }
        Some(Summary {
            moments,
            min: self.min,
            max: self.max,
            sketch,
        })
    }

    /// The descriptive statistics, percentiles from the sketch.
    pub fn describe(&self) -> crate::stats::Summary {
        crate::stats::Summary::describe(self.moments, self)
    }
}

impl OrderStats for Summary {
    fn count(&self) -> u64 {
        self.moments.n
    }
    /// Within α of the true order statistic, and never outside the exact [min, max].
    fn order_stat(&self, i: u64) -> f64 {
        if i == 0 {
            return self.min;
        }
        if i + 1 >= self.moments.n {
            return self.max;
        }
        self.sketch.value_at(i).clamp(self.min, self.max)
    }
}

/// Bucket sizes, in seconds; `TOTAL` (0) is the all-time bucket.
pub const HOUR: i64 = 3_600;
pub const DAY: i64 = 86_400;
pub const TOTAL: i64 = 0;

/// Where a summary row belongs: metric, bucket size and start (Unix seconds; 0 for the total),
/// LLM and workload (the order of the table's primary key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowKey {
    pub metric_id: i16,
    pub bucket_secs: i64,
    pub bucket_start: i64,
    pub llm_id: i16,
    pub workload_id: i32,
}

/// One series of summaries: a metric of an LLM under a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    pub metric_id: i16,
    pub llm_id: i16,
    pub workload_id: i32,
}

/// The summary rows of a batch: values grouped by metric, LLM and hour, rolled up to days and
/// the total. Written with the batch, in its transaction. Values are summarised in pieces of
/// at most [`PIECE`], so memory stays bounded whatever is added (`summarize` streams whole
/// days through it).
#[derive(Debug, Default)]
pub struct Rollup {
    hours: BTreeMap<RowKey, Hour>,
    /// Values buffered across all hours; past [`PENDING_BUDGET`] every hour is flushed, so a
    /// stream spread over many LLMs and hours (an import) stays within a few MiB too.
    pending: usize,
}

/// Values a rollup buffers in all before it summarises them (8 MiB of f64).
const PENDING_BUDGET: usize = 1 << 20;

/// Values summarised at a time (two passes each), then merged.
pub const PIECE: usize = 1 << 16;
/// Slices at least this long are summarised in place rather than buffered.
const DIRECT: usize = 1 << 10;

#[derive(Debug, Default)]
struct Hour {
    pending: Vec<f64>,
    done: Option<Summary>,
}

impl Hour {
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let s = Summary::of(&self.pending);
        self.pending.clear();
        match &mut self.done {
            Some(d) => d.merge(&s),
            None => self.done = Some(s),
        }
    }

    fn summary(&self) -> Option<Summary> {
        let mut s = self.done.clone();
        if !self.pending.is_empty() {
            let p = Summary::of(&self.pending);
            match &mut s {
                Some(d) => d.merge(&p),
                None => s = Some(p),
            }
        }
        s
    }
}

impl Rollup {
    /// Adds a value taken at `unix_secs`.
    pub fn add(&mut self, series: SeriesKey, unix_secs: i64, value: f64) {
        self.add_slice(series, unix_secs, &[value]);
    }

    /// Adds values all taken in the hour of `unix_secs`.
    pub fn add_slice(&mut self, series: SeriesKey, unix_secs: i64, values: &[f64]) {
        let key = RowKey {
            metric_id: series.metric_id,
            bucket_secs: HOUR,
            bucket_start: unix_secs.div_euclid(HOUR) * HOUR,
            llm_id: series.llm_id,
            workload_id: series.workload_id,
        };
        let hour = self.hours.entry(key).or_default();
        for piece in values.chunks(PIECE) {
            if piece.len() >= DIRECT {
                // Large enough to summarise where it is, without copying it.
                let s = Summary::of(piece);
                match &mut hour.done {
                    Some(d) => d.merge(&s),
                    None => hour.done = Some(s),
                }
                continue;
            }
            if hour.pending.len() + piece.len() > PIECE {
                self.pending -= hour.pending.len();
                hour.flush();
            }
            hour.pending.extend_from_slice(piece);
            self.pending += piece.len();
        }
        if self.pending > PENDING_BUDGET {
            self.hours.values_mut().for_each(Hour::flush);
            self.pending = 0;
        }
    }

    /// Every row (hours, days, totals), in key order (the order the upsert locks rows in).
    pub fn rows(&self) -> Vec<(RowKey, Summary)> {
        let mut out: BTreeMap<RowKey, Summary> = BTreeMap::new();
        for (k, hour) in &self.hours {
            let Some(s) = hour.summary() else { continue };
            let day = RowKey {
                bucket_secs: DAY,
                bucket_start: k.bucket_start.div_euclid(DAY) * DAY,
                ..*k
            };
            let total = RowKey {
                bucket_secs: TOTAL,
                bucket_start: 0,
                ..*k
            };
            for up in [day, total] {
                out.entry(up)
                    .and_modify(|e| e.merge(&s))
                    .or_insert_with(|| s.clone());
            }
            out.insert(*k, s);
        }
        out.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{percentile, Summary as Stats};
    use rand::{Rng, SeedableRng};

    fn series(metric_id: i16, llm_id: i16) -> SeriesKey {
        SeriesKey {
            metric_id,
            llm_id,
            workload_id: 1,
        }
    }

    fn rel(a: f64, b: f64) -> f64 {
        if a == b {
            0.0
        } else {
            ((a - b) / b).abs()
        }
    }

    #[test]
    fn a_summary_without_a_part_of_its_values_is_the_summary_of_the_rest() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let values: Vec<f64> = (0..20_000).map(|_| rng.random_range(10.0..500.0)).collect();
        // The part holds neither extreme: the rest's min and max are the whole's.
        let (lo, hi) = values.iter().enumerate().fold((0, 0), |(lo, hi), (i, &x)| {
            (
                if x < values[lo] { i } else { lo },
                if x > values[hi] { i } else { hi },
            )
        });
        let cut = 15_000.max(lo.max(hi) + 1);
        let (rest, part) = values.split_at(cut);
        let got = Summary::of(&values)
            .without(&Summary::of(part))
            .expect("the part holds no extreme");
        let want = Summary::of(rest);
        assert_eq!(got.moments.n, want.moments.n);
        assert_eq!(got.sketch, want.sketch);
        assert_eq!((got.min, got.max), (want.min, want.max));
        assert!(rel(got.moments.mean, want.moments.mean) < 1e-12);
        assert!(rel(got.moments.m2, want.moments.m2) < 1e-9);
        // The part holding the whole's max: the rest's max is unknown, so no answer.
        let mut with_max = part.to_vec();
        with_max.push(1_000.0);
        let mut all = rest.to_vec();
        all.extend_from_slice(&with_max);
        assert!(Summary::of(&all).without(&Summary::of(&with_max)).is_none());
        // Nothing left, or a "part" that is not one: no answer either.
        assert!(Summary::of(part).without(&Summary::of(part)).is_none());
        assert!(Summary::of(part).without(&Summary::of(&values)).is_none());
        assert!(Summary::of(rest)
            .without(&Summary::of(&[10_000.0]))
            .is_none());
    }

    /// Every statistic against the exact computation over the same values.
    fn check(values: &[f64]) {
        let mut sorted = values.to_vec();
        let exact = Stats::of(&mut sorted).unwrap();
        let sketched = Summary::of(values).describe();
        assert_eq!(sketched.n, exact.n);
        assert!(
            rel(sketched.mean, exact.mean) < 1e-12,
            "{sketched:?} {exact:?}"
        );
        assert_eq!((sketched.min, sketched.max), (exact.min, exact.max));
        match (sketched.stddev, exact.stddev) {
            (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-9 * b.max(1e-300), "{a} {b}"),
            (a, b) => assert_eq!(a, b),
        }
        for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0] {
            let (a, b) = (
                percentile(&Summary::of(values), q),
                percentile(&sorted[..], q),
            );
            assert!(
                rel(a, b) <= ALPHA * (1.0 + 1e-9),
                "q={q}: sketch {a}, exact {b}"
            );
        }
    }

    #[test]
    fn random_data_within_the_bound() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
        for n in [2, 3, 10, 101, 5_000] {
            let v: Vec<f64> = (0..n).map(|_| (rng.random::<f64>() * 8.0).exp()).collect();
            check(&v);
        }
    }

    #[test]
    fn adversarial_data_within_the_bound() {
        check(&[42.0]);
        check(&[7.0; 500]);
        check(&[1.0, 1000.0]); // bimodal, n = 2: interpolation between two sketched values
        let mut outlier = vec![100.0; 999];
        outlier.push(1e12);
        check(&outlier);
        let offset: Vec<f64> = (0..1000).map(|i| 1e9 + (i % 7) as f64 * 0.1).collect();
        check(&offset);
        check(&[0.0, 0.0, 5.0, 6.0]);
    }

    #[test]
    fn merged_summaries_equal_the_summary_of_the_union() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(11);
        let v: Vec<f64> = (0..20_000)
            .map(|_| 1e9 + rng.random::<f64>() * 0.1)
            .collect();
        let whole = Summary::of(&v);
        let mut merged = Summary::of(&v[..1]);
        for piece in v[1..].chunks(97) {
            merged.merge(&Summary::of(piece));
        }
        assert_eq!(merged.sketch, whole.sketch);
        assert_eq!((merged.min, merged.max), (whole.min, whole.max));
        let (a, b) = (merged.describe(), whole.describe());
        assert!(
            rel(a.stddev.unwrap(), b.stddev.unwrap()) < 1e-6,
            "{a:?} {b:?}"
        );
        let mut sorted = v.clone();
        let exact = Stats::of(&mut sorted).unwrap();
        assert!(rel(a.stddev.unwrap(), exact.stddev.unwrap()) < 1e-6);
        assert!(rel(a.mean, exact.mean) < 1e-12);
    }

    #[test]
    fn rollup_pieces_merge_to_the_whole() {
        let mut r = Rollup::default();
        let v: Vec<f64> = (0..(PIECE * 2 + 17))
            .map(|i| 1.0 + (i % 1000) as f64)
            .collect();
        for part in v.chunks(1_000) {
            r.add_slice(series(1, 1), 0, part);
        }
        let rows = r.rows();
        let whole = Summary::of(&v);
        let hour = &rows[0].1;
        assert_eq!(hour.sketch, whole.sketch);
        assert_eq!(hour.moments.n, whole.moments.n);
        assert!(rel(hour.moments.m2, whole.moments.m2) < 1e-12);
    }

    #[test]
    fn packing_round_trips_and_sorts_by_key() {
        let mut s = Sketch::default();
        for x in [0.0, 1e-12, 0.5, 1.0, 3.0, 3.0, 1e300, f64::INFINITY] {
            s.add(x);
        }
        let packed: Vec<i64> = s.pack().collect();
        assert!(packed.windows(2).all(|w| w[0] < w[1]), "{packed:?}");
        assert_eq!(Sketch::unpack(&packed), s);
        assert_eq!(s.count(), 8);
    }

    #[test]
    fn the_dense_sketch_equals_adding_one_by_one_and_ln_gamma_is_right() {
        assert_eq!(LN_GAMMA, gamma().ln());
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
        let mut v: Vec<f64> = (0..3_000)
            .map(|_| (rng.random::<f64>() * 20.0 - 5.0).exp())
            .collect();
        v.extend([0.0, -1.0, 1e-12, f64::NAN]);
        let mut one_by_one = Sketch::default();
        for &x in &v {
            one_by_one.add(x);
        }
        assert_eq!(Sketch::of(&v), one_by_one);
        assert_eq!(Sketch::of(&[]), Sketch::default());
    }

    #[test]
    fn bins_bound_the_relative_error() {
        for x in [1e-9, 0.001, 1.0, 1.5, 123.456, 1e6, 1e15] {
            assert!(
                rel(representative(key(x)), x) <= ALPHA * (1.0 + 1e-9),
                "{x}"
            );
        }
    }

    #[test]
    fn rollup_groups_by_hour_and_rolls_up_to_days_and_the_total() {
        let mut r = Rollup::default();
        let day = 20_000 * DAY;
        r.add(series(1, 2), day + 10, 1.0);
        r.add(series(1, 2), day + HOUR + 5, 3.0);
        r.add(series(1, 2), day + DAY + 5, 5.0);
        r.add(series(2, 2), day + 10, 7.0);
        let rows = r.rows();
        let find = |m: i16, secs: i64, start: i64| {
            rows.iter()
                .find(|(k, _)| k.metric_id == m && k.bucket_secs == secs && k.bucket_start == start)
                .map(|(_, s)| (s.moments.n, s.moments.mean))
        };
        assert_eq!(find(1, HOUR, day), Some((1, 1.0)));
        assert_eq!(find(1, HOUR, day + HOUR), Some((1, 3.0)));
        assert_eq!(find(1, DAY, day), Some((2, 2.0)));
        assert_eq!(find(1, DAY, day + DAY), Some((1, 5.0)));
        assert_eq!(find(1, TOTAL, 0), Some((3, 3.0)));
        assert_eq!(find(2, TOTAL, 0), Some((1, 7.0)));
        assert_eq!(rows.len(), 3 + 2 + 1 + 3);
        assert!(rows.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
