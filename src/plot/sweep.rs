//! The charts of load sweeps: the curve of a metric against load per LLM, the knee and the
//! capacity marked; and the trade-off that sells hardware, output tokens/s (per GPU where
//! known) against interactivity (tokens/s per user), with the Pareto frontier of every point
//! and the throughputs matched at one interactivity.

use std::fmt::Write;

use super::kit::*;
use crate::domain::Direction;
use crate::stats::Statistic;
use crate::sweep::{Curves, Point, Series};

/// A line's points: (x, y, the point it draws).
type Line<'a> = Vec<(f64, f64, &'a Point)>;

/// Each series' points as drawn: (x, y) by `xy`, finite ones only.
fn lines_of<'a>(c: &'a Curves, xy: impl Fn(&Point) -> Option<(f64, f64)>) -> Vec<Line<'a>> {
    c.series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .filter_map(|p| xy(p).map(|(x, y)| (x, y, p)))
                .filter(|&(x, y, _)| x.is_finite() && y.is_finite())
                .collect()
        })
        .collect()
}

/// A series' name in the legend: the LLM, and its sweep when the answer holds several.
fn series_name(s: &Series, several_sweeps: bool) -> String {
    if several_sweeps && !s.workload.is_empty() {
        format!("{} ({})", s.llm, s.workload)
    } else {
        s.llm.clone()
    }
}

fn several_sweeps(c: &Curves) -> bool {
    c.series
        .iter()
        .any(|s| s.workload != c.series[0].workload || s.load_kind != c.series[0].load_kind)
}

/// The plot area and the layout around it.
struct Frame {
    compact: bool,
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    height: f64,
}

fn frame(width: f64, top: f64, series: usize) -> Frame {
    let compact = width < COMPACT;
    let legend_rows = if compact { series.div_ceil(2) } else { 0 };
    let y1 = top + if compact { 260.0 } else { 376.0 };
    let (x0, x1) = if compact {
        (64.0, width - 14.0)
    } else {
        (80.0, width - 230.0)
    };
    Frame {
        compact,
        x0,
        x1,
        y0: top,
        y1,
        height: y1 + BOTTOM + 16.0 + legend_rows as f64 * 20.0,
    }
}

/// Horizontal grid lines and labels of a linear y axis from 0 to `top`, and its title.
fn y_axis(out: &mut String, f: &Frame, step: f64, top: f64, title: &str) {
    let mut t = 0.0;
    while t <= top + step * 0.01 {
        y_tick(out, f, f.y1 - t / top * (f.y1 - f.y0), &tick(t, step));
        t += step;
    }
    y_title(out, f, title);
}

/// A horizontal grid line at `y`, labelled left of the plot.
fn y_tick(out: &mut String, f: &Frame, y: f64, label: &str) {
    let _ = write!(
        out,
        "<line class=\"grid\" x1=\"{}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\"/><text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
        f.x0,
        f.x1,
        f.x0 - 6.0,
        y + 4.0,
        escape(label)
    );
}

/// The y axis' title, turned up along its left edge.
fn y_title(out: &mut String, f: &Frame, title: &str) {
    let _ = write!(
        out,
        "<text class=\"muted\" transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        (f.y0 + f.y1) / 2.0,
        escape(title)
    );
}

/// A log10 y axis over [`lo`, `hi`] (positive): whole decades around them, a grid line and
/// label at 1, 2 and 5 of each decade (1 only when there are more than three); its title.
/// Returns the decades' exponents at the bottom and the top.
fn log_axis(out: &mut String, f: &Frame, lo: f64, hi: f64, title: &str) -> (f64, f64) {
    let (d0, d1) = (
        lo.log10().floor(),
        hi.log10().ceil().max(lo.log10().floor() + 1.0),
    );
    let steps: &[f64] = if d1 - d0 > 3.0 {
        &[1.0]
    } else {
        &[1.0, 2.0, 5.0]
    };
    let mut d = d0;
    while d <= d1 {
        for &m in steps {
            let v = m * 10f64.powf(d);
            if v.log10() > d1 + 1e-9 {
                break;
            }
            let y = f.y1 - (v.log10() - d0) / (d1 - d0) * (f.y1 - f.y0);
            y_tick(out, f, y, &short(v));
        }
        d += 1.0;
    }
    y_title(out, f, &format!("{title} (log scale)"));
    (d0, d1)
}

