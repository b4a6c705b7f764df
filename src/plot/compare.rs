//! The comparison chart: per LLM × metric, the ratio cand ÷ base as a bar from 1 on a log axis
//! (so 2× and ½× are as long), its 95% interval as whiskers, the thresholds as dashed lines,
//! each bar coloured by its verdict, regressions first (the answer's order).

use std::fmt::Write;

use super::kit::{escape, fit, heading, isolate, label_width, open, BarRows, RowAt, COMPACT};
use crate::compare::Compared;
use crate::domain::Direction;

/// Room right of the bars for the ratio's text.
const VALUE_W: f64 = 150.0;

/// The comparison as horizontal ratio bars, `width` wide. Comparisons without a ratio (an LLM
/// on one side only) are listed without a bar.
pub fn compare(c: &Compared, width: f64) -> String {
    let compact = width < COMPACT;
    let parts = vec![
        format!("{} of cand ÷ base", c.statistic.as_str()),
        format!("cand {} · base {}", c.cand, c.base),
    ];
    let over_runs = c.comparisons.iter().any(|x| x.interval_over == "runs");
    let note = match (compact, over_runs) {
        (true, _) => "whiskers: 95% interval; dashed: thresholds",
        (false, false) => {
            "right of 1: larger in cand; whiskers: 95% interval (over requests); dashed: thresholds"
        }
        (false, true) => {
            "right of 1: larger in cand; whiskers: 95% interval (over runs where 3+); dashed: thresholds"
        }
    };
    let head = heading(width, &parts, Some(note));
    let top_y = head.bottom;
    let rows = BarRows::new(width, top_y, (70.0, VALUE_W));
    let BarRows {
        x0,
        x1,
        bar_dy,
        bar_h,
        ..
    } = rows;
    // A log axis symmetric about 1, wide enough for every ratio, interval and threshold.
    let t = c.thresholds;
    let reach = c
        .comparisons
        .iter()
        .flat_map(|x| {
            let ci = x.ci95.unwrap_or([1.0, 1.0]);
            [x.ratio.unwrap_or(1.0), ci[0], ci[1]]
        })
        .chain([t.latency, t.throughput])
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(|v| v.ln().abs())
        .fold(0.0_f64, f64::max)
        * 1.1;
    let reach = reach.max(0.05);
    let sx = |v: f64| {
        let l = v.max(f64::MIN_POSITIVE).ln().clamp(-reach, reach);
        x0 + (l + reach) / (2.0 * reach) * (x1 - x0)
    };
    let bottom = rows.bottom(c.comparisons.len());
    let height = bottom + 44.0;
    let mut out = String::new();
    open(&mut out, width, height, &parts, &head);
    // Ticks at round ratios within reach, 1 drawn as the axis.
    for r in [0.25_f64, 0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 4.0] {
        if r.ln().abs() > reach {
            continue;
        }
        let x = sx(r);
        let class = if r == 1.0 { "axis" } else { "grid" };
        let _ = write!(
            out,
            "<line class=\"{class}\" x1=\"{x:.1}\" y1=\"{top_y:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\"/><text class=\"muted\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{r}×</text>",
            bottom + 18.0
        );
    }
    for (name, r) in [("latency", t.latency), ("throughput", t.throughput)] {
        let x = sx(r);
        let _ = write!(
            out,
            "<line class=\"threshold\" data-threshold=\"{name}\" data-value=\"{r}\" x1=\"{x:.1}\" y1=\"{top_y:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\"/>"
        );
    }
    let _ = write!(
        out,
        "<text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">cand ÷ base (log scale)</text>",
        (x0 + x1) / 2.0,
        bottom + 36.0
    );
    for (i, x) in c.comparisons.iter().enumerate() {
        let RowAt {
            y,
            mid,
            label: (lx, ly, anchor),
        } = rows.at(i);
        let llm = escape(&x.llm);
        let metric = escape(&x.metric);
        let verdict = x.verdict.as_str();
        let tail = format!(" · {}", x.metric);
        let room = if compact { width - 28.0 } else { x0 - 24.0 };
        let name_room = room - label_width(&tail, 13.0);
        let shown = format!("{}{tail}", isolate(&fit(&x.llm, 13.0, name_room)));
        let better = match x.direction {
            Direction::Lower => "lower is better",
            Direction::Higher => "higher is better",
        };
        let _ = write!(
            out,
            "<g data-llm=\"{llm}\" data-metric=\"{metric}\" data-verdict=\"{verdict}\"><text class=\"fg\" x=\"{lx:.1}\" y=\"{ly:.1}\" text-anchor=\"{anchor}\">{}</text>",
            escape(&shown)
        );
        if let Some(r) = x.ratio {
            let (a, b) = (sx(1.0), sx(r));
            let _ = write!(
                out,
                "<rect class=\"bar {verdict}\" data-llm=\"{llm}\" data-metric=\"{metric}\" data-ratio=\"{r}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bar_h:.1}\" rx=\"2\"><title>{}: {} {} ({better}): {r:.3}× ({verdict})</title></rect>",
                a.min(b),
                y + bar_dy,
                (b - a).abs().max(0.5),
                escape(&isolate(&x.llm)),
                metric,
                x.statistic.as_str(),
            );
        }
        if let Some([lo, hi]) = x.ci95 {
            let (a, b) = (sx(lo), sx(hi));
            let _ = write!(
                out,
                "<path class=\"whisker\" data-llm=\"{llm}\" data-metric=\"{metric}\" data-lo=\"{lo}\" data-hi=\"{hi}\" d=\"M{a:.1} {mid:.1}H{b:.1}M{a:.1} {:.1}V{:.1}M{b:.1} {:.1}V{:.1}\"/>",
                mid - 5.0,
                mid + 5.0,
                mid - 5.0,
                mid + 5.0
            );
        }
        let text = x.ratio.map_or_else(
            || verdict.replace('_', " "),
            |r| format!("{r:.2}× {verdict}"),
        );
        let _ = write!(
            out,
            "<text class=\"fg\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            x1 + 8.0,
            mid + 4.5,
            escape(&text)
        );
    }
    out.push_str("</svg>\n");
    out
}
