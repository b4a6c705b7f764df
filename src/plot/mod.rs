//! Charts as SVG, for `llmrank plot` (reports, pull requests): a ranking as horizontal bars
//! best first with the 95% interval of the mean as whiskers and tied groups bracketed; a
//! metric's trend per LLM; the trade-off of two metrics with its Pareto frontier. Pure: answers
//! in, SVG text out. Every mark carries `data-llm` (the LLM's name exactly as the API spells
//! it) and ranking bars `data-rank` (tied LLMs share it), so a test can read the picture.
//! Light and dark colour schemes follow the viewer's preference.

pub mod png;

use std::fmt::Write;

use crate::domain::Direction;
use crate::history::History;
use crate::ranking::Ranking;
use crate::stats::Statistic;

/// The width a chart is drawn at unless asked otherwise (SVG units: CSS pixels at 1:1).
pub const DEFAULT_WIDTH: u32 = 880;
/// The narrowest and widest a chart is drawn at.
pub const MIN_WIDTH: u32 = 320;
pub const MAX_WIDTH: u32 = 1600;
/// Narrower than this, a chart is laid out for a phone: labels above the bars, the legend
/// below the lines, titles on several lines.
const COMPACT: f64 = 600.0;
const LABEL_W: f64 = 300.0;
const VALUE_W: f64 = 90.0;
const ROW_H: f64 = 30.0;
const TOP: f64 = 64.0;
const BOTTOM: f64 = 44.0;

/// A palette that reads on light and dark backgrounds alike.
const PALETTE: [&str; 12] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#d62728",
];

/// The charts' light colours: a PNG is drawn in them.
macro_rules! light_rules {
    () => {
        "svg{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:13px}\
.bg{fill:#ffffff}.fg{fill:#1d2733}.muted{fill:#5b6673}.grid{stroke:#e3e7ec}.axis{stroke:#9aa4af}\
.bar{fill:#4e79a7}.bar.reported{fill:none;stroke:#4e79a7;stroke-dasharray:4 3}\
.whisker{stroke:#1d2733;stroke-width:1.5}.tie{stroke:#e15759;stroke-width:2;fill:none}\
.frontier{stroke:#e15759;stroke-width:2;fill:none;stroke-dasharray:6 4}"
    };
}

/// Light and dark, following the viewer's preference.
const STYLE: &str = concat!(
    "<style>",
    light_rules!(),
    "@media (prefers-color-scheme:dark){.bg{fill:#12171d}.fg{fill:#e6edf3}.muted{fill:#9aa4af}\
.grid{stroke:#2a323c}.axis{stroke:#5b6673}.whisker{stroke:#e6edf3}}",
    "</style>"
);

/// Light only, for a picture on paper or in a pull request.
const PRINT_STYLE: &str = concat!("<style>", light_rules!(), "</style>");

/// The chart with its light colours only.
fn for_print(svg: &str) -> String {
    svg.replacen(STYLE, PRINT_STYLE, 1)
}

/// Text safe inside XML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A round step giving about `ticks` intervals over [0, max].
fn nice_step(max: f64, ticks: f64) -> f64 {
    if max.is_nan() || max <= 0.0 || max.is_infinite() {
        return 1.0;
    }
    let raw = max / ticks;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn num(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// An axis from 0 over `max`: the round step and the top it reaches, of about `ticks`
/// intervals (one fewer to two more), choosing the top closest above `max` (so 1,020 ends at
/// 1,200 in steps of 200, not at 1,500 in steps of 500), then the count nearest `ticks`.
fn axis(max: f64, ticks: f64) -> (f64, f64) {
    [ticks - 1.0, ticks, ticks + 1.0, ticks + 2.0]
        .into_iter()
        .map(|t| {
            let step = nice_step(max, t);
            (step, (max / step).ceil().max(1.0) * step)
        })
        .min_by(|a, b| {
            let off = |(step, top): (f64, f64)| (top / step - ticks).abs();
            a.1.total_cmp(&b.1).then(off(*a).total_cmp(&off(*b)))
        })
        .unwrap_or((1.0, 1.0))
}

/// A tick's label: as many decimals as the step needs.
fn tick(t: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{t:.decimals$}")
}

fn better(d: Direction) -> &'static str {
    match d {
        Direction::Lower => "lower is better",
        Direction::Higher => "higher is better",
    }
}

/// The width asked for, within [`MIN_WIDTH`, `MAX_WIDTH`].
pub fn clamp_width(width: u32) -> f64 {
    f64::from(width.clamp(MIN_WIDTH, MAX_WIDTH))
}

/// A line of a chart's heading.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Line {
    /// The title (its first part when compact).
    Title,
    /// A further part of the title, on a line of its own when compact.
    Part,
    /// The legend's words under the title.
    Note,
}

