//! Joint summaries of requests: what SLO attainment and goodput read instead of raw requests,
//! at any thresholds chosen at query time. Pure, no I/O.
//!
//! A [`Joint`] is a sparse histogram of log-spaced cells over a request's (TTFT, TPOT, e2e
//! latency), plus its counts: requests (failed ones included), failed requests, and the run
//! time they stand for. Cell edges are powers of γ = (1 + α)² with α = [`ALPHA`]: a value `v`
//! has key ⌈log_γ v⌉ in its dimension. A threshold `t` counts the cells whose key is at most
//! ⌊log_γ t + ½⌋ (the nearest cell edge), so every counted value is ≤ t·√γ = t(1 + α) and every
//! value ≤ t/√γ, which is above t(1 − α), is counted: the count lies between the exact counts
//! at t(1 − α) and t(1 + α), in every dimension at once. Merging adds counts, exactly.
//!
//! Cost: a row holds at most [`MAX_CELLS`] cells. Past it, the end of a dimension holding the
//! fewest requests is folded into its neighbour ([`Joint::cap`]), the way DDSketch collapses
//! its lowest bins: the dimension's resolved range shrinks, and a threshold outside it is said
//! to be unresolved ([`Count::resolved`]) rather than answered as if it were exact. Measured on
//! simulated requests: 10 M requests of one LLM need ~15 k cells; folded to 8,192, every
//! dimension stays resolved from its 0.1st to its 99.8th percentile.

use std::collections::BTreeMap;

use crate::domain::MetricKind;
use crate::slo::{Slo, BOUNDED};

/// The stated bound on thresholds: a summary's count lies between the exact counts at every
/// threshold × (1 − α) and × (1 + α).
pub const ALPHA: f64 = 0.05;
/// ln γ with γ = (1 + α)²; a test checks it.
const LN_GAMMA: f64 = 0.097_580_328_338_864_53;
/// Cells a stored row may hold.
pub const MAX_CELLS: usize = 8192;
/// Key bits per dimension; key 0 means "no value" (the request's file lacks the metric).
const KEY_BITS: u32 = 10;
const KEY_MAX: u16 = (1 << KEY_BITS) - 1;
/// Key of 1 (ln 1 = 0): keys are offset so that every latency from 10⁻¹⁹ ms to 10²² ms has one.
const KEY_ZERO: i32 = 512;
/// Bits of a packed cell that hold its count.
const COUNT_BITS: u32 = 34;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// The dimensions, in cell order: TTFT, TPOT, e2e latency (all ms).
pub const DIMS: [MetricKind; 3] = BOUNDED;

/// The key of a value in its dimension (1..=1023): the k whose cell (edge(k − 1), edge(k)]
/// holds it; values ≤ 0 share the lowest key. A logarithm from the float's bits, corrected
/// against the table of edges: exact, and several times cheaper than `ln` (three per request).
#[inline]
pub fn key(v: f64) -> u16 {
    if v.is_nan() || v <= 0.0 {
        return 1;
    }
    let edges = edges();
    // log2 v ≈ exponent + (mantissa − 1), off by less than 0.09: under one key either way.
    let bits = v.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mantissa = f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52));
    let ln = (exponent as f64 + mantissa - 1.0) * std::f64::consts::LN_2;
    let mut k = ((ln / LN_GAMMA).ceil() as i64 + i64::from(KEY_ZERO)).clamp(1, i64::from(KEY_MAX));
    while k < i64::from(KEY_MAX) && v > edges[k as usize] {
        k += 1;
    }
    while k > 1 && v <= edges[k as usize - 1] {
        k -= 1;
    }
    k as u16
}

/// [`edge`] of every key, computed once.
fn edges() -> &'static [f64; 1024] {
    static EDGES: std::sync::OnceLock<[f64; 1024]> = std::sync::OnceLock::new();
    EDGES.get_or_init(|| {
        let mut e = [0.0; 1024];
        for (k, x) in e.iter_mut().enumerate() {
            *x = edge(k as u16);
        }
        e
    })
}

