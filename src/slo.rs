//! Service-level objectives as serving engineers write them, `TTFT<=200ms,TPOT<=40ms`, and the
//! share of requests that meet one with its 95% Wilson score interval. Pure, no I/O: the
//! groundwork of goodput rankings (a request meets an SLO when every constraint holds).

use crate::domain::MetricKind;

/// The metrics a per-request SLO may bound: each request has one value of each.
pub const BOUNDED: [MetricKind; 3] = [MetricKind::Ttft, MetricKind::Tpot, MetricKind::E2eLatency];

/// One constraint: `metric <= max`, `max` in the metric's unit (ms).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Constraint {
    pub metric: MetricKind,
    pub max: f64,
}

/// Every constraint a request must meet, one per metric, in the order written.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    pub constraints: Vec<Constraint>,
}

impl std::str::FromStr for Slo {
    type Err = String;

    /// `METRIC<=NUMBER UNIT[,...]`: units `us`, `ms`, `s`; spaces allowed around the parts.
    fn from_str(text: &str) -> Result<Slo, String> {
        let allowed = || {
            BOUNDED
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut constraints: Vec<Constraint> = Vec::new();
        for part in text.split(',').map(str::trim) {
            if part.is_empty() {
                return Err(format!(
                    "--slo {text:?} holds an empty constraint; write METRIC<=VALUE UNIT, comma-separated (e.g. TTFT<=200ms,TPOT<=40ms)"
                ));
            }
            let Some((name, bound)) = part.split_once("<=") else {
                let op = [">=", "<", ">", "=="]
                    .into_iter()
                    .find(|op| part.contains(op));
                return Err(match op {
                    Some(op) => format!(
                        "--slo constraint {part:?} uses {op:?}; an SLO bounds latencies from above: only <= is allowed"
                    ),
                    None => format!(
                        "--slo constraint {part:?} is not METRIC<=VALUE UNIT (e.g. TTFT<=200ms)"
                    ),
                });
            };
            let name = name.trim();
            let metric = BOUNDED
                .into_iter()
                .find(|m| m.name() == name)
                .ok_or_else(|| match MetricKind::from_name(name) {
                    Some(m) => format!(
                        "--slo cannot bound {name}: it is not a latency of one request ({} is {} is better); allowed: {}",
                        m.name(),
                        m.direction().as_str(),
                        allowed()
                    ),
                    None => format!("--slo names unknown metric {name:?}; allowed: {}", allowed()),
                })?;
            if constraints.iter().any(|c| c.metric == metric) {
                return Err(format!(
                    "--slo bounds {name} twice; give each metric one bound"
                ));
            }
            constraints.push(Constraint {
                metric,
                max: milliseconds(bound.trim(), part)?,
            });
        }
        Ok(Slo { constraints })
    }
}

/// `200ms`, `0.2 s`, `1500us` in milliseconds; the unit is required.
fn milliseconds(bound: &str, part: &str) -> Result<f64, String> {
    let split = bound
        .find(|c: char| {
            !(c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')
        })
        .unwrap_or(bound.len());
    let (number, unit) = bound.split_at(split);
    let positive = || {
        format!("--slo constraint {part:?}: the bound must be a positive number and a unit (e.g. 200ms)")
    };
    if number.is_empty() {
        return Err(positive());
    }
    let scale = match unit.trim() {
        "us" | "µs" => 1e-3,
        "ms" => 1.0,
        "s" => 1e3,
        "" => {
            return Err(format!(
                "--slo constraint {part:?} has no unit; write one of us, ms, s (e.g. TTFT<=200ms)"
            ))
        }
        other => {
            return Err(format!(
                "--slo constraint {part:?} has unit {other:?}; allowed: us, ms, s"
            ))
        }
    };
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v * scale),
        _ => Err(positive()),
    }
}

impl Slo {
    /// Whether a request with these values meets every constraint; a missing value (the
    /// request failed, or its file lacks the metric) fails it.
    pub fn met(&self, value: impl Fn(MetricKind) -> Option<f64>) -> bool {
        self.constraints
            .iter()
            .all(|c| value(c.metric).is_some_and(|v| v <= c.max))
    }