/// A chart's heading: its lines (y, text, kind) and where the plot below may start.
struct Heading {
    lines: Vec<(f64, String, Line)>,
    bottom: f64,
}

/// The heading of `parts`: on a phone one line per part; else parts share a line while they
/// fit. The note goes under them.
fn heading(width: f64, parts: &[String], note: Option<&str>) -> Heading {
    let compact = width < COMPACT;
    let size = title_size(width);
    let room = width - 28.0;
    let mut rows: Vec<String> = Vec::new();
    for part in parts {
        match rows.last_mut() {
            // Bold runs about a tenth wider than regular text.
            Some(last)
                if !compact && label_width(&format!("{last}, {part}"), size) * 1.1 <= room =>
            {
                last.push_str(", ");
                last.push_str(part);
            }
            _ => rows.push(part.clone()),
        }
    }
    let mut lines = Vec::new();
    let mut y = if compact { 22.0 } else { 26.0 };
    for (i, row) in rows.into_iter().enumerate() {
        let kind = if i == 0 { Line::Title } else { Line::Part };
        lines.push((y, row, kind));
        y += if i == 0 { size + 3.0 } else { 18.0 };
    }
    if let Some(n) = note {
        lines.push((y - 2.0, n.to_string(), Line::Note));
        y += 18.0;
    }
    let bottom = if compact { y + 4.0 } else { (y + 4.0).max(TOP) };
    Heading { lines, bottom }
}

/// The title's font size.
fn title_size(width: f64) -> f64 {
    if width < COMPACT {
        15.0
    } else {
        17.0
    }
}

/// The SVG's opening, its title, background and heading.
fn open(out: &mut String, width: f64, height: f64, parts: &[String], head: &Heading) {
    let title = escape(&parts.join(", "));
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{title}\">{STYLE}<title>{title}</title><rect class=\"bg\" width=\"{width}\" height=\"{height}\"/>",
    );
    let size = title_size(width);
    for (y, text, line) in &head.lines {
        let attrs = match line {
            Line::Title => format!("class=\"fg\" font-size=\"{size}\" font-weight=\"600\""),
            Line::Part => "class=\"fg\"".to_string(),
            Line::Note => "class=\"muted\"".to_string(),
        };
        let _ = write!(
            out,
            "<text {attrs} x=\"14\" y=\"{y}\">{}</text>",
            escape(text)
        );
    }
}