/// The highest key counted as meeting `threshold` (the cell edge nearest it).
#[inline]
pub fn cut(threshold: f64) -> i32 {
    (threshold.ln() / LN_GAMMA + 0.5).floor() as i32 + KEY_ZERO
}

/// The upper edge of a key's cell, in the dimension's unit.
pub fn edge(key: u16) -> f64 {
    ((i32::from(key) - KEY_ZERO) as f64 * LN_GAMMA).exp()
}

/// A cell: three keys, 10 bits each, TTFT highest (so cells sort by TTFT first).
type Cell = u32;

fn cell(keys: [u16; 3]) -> Cell {
    (u32::from(keys[0]) << (2 * KEY_BITS)) | (u32::from(keys[1]) << KEY_BITS) | u32::from(keys[2])
}

fn keys(c: Cell) -> [u16; 3] {
    let m = u32::from(KEY_MAX);
    [
        (c >> (2 * KEY_BITS)) as u16,
        ((c >> KEY_BITS) & m) as u16,
        (c & m) as u16,
    ]
}

/// One successful request's values: TTFT, TPOT, e2e (ms), each when the source has it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Request {
    pub values: [Option<f64>; 3],
    /// The run time this request stands for (its run's duration ÷ its requests), when known.
    pub seconds: Option<f64>,
    /// Its output tokens, when known ([`output_tokens`]).
    pub tokens: Option<f64>,
}

/// A request's output tokens from its own values, so a rebuild from the raw rows finds what
/// the writer found: vLLM's TPOT is (e2e − TTFT) ÷ (tokens − 1), so tokens = (e2e − TTFT) ÷
/// TPOT + 1; simulate keeps its decode speed (TPS = tokens ÷ decode time), so tokens = (e2e −
/// TTFT) × TPS ÷ 1000. `None` where a value is missing (a one-token answer has no TPOT).
pub fn output_tokens(
    ttft: Option<f64>,
    tpot: Option<f64>,
    e2e: Option<f64>,
    simulated_tps: Option<f64>,
) -> Option<f64> {
    let decode = e2e? - ttft?;
    let tokens = match simulated_tps {
        Some(tps) => decode * tps / 1_000.0,
        None => decode / tpot? + 1.0,
    };
    (tokens.is_finite() && tokens >= 1.0 - 1e-9).then_some(tokens)
}

impl Request {
    /// Records `value` of `metric` when it is one of the dimensions and not yet set.
    pub fn set(&mut self, metric: MetricKind, value: f64) {
        if let Some(d) = DIMS.iter().position(|&m| m == metric) {
            self.values[d].get_or_insert(value);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.iter().all(Option::is_none)
    }

    fn cell(&self) -> Cell {
        cell(self.values.map(|v| v.map_or(0, key)))
    }
}

/// The joint summary of some requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Joint {
    /// Requests, failed ones included.
    pub n: u64,
    pub failed: u64,
    /// Requests with a known share of run time, and the sum of their shares (s).
    pub timed: u64,
    pub seconds: f64,
    /// Requests whose output tokens are known, and the sum of their tokens.
    pub tokened: u64,
    pub tokens: f64,
    /// Per dimension, the lowest and highest key kept: cells below or above were folded in.
    range: [(u16, u16); 3],
    /// Sorted by cell, counts > 0.
    cells: Vec<(Cell, u64)>,
}

impl Default for Joint {
    fn default() -> Self {
        Joint {
            n: 0,
            failed: 0,
            timed: 0,
            seconds: 0.0,
            tokened: 0,
            tokens: 0.0,
            range: [(1, KEY_MAX); 3],
            cells: Vec::new(),
        }
    }
}

