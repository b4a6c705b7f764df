//! The trade-off chart: every LLM as a point of two metrics, with the Pareto frontier through
//! the best ones and labels placed clear of points and of each other.

use std::fmt::Write;

use super::kit::*;
use crate::domain::Direction;
use crate::ranking::Ranking;

/// One LLM of a trade-off: its values on both metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub llm: String,
    pub x: f64,
    pub y: f64,
}

/// The points no other point beats on both metrics (each in its own direction), by x.
pub fn pareto(points: &[Point], dx: Direction, dy: Direction) -> Vec<Point> {
    let xy: Vec<(f64, f64)> = points.iter().map(|p| (p.x, p.y)).collect();
    let mut front: Vec<Point> = points
        .iter()
        .zip(crate::domain::pareto_front(&xy, dx, dy))
        .filter(|(_, on)| *on)
        .map(|(p, _)| p.clone())
        .collect();
    front.sort_by(|a, b| a.x.total_cmp(&b.x));
    front
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
            xs.covered.brief(),
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
            xs.covered.brief(),
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
            "<g data-llm=\"{llm}\"><circle data-llm=\"{llm}\" data-x=\"{}\" data-y=\"{}\" data-pareto=\"{on}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{}\" fill=\"{}\"><title>{}: {} {} {}, {} {} {}</title></circle><text class=\"fg\" data-llm=\"{llm}\" x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" font-size=\"11\">{}</text></g>",
            p.x,
            p.y,
            sx(p.x),
            sy(p.y),
            if on { 6 } else { 4 },
            PALETTE[i % PALETTE.len()],
            escape(&isolate(&p.llm)),
            num(p.x),
            escape(&xs.unit),
            escape(&xs.metric),
            num(p.y),
            escape(&ys.unit),
            escape(&ys.metric),
            ly,
            escape(&isolate(&names[i])),
        );
    }
    out.push_str("</svg>\n");
    out
}
