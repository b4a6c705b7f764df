//! What ingesting an input did: its runs, their samples per metric, what the tool reported,
//! failed and dropped, and the lines `import` prints.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde::Serialize;

use crate::table::thousands;

/// What ingesting one input did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputReport {
    pub name: String,
    pub format: String,
    pub sha256: String,
    pub runs: Vec<RunReport>,
    /// The same input was ingested before: its runs, and nothing was written now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub existing: Vec<i32>,
    #[serde(skip)]
    pub seconds: f64,
    /// Attempts after the first (a lost connection; see `cmd::import`).
    #[serde(skip)]
    pub retries: u32,
}

/// One run an input created (or, on a dry run, would create).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// 0 on a dry run.
    pub run_id: i32,
    pub tool: String,
    pub llms: BTreeSet<String>,
    pub workload: BTreeMap<String, String>,
    pub samples: u64,
    /// Samples per metric.
    pub per_metric: BTreeMap<String, u64>,
    /// Statistics kept as the tool reported them (aggregate-only files).
    pub reported: Vec<String>,
    pub failed: u64,
    pub dropped: BTreeMap<String, u64>,
}

impl InputReport {
    /// Written before (`existing`): nothing written now.
    pub fn found(
        name: String,
        format: String,
        sha256: String,
        existing: Vec<i32>,
        started: Instant,
    ) -> InputReport {
        InputReport {
            name,
            format,
            sha256,
            runs: Vec::new(),
            existing,
            seconds: started.elapsed().as_secs_f64(),
            retries: 0,
        }
    }

    pub fn rows(&self) -> u64 {
        self.runs.iter().map(|r| r.samples).sum()
    }

    /// Lines for the terminal.
    pub fn describe(&self, dry_run: bool) -> String {
        if !self.existing.is_empty() {
            let ids: Vec<String> = self.existing.iter().map(|i| i.to_string()).collect();
            if self.retries > 0 {
                return format!(
                    "{}: written as run{} {} (the connection was lost as it committed; trying again found it)\n",
                    self.name,
                    if ids.len() > 1 { "s" } else { "" },
                    ids.join(", ")
                );
            }
            return format!(
                "{}: already imported as run{} {}; nothing written (--force imports it again)\n",
                self.name,
                if ids.len() > 1 { "s" } else { "" },
                ids.join(", ")
            );
        }
        let mut out = format!(
            "{} ({}): {} {} run{}, {} samples{}\n",
            self.name,
            self.format,
            if dry_run { "would write" } else { "wrote" },
            self.runs.len(),
            if self.runs.len() == 1 { "" } else { "s" },
            thousands(self.rows()),
            if dry_run || self.seconds <= 0.0 || self.rows() == 0 {
                String::new()
            } else {
                format!(
                    " in {:.2} s ({} rows/s)",
                    self.seconds,
                    thousands((self.rows() as f64 / self.seconds.max(1e-9)) as u64)
                )
            }
        );
        for r in &self.runs {
            let id = if r.run_id > 0 {
                format!("run {}", r.run_id)
            } else {
                "run".to_string()
            };
            let llms: Vec<&str> = r.llms.iter().map(String::as_str).collect();
            let workload: Vec<String> =
                r.workload.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!(
                "  {id}: {} [{}]\n",
                llms.join(", "),
                workload.join(" ")
            ));
            if r.samples > 0 {
                let per: Vec<String> = r
                    .per_metric
                    .iter()
                    .map(|(m, n)| format!("{m} {}", thousands(*n)))
                    .collect();
                out.push_str(&format!(
                    "    {} samples: {}\n",
                    thousands(r.samples),
                    per.join(", ")
                ));
            }
            if !r.reported.is_empty() {
                out.push_str(&format!(
                    "    aggregate-only: kept as {} reported them: {} (rank --include-reported shows them)\n",
                    r.tool,
                    r.reported.join(", ")
                ));
            }
            if r.failed > 0 {
                out.push_str(&format!(
                    "    {} failed requests (not samples)\n",
                    thousands(r.failed)
                ));
            }
            for (why, n) in &r.dropped {
                out.push_str(&format!("    {} dropped: {why}\n", thousands(*n)));
            }
            if r.samples == 0 && r.reported.is_empty() {
                out.push_str("    no samples and no statistics: every request failed\n");
            }
        }
        out
    }
}