/// How many requests meet an SLO, by a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Count {
    pub good: u64,
    pub n: u64,
    /// False when a threshold falls outside a folded row's resolved range: the count is then
    /// not within the stated bound (`--exact` answers it).
    pub resolved: bool,
}

impl Joint {
    /// The summary of `requests` (successful ones).
    pub fn of(requests: &[Request]) -> Joint {
        let mut p = Pending::default();
        for r in requests {
            p.push(r);
        }
        p.joint()
    }

    /// `count` failed requests, each standing for `seconds` of run time when known.
    pub fn failures(count: u64, seconds: Option<f64>) -> Joint {
        let mut j = Joint {
            n: count,
            failed: count,
            ..Joint::default()
        };
        if let Some(s) = seconds {
            j.timed = count;
            j.seconds = s * count as f64;
        }
        j
    }

    pub fn cells(&self) -> usize {
        self.cells.len()
    }

    /// Adds `other` (exact: counts add), then folds past [`MAX_CELLS`].
    pub fn merge(&mut self, other: &Joint) {
        self.n += other.n;
        self.failed += other.failed;
        self.timed += other.timed;
        self.seconds += other.seconds;
        self.tokened += other.tokened;
        self.tokens += other.tokens;
        let mut range = self.range;
        for (r, o) in range.iter_mut().zip(other.range) {
            *r = (r.0.max(o.0), r.1.min(o.1));
        }
        let clamp = |c: Cell| clamp_cell(c, &range);
        let mut out: Vec<(Cell, u64)> = Vec::with_capacity(self.cells.len() + other.cells.len());
        let folded = range != self.range || range != other.range;
        let (a, b) = (&self.cells, &other.cells);
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            if j == b.len() || (i < a.len() && a[i].0 < b[j].0) {
                out.push(a[i]);
                i += 1;
            } else if i == a.len() || b[j].0 < a[i].0 {
                out.push(b[j]);
                j += 1;
            } else {
                out.push((a[i].0, a[i].1 + b[j].1));
                i += 1;
                j += 1;
            }
        }
        if folded {
            for c in &mut out {
                c.0 = clamp(c.0);
            }
            out = sorted_sum(out);
        }
        self.range = range;
        self.cells = out;
        self.cap();
    }

    /// Folds the end of a dimension holding the fewest requests into its neighbour until at
    /// most [`MAX_CELLS`] cells remain.
    pub fn cap(&mut self) {
        self.cap_to(MAX_CELLS);
    }

    fn cap_to(&mut self, max: usize) {
        // Fold to 7/8 of the cap, so the merges that follow do not fold again each time.
        let goal = max - max / 8;
        while self.cells.len() > max {
            // Per dimension, each present key's requests and cells, computed once per round.
            let mut marg: [BTreeMap<u16, (u64, usize)>; 3] = Default::default();
            for &(c, n) in &self.cells {
                for (d, &k) in keys(c).iter().enumerate() {
                    if k != 0 {
                        let e = marg[d].entry(k).or_default();
                        e.0 += n;
                        e.1 += 1;
                    }
                }
            }
            // Fold the lightest ends, one key at a time, until about enough cells would go
            // (a folded key's cells merge with its neighbour's: about half of them go).
            let mut estimate = self.cells.len();
            let mut folded = false;
            while estimate > goal {
                let mut best: Option<(u64, usize, bool)> = None;
                for (d, m) in marg.iter().enumerate() {
                    if m.len() < 2 {
                        continue;
                    }
                    let lo = m.iter().next().map_or(u64::MAX, |(_, v)| v.0);
                    let hi = m.iter().next_back().map_or(u64::MAX, |(_, v)| v.0);
                    for (mass, low) in [(lo, true), (hi, false)] {
                        if best.is_none_or(|b| mass < b.0) {
                            best = Some((mass, d, low));
                        }
                    }
                }
                let Some((_, d, low)) = best else { break };
                let m = &mut marg[d];
                let (gone, into) = if low {
                    let mut it = m.keys();
                    (it.next().copied(), it.next().copied())
                } else {
                    let mut it = m.keys().rev();
                    (it.next().copied(), it.next().copied())
                };
                let (Some(gone), Some(into)) = (gone, into) else {
                    break;
                };
                let (mass, cells) = m.remove(&gone).unwrap_or_default();
                let e = m.entry(into).or_default();
                e.0 += mass;
                e.1 += cells;
                estimate = estimate.saturating_sub(cells.div_ceil(2));
                if low {
                    self.range[d].0 = into;
                } else {
                    self.range[d].1 = into;
                }
                folded = true;
            }
            if !folded {
                break;
            }
            let range = self.range;
            let cells = std::mem::take(&mut self.cells);
            self.cells = sorted_sum(
                cells
                    .into_iter()
                    .map(|(c, n)| (clamp_cell(c, &range), n))
                    .collect(),
            );
        }
    }

    /// The requests meeting every constraint of `slo` (failed requests never do; a request
    /// without a value of a bounded metric does not either).
    pub fn count(&self, slo: &Slo) -> Count {
        let mut cuts: [Option<i32>; 3] = [None; 3];
        let mut resolved = true;
        for c in &slo.constraints {
            if let Some(d) = DIMS.iter().position(|&m| m == c.metric) {
                let k = cut(c.max);
                let (lo, hi) = self.range[d];
                if (lo > 1 && k < i32::from(lo)) || (hi < KEY_MAX && k >= i32::from(hi)) {
                    resolved = false;
                }
                cuts[d] = Some(k);
            }
        }
        let good = self
            .cells
            .iter()
            .filter(|(c, _)| {
                let ks = keys(*c);
                (0..3).all(|d| cuts[d].is_none_or(|k| ks[d] != 0 && i32::from(ks[d]) <= k))
            })
            .map(|&(_, n)| n)
            .sum();
        Count {
            good,
            n: self.n,
            resolved: resolved || self.n == 0,
        }
    }

    /// The database form: one bigint per cell (cell in the high 30 bits, count in the low 34).
    pub fn pack(&self) -> Vec<i64> {
        self.cells
            .iter()
            .map(|&(c, n)| ((u64::from(c) << COUNT_BITS) | n.min(COUNT_MASK)) as i64)
            .collect()
    }

    /// The ranges as stored: [lo, hi] per dimension.
    pub fn range_keys(&self) -> Vec<i16> {
        self.range
            .iter()
            .flat_map(|&(lo, hi)| [lo as i16, hi as i16])
            .collect()
    }

    /// [`pack`](Self::pack)'s inverse: the row's cells and ranges into `counts`, which holds
    /// the row's scalar columns.
    pub fn unpack(packed: &[i64], range: &[i16], counts: Joint) -> Joint {
        let mut cells: Vec<(Cell, u64)> = packed
            .iter()
            .map(|&p| {
                let p = p as u64;
                ((p >> COUNT_BITS) as Cell, p & COUNT_MASK)
            })
            .collect();
        cells.sort_unstable_by_key(|c| c.0);
        let mut r = [(1, KEY_MAX); 3];
        for (d, pair) in range.chunks(2).take(3).enumerate() {
            if let [lo, hi] = pair {
                r[d] = (*lo as u16, *hi as u16);
            }
        }
        Joint {
            range: r,
            cells,
            ..counts
        }
    }

    /// Requests per second of run time, when the run time is known.
    pub fn throughput(&self) -> Option<f64> {
        (self.timed > 0 && self.seconds > 0.0).then(|| self.timed as f64 / self.seconds)
    }

    /// Output tokens per second of run time: mean output tokens × request throughput.
    pub fn output_throughput(&self) -> Option<f64> {
        let mean = (self.tokened > 0).then(|| self.tokens / self.tokened as f64)?;
        self.throughput().map(|t| t * mean)
    }
}