/// The ranking as horizontal bars, best first (the API's order), `width` wide (see
/// [`clamp_width`]).
pub fn ranking(r: &Ranking, width: f64) -> String {
    let by = r.by;
    let compact = width < COMPACT;
    let parts = [
        format!("{} ({}, {})", r.metric, r.unit, better(r.direction)),
        format!("by {}, {}", by.as_str(), r.window.describe()),
    ];
    let note = if compact {
        "best first; whiskers: 95% interval; brackets: tied"
    } else {
        "best first; whiskers: 95% interval of the mean; brackets: tied (intervals overlap)"
    };
    let head = heading(width, &parts, Some(note));
    let top_y = head.bottom;
    // Compact: the label on a line of its own above the bar, the bar across the width.
    let (row_h, x0, x1, bar_dy, bar_h) = if compact {
        (40.0, 14.0, width - 56.0, 18.0, 14.0)
    } else {
        (ROW_H, LABEL_W, width - VALUE_W, 6.0, ROW_H - 12.0)
    };
    let n = r.rankings.len().max(1) as f64;
    let height = top_y + n * row_h + BOTTOM;
    let whisker = |e: &crate::ranking::Entry| match by {
        Statistic::Mean => e.stats.ci95,
        _ => None,
    };
    let max = r
        .rankings
        .iter()
        .flat_map(|e| [e.stats.get(by), whisker(e).map_or(0.0, |c| c[1])])
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let (step, top) = axis(max, 5.0);
    let sx = |v: f64| x0 + (v.max(0.0) / top) * (x1 - x0);
    let mut out = String::new();
    open(&mut out, width, height, &parts, &head);
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
        "<text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} ({})</text>",
        (x0 + x1) / 2.0,
        bottom + 36.0,
        by.as_str(),
        escape(&r.unit)
    );
    for (i, e) in r.rankings.iter().enumerate() {
        let y = top_y + i as f64 * row_h;
        let mid = y + bar_dy + bar_h / 2.0;
        let (lx, ly, anchor) = if compact {
            (x0, y + 13.0, "start")
        } else {
            (x0 - 10.0, mid + 4.5, "end")
        };
        let v = e.stats.get(by);
        let llm = escape(&e.llm);
        let rank_text = format!("{}{} ", e.rank, if e.tied { "=" } else { "." });
        let tail = format!(
            "{} (n={})",
            if e.reported.is_some() {
                " [reported]"
            } else {
                ""
            },
            e.stats.n
        );
        let label = format!("{rank_text}{}{tail}", e.llm);
        // A long name is shortened to its room; the bar's title keeps it whole.
        let room = if compact { width - 28.0 } else { x0 - 24.0 };
        let name_room = room - label_width(&format!("{rank_text}{tail}"), 13.0);
        let shown = format!("{rank_text}{}{tail}", fit(&e.llm, 13.0, name_room));
        let _ = write!(
            out,
            "<g data-llm=\"{llm}\" data-rank=\"{rank}\"><text class=\"fg\" data-llm=\"{llm}\" x=\"{lx:.1}\" y=\"{ly:.1}\" text-anchor=\"{anchor}\">{shown}</text><rect class=\"bar{rep}\" data-llm=\"{llm}\" data-rank=\"{rank}\" data-value=\"{v}\" x=\"{x0:.1}\" y=\"{by_:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"2\"><title>{label}: {vt} {unit}</title></rect>",
            rank = e.rank,
            label = escape(&label),
            shown = escape(&shown),
            rep = if e.reported.is_some() { " reported" } else { "" },
            by_ = y + bar_dy,
            w = (sx(v) - x0).max(0.5),
            h = bar_h,
            vt = num(v),
            unit = escape(&r.unit),
        );
        if let Some([lo, hi]) = whisker(e) {
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
    while i < r.rankings.len() {
        let mut j = i;
        while j + 1 < r.rankings.len() && r.rankings[j + 1].tie_group == r.rankings[i].tie_group {
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
                r.rankings[i].tie_group,
                x + 4.0,
                x + 4.0
            );
        }
        i = j + 1;
    }
    out.push_str("</svg>\n");
    out
}

/// Unix seconds of an RFC 3339 time, as the history writes them.
fn secs(t: &str) -> Option<f64> {
    crate::window::parse_rfc3339(t).ok().map(|s| s as f64)
}

/// An axis' time: "2026-11-28 06:00 UTC", or "11-28 06:00" when compact.
fn time_label(t: f64, compact: bool) -> String {
    let full = crate::window::rfc3339(t as i64); // 2026-11-28T06:00:00Z
    let (date, time) = (full.get(..10).unwrap_or(""), full.get(11..16).unwrap_or(""));
    if compact {
        format!("{} {time}", date.get(5..).unwrap_or(date))
    } else {
        format!("{date} {time} UTC")
    }
}

