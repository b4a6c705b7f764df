//! The words every part of llmrank shares: which way a metric is better, the metrics llmrank
//! knows (their names, units and directions), what a ranking orders by, and where data came
//! from. Pure, no I/O.

use std::collections::{BTreeMap, BTreeSet};

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

    /// Whether `a` is at least as good as `b` in this direction.
    pub fn at_least(self, a: f64, b: f64) -> bool {
        match self {
            Direction::Lower => a <= b,
            Direction::Higher => a >= b,
        }
    }
}

/// Which of `points` (x, y) lie on the Pareto frontier, in their order: no other point is at
/// least as good on both (each in its own direction) and different.
pub fn pareto_front(points: &[(f64, f64)], dx: Direction, dy: Direction) -> Vec<bool> {
    points
        .iter()
        .map(|&(px, py)| {
            !points.iter().any(|&(qx, qy)| {
                dx.at_least(qx, px) && dy.at_least(qy, py) && (qx != px || qy != py)
            })
        })
        .collect()
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

    /// The smallest value above 0 and the largest a sample of this metric may have: a
    /// nanosecond to a day for latencies (ms), a millionth to 100 million tokens a second, a
    /// millionth to 10 million requests a second. Beyond them a value is a unit slip.
    pub fn bounds(self) -> (f64, f64) {
        match self.unit() {
            "ms" => (1e-6, 86_400_000.0),
            "tokens/s" => (1e-6, 1e8),
            _ => (1e-6, 1e7),
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

    /// Whether 0 is a real value: an inter-token gap of 0 is two chunks that arrived in one
    /// read (AIPerf and inference-perf write them); a TTFT, TPOT or latency of 0 is impossible.
    pub fn zero_is_real(self) -> bool {
        self == MetricKind::Itl
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

    /// The names of `sources`, joined with `sep`.
    pub fn join<'a>(sources: impl IntoIterator<Item = &'a SourceKind>, sep: &str) -> String {
        let names: Vec<&str> = sources.into_iter().map(|s| s.as_str()).collect();
        names.join(sep)
    }

    /// Measured by a benchmark tool or a client (`import`, `api`), not simulated.
    pub fn measured(self) -> bool {
        self != SourceKind::Simulate
    }
}

impl std::str::FromStr for SourceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
            .ok_or_else(|| format!("unknown source {s:?}; allowed: simulate, import, api"))
    }
}

/// What an answer covers, said in every answer (JSON, table header, chart subtitle).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Covered {
    /// The sources whose runs the answer covers (in `SourceKind` order).
    #[serde(default)]
    pub sources: Vec<SourceKind>,
    /// How many distinct workloads those runs have: more than one mixes loads or hardware.
    #[serde(default)]
    pub workloads: usize,
}

impl Covered {
    /// A chart's short form: "import · 1 workload", "simulate, import · 2 workloads (mixed)".
    pub fn brief(&self) -> String {
        let mixed = if self.workloads > 1 { " (mixed)" } else { "" };
        format!("{}{mixed}", self.counted("no data"))
    }

    /// One line for a table header: "sources: import · 2 workloads", with a warning when
    /// workloads are mixed.
    pub fn describe(&self) -> String {
        let mut line = format!("sources: {}", self.counted("none"));
        if self.workloads > 1 {
            line.push_str(" (mixed: --workload KEY=VALUE picks one; `llmrank runs` lists them)");
        }
        line
    }

    /// "simulate, import · 2 workloads", `none` standing for no source.
    fn counted(&self, none: &str) -> String {
        let sources = match SourceKind::join(&self.sources, ", ") {
            s if s.is_empty() => none.to_string(),
            s => s,
        };
        let w = self.workloads;
        format!("{sources} · {w} workload{}", if w == 1 { "" } else { "s" })
    }
}

/// Which runs an answer covers: those of the sources named, whose workload holds these
/// key = value pairs (values compared as text). No source named means like with like: the
/// measured sources (`import`, `api`) when they hold data, else the simulated one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RunFilter {
    /// The sources named; empty: the default above.
    pub sources: BTreeSet<SourceKind>,
    pub workload: BTreeMap<String, String>,
}

impl RunFilter {
    /// Nothing named: the default sources, every workload.
    pub fn is_default(&self) -> bool {
        self.sources.is_empty() && self.workload.is_empty()
    }

    /// Adds a comma list of sources (`--source import,simulate`, `?source=`).
    pub fn add_sources(&mut self, list: &str) -> Result<(), String> {
        for name in list.split(',').map(str::trim) {
            self.sources.insert(name.parse()?);
        }
        Ok(())
    }