/// An hour's requests not yet summarised: their cells (4 bytes a request) and run time.
#[derive(Debug, Default, Clone)]
struct Pending {
    cells: Vec<Cell>,
    timed: u64,
    seconds: f64,
    tokened: u64,
    tokens: f64,
}

impl Pending {
    fn push(&mut self, r: &Request) {
        self.cells.push(r.cell());
        if let Some(s) = r.seconds {
            self.timed += 1;
            self.seconds += s;
        }
        if let Some(t) = r.tokens {
            self.tokened += 1;
            self.tokens += t;
        }
    }

    fn len(&self) -> usize {
        self.cells.len()
    }

    /// The summary of these requests (they stay).
    fn joint(&self) -> Joint {
        let mut j = Joint {
            n: self.cells.len() as u64,
            timed: self.timed,
            seconds: self.seconds,
            tokened: self.tokened,
            tokens: self.tokens,
            ..Joint::default()
        };
        let mut cells = self.cells.clone();
        cells.sort_unstable();
        for c in cells {
            match j.cells.last_mut() {
                Some((last, n)) if *last == c => *n += 1,
                _ => j.cells.push((c, 1)),
            }
        }
        j.cap();
        j
    }
}

fn flush(pending: &mut Pending, done: &mut Option<Joint>) {
    if pending.cells.is_empty() {
        return;
    }
    let j = pending.joint();
    *pending = Pending::default();
    match done {
        Some(d) => d.merge(&j),
        None => *done = Some(j),
    }
}

