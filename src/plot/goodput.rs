//! The goodput chart: LLMs by the share of requests meeting an SLO, best first, the 95%
//! Wilson interval as whiskers, tied neighbours bracketed.

use super::kit::{better, COMPACT};
use super::ranking::{bars, Bar, Bars};
use crate::domain::Direction;
use crate::goodput::Goodput;

/// The goodput ranking as horizontal bars of attainment (%), `width` wide.
pub fn goodput(g: &Goodput, width: f64) -> String {
    // A new tie group wherever an interval misses the one before it (`goodput::rank`'s rule).
    let mut group = 0;
    let mut bars_ = Vec::with_capacity(g.rankings.len());
    for (i, e) in g.rankings.iter().enumerate() {
        let overlaps = i > 0 && {
            let p = &g.rankings[i - 1];
            p.ci95[0] <= e.ci95[1] && e.ci95[0] <= p.ci95[1]
        };
        if !overlaps {
            group += 1;
        }
        bars_.push(Bar {
            llm: &e.llm,
            rank: e.rank,
            tied: e.tied,
            tie_group: group,
            value: e.attainment * 100.0,
            whisker: Some([e.ci95[0] * 100.0, e.ci95[1] * 100.0]),
            tail: format!(" (n={})", e.n),
            reported: false,
        });
    }
    bars(
        &Bars {
            parts: if width < COMPACT {
                // A phone: the title short, each constraint on a line of its own.
                let mut parts = vec!["SLO attainment (%)".to_string()];
                parts.extend(g.slo.split(',').map(str::to_string));
                parts.extend([better(Direction::Higher).to_string(), g.window.describe()]);
                parts.push(g.covered.brief());
                parts
            } else {
                vec![
                    format!(
                        "requests meeting {} (%, {})",
                        g.slo,
                        better(Direction::Higher)
                    ),
                    g.window.describe(),
                    g.covered.brief(),
                ]
            },
            note: (
                "failed requests miss it; whiskers: 95% interval",
                "failed requests count as missing it; whiskers: 95% Wilson interval; brackets: tied",
            ),
            axis: "attainment (%)".into(),
            unit: "%",
            bars: bars_,
        },
        width,
    )
}
