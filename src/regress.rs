//! Verdicts on change: a candidate against a base (`compare`), and each point of a history
//! against the points before it (`regressions`). Pure, no I/O. The rule is the one
//! pytorch/test-infra PR #7684 settled on, which others copy:
//!
//! - **A pair.** The ratio cand ÷ base of one statistic (the median by default) with a 95%
//!   interval. Past the threshold in the bad direction (≥ 1.20 for lower-is-better, ≤ 0.80 for
//!   higher-is-better): `regressed` when the interval excludes 1, `noisy` when it does not; past
//!   the mirror threshold in the good direction (≤ 1 ÷ 1.20, ≥ 1 ÷ 0.80): `improved` or `noisy`
//!   alike; else `unchanged`. The interval of the ratio comes from the two sides' intervals on
//!   the log scale (delta method): each side's standard error is its interval's log-width ÷
//!   (2 × 1.96), and they add in quadrature, which holds for independent sides.
//! - **A series.** Each point's ratio is taken against the median of the `baseline` points
//!   before its run of violations began (so a lasting regression stays one, instead of becoming
//!   the new baseline once it fills half the window). A point past the threshold counts as a
//!   violation unless its interval includes 1; `regressed` needs at least 2 violations in a row
//!   (every point of such a run is marked), a lone violation that the next point does not
//!   confirm is `suspicious`, the mirror for `improved`; fewer than `min_points` points is
//!   `insufficient_data`. A point whose interval holds both the baseline and a threshold's line
//!   is `noisy`: too wide to tell either way (today's first hours, a thin day), it neither
//!   confirms nor ends a run. The series' verdict is its latest point's that is not `noisy`.

use serde::{Deserialize, Serialize};

use crate::domain::Direction;

/// What a comparison or a point of a series says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Improved,
    Regressed,
    Unchanged,
    Noisy,
    Suspicious,
    InsufficientData,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
            Verdict::Unchanged => "unchanged",
            Verdict::Noisy => "noisy",
            Verdict::Suspicious => "suspicious",
            Verdict::InsufficientData => "insufficient_data",
        }
    }
}

/// How many of `verdicts` there are of each, by name.
pub fn tally(
    verdicts: impl Iterator<Item = Verdict>,
) -> std::collections::BTreeMap<&'static str, usize> {
    let mut out = std::collections::BTreeMap::new();
    for v in verdicts {
        *out.entry(v.as_str()).or_insert(0) += 1;
    }
    out
}

/// A tally as text, `1 regressed, 47 unchanged`; `none` when empty.
pub fn tally_text(t: &std::collections::BTreeMap<&'static str, usize>, none: &str) -> String {
    if t.is_empty() {
        return none.to_string();
    }
    t.iter()
        .map(|(v, n)| format!("{n} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ratios past which a change counts: `latency` (> 1) for lower-is-better metrics,
/// `throughput` (< 1) for higher-is-better ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub latency: f64,
    pub throughput: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            latency: 1.20,
            throughput: 0.80,
        }
    }
}

impl Thresholds {
    /// Checked thresholds: a latency threshold must be above 1 and a throughput one in (0, 1),
    /// or nothing could ever regress.
    pub fn new(latency: f64, throughput: f64) -> Result<Thresholds, String> {
        if !(latency.is_finite() && latency > 1.0) {
            return Err(format!(
                "latency threshold {latency} must be above 1 (a ratio cand ÷ base, e.g. 1.20 for 20% slower)"
            ));
        }
        if !(throughput > 0.0 && throughput < 1.0) {
            return Err(format!(
                "throughput threshold {throughput} must be between 0 and 1 (a ratio cand ÷ base, e.g. 0.80 for 20% less)"
            ));
        }
        Ok(Thresholds {
            latency,
            throughput,
        })
    }

    /// The ratio past which a change of a metric in `d` is bad.
    fn worse(self, d: Direction) -> f64 {
        match d {
            Direction::Lower => self.latency,
            Direction::Higher => self.throughput,
        }
    }
}

/// Whether `ratio` is past `threshold` on the bad side of `d`, or past its mirror on the good.
fn past(ratio: f64, d: Direction, t: Thresholds) -> (bool, bool) {
    let worse = t.worse(d);
    let better = 1.0 / worse;
    match d {
        Direction::Lower => (ratio >= worse, ratio <= better),
        Direction::Higher => (ratio <= worse, ratio >= better),
    }
}

const Z: f64 = 1.959_964;