fn clamp_cell(c: Cell, range: &[(u16, u16); 3]) -> Cell {
    let mut ks = keys(c);
    for (k, &(lo, hi)) in ks.iter_mut().zip(range) {
        if *k != 0 {
            *k = (*k).clamp(lo, hi);
        }
    }
    cell(ks)
}

fn sorted_sum(mut v: Vec<(Cell, u64)>) -> Vec<(Cell, u64)> {
    v.sort_unstable_by_key(|c| c.0);
    let mut out: Vec<(Cell, u64)> = Vec::with_capacity(v.len());
    for (c, n) in v {
        match out.last_mut() {
            Some((last, m)) if *last == c => *m += n,
            _ => out.push((c, n)),
        }
    }
    out
}

/// Where a joint summary row belongs: bucket (3600, 86400 or 0 = all time), LLM, workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JointKey {
    pub bucket_secs: i64,
    pub bucket_start: i64,
    pub llm_id: i16,
    pub workload_id: i32,
}

/// The joint rows of some requests: by hour, rolled up to days and the total, like
/// `summary::Rollup`. Requests are buffered per hour and summarised at [`Self::rows`] or
/// when an hour holds [`PIECE`] of them.
#[derive(Debug, Default)]
pub struct JointRollup {
    hours: BTreeMap<JointKey, (Pending, Option<Joint>)>,
    /// Requests buffered in all hours; past [`PENDING_BUDGET`] every hour is summarised.
    pending: usize,
}

/// Requests an hour buffers before summarising them.
const PIECE: usize = 1 << 16;
/// Requests buffered in all (14 MiB), so an import spread over many hours stays small.
const PENDING_BUDGET: usize = 1 << 18;

/// The hourly row of `llm_id` in `workload_id` holding `unix_secs`.
fn hour_key(llm_id: i16, workload_id: i32, unix_secs: i64) -> JointKey {
    JointKey {
        bucket_secs: crate::summary::HOUR,
        bucket_start: unix_secs.div_euclid(crate::summary::HOUR) * crate::summary::HOUR,
        llm_id,
        workload_id,
    }
}

impl JointRollup {
    /// A successful request of `llm_id` in `workload_id`, taken at `unix_secs`.
    pub fn add(&mut self, llm_id: i16, workload_id: i32, unix_secs: i64, r: Request) {
        self.add_slice(llm_id, workload_id, unix_secs, std::slice::from_ref(&r));
    }