/// A log axis' label: 500, 2k, 10k, 1M.
fn short(v: f64) -> String {
    let whole = |x: f64| {
        if x.fract().abs() < 1e-9 {
            format!("{x:.0}")
        } else {
            num(x)
        }
    };
    if v >= 1e6 {
        format!("{}M", whole(v / 1e6))
    } else if v >= 1e4 {
        format!("{}k", whole(v / 1e3))
    } else {
        whole(v)
    }
}

/// The x axis' title under the plot.
fn x_title(out: &mut String, f: &Frame, title: &str) {
    let _ = write!(
        out,
        "<text class=\"muted\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        (f.x0 + f.x1) / 2.0,
        f.y1 + 36.0,
        escape(title)
    );
}

/// One series' line and points (each with its numbers in a title), then its legend entry.
/// `mark` adds a mark of its own at a point (the knee, the capacity).
#[allow(clippy::too_many_arguments)]
fn draw_series(
    out: &mut String,
    f: &Frame,
    width: f64,
    i: usize,
    name: &str,
    llm: &str,
    line: &Line,
    scale: &dyn Fn(f64, f64) -> (f64, f64),
    describe: &dyn Fn(&Point) -> String,
    mark: &dyn Fn(&Point, f64, f64, &str) -> String,
) {
    let color = PALETTE[i % PALETTE.len()];
    let llm = escape(llm);
    let path: Vec<String> = line
        .iter()
        .map(|&(x, y, _)| {
            let (px, py) = scale(x, y);
            format!("{px:.1},{py:.1}")
        })
        .collect();
    let _ = write!(
        out,
        "<g data-llm=\"{llm}\"><polyline data-llm=\"{llm}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
        path.join(" ")
    );
    for &(x, y, p) in line {
        let (px, py) = scale(x, y);
        out.push_str(&mark(p, px, py, color));
        let _ = write!(
            out,
            "<circle data-llm=\"{llm}\" data-load=\"{}\" data-x=\"{x}\" data-y=\"{y}\" data-pareto=\"{}\" cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"3.5\" fill=\"{color}\"><title>{}: {}</title></circle>",
            p.load,
            p.pareto,
            escape(&isolate(name)),
            escape(&describe(p))
        );
    }
    let legend_room = if f.compact {
        (width - 28.0) / 2.0 - 24.0
    } else {
        width - f.x1 - 44.0
    };
    let (lx, ly) = if f.compact {
        (
            14.0 + (i % 2) as f64 * (width - 28.0) / 2.0,
            f.y1 + BOTTOM + 16.0 + (i / 2) as f64 * 20.0,
        )
    } else {
        (f.x1 + 20.0, f.y0 + 8.0 + i as f64 * 20.0)
    };
    let _ = write!(
        out,
        "<rect data-llm=\"{llm}\" x=\"{lx:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text class=\"fg\" data-llm=\"{llm}\" x=\"{:.1}\" y=\"{ly:.1}\">{}<title>{}</title></text></g>",
        ly - 10.0,
        lx + 18.0,
        escape(&isolate(&fit(name, 13.0, legend_room))),
        escape(&isolate(name)),
    );
}

/// The statistic a sweep chart draws: p99 when asked, else p50 (the levels hold those two).
pub fn sweep_statistic(by: Statistic) -> Statistic {
    match by {
        Statistic::P99 => Statistic::P99,
        _ => Statistic::P50,
    }
}