/// One line per LLM over time (the history's buckets), of statistic `by`, `width` wide.
pub fn trend(h: &History, by: Statistic, width: f64) -> String {
    let compact = width < COMPACT;
    let parts = [
        format!("{} ({}, {})", h.metric, h.unit, better(h.direction)),
        format!("{} per {}", by.as_str(), h.bucket),
        h.window.describe(),
    ];
    let head = heading(width, &parts, None);
    let y0 = head.bottom;
    // Compact: the legend under the plot in two columns; else on its right.
    let legend_rows = if compact {
        h.series.len().div_ceil(2)
    } else {
        0
    };
    let plot_h = if compact { 260.0 } else { 376.0 };
    let y1 = y0 + plot_h;
    let height = y1 + BOTTOM + legend_rows as f64 * 20.0;
    let (x0, x1) = if compact {
        (52.0, width - 14.0)
    } else {
        (70.0, width - 220.0)
    };
    let value = |p: &crate::history::Point| match by {
        Statistic::Mean => p.mean,
        Statistic::P50 => p.p50,
        Statistic::P90 => p.p90,
        Statistic::P95 => p.p95,
        Statistic::P99 => p.p99,
    };
    let points: Vec<(f64, f64)> = h
        .series
        .iter()
        .flat_map(|s| {
            s.points
                .iter()
                .filter_map(|p| Some((secs(&p.time)?, value(p))))
        })
        .collect();
    let (tmin, tmax) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.0), b.max(p.0))
        });
    let vmax = points
        .iter()
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let (step, top) = axis(vmax, 5.0);
    let span = if tmax > tmin { tmax - tmin } else { 1.0 };
    let sx = |t: f64| x0 + (t - tmin) / span * (x1 - x0);
    let sy = |v: f64| y1 - (v.max(0.0) / top) * (y1 - y0);
    let mut out = String::new();
    open(&mut out, width, height, &parts, &head);
    let mut t = 0.0;
    while t <= top + step * 0.01 {
        let y = sy(t);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{x0}\" y1=\"{y:.1}\" x2=\"{x1}\" y2=\"{y:.1}\"/><text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            x0 - 6.0,
            y + 4.0,
            tick(t, step)
        );
        t += step;
    }
    if tmin.is_finite() {
        for (t, anchor) in [(tmin, "start"), (tmax, "end")] {
            let _ = write!(
                out,
                "<text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
                sx(t),
                y1 + 18.0,
                time_label(t, compact)
            );
        }
    }
    for (i, s) in h.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let llm = escape(&s.llm);
        let pts: Vec<(f64, f64, f64)> = s
            .points
            .iter()
            .filter_map(|p| Some((secs(&p.time)?, value(p), p.n as f64)))
            .filter(|p| p.1.is_finite())
            .collect();
        let path: Vec<String> = pts
            .iter()
            .map(|&(t, v, _)| format!("{:.1},{:.1}", sx(t), sy(v)))
            .collect();
        let _ = write!(
            out,
            "<g data-llm=\"{llm}\"><polyline data-llm=\"{llm}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        for &(t, v, n) in &pts {
            let _ = write!(
                out,
                "<circle data-llm=\"{llm}\" data-value=\"{v}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"><title>{llm} {}: {} {} (n={n})</title></circle>",
                sx(t),
                sy(v),
                crate::window::rfc3339(t as i64),
                num(v),
                escape(&h.unit)
            );
        }
        let legend_room = if compact {
            (width - 28.0) / 2.0 - 24.0
        } else {
            width - x1 - 44.0
        };
        let (lx, ly) = if compact {
            (
                14.0 + (i % 2) as f64 * (width - 28.0) / 2.0,
                y1 + BOTTOM + (i / 2) as f64 * 20.0,
            )
        } else {
            (x1 + 20.0, y0 + 8.0 + i as f64 * 20.0)
        };
        let _ = write!(
            out,
            "<rect data-llm=\"{llm}\" x=\"{lx:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text class=\"fg\" data-llm=\"{llm}\" x=\"{:.1}\" y=\"{ly:.1}\">{}<title>{llm}</title></text></g>",
            ly - 10.0,
            lx + 18.0,
            escape(&fit(&s.llm, 13.0, legend_room)),
        );
    }
    out.push_str("</svg>\n");
    out
}

