//! The ranking chart: horizontal bars best first, the 95% interval of the mean as whiskers,
//! tie groups bracketed, reported rows dashed.

use std::fmt::Write;

use super::kit::*;
use crate::ranking::Ranking;
use crate::stats::Statistic;

/// One bar of a bar chart.
pub(super) struct Bar<'a> {
    pub llm: &'a str,
    pub rank: u32,
    pub tied: bool,
    /// Bars of one group (a run of overlapping intervals) are bracketed together.
    pub tie_group: u32,
    pub value: f64,
    pub whisker: Option<[f64; 2]>,
    /// After the name: " [reported] (n=…)" and the like.
    pub tail: String,
    pub reported: bool,
}

/// A bar chart: its heading, notes (compact, wide), the value axis' title and unit, its bars.
pub(super) struct Bars<'a> {
    pub parts: Vec<String>,
    pub note: (&'a str, &'a str),
    pub axis: String,
    pub unit: &'a str,
    pub bars: Vec<Bar<'a>>,
}

/// The ranking as horizontal bars, best first (the API's order), `width` wide (see
/// [`clamp_width`]).
pub fn ranking(r: &Ranking, width: f64) -> String {
    let by = r.by;
    bars(
        &Bars {
            parts: vec![
                format!("{} ({}, {})", r.metric, r.unit, better(r.direction)),
                format!("by {}, {}", by.as_str(), r.window.describe()),
                r.covered.brief(),
            ],
            note: (
                "best first; whiskers: 95% interval; brackets: tied",
                "best first; whiskers: 95% interval of the mean; brackets: tied (intervals overlap)",
            ),
            axis: format!("{} ({})", by.as_str(), r.unit),
            unit: &r.unit,
            bars: r
                .rankings
                .iter()
                .map(|e| Bar {
                    llm: &e.llm,
                    rank: e.rank,
                    tied: e.tied,
                    tie_group: e.tie_group,
                    value: e.stats.get(by),
                    // The interval the tie rule used: over runs when there are enough.
                    whisker: e.run_ci95.or(match by {
                        Statistic::Mean => e.stats.ci95,
                        _ => None,
                    }),
                    tail: format!(
                        "{} (n={}{})",
                        if e.reported.is_some() {
                            " [reported]"
                        } else {
                            ""
                        },
                        e.stats.n,
                        e.runs
                            .map_or_else(String::new, |k| format!(", interval over {k} runs"))
                    ),
                    reported: e.reported.is_some(),
                })
                .collect(),
        },
        width,
    )
}

/// Horizontal bars in the order given, whiskers, tie groups bracketed, `width` wide.
pub(super) fn bars(b: &Bars, width: f64) -> String {
    let compact = width < COMPACT;
    let parts = &b.parts;
    let note = if compact { b.note.0 } else { b.note.1 };
    let head = heading(width, parts, Some(note));
    let top_y = head.bottom;
    let rows = BarRows::new(width, top_y, (56.0, VALUE_W));
    let BarRows {
        row_h,
        x0,
        x1,
        bar_dy,
        bar_h,
        ..
    } = rows;
    let n = b.bars.len().max(1) as f64;
    let height = top_y + n * row_h + BOTTOM;
    let max = b
        .bars
        .iter()
        .flat_map(|e| [e.value, e.whisker.map_or(0.0, |c| c[1])])
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let (step, top) = axis(max, 5.0);
    let sx = |v: f64| x0 + (v.max(0.0) / top) * (x1 - x0);
    let mut out = String::new();
    open(&mut out, width, height, parts, &head);
    // Grid and axis.
    let bottom = top_y + n * row_h;
    let mut t = 0.0;
    while t <= top + step * 0.01 {
        let x = sx(t);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{top_y}\" x2=\"{x:.1}\" y2=\"{bottom}\"/><text class=\"muted\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            bottom + 18.0,
            tick(t, step)
        );
        t += step;
    }
    let _ = write!(
        out,
        "<text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        (x0 + x1) / 2.0,
        bottom + 36.0,
        escape(&b.axis)
    );
    for (i, e) in b.bars.iter().enumerate() {
        let RowAt {
            y,
            mid,
            label: (lx, ly, anchor),
        } = rows.at(i);
        let v = e.value;
        let llm = escape(e.llm);
        let rank_text = format!("{}{} ", e.rank, if e.tied { "=" } else { "." });
        let tail = &e.tail;
        let label = format!("{rank_text}{}{tail}", isolate(e.llm));
        // A long name is shortened to its room; the bar's title keeps it whole.
        let room = if compact { width - 28.0 } else { x0 - 24.0 };
        let name_room = room - label_width(&format!("{rank_text}{tail}"), 13.0);
        let shown = format!("{rank_text}{}{tail}", isolate(&fit(e.llm, 13.0, name_room)));
        let _ = write!(
            out,
            "<g data-llm=\"{llm}\" data-rank=\"{rank}\"><text class=\"fg\" data-llm=\"{llm}\" x=\"{lx:.1}\" y=\"{ly:.1}\" text-anchor=\"{anchor}\">{shown}</text><rect class=\"bar{rep}\" data-llm=\"{llm}\" data-rank=\"{rank}\" data-value=\"{v}\" x=\"{x0:.1}\" y=\"{by_:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"2\"><title>{label}: {vt} {unit}</title></rect>",
            rank = e.rank,
            label = escape(&label),
            shown = escape(&shown),
            rep = if e.reported { " reported" } else { "" },
            by_ = y + bar_dy,
            w = (sx(v) - x0).max(0.5),
            h = bar_h,
            vt = num(v),
            unit = escape(b.unit),
        );
        if let Some([lo, hi]) = e.whisker {
            let (a, b) = (sx(lo), sx(hi));
            let _ = write!(
                out,
                "<path class=\"whisker\" data-llm=\"{llm}\" data-lo=\"{lo}\" data-hi=\"{hi}\" d=\"M{a:.1} {m:.1}H{b:.1}M{a:.1} {t1:.1}V{t2:.1}M{b:.1} {t1:.1}V{t2:.1}\"/>",
                m = mid,
                t1 = mid - 5.0,
                t2 = mid + 5.0
            );
        }
        let _ = write!(
            out,
            "<text class=\"fg\" data-llm=\"{llm}\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            x1 + 8.0,
            mid + 4.5,
            num(v)
        );
    }
    // Tied groups (runs of LLMs whose intervals overlap their neighbour's), bracketed at the
    // left of the bars.
    let mut i = 0;
    while i < b.bars.len() {
        let mut j = i;
        while j + 1 < b.bars.len() && b.bars[j + 1].tie_group == b.bars[i].tie_group {
            j += 1;
        }
        if j > i {
            let (ya, yb) = (
                top_y + i as f64 * row_h + 6.0,
                top_y + (j + 1) as f64 * row_h - 6.0,
            );
            let x = x0 - 4.0;
            let _ = write!(
                out,
                "<path class=\"tie\" data-group=\"{}\" d=\"M{:.1} {ya:.1}H{x:.1}V{yb:.1}H{:.1}\"/>",
                b.bars[i].tie_group,
                x + 4.0,
                x + 4.0
            );
        }
        i = j + 1;
    }
    out.push_str("</svg>\n");
    out
}
