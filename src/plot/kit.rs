//! The chart kit every chart draws with: sizes, palette and styles, axes with round ticks,
//! headings that wrap to the width, the SVG's opening, and labels fitted to their room.

use std::fmt::Write;

use crate::domain::Direction;

/// Narrower than this, a chart is laid out for a phone: labels above the bars, the legend
/// below the lines, titles on several lines.
pub(super) const COMPACT: f64 = 600.0;
pub(super) const LABEL_W: f64 = 300.0;
pub(super) const VALUE_W: f64 = 90.0;
pub(super) const ROW_H: f64 = 30.0;
pub(super) const TOP: f64 = 64.0;
pub(super) const BOTTOM: f64 = 44.0;

/// A palette that reads on light and dark backgrounds alike.
/// The rows of a horizontal bar chart: their height, the bars' left and right ends, and each
/// bar's offset and height within its row. Compact (a phone): each label on a line of its own
/// above its bar, the bar across the width; else labels left of the bars.
#[derive(Debug, Clone, Copy)]
pub(super) struct BarRows {
    pub compact: bool,
    pub top: f64,
    pub row_h: f64,
    pub x0: f64,
    pub x1: f64,
    pub bar_dy: f64,
    pub bar_h: f64,
}

/// One row's place: its top, its bar's middle, and its label's x, y and anchor.
pub(super) struct RowAt {
    pub y: f64,
    pub mid: f64,
    pub label: (f64, f64, &'static str),
}

impl BarRows {
    /// Rows from `top` in a chart `width` wide, leaving `right` (compact, wide) for values.
    pub fn new(width: f64, top: f64, right: (f64, f64)) -> BarRows {
        let compact = width < COMPACT;
        let (row_h, x0, x1, bar_dy, bar_h) = if compact {
            (40.0, 14.0, width - right.0, 18.0, 14.0)
        } else {
            (ROW_H, LABEL_W, width - right.1, 6.0, ROW_H - 12.0)
        };
        BarRows {
            compact,
            top,
            row_h,
            x0,
            x1,
            bar_dy,
            bar_h,
        }
    }

    /// Where row `i` lies.
    pub fn at(&self, i: usize) -> RowAt {
        let y = self.top + i as f64 * self.row_h;
        let mid = y + self.bar_dy + self.bar_h / 2.0;
        RowAt {
            y,
            mid,
            label: if self.compact {
                (self.x0, y + 13.0, "start")
            } else {
                (self.x0 - 10.0, mid + 4.5, "end")
            },
        }
    }

    /// The bottom of `n` rows.
    pub fn bottom(&self, n: usize) -> f64 {
        self.top + n.max(1) as f64 * self.row_h
    }
}

pub(super) const PALETTE: [&str; 12] = [
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
.frontier{stroke:#e15759;stroke-width:2;fill:none;stroke-dasharray:6 4}\
.bar.regressed{fill:#e15759}.bar.improved{fill:#59a14f}.bar.noisy{fill:#edc948}.bar.unchanged{fill:#9aa4af}\
.threshold{stroke:#e15759;stroke-width:1.5;stroke-dasharray:5 4}"
    };
}

/// Light and dark, following the viewer's preference.
pub(super) const STYLE: &str = concat!(
    "<style>",
    light_rules!(),
    "@media (prefers-color-scheme:dark){.bg{fill:#12171d}.fg{fill:#e6edf3}.muted{fill:#9aa4af}\
.grid{stroke:#2a323c}.axis{stroke:#5b6673}.whisker{stroke:#e6edf3}}",
    "</style>"
);

/// Light only, for a picture on paper or in a pull request.
pub(super) const PRINT_STYLE: &str = concat!("<style>", light_rules!(), "</style>");

/// The chart with its light colours only.
pub(super) fn for_print(svg: &str) -> String {
    svg.replacen(STYLE, PRINT_STYLE, 1)
}

/// An LLM's name as the chart draws it: between FIRST STRONG ISOLATE and POP DIRECTIONAL
/// ISOLATE, so a right-to-left name, or a direction override left open (U+202E) in one stored
/// before names were checked, cannot reorder the rank, counts or units drawn beside it.
pub(super) fn isolate(name: &str) -> String {
    format!("\u{2068}{name}\u{2069}")
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
pub(super) fn nice_step(max: f64, ticks: f64) -> f64 {
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

pub(super) fn num(x: f64) -> String {
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
pub(super) fn axis(max: f64, ticks: f64) -> (f64, f64) {
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
pub(super) fn tick(t: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{t:.decimals$}")
}

pub(super) fn better(d: Direction) -> &'static str {
    match d {
        Direction::Lower => "lower is better",
        Direction::Higher => "higher is better",
    }
}

/// A line of a chart's heading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Line {
    /// The title (its first part when compact).
    Title,
    /// A further part of the title, on a line of its own when compact.
    Part,
    /// The legend's words under the title.
    Note,
}

/// A chart's heading: its lines (y, text, kind) and where the plot below may start.
pub(super) struct Heading {
    lines: Vec<(f64, String, Line)>,
    pub(super) bottom: f64,
}

/// The heading of `parts`: on a phone one line per part; else parts share a line while they
/// fit. The note goes under them.
pub(super) fn heading(width: f64, parts: &[String], note: Option<&str>) -> Heading {
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
pub(super) fn title_size(width: f64) -> f64 {
    if width < COMPACT {
        15.0
    } else {
        17.0
    }
}

/// The SVG's opening, its title, background and heading.
pub(super) fn open(out: &mut String, width: f64, height: f64, parts: &[String], head: &Heading) {
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

/// A label's box: left, top, right, bottom.
pub(super) type Box4 = (f64, f64, f64, f64);

/// `text`, or as much of it as fits `room` pixels at `size` with an ellipsis.
pub(super) fn fit(text: &str, size: f64, room: f64) -> String {
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
pub(super) fn label_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.64
}

/// Where a point's label goes (x, baseline, anchor): of the places above, below and beside the
/// point, right then left, then centred above or below, the first that overlaps least the
/// boxes `placed` so far and stays inside the area; the choice is added to `placed`.
pub(super) fn place_label(
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