/// One LLM of a trade-off: its values on both metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub llm: String,
    pub x: f64,
    pub y: f64,
}

/// The points no other point beats on both metrics (each in its own direction), by x.
pub fn pareto(points: &[Point], dx: Direction, dy: Direction) -> Vec<Point> {
    let at_least = |a: f64, b: f64, d: Direction| match d {
        Direction::Lower => a <= b,
        Direction::Higher => a >= b,
    };
    let mut front: Vec<Point> = points
        .iter()
        .filter(|p| {
            !points.iter().any(|q| {
                at_least(q.x, p.x, dx) && at_least(q.y, p.y, dy) && (q.x != p.x || q.y != p.y)
            })
        })
        .cloned()
        .collect();
    front.sort_by(|a, b| a.x.total_cmp(&b.x));
    front
}

/// A label's box: left, top, right, bottom.
type Box4 = (f64, f64, f64, f64);

/// `text`, or as much of it as fits `room` pixels at `size` with an ellipsis.
fn fit(text: &str, size: f64, room: f64) -> String {
    if label_width(text, size) <= room {
        return text.to_string();
    }
    let keep = ((room / (size * 0.64)).floor() as usize)
        .saturating_sub(1)
        .max(1);
    let mut short: String = text.chars().take(keep).collect();
    short.push('…');
    short
}

/// About how wide `text` is drawn at `size` pixels (a sans face's average advance).
fn label_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.64
}

/// Where a point's label goes (x, baseline, anchor): of the places above, below and beside the
/// point, right then left, then centred above or below, the first that overlaps least the
/// boxes `placed` so far and stays inside the area; the choice is added to `placed`.
fn place_label(
    (px, py): (f64, f64),
    w: f64,
    (left, right, top, bottom): Box4,
    placed: &mut Vec<Box4>,
) -> (f64, f64, &'static str) {
    const H: f64 = 12.0;
    let candidates = [
        (px + 8.0, py - 6.0, "start"),
        (px - 8.0, py - 6.0, "end"),
        (px + 8.0, py + 15.0, "start"),
        (px - 8.0, py + 15.0, "end"),
        (px + 8.0, py + 4.0, "start"),
        (px - 8.0, py + 4.0, "end"),
        (px - w / 2.0, py - 10.0, "start"),
        (px - w / 2.0, py + 20.0, "start"),
    ];
    let bounds = |&(x, y, anchor): &(f64, f64, &str)| {
        let l = if anchor == "end" { x - w } else { x };
        (l, y - H + 2.0, l + w, y + 2.0)
    };
    let overlap = |a: &Box4, b: &Box4| {
        (a.2.min(b.2) - a.0.max(b.0)).max(0.0) * (a.3.min(b.3) - a.1.max(b.1)).max(0.0)
    };
    // Overlap with what is placed, and anything outside the area counted ten times over.
    let cost = |c: &(f64, f64, &'static str)| {
        let b = bounds(c);
        let inside = (
            b.0.max(left - 40.0),
            b.1.max(top),
            b.2.min(right + 10.0),
            b.3.min(bottom),
        );
        let outside = (b.2 - b.0) * (b.3 - b.1) - overlap(&b, &inside);
        placed.iter().map(|p| overlap(p, &b)).sum::<f64>() + 10.0 * outside.max(0.0)
    };
    let chosen = candidates
        .iter()
        .copied()
        .min_by(|a, b| cost(a).total_cmp(&cost(b)))
        .unwrap_or(candidates[0]);
    placed.push(bounds(&chosen));
    chosen
}