    /// The SLO as it would be written, in ms: `TTFT<=200ms,TPOT<=40ms`.
    pub fn text(&self) -> String {
        self.constraints
            .iter()
            .map(|c| format!("{}<={}ms", c.metric.name(), c.max))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The 95% Wilson score interval of a share `good` of `n` (it stays inside [0, 1] and is not
/// zero-width at 0 or n, where the normal interval is); `None` for no requests.
pub fn wilson95(good: u64, n: u64) -> Option<[f64; 2]> {
    if n == 0 || good > n {
        return None;
    }
    const Z: f64 = 1.959_963_984_540_054;
    let (n, p) = (n as f64, good as f64 / n as f64);
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // At 0 and n the closed-form bound equals p only up to rounding; the interval must hold p.
    let lo = if good == 0 {
        0.0
    } else {
        (centre - half).clamp(0.0, p)
    };
    let hi = if good as f64 == n {
        1.0
    } else {
        (centre + half).clamp(p, 1.0)
    };
    Some([lo, hi])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slos_parse_with_units_and_bad_ones_say_what_is_allowed() {
        let slo: Slo = "TTFT<=200ms, TPOT <= 40 ms,e2e_latency<=5s"
            .parse()
            .unwrap();
        assert_eq!(
            slo.constraints,
            [
                Constraint {
                    metric: MetricKind::Ttft,
                    max: 200.0
                },
                Constraint {
                    metric: MetricKind::Tpot,
                    max: 40.0
                },
                Constraint {
                    metric: MetricKind::E2eLatency,
                    max: 5000.0
                },
            ]
        );
        assert_eq!(slo.text(), "TTFT<=200ms,TPOT<=40ms,e2e_latency<=5000ms");
        assert_eq!(
            "TTFT<=1500us".parse::<Slo>().unwrap().constraints[0].max,
            1.5
        );
        for (bad, says) in [
            ("TTFT<=200", "no unit"),
            ("TTFT<=200min", "allowed: us, ms, s"),
            ("TTFT>=200ms", "only <= is allowed"),
            ("TTFT<200ms", "only <= is allowed"),
            ("TTFT=200ms", "not METRIC<=VALUE UNIT"),
            (
                "latency<=2s",
                "unknown metric \"latency\"; allowed: TTFT, TPOT, e2e_latency",
            ),
            ("TPS<=20ms", "higher is better"),
            ("TTFT<=-1ms", "positive number"),
            ("TTFT<=NaNms", "positive number"),
            ("TTFT<=1ms,,TPOT<=2ms", "empty constraint"),
            ("TTFT<=1ms,TTFT<=2ms", "twice"),
            ("", "empty constraint"),
        ] {
            let e = bad.parse::<Slo>().unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_request_meets_an_slo_when_every_constraint_holds_and_a_missing_value_fails_it() {
        let slo: Slo = "TTFT<=200ms,TPOT<=40ms".parse().unwrap();
        let req = |ttft: Option<f64>, tpot: Option<f64>| {
            move |m: MetricKind| match m {
                MetricKind::Ttft => ttft,
                MetricKind::Tpot => tpot,
                _ => None,
            }
        };
        assert!(
            slo.met(req(Some(200.0), Some(40.0))),
            "bounds are inclusive"
        );
        assert!(!slo.met(req(Some(200.1), Some(10.0))));
        assert!(!slo.met(req(Some(10.0), Some(40.1))));
        assert!(!slo.met(req(Some(10.0), None)), "an error fails the SLO");
    }

    #[test]
    fn wilson_intervals_match_published_values_and_behave_at_the_edges() {
        // Newcombe (1998), table I: 81 of 263 → 0.2553 to 0.3662.
        let [lo, hi] = wilson95(81, 263).unwrap();
        assert!(
            (lo - 0.2553).abs() < 5e-4 && (hi - 0.3662).abs() < 5e-4,
            "{lo} {hi}"
        );
        // None good, all good: inside [0, 1], not zero-width.
        let [lo, hi] = wilson95(0, 10).unwrap();
        assert!(lo.abs() < 1e-12 && (hi - 0.2775).abs() < 5e-4, "{lo} {hi}");
        let [lo, hi] = wilson95(10, 10).unwrap();
        assert!(
            (lo - 0.7225).abs() < 5e-4 && (hi - 1.0).abs() < 1e-12,
            "{lo} {hi}"
        );
        assert_eq!(wilson95(0, 0), None);
        assert_eq!(wilson95(3, 2), None);
        // The interval holds the share exactly, at every n (rounding once put 1.0 outside).
        for n in [1, 7, 3_000, 1_000_003] {
            for g in [0, 1, n / 2, n - 1, n] {
                let [lo, hi] = wilson95(g, n).unwrap();
                let p = g as f64 / n as f64;
                assert!(lo <= p && p <= hi, "{g}/{n}: {lo} {p} {hi}");
            }
            assert_eq!(wilson95(n, n).unwrap()[1], 1.0);
            assert_eq!(wilson95(0, n).unwrap()[0], 0.0);
        }
        // More requests, a narrower interval around the same share.
        let w = |g, n| {
            let [lo, hi] = wilson95(g, n).unwrap();
            hi - lo
        };
        assert!(w(900, 1000) < w(90, 100));
    }
}
