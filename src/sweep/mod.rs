//! Load sweeps: runs whose workloads differ only in the load they applied (concurrency or
//! request rate) are the levels of one sweep. From their per-level figures this module finds
//! each LLM's capacity under an SLO and draws its curves (load → throughput, latency
//! percentiles, attainment, the knee). Pure, no I/O: `query` reads the levels.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::MetricKind;

/// The workload keys that hold a configured load; every other key is the sweep's identity.
pub const LOAD_KEYS: [(&str, LoadKind); 2] = [
    ("concurrency", LoadKind::Concurrency),
    ("request_rate", LoadKind::RequestRate),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadKind {
    Concurrency,
    RequestRate,
}

impl LoadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadKind::Concurrency => "concurrency",
            LoadKind::RequestRate => "request_rate",
        }
    }
}

/// A workload's place in a sweep: its load, and the rest of it (what its levels share), or
/// `None` when it names no numeric load.
pub fn level_of(params: &BTreeMap<String, String>) -> Option<(String, LoadKind, f64, String)> {
    let (key, kind) = LOAD_KEYS.iter().find(|(k, _)| params.contains_key(*k))?;
    let text = params.get(*key)?.clone();
    let load: f64 = text
        .parse()
        .ok()
        .filter(|x: &f64| x.is_finite() && *x > 0.0)?;
    let rest: Vec<String> = params
        .iter()
        .filter(|(k, _)| LOAD_KEYS.iter().all(|(l, _)| l != k))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    Some((text, *kind, load, rest.join(",")))
}

/// One LLM at one level of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub llm: String,
    /// What the sweep's levels share (the workload without its load), as `k=v,...`.
    pub sweep: String,
    pub load_kind: LoadKind,
    /// The load as the file wrote it, and as a number (for ordering).
    pub load_text: String,
    pub load: f64,
    pub workload_id: i32,
    /// Requests (failed ones included) and those meeting the SLO, when one is asked.
    pub n: u64,
    pub good: Option<u64>,
    /// Per constraint of the SLO, the requests meeting it alone.
    pub per_constraint: Vec<(MetricKind, u64)>,
    /// Requests per second of run time, when known.
    pub throughput: Option<f64>,
    /// The curve's metric at this level: its samples, p50 and p99.
    pub metric: Option<MetricPoint>,
    /// Output tokens per second per user (1000 / mean TPOT), when TPOT is known.
    pub interactivity: Option<f64>,
    /// Output tokens per second of run time, when durations and tokens are known.
    pub output_throughput: Option<f64>,
    /// The GPUs serving it, where the workload says (`gpu_count` or `gpus`).
    pub gpus: Option<u32>,
}

/// The GPU count a workload names (`gpu_count`, else `gpus`), when a positive integer.
pub fn gpus_of(params: &BTreeMap<String, String>) -> Option<u32> {
    ["gpu_count", "gpus"]
        .iter()
        .find_map(|k| params.get(*k)?.trim().parse::<u32>().ok())
        .filter(|&g| g > 0)
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub n: u64,
    pub p50: f64,
    pub p99: f64,
}

impl Level {
    fn attainment(&self) -> Option<f64> {
        let good = self.good?;
        (self.n > 0).then(|| good as f64 / self.n as f64)
    }
}

/// Whether `levels` hold a sweep: one LLM at two levels or more of one sweep.
pub fn any_sweep(levels: &[Level]) -> bool {
    let mut count: BTreeMap<(&str, &str, LoadKind), usize> = BTreeMap::new();
    for l in levels {
        *count.entry((&l.llm, &l.sweep, l.load_kind)).or_default() += 1;
    }
    count.values().any(|&n| n >= 2)
}

