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

const WIDTH: f64 = 880.0;
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

const STYLE: &str = "<style>\
svg{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:13px}\
.bg{fill:#ffffff}.fg{fill:#1d2733}.muted{fill:#5b6673}.grid{stroke:#e3e7ec}.axis{stroke:#9aa4af}\
.bar{fill:#4e79a7}.bar.reported{fill:none;stroke:#4e79a7;stroke-dasharray:4 3}\
.whisker{stroke:#1d2733;stroke-width:1.5}.tie{stroke:#e15759;stroke-width:2;fill:none}\
.frontier{stroke:#e15759;stroke-width:2;fill:none;stroke-dasharray:6 4}\
@media (prefers-color-scheme:dark){.bg{fill:#12171d}.fg{fill:#e6edf3}.muted{fill:#9aa4af}\
.grid{stroke:#2a323c}.axis{stroke:#5b6673}.whisker{stroke:#e6edf3}}\
</style>";

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

fn open(out: &mut String, height: f64, title: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"{t}\">{STYLE}<title>{t}</title><rect class=\"bg\" width=\"{WIDTH}\" height=\"{height}\"/>",
        t = escape(title)
    );
}

/// The ranking as horizontal bars, best first (the API's order).
pub fn ranking(r: &Ranking) -> String {
    let by = r.by;
    let n = r.rankings.len().max(1) as f64;
    let height = TOP + n * ROW_H + BOTTOM;
    let x0 = LABEL_W;
    let x1 = WIDTH - VALUE_W;
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
    let step = nice_step(max, 5.0);
    let top = (max / step).ceil().max(1.0) * step;
    let sx = |v: f64| x0 + (v.max(0.0) / top) * (x1 - x0);
    let title = format!(
        "{} ({}, {}), by {}, {}",
        r.metric,
        r.unit,
        better(r.direction),
        by.as_str(),
        r.window.describe()
    );
    let mut out = String::new();
    open(&mut out, height, &title);
    let _ = write!(
        out,
        "<text class=\"fg\" x=\"16\" y=\"26\" font-size=\"17\" font-weight=\"600\">{}</text><text class=\"muted\" x=\"16\" y=\"46\">best first; whiskers: 95% interval of the mean; brackets: tied (intervals overlap)</text>",
        escape(&title)
    );
    // Grid and axis.
    let bottom = TOP + n * ROW_H;
    let mut t = 0.0;
    while t <= top + step * 0.01 {
        let x = sx(t);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\"/><text class=\"muted\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
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
        let y = TOP + i as f64 * ROW_H;
        let mid = y + ROW_H / 2.0;
        let v = e.stats.get(by);
        let llm = escape(&e.llm);
        let label = format!(
            "{}{} {}{} (n={})",
            e.rank,
            if e.tied { "=" } else { "." },
            e.llm,
            if e.reported.is_some() {
                " [reported]"
            } else {
                ""
            },
            e.stats.n
        );
        let _ = write!(
            out,
            "<g data-llm=\"{llm}\" data-rank=\"{rank}\"><text class=\"fg\" data-llm=\"{llm}\" x=\"{lx:.1}\" y=\"{ty:.1}\" text-anchor=\"end\">{label}</text><rect class=\"bar{rep}\" data-llm=\"{llm}\" data-rank=\"{rank}\" data-value=\"{v}\" x=\"{x0:.1}\" y=\"{by_:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"2\"><title>{label}: {vt} {unit}</title></rect>",
            rank = e.rank,
            lx = x0 - 10.0,
            ty = mid + 4.5,
            label = escape(&label),
            rep = if e.reported.is_some() { " reported" } else { "" },
            by_ = y + 6.0,
            w = (sx(v) - x0).max(0.5),
            h = ROW_H - 12.0,
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
    // Tied groups: runs of LLMs sharing a rank, bracketed at the left of the bars.
    let mut i = 0;
    while i < r.rankings.len() {
        let mut j = i;
        while j + 1 < r.rankings.len() && r.rankings[j + 1].rank == r.rankings[i].rank {
            j += 1;
        }
        if j > i {
            let (ya, yb) = (
                TOP + i as f64 * ROW_H + 6.0,
                TOP + (j + 1) as f64 * ROW_H - 6.0,
            );
            let x = x0 - 4.0;
            let _ = write!(
                out,
                "<path class=\"tie\" data-rank=\"{}\" d=\"M{:.1} {ya:.1}H{x:.1}V{yb:.1}H{:.1}\"/>",
                r.rankings[i].rank,
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

/// One line per LLM over time (the history's buckets), of statistic `by`.
pub fn trend(h: &History, by: Statistic) -> String {
    let height = 440.0;
    let (x0, x1, y0, y1) = (70.0, WIDTH - 220.0, TOP, height - BOTTOM);
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
    let step = nice_step(vmax, 5.0);
    let top = (vmax / step).ceil().max(1.0) * step;
    let span = if tmax > tmin { tmax - tmin } else { 1.0 };
    let sx = |t: f64| x0 + (t - tmin) / span * (x1 - x0);
    let sy = |v: f64| y1 - (v.max(0.0) / top) * (y1 - y0);
    let title = format!(
        "{} ({}, {}), {} per {}, {}",
        h.metric,
        h.unit,
        better(h.direction),
        by.as_str(),
        h.bucket,
        h.window.describe()
    );
    let mut out = String::new();
    open(&mut out, height, &title);
    let _ = write!(
        out,
        "<text class=\"fg\" x=\"16\" y=\"26\" font-size=\"17\" font-weight=\"600\">{}</text>",
        escape(&title)
    );
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
                crate::window::rfc3339(t as i64)
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
        let ly = y0 + 8.0 + i as f64 * 20.0;
        let _ = write!(
            out,
            "<rect data-llm=\"{llm}\" x=\"{:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text class=\"fg\" data-llm=\"{llm}\" x=\"{:.1}\" y=\"{:.1}\">{llm}</text></g>",
            x1 + 20.0,
            ly - 10.0,
            x1 + 38.0,
            ly
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

/// Every LLM ranked on both metrics as a point (x: `xs`' statistic, y: `ys`'), the Pareto
/// frontier drawn through the best ones.
pub fn tradeoff(xs: &Ranking, ys: &Ranking) -> String {
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
    let height = 520.0;
    let (x0, x1, y0, y1) = (80.0, WIDTH - 40.0, TOP, height - BOTTOM - 10.0);
    let xmax = points.iter().map(|p| p.x).fold(0.0, f64::max);
    let ymax = points.iter().map(|p| p.y).fold(0.0, f64::max);
    let (xs_step, ys_step) = (nice_step(xmax, 6.0), nice_step(ymax, 5.0));
    let (xtop, ytop) = (
        (xmax / xs_step).ceil().max(1.0) * xs_step,
        (ymax / ys_step).ceil().max(1.0) * ys_step,
    );
    let sx = |v: f64| x0 + v.max(0.0) / xtop * (x1 - x0);
    let sy = |v: f64| y1 - v.max(0.0) / ytop * (y1 - y0);
    let title = format!(
        "{} {} ({}, {}) against {} {} ({}, {}), {}",
        xs.metric,
        xs.by.as_str(),
        xs.unit,
        better(xs.direction),
        ys.metric,
        ys.by.as_str(),
        ys.unit,
        better(ys.direction),
        xs.window.describe()
    );
    let mut out = String::new();
    open(&mut out, height, &title);
    let _ = write!(
        out,
        "<text class=\"fg\" x=\"16\" y=\"26\" font-size=\"17\" font-weight=\"600\">{}</text><text class=\"muted\" x=\"16\" y=\"46\">dashed: the Pareto frontier (no LLM is better on both)</text>",
        escape(&title)
    );
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
    for (i, p) in points.iter().enumerate() {
        let llm = escape(&p.llm);
        let on = front.iter().any(|f| f.llm == p.llm);
        // Labels near the right edge go on the point's left.
        let (lx, anchor) = if sx(p.x) > x1 - 140.0 {
            (sx(p.x) - 8.0, "end")
        } else {
            (sx(p.x) + 8.0, "start")
        };
        let _ = write!(
            out,
            "<g data-llm=\"{llm}\"><circle data-llm=\"{llm}\" data-x=\"{}\" data-y=\"{}\" data-pareto=\"{on}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{}\" fill=\"{}\"><title>{llm}: {} {} {}, {} {} {}</title></circle><text class=\"fg\" data-llm=\"{llm}\" x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" font-size=\"11\">{llm}</text></g>",
            p.x,
            p.y,
            sx(p.x),
            sy(p.y),
            if on { 6 } else { 4 },
            PALETTE[i % PALETTE.len()],
            num(p.x),
            escape(&xs.unit),
            xs.metric,
            num(p.y),
            escape(&ys.unit),
            ys.metric,
            sy(p.y) - 6.0
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
    fn escaping_and_ticks() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(nice_step(960.0, 5.0), 200.0);
        assert_eq!(nice_step(0.0, 5.0), 1.0);
        assert_eq!(nice_step(7.3, 5.0), 2.0);
    }
}