/// Per LLM, the curve's metric (p50, or p99 with `by` p99) against load on a log scale, the
/// knee ringed and the capacity (when the answer has an SLO) squared; `width` wide.
pub fn sweep(c: &Curves, by: Statistic, width: f64) -> String {
    let by = sweep_statistic(by);
    let value = |p: &Point| match by {
        Statistic::P99 => p.p99,
        _ => p.p50,
    };
    let direction =
        crate::domain::MetricKind::from_name(&c.metric).map_or(Direction::Lower, |m| m.direction());
    let load_kind = c.series.first().map_or("load", |s| s.load_kind.as_str());
    let mut parts = vec![
        format!(
            "{} {} ({}, {})",
            c.metric,
            by.as_str(),
            c.unit,
            better(direction)
        ),
        format!("by {load_kind}"),
    ];
    if let Some(slo) = &c.slo {
        if width < COMPACT {
            // A phone: one constraint a line.
            for (i, part) in slo.split(',').enumerate() {
                let lead = if i == 0 { "capacity at " } else { "" };
                parts.push(format!("{lead}{part}"));
            }
        } else {
            parts.push(format!("capacity at {slo}"));
        }
    }
    let note = match (c.slo.is_some(), width < COMPACT) {
        (true, true) => "ring: the knee; square: the capacity",
        (false, true) => "ring: the knee",
        (true, false) => "ring: the knee (90% of the top throughput); square: the capacity",
        (false, false) => "ring: the knee (the lowest load reaching 90% of the top throughput)",
    };
    let head = heading(width, &parts, Some(note));
    let f = frame(width, head.bottom, c.series.len());
    let lines = lines_of(c, |p| Some((p.load, value(p)?)).filter(|&(x, _)| x > 0.0));
    let all = || lines.iter().flatten();
    let (lmin, lmax) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.0), b.max(p.0))
    });
    let (lmin, lmax) = if lmin.is_finite() {
        (lmin.ln(), lmax.ln())
    } else {
        (0.0, 1.0)
    };
    let span = if lmax > lmin { lmax - lmin } else { 1.0 };
    let ymax = all().map(|p| p.1).fold(0.0, f64::max);
    let ymin = all()
        .map(|p| p.1)
        .filter(|&y| y > 0.0)
        .fold(f64::INFINITY, f64::min);
    let sx = |x: f64| {
        if lmax > lmin {
            f.x0 + (x.ln() - lmin) / span * (f.x1 - f.x0)
        } else {
            (f.x0 + f.x1) / 2.0
        }
    };
    let y_title = format!("{} {} ({})", c.metric, by.as_str(), c.unit);
    let mut out = String::new();
    open(&mut out, width, f.height, &parts, &head);
    // Past the knee latency grows by orders of magnitude: a log axis keeps every curve's
    // knee visible when the values span more than 20×.
    let log = ymin.is_finite() && ymax / ymin > 20.0;
    let (ylo, yhi, top) = if log {
        let (lo, hi) = log_axis(&mut out, &f, ymin, ymax, &y_title);
        (lo, hi, 0.0)
    } else {
        let (step, top) = axis(ymax, 5.0);
        y_axis(&mut out, &f, step, top, &y_title);
        (0.0, 0.0, top)
    };
    let scale = |x: f64, y: f64| {
        let py = if log {
            f.y1 - (y.max(ymin).log10() - ylo) / (yhi - ylo) * (f.y1 - f.y0)
        } else {
            f.y1 - y.max(0.0) / top * (f.y1 - f.y0)
        };
        (sx(x), py)
    };
    // A tick per load drawn, skipping those too close to the last one labelled.
    let mut loads: Vec<(f64, &str)> = all().map(|p| (p.0, p.2.load_text.as_str())).collect();
    loads.sort_by(|a, b| a.0.total_cmp(&b.0));
    loads.dedup_by(|a, b| a.0 == b.0);
    let mut last = f64::NEG_INFINITY;
    for (x, text) in loads {
        let px = sx(x);
        if px - last < label_width(text, 13.0) + 10.0 {
            continue;
        }
        last = px;
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{px:.1}\" y1=\"{}\" x2=\"{px:.1}\" y2=\"{}\"/><text class=\"muted\" x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            f.y0,
            f.y1,
            f.y1 + 18.0,
            escape(text)
        );
    }
    x_title(&mut out, &f, &format!("{load_kind} (log scale)"));
    let several = several_sweeps(c);
    for (i, (s, line)) in c.series.iter().zip(&lines).enumerate() {
        let name = series_name(s, several);
        let describe = |p: &Point| {
            let mut d = format!(
                "{load_kind} {}: {} {} {}",
                p.load_text,
                by.as_str(),
                value(p).map_or("-".into(), num),
                c.unit
            );
            if let Some(t) = p.throughput {
                let _ = write!(d, ", {} req/s", num(t));
            }
            if let Some(a) = p.attainment {
                let _ = write!(d, ", attainment {:.2}%", a * 100.0);
            }
            let _ = write!(d, " (n={})", p.n);
            d
        };
        let mark = |p: &Point, px: f64, py: f64, color: &str| {
            let mut m = String::new();
            if s.knee == Some(p.load) {
                let _ = write!(
                    m,
                    "<circle data-llm=\"{}\" data-knee=\"true\" data-load=\"{}\" cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"8\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
                    escape(&s.llm),
                    p.load
                );
            }
            if s.capacity.as_deref() == Some(p.load_text.as_str()) {
                let _ = write!(
                    m,
                    "<rect data-llm=\"{}\" data-capacity=\"true\" data-load=\"{}\" x=\"{:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
                    escape(&s.llm),
                    p.load,
                    px - 6.0,
                    py - 6.0
                );
            }
            m
        };
        draw_series(
            &mut out, &f, width, i, &name, &s.llm, line, &scale, &describe, &mark,
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Output tokens/s (per GPU when the answer is) against tokens/s per user, a line per LLM
/// through its levels, the Pareto frontier of every point dashed and, with
/// `at_interactivity`, a vertical line where the throughputs are matched; `width` wide.
pub fn interactivity(c: &Curves, width: f64) -> String {
    let y_name = if c.per_gpu {
        "output tokens/s per GPU"
    } else {
        "output tokens/s"
    };
    let load_kind = c.series.first().map_or("load", |s| s.load_kind.as_str());
    let mut parts = if width < COMPACT {
        vec![
            y_name.to_string(),
            "against tokens/s per user".to_string(),
            format!("a line per LLM by {load_kind}"),
        ]
    } else {
        vec![
            format!("{y_name} against tokens/s per user"),
            format!("a line per LLM through its {load_kind} levels"),
        ]
    };
    if let Some(x) = c.at_interactivity {
        parts.push(format!("matched at {} tokens/s per user", num(x)));
    }
    let note = if width < COMPACT {
        "dashed: the Pareto frontier"
    } else {
        "dashed: the Pareto frontier (no point has more of both); up and right is better"
    };
    let head = heading(width, &parts, Some(note));
    let f = frame(width, head.bottom, c.series.len());
    let lines = lines_of(c, |p| Some((p.interactivity?, p.tradeoff_y(c.per_gpu)?)));
    let all = || lines.iter().flatten();
    let xmax = all()
        .map(|p| p.0)
        .chain(c.at_interactivity)
        .fold(0.0, f64::max);
    let ymax = all().map(|p| p.1).fold(0.0, f64::max);
    let ((xstep, xtop), (ystep, ytop)) = (axis(xmax, 6.0), axis(ymax, 5.0));
    let sx = |x: f64| f.x0 + x.max(0.0) / xtop * (f.x1 - f.x0);
    let scale = |x: f64, y: f64| (sx(x), f.y1 - y.max(0.0) / ytop * (f.y1 - f.y0));
    let mut out = String::new();
    open(&mut out, width, f.height, &parts, &head);
    y_axis(&mut out, &f, ystep, ytop, y_name);
    let mut t = 0.0;
    while t <= xtop + xstep * 0.01 {
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{}\"/><text class=\"muted\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            f.y0,
            f.y1,
            f.y1 + 18.0,
            tick(t, xstep),
            x = sx(t)
        );
        t += xstep;
    }
    x_title(&mut out, &f, "tokens/s per user (1000 ÷ TPOT)");
    let mut front: Vec<(f64, f64)> = all().filter(|p| p.2.pareto).map(|p| (p.0, p.1)).collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    if front.len() > 1 {
        let path: Vec<String> = front
            .iter()
            .map(|&(x, y)| {
                let (px, py) = scale(x, y);
                format!("{px:.1},{py:.1}")
            })
            .collect();
        let _ = write!(
            out,
            "<polyline class=\"frontier\" data-frontier=\"{}\" points=\"{}\"/>",
            front.len(),
            path.join(" ")
        );
    }
    if let Some(x) = c.at_interactivity {
        let px = sx(x);
        let _ = write!(
            out,
            "<line class=\"axis\" data-at-interactivity=\"{x}\" x1=\"{px:.1}\" y1=\"{}\" x2=\"{px:.1}\" y2=\"{}\" stroke-dasharray=\"2 3\"/>",
            f.y0, f.y1
        );
    }
    let several = several_sweeps(c);
    for (i, (s, line)) in c.series.iter().zip(&lines).enumerate() {
        let name = series_name(s, several);
        let describe = |p: &Point| {
            format!(
                "{load_kind} {}: {} tokens/s per user, {} {y_name}",
                p.load_text,
                p.interactivity.map_or("-".into(), num),
                p.tradeoff_y(c.per_gpu).map_or("-".into(), num)
            )
        };
        let matched = |_: &Point, _: f64, _: f64, _: &str| String::new();
        draw_series(
            &mut out, &f, width, i, &name, &s.llm, line, &scale, &describe, &matched,
        );
        if let (Some(x), Some(y)) = (c.at_interactivity, s.throughput_at_interactivity) {
            let (px, py) = scale(x, y);
            let _ = write!(
                out,
                "<rect data-llm=\"{}\" data-matched=\"{y}\" x=\"{:.1}\" y=\"{:.1}\" width=\"9\" height=\"9\" transform=\"rotate(45 {px:.1} {py:.1})\" fill=\"{}\"><title>{}: {} {y_name} at {} tokens/s per user</title></rect>",
                escape(&s.llm),
                px - 4.5,
                py - 4.5,
                PALETTE[i % PALETTE.len()],
                escape(&isolate(&name)),
                num(y),
                num(x)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}