/// cand ÷ base with its 95% interval, from each side's value and 95% interval (positive
/// values); `None` when a value is not positive or an interval is missing.
pub fn ratio(
    base: f64,
    base_ci: [f64; 2],
    cand: f64,
    cand_ci: [f64; 2],
) -> Option<(f64, [f64; 2])> {
    let se = |ci: [f64; 2]| {
        (ci[0] > 0.0 && ci[1] >= ci[0]).then(|| (ci[1].ln() - ci[0].ln()) / (2.0 * Z))
    };
    if !(base > 0.0 && cand > 0.0) {
        return None;
    }
    let (sb, sc) = (se(base_ci)?, se(cand_ci)?);
    let r = cand / base;
    let half = Z * (sb * sb + sc * sc).sqrt();
    Some((r, [r * (-half).exp(), r * half.exp()]))
}

/// The verdict on one comparison: `ratio` = cand ÷ base with its interval `ci`.
pub fn verdict(d: Direction, ratio: f64, ci: [f64; 2], t: Thresholds) -> Verdict {
    let excludes_one = ci[0] > 1.0 || ci[1] < 1.0;
    match past(ratio, d, t) {
        (true, _) if excludes_one => Verdict::Regressed,
        (_, true) if excludes_one => Verdict::Improved,
        (true, _) | (_, true) => Verdict::Noisy,
        _ => Verdict::Unchanged,
    }
}

/// One point of a series: its statistic and, when known, its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub value: f64,
    pub ci: Option<[f64; 2]>,
}

/// What a point of a series says: its ratio to the baseline (none for the first) and verdict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Classified {
    pub ratio: Option<f64>,
    pub verdict: Verdict,
}

/// How a series is judged: the thresholds, how many earlier points make the baseline, and how
/// many points a series needs for any verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    pub thresholds: Thresholds,
    pub baseline: usize,
    pub min_points: usize,
}

