//! `llmrank plot`: valid SVG (parsed), one bar per LLM in the API's order, whiskers at the
//! 95% interval, a line per LLM, the Pareto frontier.

use llmrank::cmd::{plot, rank};
use llmrank::ranking::Method;
use llmrank::stats::Statistic;

use crate::helpers::TestDb;

fn request(kind: plot::Kind, by: Statistic, out: &std::path::Path) -> plot::Request {
    plot::Request {
        metric: "TTFT".into(),
        kind,
        by,
        window: llmrank::window::Request::default(),
        filter: Default::default(),
        y: "TPS".into(),
        slo: None,
        attainment: 0.99,
        at_interactivity: None,
        width: llmrank::plot::DEFAULT_WIDTH,
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
    let (_db, s) = TestDb::simulated(100, 6 * 3600).await;
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
        // Tied groups (runs of overlapping intervals, the API's tie_group) are bracketed: one
        // bracket per group of several LLMs, spanning exactly its bars.
        let mut groups: Vec<(u32, usize, usize)> = Vec::new(); // group, first, last
        for (i, e) in api.rankings.iter().enumerate() {
            match groups.last_mut() {
                Some(g) if g.0 == e.tie_group => g.2 = i,
                _ => groups.push((e.tie_group, i, i)),
            }
        }
        if by == Statistic::Mean {
            // A group's neighbours overlap; the last of one group and the first of the next do not.
            for w in api.rankings.windows(2) {
                let (a, b) = (w[0].stats.ci95.unwrap(), w[1].stats.ci95.unwrap());
                let overlap = a[0] <= b[1] && b[0] <= a[1];
                assert_eq!(
                    overlap,
                    w[0].tie_group == w[1].tie_group,
                    "{} / {}",
                    w[0].llm,
                    w[1].llm
                );
            }
        }
        let brackets: Vec<(u32, f64, f64)> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("tie"))
            .map(|n| {
                let d = n.attribute("d").unwrap();
                // M{x} {ya}H{x}V{yb}H{x}: the bracket's top and bottom.
                let nums: Vec<f64> = d
                    .split(|c: char| c.is_ascii_alphabetic() || c == ' ')
                    .filter_map(|t| t.parse().ok())
                    .collect();
                (
                    n.attribute("data-group").unwrap().parse().unwrap(),
                    nums[1],
                    nums[3],
                )
            })
            .collect();
        let several: Vec<_> = groups.iter().filter(|g| g.2 > g.1).collect();
        assert!(
            !several.is_empty(),
            "100 samples a pair leave some intervals overlapping"
        );
        assert_eq!(brackets.len(), several.len(), "{groups:?}");
        for ((group, top, bottom), g) in brackets.iter().zip(&several) {
            assert_eq!(*group, g.0);
            let bar_y = |i: usize| bars[i].attribute("y").unwrap().parse::<f64>().unwrap();
            assert!(
                *top <= bar_y(g.1) && *bottom >= bar_y(g.2),
                "spans its bars"
            );
            if g.1 > 0 {
                assert!(*top > bar_y(g.1 - 1), "not the bar before");
            }
        }
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
    // Hovering a point shows its numbers: its title names the LLM and both values.
    for c in &points {
        let title = c
            .children()
            .find(|n| n.has_tag_name("title"))
            .and_then(|t| t.text())
            .unwrap_or_default();
        let x: f64 = c.attribute("data-x").unwrap().parse().unwrap();
        assert!(
            // The name isolated (FSI … PDI), so its direction cannot reorder the numbers.
            title.starts_with(&format!(
                "\u{2068}{}\u{2069}:",
                c.attribute("data-llm").unwrap()
            )) && title.contains(&format!("{x:.0}"))
                && title.contains("TTFT")
                && title.contains("TPS"),
            "{title}"
        );
    }
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

    // The PNG is the same picture: decoded, each bar of the SVG is drawn where the SVG puts
    // it (bar colour inside its end, background past it and its whisker), labels are drawn.
    let svg_out = dir.join("same.svg");
    plot::run(&s, &request(plot::Kind::Ranking, Statistic::Mean, &svg_out))
        .await
        .unwrap();
    let png_out = dir.join("same.png");
    plot::run(&s, &request(plot::Kind::Ranking, Statistic::Mean, &png_out))
        .await
        .unwrap();
    let text = std::fs::read_to_string(&svg_out).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let png = std::fs::read(&png_out).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let pix = resvg::tiny_skia::Pixmap::decode_png(&png).expect("a valid PNG");
    let scale = llmrank::plot::png::SCALE;
    let attr = |n: &roxmltree::Node, a: &str| -> f32 { n.attribute(a).unwrap().parse().unwrap() };
    let root = doc.root_element();
    assert_eq!(
        (pix.width() as f32, pix.height() as f32),
        (attr(&root, "width") * scale, attr(&root, "height") * scale)
    );
    let rgb = |x: f32, y: f32| {
        let p = pix
            .pixel((x * scale) as u32, (y * scale) as u32)
            .expect("inside the picture");
        (p.red(), p.green(), p.blue())
    };
    let bars: Vec<_> = marks(&doc, "rect")
        .into_iter()
        .filter(|n| n.attribute("class") == Some("bar"))
        .collect();
    assert_eq!(bars.len(), 12);
    let whiskers = marks(&doc, "path");
    let mut last_y = f32::MIN;
    for (bar, whisker) in bars.iter().zip(&whiskers) {
        let (x, y, w, h) = (
            attr(bar, "x"),
            attr(bar, "y"),
            attr(bar, "width"),
            attr(bar, "height"),
        );
        assert!(y > last_y, "bars top to bottom in ranking order");
        last_y = y;
        let mid = y + h / 2.0;
        let llm = bar.attribute("data-llm").unwrap();
        assert_eq!(rgb(x + 2.0, mid), (0x4e, 0x79, 0xa7), "{llm}: bar start");
        assert_eq!(
            rgb(x + w - 2.5, y + 2.5),
            (0x4e, 0x79, 0xa7),
            "{llm}: bar end"
        );
        // Past the bar and its whisker (which reaches hi on the axis): background or grid.
        let hi: f64 = whisker.attribute("data-hi").unwrap().parse().unwrap();
        let v: f64 = bar.attribute("data-value").unwrap().parse().unwrap();
        let beyond = x + (w as f64 * hi / v) as f32 + 6.0;
        let (r, g, b) = rgb(beyond, y + 2.5);
        assert!(
            r > 200 && g > 200 && b > 200,
            "{llm}: past the bar ({r},{g},{b})"
        );
    }
    // The labels are drawn: dark pixels left of the first bar.
    let x0 = attr(&bars[0], "x");
    let (y0, h0) = (attr(&bars[0], "y"), attr(&bars[0], "height"));
    let inked = (0..(x0 * scale) as u32)
        .filter(|&px| {
            let p = pix.pixel(px, ((y0 + h0 / 2.0) * scale) as u32).unwrap();
            p.red() < 128 && p.green() < 128 && p.blue() < 128
        })
        .count();
    assert!(
        inked > 20,
        "the first bar's label is drawn ({inked} dark pixels)"
    );

    let e = plot::run(
        &s,
        &request(plot::Kind::Ranking, Statistic::Mean, &dir.join("x.gif")),
    )
    .await
    .unwrap_err();
    assert!(format!("{e:#}").contains(".svg or .png"), "{e:#}");
    assert!(!dir.join("x.gif").exists() && !dir.join("x.gif.part").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_embeds_the_dashboard_and_draws_the_apis_answers() {
    use crate::serve::{http, Server};
    let (_db, mut s) = TestDb::simulated(100, 6 * 3600).await;
    let key = "dash-key-0123456789abcdef";
    s.server.api_keys = vec![llmrank::config::Secret::new(key)];
    s.redis.url = llmrank::config::Secret::new(crate::helpers::redis_url().await);
    let srv = Server::start(&s).await;
    let a = srv.addr;
    let get =
        |path: &'static str| async move { http(a, "GET", path, &[("X-API-KEY", key)], "").await };

    // The page: no key needed to load it, a strict CSP, nothing from another origin, small.
    let mut total = 0;
    for (path, kind) in [
        ("/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let r = http(a, "GET", path, &[], "").await;
        assert_eq!(r.status, 200, "{path}");
        assert!(
            r.header("content-type").unwrap().starts_with(kind),
            "{path}"
        );
        let csp = r.header("content-security-policy").unwrap();
        assert!(
            csp.contains("default-src 'none'")
                && csp.contains("connect-src 'self'")
                && !csp.contains("unsafe"),
            "{csp}"
        );
        assert!(
            !r.body.contains("http://")
                && !r.body.contains("https://")
                && !r.body.contains("//cdn"),
            "{path} refers to another origin"
        );
        total += r.body.len();
    }
    assert!(total < 150 * 1024, "first load {total} bytes");

    // The charts: behind the key, the API's order, cached with an ETag, no inline style.
    let r = http(a, "GET", "/plot/ranking/TTFT", &[], "").await;
    assert_eq!(r.status, 401);
    let r = get("/plot/ranking/TTFT?by=p50").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("image/svg+xml"));
    assert!(
        !r.body.contains("<style>"),
        "the page's CSP would refuse it"
    );
    let doc = roxmltree::Document::parse(&r.body).expect("valid SVG");
    let bars: Vec<(String, String)> = marks(&doc, "rect")
        .into_iter()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("bar")))
        .map(|n| {
            (
                n.attribute("data-llm").unwrap().to_string(),
                n.attribute("data-rank").unwrap().to_string(),
            )
        })
        .collect();
    let api = get("/ranking/TTFT?by=p50").await.json();
    let want: Vec<(String, String)> = api["rankings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["llm"].as_str().unwrap().to_string(),
                e["rank"].to_string(),
            )
        })
        .collect();
    assert_eq!(bars, want);
    let etag = r.header("etag").unwrap().to_string();
    let again = http(
        a,
        "GET",
        "/plot/ranking/TTFT?by=p50",
        &[("X-API-KEY", key), ("If-None-Match", &etag)],
        "",
    )
    .await;
    assert_eq!(again.status, 304);
    let r = get("/plot/tradeoff/TTFT?y=TPS").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        marks(&roxmltree::Document::parse(&r.body).unwrap(), "circle").len(),
        12
    );
    let r = get("/plot/trend/TTFT?window=24h").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        marks(&roxmltree::Document::parse(&r.body).unwrap(), "polyline").len(),
        12
    );
    // A chart drawn for a phone's width: as wide as asked, each label above its bar.
    let r = get("/plot/ranking/TTFT?width=340").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = roxmltree::Document::parse(&r.body).unwrap();
    assert_eq!(doc.root_element().attribute("width"), Some("340"));
    for g in doc
        .descendants()
        .filter(|n| n.has_tag_name("g") && n.attribute("data-rank").is_some())
    {
        let label = g.children().find(|n| n.has_tag_name("text")).unwrap();
        let bar = g.children().find(|n| n.has_tag_name("rect")).unwrap();
        let num = |n: roxmltree::Node, a: &str| n.attribute(a).unwrap().parse::<f64>().unwrap();
        assert_eq!(num(label, "x"), num(bar, "x"), "label over the bar");
        assert!(num(label, "y") < num(bar, "y"), "label above the bar");
    }
    // A trend over all time: from the first day with data, hourly for 6 hours of data.
    let h = get("/history/TTFT?bucket=auto").await.json();
    assert_eq!(h["bucket"], "1h", "{h}");
    let points = h["series"][0]["points"].as_array().unwrap().len();
    assert!((6..=8).contains(&points), "{points} hourly points");
    let r = get("/plot/trend/TTFT").await;
    let doc = roxmltree::Document::parse(&r.body).unwrap();
    let circles = marks(&doc, "circle").len();
    assert_eq!(circles, 12 * points, "the chart draws the same points");

    for (path, status, says) in [
        ("/plot/ranking/NOPE", 404, "NOPE"),
        ("/plot/tradeoff/TTFT?y=NOPE", 404, "NOPE"),
        ("/plot/pie/TTFT", 404, ""),
        ("/plot/ranking/TTFT?x=1", 400, "allowed"),
        ("/plot/ranking/TTFT?width=100", 400, "320 to 1600"),
        ("/plot/ranking/TTFT?width=wide", 400, "320 to 1600"),
        ("/history/TTFT?bucket=auto&bucket=1h", 400, "twice"),
        ("/history/TTFT?bucket=2h", 400, "1h, 1d, auto"),
    ] {
        let r = get(path).await;
        assert_eq!(r.status, status, "{path}");
        assert!(r.body.contains(says), "{path}: {}", r.body);
    }
    srv.stop().await;
}