/// Levels grouped per LLM and sweep, ordered by load; sweeps of a single level dropped.
fn series(levels: Vec<Level>) -> Vec<Vec<Level>> {
    let mut by: BTreeMap<(String, String, LoadKind), Vec<Level>> = BTreeMap::new();
    for l in levels {
        by.entry((l.llm.clone(), l.sweep.clone(), l.load_kind))
            .or_default()
            .push(l);
    }
    by.into_values()
        .filter(|v| v.len() >= 2)
        .map(|mut v| {
            v.sort_by(|a, b| a.load.total_cmp(&b.load));
            v
        })
        .collect()
}

/// One LLM's capacity under the SLO on one sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityEntry {
    pub rank: u32,
    pub llm: String,
    /// The sweep: the workload its levels share.
    pub workload: String,
    pub load_kind: LoadKind,
    /// The highest level reaching the target before the first that does not, as the file
    /// wrote it; null when the lowest level already misses it.
    pub capacity: Option<String>,
    /// The attainment and request throughput there.
    pub attainment: Option<f64>,
    pub throughput: Option<f64>,
    /// The constraint that breaks first above it: the one met least at the first failing
    /// level; null when no level fails.
    pub binding: Option<String>,
    /// Levels above the capacity that reach the target again (a recovery after a failure is
    /// not capacity: the walk stops at the first failure).
    pub recovered_above: Vec<String>,
    /// Interpolated between the capacity level and the first failing one (`--interpolate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpolated: Option<f64>,
}

/// `llmrank capacity`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    pub slo: String,
    pub attainment_target: f64,
    pub method: crate::ranking::Method,
    pub threshold_relative_error: f64,
    pub rankings: Vec<CapacityEntry>,
}

/// `--attainment` (`?attainment=`): a share of requests in (0, 1].
pub fn parse_attainment(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(a) if a > 0.0 && a <= 1.0 => Ok(a),
        _ => Err(format!(
            "--attainment {text:?} is not a share of requests in (0, 1] (e.g. 0.99 for 99%)"
        )),
    }
}

impl Capacity {
    /// The capacity answer of `levels` under `slo` at `target`.
    pub fn of(
        slo: &crate::slo::Slo,
        target: f64,
        method: crate::ranking::Method,
        interpolate: bool,
        levels: Vec<Level>,
    ) -> Capacity {
        Capacity {
            slo: slo.text(),
            attainment_target: target,
            method,
            threshold_relative_error: match method {
                crate::ranking::Method::Summary => crate::joint::ALPHA,
                crate::ranking::Method::Exact => 0.0,
            },
            rankings: capacity(levels, target, interpolate),
        }
    }
}

/// Walks each sweep's levels upward: the capacity is the last level whose attainment reaches
/// `target` before the first one that does not. Ranked by throughput there (none last).
pub fn capacity(levels: Vec<Level>, target: f64, interpolate: bool) -> Vec<CapacityEntry> {
    let mut out: Vec<CapacityEntry> = Vec::new();
    for s in series(levels) {
        let first_fail = s
            .iter()
            .position(|l| l.attainment().is_none_or(|a| a < target));
        let cap = match first_fail {
            Some(0) => None,
            Some(i) => Some(&s[i - 1]),
            None => s.last(),
        };
        let binding = first_fail.and_then(|i| {
            let l = &s[i];
            l.per_constraint
                .iter()
                .min_by_key(|(_, good)| *good)
                .map(|(m, _)| m.name().to_string())
        });
        let recovered_above = first_fail
            .map(|i| {
                s[i..]
                    .iter()
                    .filter(|l| l.attainment().is_some_and(|a| a >= target))
                    .map(|l| l.load_text.clone())
                    .collect()
            })
            .unwrap_or_default();
        let interpolated = match (interpolate, cap, first_fail) {
            (true, Some(c), Some(i)) => {
                let (a0, a1) = (
                    c.attainment().unwrap_or(0.0),
                    s[i].attainment().unwrap_or(0.0),
                );
                let t = if a0 > a1 {
                    (a0 - target) / (a0 - a1)
                } else {
                    0.0
                };
                Some(c.load + t.clamp(0.0, 1.0) * (s[i].load - c.load))
            }
            (true, Some(c), None) => Some(c.load),
            _ => None,
        };
        let head = &s[0];
        out.push(CapacityEntry {
            rank: 0,
            llm: head.llm.clone(),
            workload: head.sweep.clone(),
            load_kind: head.load_kind,
            capacity: cap.map(|c| c.load_text.clone()),
            attainment: cap.and_then(Level::attainment),
            throughput: cap.and_then(|c| c.throughput),
            binding,
            recovered_above,
            interpolated,
        });
    }
    out.sort_by(|a, b| {
        let t = |e: &CapacityEntry| match (&e.capacity, e.throughput) {
            (Some(_), Some(t)) => t,
            (Some(_), None) => 0.0,
            (None, _) => -1.0,
        };
        t(b).total_cmp(&t(a)).then_with(|| a.llm.cmp(&b.llm))
    });
    for (i, e) in out.iter_mut().enumerate() {
        e.rank = i as u32 + 1;
    }
    out
}