impl Default for Rule {
    fn default() -> Self {
        Rule {
            thresholds: Thresholds::default(),
            baseline: 7,
            min_points: 7,
        }
    }
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Earlier points a point is judged against at least (or the whole baseline when it is
/// shorter): the median of one or two days is one noisy day, e.g. the first day of a series,
/// which often holds only its last few hours, so every later day would look moved from it.
pub const MIN_BASELINE: usize = 3;

/// Classifies every point of `points` (oldest first) of a metric in direction `d`; returns the
/// series' verdict (its latest point's that is not `noisy`) and the points'. A point with fewer
/// than [`MIN_BASELINE`] points before it has no ratio and is `unchanged`.
pub fn classify(points: &[Point], d: Direction, rule: Rule) -> (Verdict, Vec<Classified>) {
    let mut out: Vec<Classified> = Vec::with_capacity(points.len());
    // The current run of points past the threshold one way: (start, bad side).
    let mut run: Option<(usize, bool)> = None;
    let need = MIN_BASELINE.min(rule.baseline).max(1);
    for (i, p) in points.iter().enumerate() {
        let start = run.map_or(i, |(s, _)| s);
        if start < need {
            out.push(Classified {
                ratio: None,
                verdict: Verdict::Unchanged,
            });
            continue;
        }
        let before: Vec<f64> = points[start.saturating_sub(rule.baseline)..start]
            .iter()
            .map(|q| q.value)
            .collect();
        let base = median(&before);
        let ratio = (base > 0.0).then(|| p.value / base);
        // A point whose own interval includes the baseline is not a violation either way; when
        // it also holds a threshold's line it cannot tell a recovery from a regression either,
        // so it leaves the run as it was (a few hours of today must not clear a regression).
        let clear = p.ci.is_none_or(|[lo, hi]| lo > base || hi < base);
        let worse = rule.thresholds.worse(d);
        let lines = [base * worse, base / worse];
        let too_wide = !clear
            && p.ci
                .is_some_and(|[lo, hi]| lines.iter().any(|&l| lo <= l && l <= hi));
        if too_wide {
            out.push(Classified {
                ratio,
                verdict: Verdict::Noisy,
            });
            continue;
        }
        let side = ratio.and_then(|r| match past(r, d, rule.thresholds) {
            (true, _) if clear => Some(true),
            (_, true) if clear => Some(false),
            _ => None,
        });
        let verdict = match (side, run) {
            (Some(bad), Some((s, was_bad))) if bad == was_bad => {
                // Confirmed: the whole run is marked.
                let v = if bad {
                    Verdict::Regressed
                } else {
                    Verdict::Improved
                };
                for c in &mut out[s..] {
                    c.verdict = v;
                }
                v
            }
            (Some(bad), _) => {
                run = Some((i, bad));
                if bad {
                    Verdict::Suspicious
                } else {
                    Verdict::Unchanged
                }
            }
            (None, _) => {
                run = None;
                Verdict::Unchanged
            }
        };
        out.push(Classified { ratio, verdict });
    }
    let series = if points.len() < rule.min_points {
        Verdict::InsufficientData
    } else {
        out.iter()
            .rev()
            .map(|c| c.verdict)
            .find(|&v| v != Verdict::Noisy)
            .unwrap_or(Verdict::Unchanged)
    };
    (series, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64]) -> Vec<Point> {
        values
            .iter()
            .map(|&value| Point { value, ci: None })
            .collect()
    }

    fn verdicts(values: &[f64], d: Direction) -> (Verdict, Vec<Verdict>) {
        let (v, pts) = classify(&series(values), d, Rule::default());
        (v, pts.iter().map(|c| c.verdict).collect())
    }

    #[test]
    fn a_pair_regresses_only_past_the_threshold_with_an_interval_clear_of_one() {
        let t = Thresholds::default();
        use Direction::*;
        assert_eq!(verdict(Lower, 1.30, [1.25, 1.35], t), Verdict::Regressed);
        assert_eq!(verdict(Lower, 1.30, [0.95, 1.70], t), Verdict::Noisy);
        assert_eq!(verdict(Lower, 1.10, [1.05, 1.15], t), Verdict::Unchanged);
        assert_eq!(verdict(Lower, 0.80, [0.75, 0.85], t), Verdict::Improved);
        assert_eq!(verdict(Higher, 0.70, [0.65, 0.75], t), Verdict::Regressed);
        assert_eq!(verdict(Higher, 1.30, [1.26, 1.34], t), Verdict::Improved);
        assert_eq!(verdict(Higher, 1.30, [0.90, 1.70], t), Verdict::Noisy);
        // Exactly at the threshold counts.
        assert_eq!(verdict(Lower, 1.20, [1.10, 1.30], t), Verdict::Regressed);
    }

    #[test]
    fn the_ratios_interval_adds_both_sides_on_the_log_scale() {
        // Each side ±10% on the log scale (se = ln(1.1)/1.96): the ratio's half-width is
        // √2 × ln(1.1).
        let w = 1.1_f64;
        let (r, ci) = ratio(100.0, [100.0 / w, 100.0 * w], 150.0, [150.0 / w, 150.0 * w]).unwrap();
        assert!((r - 1.5).abs() < 1e-12);
        let half = 2f64.sqrt() * w.ln();
        assert!((ci[0] - 1.5 * (-half).exp()).abs() < 1e-12);
        assert!((ci[1] - 1.5 * half.exp()).abs() < 1e-12);
        assert!(ratio(0.0, [1.0, 2.0], 1.0, [1.0, 2.0]).is_none());
        assert!(ratio(1.0, [0.0, 2.0], 1.0, [1.0, 2.0]).is_none());
    }

    #[test]
    fn a_short_first_day_is_no_baseline_of_its_own() {
        use Direction::Lower;
        // The first day holds a few requests and came out low; every later day is the same.
        let (v, pts) = verdicts(
            &[96.0, 125.0, 124.0, 126.0, 125.0, 124.0, 126.0, 125.0],
            Lower,
        );
        assert_eq!(v, Verdict::Unchanged);
        assert!(pts.iter().all(|&p| p == Verdict::Unchanged), "{pts:?}");
        let (_, pts) = classify(
            &series(&[96.0, 125.0, 124.0, 126.0]),
            Lower,
            Rule::default(),
        );
        assert!(pts[..MIN_BASELINE].iter().all(|c| c.ratio.is_none()));
        assert!(pts[MIN_BASELINE].ratio.is_some());
        // A move after three points is still caught from its second point.
        let (v, pts) = verdicts(&[100.0, 101.0, 99.0, 100.0, 98.0, 130.0, 131.0], Lower);
        assert_eq!(v, Verdict::Regressed);
        assert_eq!(pts[5..], [Verdict::Regressed, Verdict::Regressed]);
        // A baseline asked shorter than the minimum is honoured.
        let rule = Rule {
            baseline: 1,
            ..Rule::default()
        };
        let (_, pts) = classify(&series(&[100.0, 130.0, 131.0]), Lower, rule);
        assert_eq!(pts[2].verdict, Verdict::Regressed);
    }

    #[test]
    fn thresholds_that_could_never_fire_are_refused() {
        assert!(Thresholds::new(1.2, 0.8).is_ok());
        assert!(Thresholds::new(1.0, 0.8).unwrap_err().contains("above 1"));
        assert!(Thresholds::new(0.9, 0.8).unwrap_err().contains("above 1"));
        assert!(Thresholds::new(1.2, 1.0)
            .unwrap_err()
            .contains("between 0 and 1"));
        assert!(Thresholds::new(f64::NAN, 0.8).is_err());
    }

    #[test]
    fn a_lasting_step_is_regressed_from_its_second_point_and_stays_so() {
        use Direction::Lower;
        let mut v = vec![100.0, 101.0, 99.0, 100.0, 102.0, 98.0, 100.0, 100.0];
        v.extend([130.0; 10]);
        let (series, pts) = verdicts(&v, Lower);
        assert_eq!(series, Verdict::Regressed);
        assert!(pts[..8].iter().all(|&p| p == Verdict::Unchanged), "{pts:?}");
        // The step's first point is marked too once the second confirms it, and a baseline
        // frozen before the run keeps the whole step regressed.
        assert!(pts[8..].iter().all(|&p| p == Verdict::Regressed), "{pts:?}");
        // Right after the first bad point, before confirmation: suspicious.
        let (series, pts) = verdicts(&v[..9], Lower);
        assert_eq!((series, pts[8]), (Verdict::Suspicious, Verdict::Suspicious));
    }

    #[test]
    fn a_lone_spike_stays_suspicious_and_small_moves_never_regress() {
        use Direction::*;
        let (series, pts) = verdicts(
            &[100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 150.0, 100.0],
            Lower,
        );
        assert_eq!(series, Verdict::Unchanged);
        assert_eq!(pts[6], Verdict::Suspicious);
        let drift: Vec<f64> = (0..20).map(|i| 100.0 * 1.01_f64.powi(i)).collect();
        let (_, pts) = verdicts(&drift[..10], Lower);
        assert!(!pts.contains(&Verdict::Regressed), "{pts:?}");
        // Throughput: a fall is the regression, a rise the improvement.
        let mut v = vec![50.0; 7];
        v.extend([35.0, 34.0]);
        assert_eq!(verdicts(&v, Higher).0, Verdict::Regressed);
        let mut v = vec![50.0; 7];
        v.extend([70.0, 71.0]);
        assert_eq!(verdicts(&v, Higher).0, Verdict::Improved);
        assert_eq!(
            verdicts(&[1.0, 2.0, 3.0], Lower).0,
            Verdict::InsufficientData
        );
    }

    #[test]
    fn a_point_whose_interval_holds_the_baseline_is_not_a_violation() {
        let mut pts = series(&[100.0; 7]);
        pts.extend([
            Point {
                value: 130.0,
                ci: Some([90.0, 170.0]),
            },
            Point {
                value: 131.0,
                ci: Some([95.0, 160.0]),
            },
        ]);
        let (series, _) = classify(&pts, Direction::Lower, Rule::default());
        assert_eq!(series, Verdict::Unchanged);
    }

    #[test]
    fn a_thin_last_day_neither_clears_nor_confirms_a_regression() {
        let point = |value, lo, hi| Point {
            value,
            ci: Some([lo, hi]),
        };
        let mut pts = series(&[100.0; 7]);
        pts.extend([point(130.0, 125.0, 135.0), point(131.0, 126.0, 136.0)]);
        // Today's first hours, past the threshold or not: an interval holding both the
        // baseline and the threshold's line (120) tells nothing.
        for thin in [point(135.0, 90.0, 165.0), point(110.0, 80.0, 140.0)] {
            let mut p = pts.clone();
            p.push(thin);
            let (verdict, c) = classify(&p, Direction::Lower, Rule::default());
            assert_eq!(verdict, Verdict::Regressed);
            assert_eq!(c[9].verdict, Verdict::Noisy);
            assert!(c[7..9].iter().all(|c| c.verdict == Verdict::Regressed));
        }
        // A clear recovery ends it.
        pts.push(point(100.0, 97.0, 103.0));
        let (verdict, _) = classify(&pts, Direction::Lower, Rule::default());
        assert_eq!(verdict, Verdict::Unchanged);
        // A thin day between two violations neither breaks nor makes the pair.
        let mut p = series(&[100.0; 7]);
        p.extend([
            point(130.0, 125.0, 135.0),
            point(120.0, 90.0, 150.0),
            point(131.0, 126.0, 136.0),
        ]);
        let (verdict, c) = classify(&p, Direction::Lower, Rule::default());
        assert_eq!(verdict, Verdict::Regressed);
        assert!(c[7..].iter().all(|c| c.verdict == Verdict::Regressed));
    }
}