/// A simulated sweep drawn both ways: the curves (a line per LLM, a point per level at the
/// answer's p50, the knee ringed and the capacity squared where `sweep` puts them) and the
/// interactivity trade-off (the answer's frontier flags, the matched throughputs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeps_draw_the_knee_the_capacity_and_the_interactivity_frontier() {
    use llmrank::cmd::sweep;
    let (_db, s) = TestDb::swept(256, &[1, 4, 16, 64]).await;
    let dir = std::env::temp_dir().join(format!("llmrank-plot-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let slo: llmrank::slo::Slo = "TTFT<=2s,TPOT<=25ms".parse().unwrap();
    let curves = sweep::run(
        &s,
        &sweep::Request {
            metric: "TTFT".into(),
            slo: Some(slo.clone()),
            attainment: 0.9,
            at_interactivity: Some(60.0),
            window: Default::default(),
            filter: Default::default(),
        },
    )
    .await
    .unwrap();
    assert_eq!(curves.series.len(), 12);

    let out = dir.join("sweep.svg");
    let mut req = request(plot::Kind::Sweep, Statistic::P50, &out);
    (req.slo, req.attainment, req.at_interactivity) = (Some(slo), 0.9, Some(60.0));
    plot::run(&s, &req).await.unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("valid XML");
    assert_eq!(marks(&doc, "polyline").len(), 12, "a line per LLM");
    let points = marks(&doc, "circle");
    for series in &curves.series {
        for p in &series.points {
            let drawn = points
                .iter()
                .find(|c| {
                    c.attribute("data-llm") == Some(series.llm.as_str())
                        && c.attribute("data-load") == Some(p.load.to_string().as_str())
                        && c.attribute("data-y").is_some()
                })
                .unwrap_or_else(|| panic!("{} at {}", series.llm, p.load));
            let y: f64 = drawn.attribute("data-y").unwrap().parse().unwrap();
            assert_eq!(y, p.p50.unwrap());
        }
        let ring = |attr: &str| -> Vec<f64> {
            points
                .iter()
                .chain(marks(&doc, "rect").iter())
                .filter(|c| {
                    c.attribute("data-llm") == Some(series.llm.as_str())
                        && c.attribute(attr) == Some("true")
                })
                .map(|c| c.attribute("data-load").unwrap().parse().unwrap())
                .collect()
        };
        assert_eq!(
            ring("data-knee"),
            series.knee.into_iter().collect::<Vec<_>>()
        );
        let capacity: Vec<f64> = series.capacity.iter().map(|c| c.parse().unwrap()).collect();
        assert_eq!(ring("data-capacity"), capacity, "{}", series.llm);
    }

    let out = dir.join("interactivity.svg");
    req.kind = plot::Kind::Interactivity;
    req.output = out.clone();
    plot::run(&s, &req).await.unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("valid XML");
    let drawn: Vec<(String, f64, f64, bool)> = marks(&doc, "circle")
        .iter()
        .map(|c| {
            (
                c.attribute("data-llm").unwrap().to_string(),
                c.attribute("data-x").unwrap().parse().unwrap(),
                c.attribute("data-y").unwrap().parse().unwrap(),
                c.attribute("data-pareto") == Some("true"),
            )
        })
        .collect();
    let want: Vec<(String, f64, f64, bool)> = curves
        .series
        .iter()
        .flat_map(|s| {
            s.points.iter().map(|p| {
                (
                    s.llm.clone(),
                    p.interactivity.unwrap(),
                    p.output_throughput.unwrap(),
                    p.pareto,
                )
            })
        })
        .collect();
    assert_eq!(drawn, want);
    let front = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("frontier"))
        .expect("the frontier is drawn");
    let on = want.iter().filter(|p| p.3).count();
    assert_eq!(
        front.attribute("data-frontier"),
        Some(on.to_string().as_str())
    );
    let matched: Vec<(String, f64)> = marks(&doc, "rect")
        .iter()
        .filter_map(|r| {
            Some((
                r.attribute("data-llm")?.to_string(),
                r.attribute("data-matched")?.parse().ok()?,
            ))
        })
        .collect();
    let want: Vec<(String, f64)> = curves
        .series
        .iter()
        .filter_map(|s| Some((s.llm.clone(), s.throughput_at_interactivity?)))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(matched, want);
    std::fs::remove_dir_all(&dir).ok();
}