/// Every LLM ranked on both metrics as a point (x: `xs`' statistic, y: `ys`'), the Pareto
/// frontier drawn through the best ones, `width` wide.
pub fn tradeoff(xs: &Ranking, ys: &Ranking, width: f64) -> String {
    let points: Vec<Point> = xs
        .rankings
        .iter()
        .filter(|e| e.reported.is_none())
        .filter_map(|e| {
            let y = ys
                .rankings
                .iter()
                .find(|f| f.llm == e.llm && f.reported.is_none())?;
            Some(Point {
                llm: e.llm.clone(),
                x: e.stats.get(xs.by),
                y: y.stats.get(ys.by),
            })
        })
        .filter(|p| p.x.is_finite() && p.y.is_finite())
        .collect();
    let front = pareto(&points, xs.direction, ys.direction);
    let compact = width < COMPACT;
    let parts = if compact {
        vec![
            format!(
                "{} {} against {} {}",
                xs.metric,
                xs.by.as_str(),
                ys.metric,
                ys.by.as_str()
            ),
            format!("x: {}, {}", xs.unit, better(xs.direction)),
            format!("y: {}, {}", ys.unit, better(ys.direction)),
            xs.window.describe(),
        ]
    } else {
        vec![
            format!(
                "{} {} ({}, {})",
                xs.metric,
                xs.by.as_str(),
                xs.unit,
                better(xs.direction)
            ),
            format!(
                "against {} {} ({}, {})",
                ys.metric,
                ys.by.as_str(),
                ys.unit,
                better(ys.direction)
            ),
            xs.window.describe(),
        ]
    };
    let note = if compact {
        "dashed: the Pareto frontier"
    } else {
        "dashed: the Pareto frontier (no LLM is better on both)"
    };
    let head = heading(width, &parts, Some(note));
    let y0 = head.bottom;
    let y1 = y0 + if compact { 300.0 } else { 402.0 };
    let height = y1 + BOTTOM + 10.0;
    let (x0, x1) = if compact {
        (60.0, width - 16.0)
    } else {
        (80.0, width - 40.0)
    };
    let xmax = points.iter().map(|p| p.x).fold(0.0, f64::max);
    let ymax = points.iter().map(|p| p.y).fold(0.0, f64::max);
    let ((xs_step, xtop), (ys_step, ytop)) = (axis(xmax, 6.0), axis(ymax, 5.0));
    let sx = |v: f64| x0 + v.max(0.0) / xtop * (x1 - x0);
    let sy = |v: f64| y1 - v.max(0.0) / ytop * (y1 - y0);
    let mut out = String::new();
    open(&mut out, width, height, &parts, &head);
    let mut t = 0.0;
    while t <= xtop + xs_step * 0.01 {
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{y0}\" x2=\"{x:.1}\" y2=\"{y1}\"/><text class=\"muted\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            y1 + 18.0,
            tick(t, xs_step),
            x = sx(t)
        );
        t += xs_step;
    }
    let mut t = 0.0;
    while t <= ytop + ys_step * 0.01 {
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{x0}\" y1=\"{y:.1}\" x2=\"{x1}\" y2=\"{y:.1}\"/><text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            x0 - 6.0,
            sy(t) + 4.0,
            tick(t, ys_step),
            y = sy(t)
        );
        t += ys_step;
    }
    let _ = write!(
        out,
        "<text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} {} ({})</text><text class=\"muted\" transform=\"translate(18 {:.1}) rotate(-90)\" text-anchor=\"middle\">{} {} ({})</text>",
        (x0 + x1) / 2.0,
        y1 + 36.0,
        escape(&xs.metric),
        xs.by.as_str(),
        escape(&xs.unit),
        (y0 + y1) / 2.0,
        escape(&ys.metric),
        ys.by.as_str(),
        escape(&ys.unit)
    );
    if front.len() > 1 {
        let path: Vec<String> = front
            .iter()
            .map(|p| format!("{:.1},{:.1}", sx(p.x), sy(p.y)))
            .collect();
        let _ = write!(
            out,
            "<polyline class=\"frontier\" data-frontier=\"{}\" points=\"{}\"/>",
            escape(
                &front
                    .iter()
                    .map(|p| p.llm.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            path.join(" ")
        );
    }
    // Labels keep clear of every point and of each other, the frontier's first.
    let mut placed: Vec<Box4> = points
        .iter()
        .map(|p| (sx(p.x) - 6.0, sy(p.y) - 6.0, sx(p.x) + 6.0, sy(p.y) + 6.0))
        .collect();
    let mut labels = vec![(0.0, 0.0, ""); points.len()];
    // A long name is shortened to under half the plot's width; the point's title keeps it whole.
    let names: Vec<String> = points
        .iter()
        .map(|p| fit(&p.llm, 11.0, (x1 - x0) * 0.45))
        .collect();
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| !front.iter().any(|f| f.llm == points[i].llm));
    for i in order {
        let p = &points[i];
        labels[i] = place_label(
            (sx(p.x), sy(p.y)),
            label_width(&names[i], 11.0),
            (x0, x1, y0 - 12.0, y1 + 12.0),
            &mut placed,
        );
    }
    for (i, p) in points.iter().enumerate() {
        let llm = escape(&p.llm);
        let on = front.iter().any(|f| f.llm == p.llm);
        let (lx, ly, anchor) = labels[i];
        let _ = write!(
            out,
            "<g data-llm=\"{llm}\"><circle data-llm=\"{llm}\" data-x=\"{}\" data-y=\"{}\" data-pareto=\"{on}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{}\" fill=\"{}\"><title>{llm}: {} {} {}, {} {} {}</title></circle><text class=\"fg\" data-llm=\"{llm}\" x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" font-size=\"11\">{}</text></g>",
            p.x,
            p.y,
            sx(p.x),
            sy(p.y),
            if on { 6 } else { 4 },
            PALETTE[i % PALETTE.len()],
            num(p.x),
            escape(&xs.unit),
            escape(&xs.metric),
            num(p.y),
            escape(&ys.unit),
            escape(&ys.metric),
            ly,
            escape(&names[i]),
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(llm: &str, x: f64, y: f64) -> Point {
        Point {
            llm: llm.into(),
            x,
            y,
        }
    }

    #[test]
    fn the_pareto_frontier_keeps_only_undominated_points() {
        // x: TTFT (lower better), y: TPS (higher better).
        let p = [
            pt("a", 100.0, 50.0),
            pt("b", 200.0, 80.0),
            pt("c", 250.0, 70.0),
            pt("d", 90.0, 40.0),
            pt("e", 100.0, 50.0),
        ];
        let front: Vec<String> = pareto(&p, Direction::Lower, Direction::Higher)
            .into_iter()
            .map(|p| p.llm)
            .collect();
        // c is beaten by b (faster and more tokens); a and e tie, neither beats the other.
        assert_eq!(front, ["d", "a", "e", "b"]);
    }

    #[test]
    fn long_names_are_shortened_to_their_room() {
        assert_eq!(fit("GPT-4o", 13.0, 200.0), "GPT-4o");
        let long = "meta-llama/Meta-Llama-3.1-405B-Instruct-FP8";
        let short = fit(long, 13.0, 150.0);
        assert!(short.ends_with('…') && long.starts_with(short.trim_end_matches('…')));
        assert!(label_width(&short, 13.0) <= 150.0, "{short}");
        assert_eq!(fit(long, 13.0, 1.0), "m…");
    }

    #[test]
    fn escaping_and_ticks() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(nice_step(960.0, 5.0), 200.0);
        assert_eq!(nice_step(0.0, 5.0), 1.0);
        assert_eq!(nice_step(7.3, 5.0), 2.0);
        assert_eq!(axis(1020.0, 5.0), (200.0, 1200.0));
        assert_eq!(axis(961.0, 5.0), (200.0, 1000.0));
        assert_eq!(axis(0.0, 5.0), (1.0, 1.0));
    }
}
