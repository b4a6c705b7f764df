//! Goodput rankings: LLMs ordered by the share of their requests that meet an SLO (every
//! constraint at once), with its 95% Wilson interval and, where run time is known, goodput in
//! requests per second. Pure, no I/O: the counts come from `query` (joint summaries, or the raw
//! requests with `--exact`). The JSON object of `rank goodput --format json` and
//! `GET /goodput`.

use serde::{Deserialize, Serialize};

use crate::domain::Covered;
use crate::ranking::{csv_field, Format, Method};
use crate::slo::{wilson95, Slo};
use crate::table::{self, Align};
use crate::window::WindowJson;

/// What one LLM's requests gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    pub llm: String,
    pub good: u64,
    /// Requests, failed ones included (they never meet the SLO).
    pub n: u64,
    pub failed: u64,
    /// Requests per second of run time, where the runs' durations are known.
    pub throughput: Option<f64>,
    /// Output tokens per second of run time, where durations and tokens are known.
    pub output_throughput: Option<f64>,
    /// False when a threshold fell outside a folded summary's resolved range.
    pub resolved: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub rank: u32,
    pub llm: String,
    /// good ÷ n, in [0, 1].
    pub attainment: f64,
    pub good: u64,
    pub n: u64,
    pub failed: u64,
    /// 95% Wilson score interval of the attainment.
    pub ci95: [f64; 2],
    /// Requests meeting the SLO per second of run time: attainment × throughput.
    pub goodput_rps: Option<f64>,
    pub tied: bool,
    /// False when the summary could not resolve a threshold within the stated bound
    /// (`--exact` answers it).
    pub resolved: bool,
}

/// A goodput ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Goodput {
    pub metric: String,
    /// The SLO as applied, in ms.
    pub slo: String,
    pub window: WindowJson,
    pub method: Method,
    #[serde(flatten)]
    pub covered: Covered,
    /// α: a summary's count lies between the exact counts at every threshold × (1 − α) and
    /// × (1 + α); 0 for an exact answer.
    pub threshold_relative_error: f64,
    /// How failed requests count: always as not meeting the SLO.
    pub failed_requests: String,
    pub rankings: Vec<Entry>,
}

/// Ranks by attainment, best first (then goodput, then name). Neighbours whose intervals
/// overlap are tied and share the better rank.
pub fn rank(
    slo: &Slo,
    window: WindowJson,
    method: Method,
    covered: Covered,
    mut counted: Vec<Counted>,
) -> Goodput {
    counted.retain(|c| c.n > 0);
    let share = |c: &Counted| c.good as f64 / c.n as f64;
    counted.sort_by(|a, b| {
        share(b)
            .total_cmp(&share(a))
            .then_with(|| {
                let g = |c: &Counted| c.throughput.map_or(-1.0, |t| t * share(c));
                g(b).total_cmp(&g(a))
            })
            .then_with(|| a.llm.cmp(&b.llm))
    });
    let mut rankings: Vec<Entry> = Vec::with_capacity(counted.len());
    for (i, c) in counted.into_iter().enumerate() {
        let ci95 = wilson95(c.good, c.n).unwrap_or([0.0, 1.0]);
        let tied = rankings
            .last()
            .is_some_and(|p| p.ci95[0] <= ci95[1] && ci95[0] <= p.ci95[1]);
        if tied {
            if let Some(p) = rankings.last_mut() {
                p.tied = true;
            }
        }
        let attainment = share(&c);
        rankings.push(Entry {
            rank: match rankings.last() {
                Some(p) if tied => p.rank,
                _ => i as u32 + 1,
            },
            llm: c.llm,
            attainment,
            good: c.good,
            n: c.n,
            failed: c.failed,
            ci95,
            goodput_rps: c.throughput.map(|t| t * attainment),
            tied,
            resolved: c.resolved,
        });
    }
    Goodput {
        metric: "goodput".into(),
        slo: slo.text(),
        window,
        threshold_relative_error: match method {
            Method::Summary => crate::joint::ALPHA,
            Method::Exact => 0.0,
        },
        method,
        covered,
        failed_requests: "counted, never meeting the SLO".into(),
        rankings,
    }
}