/// One point of a curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub load: f64,
    /// The load as the file wrote it.
    pub load_text: String,
    pub n: u64,
    pub throughput: Option<f64>,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub attainment: Option<f64>,
    pub interactivity: Option<f64>,
    /// Output tokens per second at this level, and per GPU where the workload names its GPUs.
    pub output_throughput: Option<f64>,
    pub output_throughput_per_gpu: Option<f64>,
    /// On the Pareto frontier of the answer's points: no other point (of any series) has both
    /// more interactivity and more output throughput (per GPU when [`Curves::per_gpu`]).
    pub pareto: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub llm: String,
    pub workload: String,
    pub load_kind: LoadKind,
    /// The GPUs serving it, where the workload says.
    pub gpus: Option<u32>,
    /// The lowest load whose throughput reaches [`KNEE_SHARE`] of the series' highest: past
    /// it, more load buys little throughput and costs latency.
    pub knee: Option<f64>,
    /// The capacity under the SLO, when one was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<String>,
    /// The output throughput (per GPU when [`Curves::per_gpu`]) at the interactivity asked
    /// for (`--at-interactivity`), linear between the two levels around it; null when not
    /// asked or outside the levels' interactivity (never extrapolated).
    pub throughput_at_interactivity: Option<f64>,
    pub points: Vec<Point>,
}

/// The share of the highest throughput that marks the knee.
pub const KNEE_SHARE: f64 = 0.9;

/// `llmrank sweep METRIC`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curves {
    pub metric: String,
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<String>,
    /// Whether the trade-off (frontier, matched interactivity) is per GPU: true when every
    /// point with an output throughput has a GPU count, so systems of different sizes compare.
    pub per_gpu: bool,
    /// The interactivity (tokens/s per user) the throughputs are matched at, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_interactivity: Option<f64>,
    pub series: Vec<Series>,
}

/// `--at-interactivity` (`?at_interactivity=`): tokens/s per user, a positive number.
pub fn parse_interactivity(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!(
            "--at-interactivity {text:?} is not a positive number of output tokens/s per user (e.g. 50)"
        )),
    }
}

impl Point {
    /// The trade-off's y: output throughput, per GPU when `per_gpu`.
    pub fn tradeoff_y(&self, per_gpu: bool) -> Option<f64> {
        if per_gpu {
            self.output_throughput_per_gpu
        } else {
            self.output_throughput
        }
    }
}

