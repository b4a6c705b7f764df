//! `llmrank rank METRIC`: the ranking of LLMs on one metric, from the database (or, with
//! `--server`, from a running `llmrank serve`).

use anyhow::{anyhow, Result};

use crate::config::Settings;
use crate::domain::RunFilter;
use crate::ranking::{Method, Ranking};
use crate::stats::Statistic;
use crate::window;

/// What `rank` was asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub metric: String,
    pub by: Statistic,
    pub window: window::Request,
    pub filter: RunFilter,
    pub include_reported: bool,
    /// From the raw samples instead of the summaries.
    pub exact: bool,
    /// Ask this `llmrank serve` (http://HOST:PORT) instead of the database.
    pub server: Option<String>,
}

/// The ranking asked for, from the database or a server.
pub async fn run(settings: &Settings, req: &Request) -> Result<Ranking> {
    if let Some(url) = &req.server {
        return remote(settings, url, req).await;
    }
    let method = if req.exact {
        Method::Exact
    } else {
        Method::Summary
    };
    let opts = Options {
        by: req.by,
        window: req.window,
        method,
        filter: req.filter.clone(),
        include_reported: req.include_reported,
    };
    ranking(settings, &req.metric, &opts).await
}

/// `GET /ranking/{metric}` of `url` with the request's window and filter as parameters.
async fn remote(settings: &Settings, url: &str, req: &Request) -> Result<Ranking> {
    let timeout = std::time::Duration::from_millis(settings.client.timeout_ms);
    let extra = remote_query(req);
    crate::client::ranking(
        url,
        &settings.client.api_key,
        &req.metric,
        req.by,
        &extra,
        timeout,
    )
    .await
}

/// The request's window and filter as query parameters.
fn remote_query(req: &Request) -> Vec<(&'static str, String)> {
    let w = &req.window;
    let mut extra = Vec::new();
    if let Some(secs) = w.window {
        extra.push(("window", format!("{}m", (secs + 59) / 60)));
    }
    for (k, v) in [("from", w.from), ("to", w.to)] {
        if let Some(t) = v {
            extra.push((k, window::rfc3339(t)));
        }
    }
    if !req.filter.sources.is_empty() {
        let names = crate::domain::SourceKind::join(&req.filter.sources, ",");
        extra.push(("source", names));
    }
    for (k, v) in &req.filter.workload {
        extra.push(("workload", format!("{k}={v}")));
    }
    if req.include_reported {
        extra.push(("include_reported", "true".to_string()));
    }
    extra
}

/// How to rank.
#[derive(Debug, Clone)]
pub struct Options {
    pub by: Statistic,
    pub window: window::Request,
    pub method: Method,
    pub filter: RunFilter,
    pub include_reported: bool,
}

impl Options {
    /// Every run, no reported rows.
    pub fn new(by: Statistic, window: &window::Request, method: Method) -> Options {
        Options {
            by,
            window: *window,
            method,
            filter: RunFilter::default(),
            include_reported: false,
        }
    }
}

/// The ranking of `metric` straight from the database: from the summaries, or from the raw
/// samples with `Method::Exact`.
pub async fn ranking(settings: &Settings, metric: &str, o: &Options) -> Result<Ranking> {
    let bounds = super::bounds(&o.window)?;
    let (client, cat) = super::open(settings, "llmrank-rank").await?;
    let (metric_id, info) = super::metric(&cat, metric)?;
    let ask = crate::query::Ask {
        metric_id,
        info,
        by: o.by,
        window: &bounds,
        method: o.method,
        filter: &o.filter,
        include_reported: o.include_reported,
    };
    let answer = crate::query::ranking(&client, &cat, &ask).await?;
    crate::query::require(answer, metric)
}

/// The goodput ranking asked for (`rank goodput --slo ...`), from the database or a server.
pub async fn goodput(
    settings: &Settings,
    req: &Request,
    slo: Option<&crate::slo::Slo>,
) -> Result<crate::goodput::Goodput> {
    let slo = slo
        .ok_or_else(|| anyhow!("rank goodput needs --slo, e.g. --slo 'TTFT<=200ms,TPOT<=40ms'"))?;
    if let Some(url) = &req.server {
        let timeout = std::time::Duration::from_millis(settings.client.timeout_ms);
        let mut query = remote_query(req);
        query.push(("slo", slo.text()));
        return crate::client::goodput(url, &settings.client.api_key, &query, timeout).await;
    }
    let bounds = super::bounds(&req.window)?;
    let (client, cat) = super::open(settings, "llmrank-rank").await?;
    let ask = crate::query::GoodputAsk {
        slo,
        window: &bounds,
        method: if req.exact {
            Method::Exact
        } else {
            Method::Summary
        },
        filter: &req.filter,
    };
    crate::query::goodput(&client, &cat, &ask)
        .await?
        .map_err(|e| e.into_error("goodput"))
}
