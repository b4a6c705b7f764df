//! The trend chart: one line per LLM over time, in the history's buckets.

use std::fmt::Write;

use super::kit::*;
use crate::history::History;
use crate::stats::Statistic;

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
        h.covered.brief(),
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
            "<rect data-llm=\"{llm}\" x=\"{lx:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text class=\"fg\" data-llm=\"{llm}\" x=\"{:.1}\" y=\"{ly:.1}\">{}<title>{}</title></text></g>",
            ly - 10.0,
            lx + 18.0,
            escape(&isolate(&fit(&s.llm, 13.0, legend_room))),
            escape(&isolate(&s.llm)),
        );
    }
    out.push_str("</svg>\n");
    out
}