    /// Successful requests all taken in the hour of `unix_secs` (one lookup for them all).
    pub fn add_slice(&mut self, llm_id: i16, workload_id: i32, unix_secs: i64, rs: &[Request]) {
        let (pending, done) = self
            .hours
            .entry(hour_key(llm_id, workload_id, unix_secs))
            .or_default();
        for r in rs {
            pending.push(r);
            self.pending += 1;
            if pending.len() >= PIECE {
                self.pending -= pending.len();
                flush(pending, done);
            }
        }
        if self.pending > PENDING_BUDGET {
            for (pending, done) in self.hours.values_mut() {
                flush(pending, done);
            }
            self.pending = 0;
        }
    }

    /// Adds a summary (failures, say) to the hour of `unix_secs`.
    pub fn add_joint(&mut self, llm_id: i16, workload_id: i32, unix_secs: i64, j: &Joint) {
        let (_, done) = self
            .hours
            .entry(hour_key(llm_id, workload_id, unix_secs))
            .or_default();
        match done {
            Some(d) => d.merge(j),
            None => *done = Some(j.clone()),
        }
    }

    /// Spreads `seconds` of run time over every request added so far that has none, in
    /// proportion to their count (a run whose duration is known once it ends).
    pub fn spread_seconds(&mut self, seconds: f64, requests: u64) {
        if requests == 0 {
            return;
        }
        let share = seconds / requests as f64;
        for (pending, _) in self.hours.values_mut() {
            let untimed = pending.len() as u64 - pending.timed;
            pending.timed += untimed;
            pending.seconds += share * untimed as f64;
        }
        for (_, done) in self.hours.values_mut() {
            if let Some(d) = done {
                let untimed = d.n - d.timed;
                d.timed += untimed;
                d.seconds += share * untimed as f64;
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.hours.is_empty()
    }

    /// Merges another rollup's hours into this one.
    pub fn absorb(&mut self, other: JointRollup) {
        for (k, (pending, done)) in other.hours {
            let mut j = pending.joint();
            if let Some(d) = done {
                j.merge(&d);
            }
            let (_, mine) = self.hours.entry(k).or_default();
            match mine {
                Some(m) => m.merge(&j),
                None => *mine = Some(j),
            }
        }
    }

    /// Every row (hours, days, totals) in key order.
    pub fn rows(&self) -> Vec<(JointKey, Joint)> {
        let mut out: BTreeMap<JointKey, Joint> = BTreeMap::new();
        for (k, (pending, done)) in &self.hours {
            let mut j = pending.joint();
            if let Some(d) = done {
                j.merge(d);
            }
            if j.n == 0 {
                continue;
            }
            let day = JointKey {
                bucket_secs: crate::summary::DAY,
                bucket_start: k.bucket_start.div_euclid(crate::summary::DAY) * crate::summary::DAY,
                ..*k
            };
            let total = JointKey {
                bucket_secs: crate::summary::TOTAL,
                bucket_start: 0,
                ..*k
            };
            for up in [day, total] {
                out.entry(up)
                    .and_modify(|e| e.merge(&j))
                    .or_insert_with(|| j.clone());
            }
            out.insert(*k, j);
        }
        out.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn req(ttft: f64, tpot: f64, e2e: f64) -> Request {
        Request {
            values: [Some(ttft), Some(tpot), Some(e2e)],
            seconds: None,
            tokens: None,
        }
    }

    fn exact(rs: &[Request], slo: &Slo, scale: f64) -> u64 {
        rs.iter()
            .filter(|r| {
                slo.constraints.iter().all(|c| {
                    let d = DIMS.iter().position(|&m| m == c.metric).unwrap();
                    r.values[d].is_some_and(|v| v <= c.max * scale)
                })
            })
            .count() as u64
    }

    fn slo(t: f64, p: f64, e: Option<f64>) -> Slo {
        let mut s = format!("TTFT<={t}ms,TPOT<={p}ms");
        if let Some(e) = e {
            s += &format!(",e2e_latency<={e}ms");
        }
        s.parse().unwrap()
    }

    #[test]
    fn a_values_key_is_the_cell_whose_edges_hold_it() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(11);
        for _ in 0..100_000 {
            let v = (rng.random::<f64>() * 40.0 - 20.0).exp();
            let k = key(v);
            assert!(edge(k - 1) < v && v <= edge(k), "{v} -> {k}");
        }
        for k in 2..1000u16 {
            assert_eq!(key(edge(k)), k, "an edge belongs to the cell below it");
        }
        assert_eq!((key(0.0), key(-1.0), key(f64::NAN)), (1, 1, 1));
        assert_eq!(key(f64::MAX), KEY_MAX);
    }

    #[test]
    fn ln_gamma_is_twice_ln_of_one_plus_alpha() {
        assert!((LN_GAMMA - 2.0 * (1.0 + ALPHA).ln()).abs() < 1e-15);
    }

    #[test]
    fn counts_lie_between_the_exact_counts_at_thresholds_scaled_by_one_minus_and_plus_alpha() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
        let rs: Vec<Request> = (0..8_000)
            .map(|_| {
                let ttft = (rng.random::<f64>() * 3.0).exp() * 50.0;
                let tpot = (rng.random::<f64>() * 2.0).exp() * 10.0;
                req(ttft, tpot, ttft + tpot * rng.random_range(1.0..500.0))
            })
            .collect();
        let j = Joint::of(&rs);
        assert!(j.cells() < MAX_CELLS, "not folded: {}", j.cells());
        assert_eq!(j.n, 8_000);
        for _ in 0..300 {
            // Random thresholds, and thresholds exactly on cell edges and half-edges.
            let (t, p, e) = match rng.random_range(0..3) {
                0 => (
                    rng.random_range(40.0..1200.0),
                    rng.random_range(8.0..80.0),
                    rng.random_range(200.0..20_000.0),
                ),
                1 => (
                    edge(rng.random_range(550..580)),
                    edge(rng.random_range(535..550)),
                    edge(rng.random_range(570..620)),
                ),
                _ => (
                    edge(rng.random_range(550..580)) * (LN_GAMMA / 2.0).exp(),
                    edge(rng.random_range(535..550)) * (LN_GAMMA / 2.0).exp(),
                    edge(rng.random_range(570..620)) * (LN_GAMMA / 2.0).exp(),
                ),
            };
            for s in [slo(t, p, None), slo(t, p, Some(e))] {
                let c = j.count(&s);
                assert!(c.resolved);
                let (lo, hi) = (exact(&rs, &s, 1.0 - ALPHA), exact(&rs, &s, 1.0 + ALPHA));
                assert!(
                    lo <= c.good && c.good <= hi,
                    "{s:?}: {lo} <= {} <= {hi}",
                    c.good
                );
            }
        }
    }

    #[test]
    fn failures_count_in_n_and_never_meet_and_missing_values_fail_their_constraint() {
        let mut j = Joint::of(&[
            req(100.0, 10.0, 1000.0),
            Request {
                values: [Some(100.0), None, Some(1000.0)],
                seconds: None,
                tokens: None,
            },
        ]);
        j.merge(&Joint::failures(3, Some(2.0)));
        let c = j.count(&"TTFT<=1s".parse().unwrap());
        assert_eq!((c.good, c.n), (2, 5));
        let c = j.count(&"TTFT<=1s,TPOT<=1s".parse().unwrap());
        assert_eq!((c.good, c.n), (1, 5));
        assert_eq!((j.failed, j.timed, j.seconds), (3, 3, 6.0));
        // All failing: none good, nothing unresolved.
        let f = Joint::failures(4, None);
        assert_eq!(f.count(&"TTFT<=1s".parse().unwrap()).good, 0);
        assert_eq!(f.throughput(), None);
    }

    #[test]
    fn merging_adds_counts_exactly_and_packing_round_trips() {
        let a: Vec<Request> = (1..500)
            .map(|i| req(i as f64, 5.0, i as f64 * 3.0))
            .collect();
        let b: Vec<Request> = (250..900)
            .map(|i| req(i as f64, 7.0, i as f64 * 2.0))
            .collect();
        let mut m = Joint::of(&a);
        m.merge(&Joint::of(&b));
        let all: Vec<Request> = a.iter().chain(&b).copied().collect();
        assert_eq!(m, Joint::of(&all));
        let scalars = Joint {
            range: Default::default(),
            cells: Vec::new(),
            ..m.clone()
        };
        let back = Joint::unpack(&m.pack(), &m.range_keys(), scalars);
        assert_eq!(back, m);
    }

    #[test]
    fn past_the_cap_the_lightest_ends_fold_and_thresholds_outside_are_unresolved() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
        let rs: Vec<Request> = (0..30_000)
            .map(|_| {
                let mut x = |s: f64| (rng.random::<f64>() * s).exp();
                req(x(6.0) * 10.0, x(6.0), x(6.0) * 100.0)
            })
            .collect();
        let mut j = Joint::of(&rs);
        let before = j.cells();
        j.cap_to(500);
        assert!(
            before > 500 && j.cells() <= 500,
            "{before} -> {}",
            j.cells()
        );
        assert_eq!(j.n, 30_000);
        assert_eq!(j.cells.iter().map(|c| c.1).sum::<u64>(), 30_000);
        // A threshold in the middle stays within the bound; one below the folded floor is
        // flagged.
        let mid = slo(10.0 * 3f64.exp(), 3f64.exp(), None);
        let c = j.count(&mid);
        assert!(c.resolved);
        assert!(exact(&rs, &mid, 0.95) <= c.good && c.good <= exact(&rs, &mid, 1.05));
        assert!(!j.count(&slo(10.0 * 1.01, 1e9, None)).resolved);
    }

