//! Charts as SVG, for `llmrank plot` (reports, pull requests): a ranking as horizontal bars
//! best first with the 95% interval of the mean as whiskers and tied groups bracketed; a
//! metric's trend per LLM; LLMs by SLO attainment; the trade-off of two metrics with its Pareto frontier; a load
//! sweep's curves (knee and capacity marked) and its interactivity trade-off; a comparison's
//! ratios with their intervals. Pure: answers
//! in, SVG text out. Every mark carries `data-llm` (the LLM's name exactly as the API spells
//! it) and ranking bars `data-rank` (tied LLMs share it), so a test can read the picture.
//! Light and dark colour schemes follow the viewer's preference.

mod compare;
mod goodput;
mod kit;
pub mod png;
mod ranking;
mod sweep;
mod tradeoff;
mod trend;

pub use compare::compare;
pub use goodput::goodput;
pub use ranking::ranking;
pub use sweep::{interactivity, sweep, sweep_statistic};
pub use tradeoff::{pareto, tradeoff, Point};
pub use trend::trend;

/// The width a chart is drawn at unless asked otherwise (SVG units: CSS pixels at 1:1).
pub const DEFAULT_WIDTH: u32 = 880;
/// The narrowest and widest a chart is drawn at.
pub const MIN_WIDTH: u32 = 320;
pub const MAX_WIDTH: u32 = 1600;

/// The width asked for, within [`MIN_WIDTH`, `MAX_WIDTH`].
pub fn clamp_width(width: u32) -> f64 {
    f64::from(width.clamp(MIN_WIDTH, MAX_WIDTH))
}

#[cfg(test)]
mod tests {
    use super::kit::*;
    use super::*;
    use crate::domain::Direction;

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
