//! `llmrank plot`: valid SVG (parsed), one bar per LLM in the API's order, whiskers at the
//! 95% interval, a line per LLM, the Pareto frontier.

use llmrank::cmd::{plot, rank, simulate};
use llmrank::ranking::Method;
use llmrank::stats::Statistic;

use crate::helpers::TestDb;

fn request(kind: plot::Kind, by: Statistic, out: &std::path::Path) -> plot::Request {
    plot::Request {
        metric: "TTFT".into(),
        kind,
        by,
        window: llmrank::cli::WindowArgs {
            window: None,
            from: None,
            to: None,
        },
        filter: Default::default(),
        y: "TPS".into(),
        output: out.to_path_buf(),
    }
}

fn marks<'a>(doc: &'a roxmltree::Document, tag: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.has_tag_name(tag) && n.attribute("data-llm").is_some())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plots_are_svg_with_one_mark_per_llm_in_ranking_order() {
    let (_db, mut s) = TestDb::seeded().await;
    s.simulate.samples = 100;
    simulate::run(
        &s,
        &simulate::Options {
            span_secs: 6 * 3600,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let dir = std::env::temp_dir().join(format!("llmrank-plot-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();

    for by in [Statistic::Mean, Statistic::P99] {
        let out = dir.join("ranking.svg");
        plot::run(&s, &request(plot::Kind::Ranking, by, &out))
            .await
            .unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let doc = roxmltree::Document::parse(&text).expect("valid XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let api = rank::ranking(
            &s,
            "TTFT",
            &rank::Options::new(by, &Default::default(), Method::Summary),
        )
        .await
        .unwrap();
        let bars: Vec<_> = marks(&doc, "rect")
            .into_iter()
            .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("bar")))
            .collect();
        let drawn: Vec<(&str, u32)> = bars
            .iter()
            .map(|b| {
                (
                    b.attribute("data-llm").unwrap(),
                    b.attribute("data-rank").unwrap().parse().unwrap(),
                )
            })
            .collect();
        let want: Vec<(&str, u32)> = api
            .rankings
            .iter()
            .map(|e| (e.llm.as_str(), e.rank))
            .collect();
        assert_eq!(drawn, want, "bars in the API's order with its ranks");
        // Longer bars for larger values, in proportion.
        let widths: Vec<f64> = bars
            .iter()
            .map(|b| b.attribute("width").unwrap().parse().unwrap())
            .collect();
        let ratio = widths[11] / widths[0];
        let want_ratio = api.rankings[11].stats.get(by) / api.rankings[0].stats.get(by);
        assert!(
            (ratio - want_ratio).abs() < 0.01 * want_ratio,
            "{ratio} vs {want_ratio}"
        );
        let whiskers = marks(&doc, "path");
        match by {
            Statistic::Mean => {
                assert_eq!(whiskers.len(), 12);
                for (w, e) in whiskers.iter().zip(&api.rankings) {
                    let ci = e.stats.ci95.unwrap();
                    assert_eq!(w.attribute("data-llm"), Some(e.llm.as_str()));
                    assert_eq!(
                        w.attribute("data-lo").unwrap().parse::<f64>().unwrap(),
                        ci[0]
                    );
                    assert_eq!(
                        w.attribute("data-hi").unwrap().parse::<f64>().unwrap(),
                        ci[1]
                    );
                }
            }
            _ => assert!(
                whiskers.is_empty(),
                "the interval of the mean does not belong on a p99 bar"
            ),
        }
        // Tied groups are bracketed: one bracket per rank shared by several LLMs.
        let shared = want
            .iter()
            .filter(|(_, r)| want.iter().filter(|(_, q)| q == r).count() > 1)
            .map(|(_, r)| *r)
            .collect::<std::collections::BTreeSet<_>>();
        let brackets = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("tie"))
            .count();
        assert_eq!(brackets, shared.len());
    }

    let out = dir.join("trend.svg");
    plot::run(&s, &request(plot::Kind::Trend, Statistic::P50, &out))
        .await
        .unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("valid XML");
    let lines = marks(&doc, "polyline");
    assert_eq!(lines.len(), 12, "a line per LLM");
    assert!(
        marks(&doc, "circle").len() >= 12 * 6,
        "a point per LLM and hour"
    );

    let out = dir.join("tradeoff.svg");
    plot::run(&s, &request(plot::Kind::Tradeoff, Statistic::Mean, &out))
        .await
        .unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("valid XML");
    let points = marks(&doc, "circle");
    assert_eq!(points.len(), 12);
    let pts: Vec<llmrank::plot::Point> = points
        .iter()
        .map(|c| llmrank::plot::Point {
            llm: c.attribute("data-llm").unwrap().into(),
            x: c.attribute("data-x").unwrap().parse().unwrap(),
            y: c.attribute("data-y").unwrap().parse().unwrap(),
        })
        .collect();
    let front = llmrank::plot::pareto(
        &pts,
        llmrank::domain::Direction::Lower,
        llmrank::domain::Direction::Higher,
    );
    for c in &points {
        let on = front
            .iter()
            .any(|f| Some(f.llm.as_str()) == c.attribute("data-llm"));
        assert_eq!(
            c.attribute("data-pareto"),
            Some(if on { "true" } else { "false" })
        );
    }
    assert!(!front.is_empty());

    let e = plot::run(
        &s,
        &request(plot::Kind::Ranking, Statistic::Mean, &dir.join("x.png")),
    )
    .await
    .unwrap_err();
    assert!(format!("{e:#}").contains(".svg"), "{e:#}");
    let _ = std::fs::remove_dir_all(&dir);
}