    #[test]
    fn a_rollup_spreads_run_time_and_rolls_hours_up() {
        let mut r = JointRollup::default();
        r.add(1, 1, 0, req(1.0, 1.0, 1.0));
        r.add(1, 1, 3600, req(1.0, 1.0, 1.0));
        r.spread_seconds(10.0, 2);
        let rows = r.rows();
        // Two hours, one day, one total.
        assert_eq!(rows.len(), 4);
        let total = rows.iter().find(|(k, _)| k.bucket_secs == 0).unwrap();
        assert_eq!((total.1.n, total.1.timed), (2, 2));
        assert!((total.1.throughput().unwrap() - 0.2).abs() < 1e-12);
    }

    #[test]
    fn output_tokens_follow_each_sources_definition_and_give_tokens_per_second() {
        // vLLM: TPOT = (e2e − TTFT) / (tokens − 1): 100 ms + 9 × 20 ms is 10 tokens.
        assert_eq!(
            output_tokens(Some(100.0), Some(20.0), Some(280.0), None),
            Some(10.0)
        );
        // simulate: 50 tokens at 100 tokens/s decode in 500 ms.
        assert_eq!(
            output_tokens(Some(40.0), None, Some(540.0), Some(100.0)),
            Some(50.0)
        );
        assert_eq!(output_tokens(Some(100.0), None, Some(280.0), None), None);
        assert_eq!(output_tokens(None, Some(20.0), Some(280.0), None), None);
        let timed = |tokens| Request {
            values: [Some(1.0), Some(1.0), Some(1.0)],
            seconds: Some(0.5),
            tokens: Some(tokens),
        };
        let j = Joint::of(&[timed(10.0), timed(30.0)]);
        assert_eq!((j.tokened, j.tokens), (2, 40.0));
        // 2 requests/s × 20 tokens.
        assert_eq!(j.output_throughput(), Some(40.0));
        assert_eq!(Joint::failures(3, None).output_throughput(), None);
    }
}
