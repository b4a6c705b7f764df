//! The words every part of llmrank shares: which way a metric is better, the metrics llmrank
//! knows (their names, units and directions), what a ranking orders by, and where data came
//! from. Pure, no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which way is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Lower,
    Higher,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Lower => "lower",
            Direction::Higher => "higher",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "lower" => Some(Direction::Lower),
            "higher" => Some(Direction::Higher),
            _ => None,
        }
    }
}

/// The metrics llmrank knows by name: the four the simulation produces, and those benchmark
/// tools measure that imports add to the catalogue on first sight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricKind {
    /// Time to first token of a request, ms.
    Ttft,
    /// Output tokens per second of one request (its output tokens ÷ its end-to-end latency).
    Tps,
    /// End-to-end latency of a request, ms.
    E2eLatency,
    /// Completed requests per second of a whole benchmark (system-wide).
    Rps,
    /// Time per output token after the first, of one request, ms.
    Tpot,
    /// Inter-token latency: one gap between streamed chunks, ms.
    Itl,
    /// Output tokens per second of a whole benchmark (system-wide).
    OutputThroughput,
}

impl MetricKind {
    pub const ALL: [MetricKind; 7] = [
        MetricKind::Ttft,
        MetricKind::Tps,
        MetricKind::E2eLatency,
        MetricKind::Rps,
        MetricKind::Tpot,
        MetricKind::Itl,
        MetricKind::OutputThroughput,
    ];

    /// The metrics `simulate` produces, in the order a batch writes them.
    pub const SIMULATED: [MetricKind; 4] = [
        MetricKind::Ttft,
        MetricKind::Tps,
        MetricKind::E2eLatency,
        MetricKind::Rps,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Ttft => "TTFT",
            MetricKind::Tps => "TPS",
            MetricKind::E2eLatency => "e2e_latency",
            MetricKind::Rps => "RPS",
            MetricKind::Tpot => "TPOT",
            MetricKind::Itl => "ITL",
            MetricKind::OutputThroughput => "output_throughput",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            MetricKind::Ttft | MetricKind::E2eLatency | MetricKind::Tpot | MetricKind::Itl => "ms",
            MetricKind::Tps | MetricKind::OutputThroughput => "tokens/s",
            MetricKind::Rps => "requests/s",
        }
    }

    pub fn direction(self) -> Direction {
        match self {
            MetricKind::Ttft | MetricKind::E2eLatency | MetricKind::Tpot | MetricKind::Itl => {
                Direction::Lower
            }
            MetricKind::Tps | MetricKind::Rps | MetricKind::OutputThroughput => Direction::Higher,
        }
    }

    pub fn simulated(self) -> bool {
        Self::SIMULATED.contains(&self)
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn info(self) -> MetricInfo {
        MetricInfo {
            name: self.name().to_string(),
            unit: self.unit().to_string(),
            direction: self.direction(),
        }
    }
}

/// What a ranking needs to know about its metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricInfo {
    pub name: String,
    pub unit: String,
    pub direction: Direction,
}

/// The catalogue's spelling of a near miss of `name` (a metric, for "did you mean"): the same
/// letters in another case, else the closest name within two edits, ignoring case. The CLI and
/// the API both ask here.
pub fn did_you_mean<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    if let Some(v) = valid.iter().find(|v| v.eq_ignore_ascii_case(name)) {
        return Some(v);
    }
    let name = name.to_lowercase();
    valid
        .iter()
        .map(|v| (strsim::levenshtein(&name, &v.to_lowercase()), *v))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// The workload of every simulated run (created by migration 0007).
pub const SIMULATE_WORKLOAD: i32 = 1;

/// Where a run's data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// `llmrank simulate`.
    Simulate,
    /// `llmrank import` of a benchmark tool's file.
    Import,
    /// `POST /samples`.
    Api,
}

impl SourceKind {
    pub const ALL: [SourceKind; 3] = [SourceKind::Simulate, SourceKind::Import, SourceKind::Api];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Simulate => "simulate",
            SourceKind::Import => "import",
            SourceKind::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::str::FromStr for SourceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
            .ok_or_else(|| format!("unknown source {s:?}; allowed: simulate, import, api"))
    }
}

/// Which runs an answer covers: those of one source, whose workload holds these key = value
/// pairs (values compared as text). The default covers every run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RunFilter {
    pub source: Option<SourceKind>,
    pub workload: BTreeMap<String, String>,
}

impl RunFilter {
    pub fn is_everything(&self) -> bool {
        self.source.is_none() && self.workload.is_empty()
    }

    /// Adds one `KEY=VALUE` (as given to `--workload` or `?workload=`).
    pub fn add_workload(&mut self, pair: &str) -> Result<(), String> {
        match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                self.workload
                    .insert(k.trim().to_string(), v.trim().to_string());
                Ok(())
            }
            _ => Err(format!(
                "workload filter {pair:?} is not KEY=VALUE (e.g. concurrency=4, tool=vllm)"
            )),
        }
    }

    /// A stable text form for cache keys: `source|k=v,k=v`.
    pub fn key(&self) -> String {
        let pairs: Vec<String> = self
            .workload
            .iter()
            .map(|(k, v)| format!("{}={}", k.replace(['=', ','], "_"), v.replace(',', "_")))
            .collect();
        format!(
            "{}|{}",
            self.source.map_or("", SourceKind::as_str),
            pairs.join(",")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_round_trip_and_simulated_is_a_subset() {
        for m in MetricKind::ALL {
            assert_eq!(MetricKind::from_name(m.name()), Some(m));
        }
        assert!(MetricKind::SIMULATED.iter().all(|m| m.simulated()));
        assert!(!MetricKind::Tpot.simulated());
        assert_eq!(
            MetricKind::from_name("ttft"),
            None,
            "names are case-sensitive"
        );
    }

    #[test]
    fn near_misses_get_the_catalogue_spelling() {
        let valid = ["TTFT", "TPS", "e2e_latency", "RPS"];
        assert_eq!(did_you_mean("ttft", &valid), Some("TTFT"));
        assert_eq!(did_you_mean("e2e-latency", &valid), Some("e2e_latency"));
        assert_eq!(did_you_mean("TTFTT", &valid), Some("TTFT"));
        assert_eq!(did_you_mean("throughput", &valid), None);
    }

    #[test]
    fn workload_filters_parse_and_key_stably() {
        let mut f = RunFilter::default();
        assert!(f.is_everything());
        f.add_workload("concurrency=4").unwrap();
        f.add_workload(" tool = vllm ").unwrap();
        assert_eq!(f.key(), "|concurrency=4,tool=vllm");
        assert!(f
            .add_workload("concurrency")
            .unwrap_err()
            .contains("KEY=VALUE"));
        assert!(f.add_workload("=4").is_err());
        f.source = Some(SourceKind::Import);
        assert_eq!(f.key(), "import|concurrency=4,tool=vllm");
    }

    #[test]
    fn sources_parse_and_reject_unknown() {
        assert_eq!("import".parse::<SourceKind>(), Ok(SourceKind::Import));
        let e = "imports".parse::<SourceKind>().unwrap_err();
        assert!(e.contains("simulate, import, api"), "{e}");
    }
}