/// Marks the Pareto frontier of interactivity against output throughput over every point of
/// `series`, and matches each series' throughput at `at` interactivity. Returns `per_gpu`.
fn tradeoff(series: &mut [Series], at: Option<f64>) -> bool {
    let with_y = || {
        series
            .iter()
            .flat_map(|s| &s.points)
            .filter(|p| p.output_throughput.is_some())
    };
    let per_gpu =
        with_y().next().is_some() && with_y().all(|p| p.output_throughput_per_gpu.is_some());
    let mut xy = Vec::new();
    for s in series.iter() {
        for p in &s.points {
            if let (Some(x), Some(y)) = (p.interactivity, p.tradeoff_y(per_gpu)) {
                xy.push((x, y));
            }
        }
    }
    let front = crate::domain::pareto_front(
        &xy,
        crate::domain::Direction::Higher,
        crate::domain::Direction::Higher,
    );
    let mut on = front.into_iter();
    for s in series.iter_mut() {
        for p in s.points.iter_mut() {
            if p.interactivity.is_some() && p.tradeoff_y(per_gpu).is_some() {
                p.pareto = on.next().unwrap_or(false);
            }
        }
        s.throughput_at_interactivity = at.and_then(|x| matched(&s.points, x, per_gpu));
    }
    per_gpu
}

/// The throughput at interactivity `x`: linear between the two points (adjacent in
/// interactivity) around it, `None` outside their range.
fn matched(points: &[Point], x: f64, per_gpu: bool) -> Option<f64> {
    let mut xy: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| Some((p.interactivity?, p.tradeoff_y(per_gpu)?)))
        .collect();
    xy.sort_by(|a, b| a.0.total_cmp(&b.0));
    xy.windows(2)
        .find_map(|w| {
            let ((x0, y0), (x1, y1)) = (w[0], w[1]);
            if !(x0..=x1).contains(&x) {
                return None;
            }
            let t = if x1 > x0 { (x - x0) / (x1 - x0) } else { 0.0 };
            Some(y0 + t * (y1 - y0))
        })
        .or_else(|| xy.iter().find(|p| p.0 == x).map(|p| p.1))
}

/// The curves of every sweep, points ordered by load, with the knee (and the capacity at
/// `target` when the levels carry an SLO's counts).
pub fn curves(levels: Vec<Level>, target: Option<f64>) -> Vec<Series> {
    let caps: BTreeMap<(String, String), Option<String>> = match target {
        Some(t) => capacity(levels.clone(), t, false)
            .into_iter()
            .map(|e| ((e.llm, e.workload), e.capacity))
            .collect(),
        None => BTreeMap::new(),
    };
    series(levels)
        .into_iter()
        .map(|s| {
            let top = s
                .iter()
                .filter_map(|l| l.throughput)
                .fold(f64::NAN, f64::max);
            let knee = s
                .iter()
                .find(|l| l.throughput.is_some_and(|t| t >= KNEE_SHARE * top))
                .map(|l| l.load);
            let head = &s[0];
            Series {
                llm: head.llm.clone(),
                workload: head.sweep.clone(),
                load_kind: head.load_kind,
                gpus: head.gpus,
                throughput_at_interactivity: None,
                knee,
                capacity: caps
                    .get(&(head.llm.clone(), head.sweep.clone()))
                    .cloned()
                    .flatten(),
                points: s
                    .iter()
                    .map(|l| Point {
                        load: l.load,
                        load_text: l.load_text.clone(),
                        n: l.metric.map_or(l.n, |m| m.n),
                        throughput: l.throughput,
                        p50: l.metric.map(|m| m.p50),
                        p99: l.metric.map(|m| m.p99),
                        attainment: l.attainment(),
                        interactivity: l.interactivity,
                        output_throughput: l.output_throughput,
                        output_throughput_per_gpu: l
                            .output_throughput
                            .zip(l.gpus)
                            .map(|(t, g)| t / f64::from(g)),
                        pareto: false,
                    })
                    .collect(),
            }
        })
        .collect()
}

impl Curves {
    /// The curves of `levels` for `metric`, the capacity at `target` marked under `slo`.
    /// `at_interactivity`: match each series' output throughput at that interactivity.
    pub fn of(
        metric: &str,
        slo: Option<&crate::slo::Slo>,
        target: f64,
        at_interactivity: Option<f64>,
        levels: Vec<Level>,
    ) -> Curves {
        let mut series = curves(levels, slo.map(|_| target));
        let per_gpu = tradeoff(&mut series, at_interactivity);
        Curves {
            metric: metric.to_string(),
            unit: MetricKind::from_name(metric)
                .map_or("", |m| m.unit())
                .to_string(),
            slo: slo.map(crate::slo::Slo::text),
            per_gpu,
            at_interactivity,
            series,
        }
    }
}

