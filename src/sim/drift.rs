//! Injected drifts: `simulate --drift 'GPT-4o:TTFT=+25%@2d'` makes one LLM's metric move by a
//! share from some time before the end of the run's span, so a regression can be caught on
//! purpose (tests, screenshots, alert rules). Pure, no I/O.
//!
//! A drift changes the request, not a number in isolation: a slower TTFT delays the whole
//! request (e2e grows by the same milliseconds), a slower decode (TPS down, TPOT up) stretches
//! its decode time, an e2e drift stretches the decode time so e2e moves by the share, and RPS
//! (a window's throughput) scales alone.

use serde::{Deserialize, Serialize};

use super::model::Sample;
use crate::domain::MetricKind;

/// One drift: from `before_end_secs` before the end of the span, `metric` of `llm` is
/// multiplied by `factor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub llm: String,
    pub metric: String,
    pub factor: f64,
    pub before_end_secs: i64,
}

/// The metrics a drift may move: the ones the model simulates, and TPOT (1000 ÷ TPS).
const DRIFTABLE: [&str; 5] = ["TTFT", "TPOT", "TPS", "e2e_latency", "RPS"];

/// `LLM:METRIC=±N%@DURATION`, e.g. `GPT-4o:TTFT=+25%@2d` (durations as for `--window`: m, h,
/// d, w). The LLM is checked against the run's LLMs later, when they are known.
pub fn parse(text: &str) -> Result<Drift, String> {
    let shape = "write --drift LLM:METRIC=±N%@DURATION (e.g. 'GPT-4o:TTFT=+25%@2d')";
    let (change, since) = text
        .rsplit_once('@')
        .ok_or_else(|| format!("--drift {text:?} has no @DURATION; {shape}"))?;
    let (target, share) = change
        .rsplit_once('=')
        .ok_or_else(|| format!("--drift {text:?} has no =±N%; {shape}"))?;
    let (llm, metric) = target
        .rsplit_once(':')
        .ok_or_else(|| format!("--drift {text:?} has no LLM:METRIC; {shape}"))?;
    let llm = llm.trim();
    if llm.is_empty() {
        return Err(format!("--drift {text:?} names no LLM; {shape}"));
    }
    let metric = metric.trim();
    if !DRIFTABLE.contains(&metric) {
        return Err(format!(
            "--drift metric {metric:?} is not simulated; allowed: {}",
            DRIFTABLE.join(", ")
        ));
    }
    let share = share.trim();
    let percent = share
        .strip_suffix('%')
        .filter(|p| p.starts_with(['+', '-']))
        .and_then(|p| p.parse::<f64>().ok())
        .filter(|p| p.is_finite() && *p > -100.0 && *p <= 1_000.0 && *p != 0.0)
        .ok_or_else(|| {
            format!(
                "--drift change {share:?} is not a signed percentage above -100% and at most +1000% (e.g. +25% or -10%)"
            )
        })?;
    let before_end_secs = crate::window::parse_duration(since.trim())
        .map_err(|e| format!("--drift {text:?}: {e}"))?;
    Ok(Drift {
        llm: llm.to_string(),
        metric: metric.to_string(),
        factor: 1.0 + percent / 100.0,
        before_end_secs,
    })
}

impl Drift {
    /// The request as it is once drifted.
    pub fn apply(&self, s: &mut Sample) {
        let f = self.factor;
        let decode = s.e2e_ms - s.ttft_ms;
        match MetricKind::from_name(&self.metric) {
            Some(MetricKind::Ttft) => {
                s.ttft_ms *= f;
                s.e2e_ms = s.ttft_ms + decode;
            }
            // TPOT is 1000 ÷ TPS: a TPOT f times longer is a decode f times slower.
            Some(MetricKind::Tpot) => {
                s.tps /= f;
                s.e2e_ms = s.ttft_ms + decode * f;
            }
            Some(MetricKind::Tps) => {
                s.tps *= f;
                s.e2e_ms = s.ttft_ms + decode / f;
            }
            // The decode time stretches so that e2e moves by the share (TTFT as it was).
            Some(MetricKind::E2eLatency) => {
                let stretched = (s.e2e_ms * f - s.ttft_ms).max(decode * 1e-3);
                s.tps *= decode / stretched;
                s.e2e_ms = s.ttft_ms + stretched;
            }
            Some(MetricKind::Rps) => s.rps *= f,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sample {
        // 100 ms to the first token, 50 tokens at 100 tokens/s.
        Sample {
            ttft_ms: 100.0,
            tps: 100.0,
            e2e_ms: 600.0,
            rps: 2.0,
        }
    }

    #[test]
    fn a_drift_is_read_as_written() {
        let d = parse("GPT-4o:TTFT=+25%@2d").unwrap();
        assert_eq!(
            d,
            Drift {
                llm: "GPT-4o".into(),
                metric: "TTFT".into(),
                factor: 1.25,
                before_end_secs: 2 * 86_400,
            }
        );
        // A name holding the separators keeps them: the last ':', '=' and '@' split.
        let d = parse("org/model:v2:TPS=-10%@12h").unwrap();
        assert_eq!((d.llm.as_str(), d.metric.as_str()), ("org/model:v2", "TPS"));
        assert!((d.factor - 0.9).abs() < 1e-12);
        for (text, says) in [
            ("GPT-4o:TTFT=+25%", "no @DURATION"),
            ("GPT-4o:TTFT@2d", "no =±N%"),
            ("TTFT=+25%@2d", "no LLM:METRIC"),
            (":TTFT=+25%@2d", "names no LLM"),
            ("GPT-4o:ITL=+25%@2d", "not simulated"),
            ("GPT-4o:TTFT=25%@2d", "signed percentage"),
            ("GPT-4o:TTFT=+25@2d", "signed percentage"),
            ("GPT-4o:TTFT=-100%@2d", "signed percentage"),
            ("GPT-4o:TTFT=+0%@2d", "signed percentage"),
            ("GPT-4o:TTFT=+25%@2x", "invalid duration"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn a_drift_moves_the_request_consistently() {
        let drifted = |spec: &str| {
            let mut s = sample();
            parse(spec).unwrap().apply(&mut s);
            s
        };
        // TTFT +25%: 25 ms later, and so is the end.
        let s = drifted("a:TTFT=+25%@1d");
        assert_eq!((s.ttft_ms, s.e2e_ms, s.tps), (125.0, 625.0, 100.0));
        // TPOT +25%: decode 25% slower.
        let s = drifted("a:TPOT=+25%@1d");
        assert_eq!((s.ttft_ms, s.tps, s.e2e_ms), (100.0, 80.0, 725.0));
        // TPS +25%: decode 25% faster.
        let s = drifted("a:TPS=+25%@1d");
        assert_eq!((s.tps, s.e2e_ms), (125.0, 500.0));
        // e2e +20%: 720 ms, the decode stretched from 500 to 620 ms; tokens unchanged.
        let s = drifted("a:e2e_latency=+20%@1d");
        assert!((s.e2e_ms - 720.0).abs() < 1e-9);
        assert!(((s.e2e_ms - s.ttft_ms) * s.tps / 1_000.0 - 50.0).abs() < 1e-9);
        let s = drifted("a:RPS=-50%@1d");
        assert_eq!((s.rps, s.e2e_ms), (1.0, 600.0));
    }
}
