//! Sweeps and capacities as tables, JSON and CSV.

use serde::Serialize;

use super::{Capacity, Curves, KNEE_SHARE};
use crate::ranking::{csv_field, Format};
use crate::table::{self, Align};

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or("-".into(), |v| format!("{v:.digits$}"))
}

impl Capacity {
    pub fn render(&self, format: Format, width: Option<usize>) -> String {
        match format {
            Format::Json => json(self),
            Format::Csv => {
                let mut out = String::from(
                    "rank,llm,workload,load_kind,capacity,attainment,throughput,binding\n",
                );
                for e in &self.rankings {
                    out.push_str(&format!(
                        "{},{},{},{},{},{},{},{}\n",
                        e.rank,
                        csv_field(&e.llm),
                        csv_field(&e.workload),
                        e.load_kind.as_str(),
                        e.capacity.as_deref().unwrap_or(""),
                        e.attainment.map_or(String::new(), |a| a.to_string()),
                        e.throughput.map_or(String::new(), |t| t.to_string()),
                        e.binding.as_deref().unwrap_or("")
                    ));
                }
                out
            }
            Format::Table => {
                let mut rows = vec![[
                    "rank",
                    "LLM",
                    "sweep",
                    "capacity",
                    "attainment",
                    "req/s there",
                    "breaks first",
                ]
                .map(String::from)
                .to_vec()];
                for e in &self.rankings {
                    rows.push(vec![
                        e.rank.to_string(),
                        e.llm.clone(),
                        e.workload.clone(),
                        match &e.capacity {
                            Some(c) => format!("{} {c}", e.load_kind.as_str()),
                            None => "none".into(),
                        },
                        e.attainment
                            .map_or("-".into(), |a| format!("{:.2}%", a * 100.0)),
                        opt(e.throughput, 2),
                        e.binding.clone().unwrap_or_else(|| "-".into()),
                    ]);
                }
                let mut align = [Align::Right; 7];
                align[1] = Align::Left;
                align[2] = Align::Left;
                align[6] = Align::Left;
                let head = format!(
                    "capacity: the highest load whose attainment of {} reaches {}% (walking levels upward, the last before the first that misses it), ranked by the request throughput there\n",
                    self.slo,
                    self.attainment_target * 100.0
                );
                let mut out = table::wrap(&head, width);
                out.push_str(&table::render_fit(
                    &rows,
                    &align,
                    width,
                    table::Shape {
                        names: 1,
                        droppable: &[2, 6],
                    },
                ));
                if self.rankings.iter().any(|e| e.capacity.is_none()) {
                    out.push_str(&table::wrap(
                        "none: the lowest level already misses the target\n",
                        width,
                    ));
                }
                out
            }
        }
    }
}

impl Curves {
    pub fn render(&self, format: Format, width: Option<usize>) -> String {
        match format {
            Format::Json => json(self),
            Format::Csv => {
                let mut out = String::from(
                    "llm,workload,load_kind,load,n,throughput,p50,p99,attainment,interactivity,output_throughput,output_throughput_per_gpu,pareto,knee\n",
                );
                for s in &self.series {
                    for p in &s.points {
                        let o = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
                        out.push_str(&format!(
                            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                            csv_field(&s.llm),
                            csv_field(&s.workload),
                            s.load_kind.as_str(),
                            csv_field(&p.load_text),
                            p.n,
                            o(p.throughput),
                            o(p.p50),
                            o(p.p99),
                            o(p.attainment),
                            o(p.interactivity),
                            o(p.output_throughput),
                            o(p.output_throughput_per_gpu),
                            p.pareto,
                            s.knee == Some(p.load)
                        ));
                    }
                }
                out
            }
            Format::Table => {
                let out_tps = if self.per_gpu {
                    "out tok/s/GPU"
                } else {
                    "out tok/s"
                };
                let mut rows = vec![[
                    "LLM",
                    "load",
                    "n",
                    "req/s",
                    "p50",
                    "p99",
                    "attainment",
                    "tok/s/user",
                    out_tps,
                    "",
                ]
                .map(String::from)
                .to_vec()];
                for s in &self.series {
                    for p in &s.points {
                        let mut mark = Vec::new();
                        if s.knee == Some(p.load) {
                            mark.push("knee");
                        }
                        if s.capacity.as_deref() == Some(p.load_text.as_str()) {
                            mark.push("capacity");
                        }
                        if p.pareto {
                            mark.push("frontier");
                        }
                        rows.push(vec![
                            s.llm.clone(),
                            format!("{} {}", s.load_kind.as_str(), p.load_text),
                            table::thousands(p.n),
                            opt(p.throughput, 2),
                            opt(p.p50, 2),
                            opt(p.p99, 2),
                            p.attainment
                                .map_or("-".into(), |a| format!("{:.2}%", a * 100.0)),
                            opt(p.interactivity, 1),
                            opt(p.tradeoff_y(self.per_gpu), 1),
                            mark.join(", "),
                        ]);
                    }
                }
                let mut align = [Align::Right; 10];
                align[0] = Align::Left;
                align[9] = Align::Left;
                let head = format!(
                    "sweep of {} ({}): per LLM, load → request throughput and {} p50/p99{}; knee: the lowest load reaching {}% of the highest throughput\n",
                    self.metric,
                    self.unit,
                    self.metric,
                    self.slo
                        .as_ref()
                        .map_or(String::new(), |s| format!(", attainment of {s}")),
                    KNEE_SHARE * 100.0
                );
                let mut out = table::wrap(&head, width);
                out.push_str(&table::render_fit(
                    &rows,
                    &align,
                    width,
                    table::Shape {
                        names: 1,
                        droppable: &[8, 7, 6],
                    },
                ));
                out.push_str(&table::wrap(
                    "frontier: no other point has both more tokens/s per user and more output tokens/s\n",
                    width,
                ));
                if let Some(x) = self.at_interactivity {
                    let mut rows = vec![vec![
                        "LLM".to_string(),
                        "sweep".to_string(),
                        format!("{out_tps} at {x} tok/s/user"),
                    ]];
                    for s in &self.series {
                        rows.push(vec![
                            s.llm.clone(),
                            s.workload.clone(),
                            s.throughput_at_interactivity
                                .map_or("outside its levels".into(), |t| format!("{t:.1}")),
                        ]);
                    }
                    out.push('\n');
                    out.push_str(&table::render_fit(
                        &rows,
                        &[Align::Left, Align::Left, Align::Right],
                        width,
                        table::Shape {
                            names: 1,
                            droppable: &[1],
                        },
                    ));
                }
                out
            }
        }
    }
}

fn json<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("sweeps hold only strings and numbers");
    s.push('\n');
    s
}