mod render;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranking::Format;

    fn level(llm: &str, load: u32, good: u64, n: u64, tput: f64) -> Level {
        Level {
            llm: llm.into(),
            sweep: "tool=simulate".into(),
            load_kind: LoadKind::Concurrency,
            load_text: load.to_string(),
            load: f64::from(load),
            workload_id: load as i32,
            n,
            good: Some(good),
            per_constraint: vec![(MetricKind::Ttft, good), (MetricKind::Tpot, n)],
            throughput: Some(tput),
            metric: None,
            interactivity: None,
            output_throughput: None,
            gpus: None,
        }
    }

    #[test]
    fn capacity_is_the_last_level_before_the_first_miss_and_names_what_breaks() {
        let levels = vec![
            level("a", 1, 100, 100, 1.0),
            level("a", 4, 99, 100, 4.0),
            level("a", 16, 50, 100, 9.0),
            level("a", 64, 99, 100, 9.5), // a recovery: not capacity
            level("b", 1, 90, 100, 2.0),
            level("b", 4, 10, 100, 5.0),
            level("c", 1, 100, 100, 1.0),
            level("c", 2, 100, 100, 1.9),
            level("lone", 1, 100, 100, 1.0), // one level: no sweep
        ];
        let caps = capacity(levels, 0.99, true);
        let got: Vec<(&str, Option<&str>, Option<&str>)> = caps
            .iter()
            .map(|e| (e.llm.as_str(), e.capacity.as_deref(), e.binding.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Some("4"), Some("TTFT")),
                ("c", Some("2"), None),
                ("b", None, Some("TTFT")),
            ]
        );
        assert_eq!(caps[0].recovered_above, ["64"]);
        assert_eq!(caps[0].throughput, Some(4.0));
        // Interpolated: 99% → 50% over 4 → 16 reaches 99% at 4.
        assert_eq!(caps[0].interpolated, Some(4.0));
        let table = Capacity {
            slo: "TTFT<=1ms".into(),
            attainment_target: 0.99,
            method: crate::ranking::Method::Summary,
            threshold_relative_error: 0.05,
            rankings: caps,
        }
        .render(Format::Table, Some(120));
        assert!(
            table.contains("concurrency 4") && table.contains("none"),
            "{table}"
        );
    }

    #[test]
    fn curves_order_points_by_load_and_mark_the_knee() {
        let levels = vec![
            level("a", 16, 50, 100, 9.5),
            level("a", 1, 100, 100, 1.0),
            level("a", 8, 99, 100, 9.0),
            level("a", 4, 99, 100, 4.0),
        ];
        let s = curves(levels, Some(0.99));
        assert_eq!(s.len(), 1);
        let loads: Vec<f64> = s[0].points.iter().map(|p| p.load).collect();
        assert_eq!(loads, [1.0, 4.0, 8.0, 16.0]);
        assert_eq!(s[0].knee, Some(8.0));
        assert_eq!(s[0].capacity.as_deref(), Some("8"));
    }

    #[test]
    fn a_workloads_load_is_read_and_the_rest_names_its_sweep() {
        let w = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let (text, kind, load, rest) = level_of(&w(&[
            ("tool", "vllm"),
            ("concurrency", "8"),
            ("input_len", "512"),
        ]))
        .unwrap();
        assert_eq!(
            (text.as_str(), kind, load),
            ("8", LoadKind::Concurrency, 8.0)
        );
        assert_eq!(rest, "input_len=512,tool=vllm");
        assert_eq!(level_of(&w(&[("request_rate", "2.5")])).unwrap().2, 2.5);
        assert!(level_of(&w(&[("request_rate", "inf")])).is_none());
        assert!(level_of(&w(&[("tool", "vllm")])).is_none());
    }
}