    /// Adds one `KEY=VALUE` (as given to `--workload` or `?workload=`).
    pub fn add_workload(&mut self, pair: &str) -> Result<(), String> {
        if pair.contains('\0') {
            return Err(format!("workload filter {pair:?} holds a NUL character"));
        }
        match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                let (k, v) = (k.trim(), v.trim());
                if let Some(first) = self.workload.get(k) {
                    return Err(format!(
                        "workload key {k:?} is named twice ({k}={first} and {k}={v}); a run has one value per key, so name each key once"
                    ));
                }
                self.workload.insert(k.to_string(), v.to_string());
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
            SourceKind::join(&self.sources, "+"),
            pairs.join(",")
        )
    }
}

/// The most characters an LLM's name may have.
pub const LLM_NAME_MAX: usize = 200;

/// An LLM's name as it is stored and shown: trimmed and in Unicode NFC, so `"GPT-4o "` and a
/// decomposed `é` name the LLM their look-alike does. Refused, with what was wrong: empty,
/// longer than [`LLM_NAME_MAX`], or holding a control, format or bidi character (zero-width
/// spaces and joiners, direction overrides and isolates, line separators, a BOM), which
/// would make a name look like another or reorder the text around it.
pub fn llm_name(raw: &str) -> Result<String, String> {
    use unicode_normalization::UnicodeNormalization;
    let name: String = raw.trim().nfc().collect();
    if name.is_empty() {
        return Err("an LLM name must not be empty".into());
    }
    if let Some(c) = name.chars().find(|&c| invisible(c)) {
        return Err(format!(
            "LLM name {raw:?} holds U+{:04X}, a control, format or bidi character; names may hold printable characters only",
            u32::from(c)
        ));
    }
    if name.chars().count() > LLM_NAME_MAX {
        return Err(format!(
            "LLM name {:?}… is longer than {LLM_NAME_MAX} characters",
            name.chars().take(40).collect::<String>()
        ));
    }
    Ok(name)
}

/// Control (Cc), format (Cf) and separator (Zl, Zp) characters: what a name must not hold.
pub fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(u32::from(c),
            0x00AD | 0x061C | 0x180E | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F
            | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llm_names_are_trimmed_normalised_and_look_alikes_refused() {
        assert_eq!(llm_name("  GPT-4o \t").as_deref(), Ok("GPT-4o"));
        // "é" as e + combining acute: stored as the one precomposed character.
        assert_eq!(llm_name("mode\u{301}le").as_deref(), Ok("mod\u{e9}le"));
        assert_eq!(llm_name("org/模型-7B").as_deref(), Ok("org/模型-7B"));
        for bad in [
            "GPT\u{200b}-4o",
            "GPT-4o\u{202e}xet",
            "a\u{2066}b",
            "\u{feff}GPT-4o",
            "a\u{1b}]0;pwned\u{7}",
            "a\r\nb",
            "a\u{85}b",
        ] {
            let e = llm_name(bad).unwrap_err();
            assert!(e.contains("U+"), "{bad:?}: {e}");
        }
        assert!(llm_name("   ").unwrap_err().contains("empty"));
        assert!(llm_name(&"x".repeat(201)).unwrap_err().contains("200"));
        assert!(llm_name(&"é".repeat(200)).is_ok());
    }

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
        assert_eq!(f.key(), "|");
        f.add_workload("concurrency=4").unwrap();
        f.add_workload(" tool = vllm ").unwrap();
        assert_eq!(f.key(), "|concurrency=4,tool=vllm");
        assert!(f
            .add_workload("concurrency")
            .unwrap_err()
            .contains("KEY=VALUE"));
        assert!(f.add_workload("=4").is_err());
        let e = f.add_workload("tool=sglang").unwrap_err();
        assert!(
            e.contains("\"tool\" is named twice") && e.contains("tool=vllm"),
            "{e}"
        );
        f.add_sources("import").unwrap();
        assert_eq!(f.key(), "import|concurrency=4,tool=vllm");
        f.add_sources(" simulate,import").unwrap();
        assert_eq!(f.key(), "simulate+import|concurrency=4,tool=vllm");
        let e = f.add_sources("import,imports").unwrap_err();
        assert!(
            e.contains("\"imports\"") && e.contains("simulate, import, api"),
            "{e}"
        );
    }

    #[test]
    fn sources_parse_and_reject_unknown() {
        assert_eq!("import".parse::<SourceKind>(), Ok(SourceKind::Import));
        let e = "imports".parse::<SourceKind>().unwrap_err();
        assert!(e.contains("simulate, import, api"), "{e}");
    }
}