impl Goodput {
    pub fn render(&self, format: Format, width: Option<usize>) -> String {
        match format {
            Format::Json => {
                let mut s = serde_json::to_string_pretty(self)
                    .expect("a goodput ranking holds only strings, numbers and options");
                s.push('\n');
                s
            }
            Format::Csv => {
                let mut out = String::from(
                    "rank,llm,attainment,good,n,failed,ci95_low,ci95_high,goodput_rps,tied,resolved\n",
                );
                for e in &self.rankings {
                    out.push_str(&format!(
                        "{},{},{},{},{},{},{},{},{},{},{}\n",
                        e.rank,
                        csv_field(&e.llm),
                        e.attainment,
                        e.good,
                        e.n,
                        e.failed,
                        e.ci95[0],
                        e.ci95[1],
                        e.goodput_rps.map_or(String::new(), |g| g.to_string()),
                        e.tied,
                        e.resolved
                    ));
                }
                out
            }
            Format::Table => self.to_table(width),
        }
    }

    fn to_table(&self, width: Option<usize>) -> String {
        let pct = |x: f64| format!("{:.2}%", x * 100.0);
        let mut rows: Vec<Vec<String>> = vec![[
            "rank",
            "LLM",
            "attainment",
            "95% CI",
            "good",
            "n",
            "failed",
            "goodput req/s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()];
        for e in &self.rankings {
            rows.push(vec![
                format!("{}{}", e.rank, if e.tied { "=" } else { "" }),
                format!("{}{}", e.llm, if e.resolved { "" } else { " *" }),
                pct(e.attainment),
                format!("{} – {}", pct(e.ci95[0]), pct(e.ci95[1])),
                table::thousands(e.good),
                table::thousands(e.n),
                table::thousands(e.failed),
                e.goodput_rps.map_or("-".into(), |g| format!("{g:.2}")),
            ]);
        }
        let mut align = [Align::Right; 8];
        align[1] = Align::Left;
        let how = match self.method {
            Method::Summary => format!(
                "from summaries, thresholds resolved within {}%",
                self.threshold_relative_error * 100.0
            ),
            Method::Exact => "exact, from the raw requests".to_string(),
        };
        let mut head = format!(
            "goodput: share of requests meeting {} (failed requests count as not meeting it), best first, {}, {}\n",
            self.slo,
            self.window.describe(),
            how
        );
        head.push_str(&self.covered.describe());
        head.push('\n');
        let mut out = table::wrap(&head, width);
        let shape = table::Shape {
            names: 1,
            droppable: &[7, 6, 3],
        };
        out.push_str(&table::render_fit(&rows, &align, width, shape));
        let mut notes = String::new();
        if self.rankings.iter().any(|e| e.tied) {
            notes.push_str("= tied: 95% Wilson intervals of the attainment overlap\n");
        }
        if self.rankings.iter().any(|e| !e.resolved) {
            notes.push_str("* a threshold lies outside the range the summaries resolve (their tails were folded to cap their size): the share is not within the stated bound; --exact answers it\n");
        }
        if self.rankings.iter().any(|e| e.goodput_rps.is_none()) {
            notes.push_str("- goodput in requests/s needs the runs' durations, which these files do not give\n");
        }
        out.push_str(&table::wrap(&notes, width));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(llm: &str, good: u64, n: u64) -> Counted {
        Counted {
            llm: llm.into(),
            good,
            n,
            failed: 0,
            throughput: Some(10.0),
            output_throughput: None,
            resolved: true,
        }
    }

    #[test]
    fn ranks_by_attainment_ties_overlapping_intervals_and_drops_empty_llms() {
        let slo: Slo = "TTFT<=200ms".parse().unwrap();
        let g = rank(
            &slo,
            WindowJson::default(),
            Method::Exact,
            Covered::default(),
            vec![
                c("b", 500, 1000),
                c("a", 990, 1000),
                c("c", 505, 1000),
                c("none", 0, 0),
            ],
        );
        let order: Vec<(&str, u32, bool)> = g
            .rankings
            .iter()
            .map(|e| (e.llm.as_str(), e.rank, e.tied))
            .collect();
        assert_eq!(order, [("a", 1, false), ("c", 2, true), ("b", 2, true)]);
        assert_eq!(g.rankings[0].goodput_rps, Some(9.9));
        assert_eq!(g.threshold_relative_error, 0.0);
        let json: serde_json::Value = serde_json::from_str(&g.render(Format::Json, None)).unwrap();
        assert_eq!(json["metric"], "goodput");
        assert_eq!(json["slo"], "TTFT<=200ms");
        assert_eq!(json["rankings"][0]["ci95"].as_array().unwrap().len(), 2);
        let table = g.render(Format::Table, Some(100));
        assert!(
            table.contains("99.00%") && table.contains("= tied"),
            "{table}"
        );
        assert!(g
            .render(Format::Csv, None)
            .starts_with("rank,llm,attainment"));
    }
}
