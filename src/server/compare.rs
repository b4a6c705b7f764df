//! `GET /compare?base=SIDE&cand=SIDE`: what `llmrank compare` answers, cached like every
//! answer. A bad side, threshold or the same run on both sides is 400; a side without data
//! (or naming runs that do not exist) is 404.

use hyper::header::HeaderValue;

use super::answers::Asked;
use super::error::ApiError;
use super::http::Resp;
use super::params::Params;
use super::App;
use crate::query::compare::{compare as compared, CompareAsk};
use crate::regress::Thresholds;
use crate::stats::Statistic;
use crate::summary::HOUR;

pub async fn compare(
    app: &App,
    query: &str,
    if_none_match: Option<HeaderValue>,
) -> Result<Resp, ApiError> {
    let p = Params::parse(
        query,
        &[
            "base",
            "cand",
            "metric",
            "by",
            "latency_threshold",
            "throughput_threshold",
        ],
    )?;
    let missing = |k: &str| {
        ApiError::BadRequest(format!(
            "{k} is required: a side such as run=12, window=7d,until=1d or workload=engine=vllm (keys: {})",
            crate::compare::SIDE_KEYS
        ))
    };
    let base = p.base.clone().ok_or_else(|| missing("base"))?;
    let cand = p.cand.clone().ok_or_else(|| missing("cand"))?;
    let defaults = Thresholds::default();
    let thresholds = Thresholds::new(
        p.latency_threshold.unwrap_or(defaults.latency),
        p.throughput_threshold.unwrap_or(defaults.throughput),
    )
    .map_err(ApiError::BadRequest)?;
    let by = p.by.unwrap_or(Statistic::P50);
    let asked = Asked::new(app, if_none_match);
    let metrics = p
        .metrics
        .iter()
        .map(|m| asked.metric(m).map(|(id, info)| (id, info.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    // Windows move with time: the key holds each side's resolved bounds as of this hour.
    let now = crate::window::now();
    let bounds = |s: &crate::compare::Side| {
        s.window(now)
            .resolve(now, HOUR)
            .map(|b| format!("{:?}-{:?}", b.from, b.to))
            .unwrap_or_default()
    };
    let key = {
        use sha2::Digest;
        let text = format!(
            "{:?}|{}|{:?}|{}|{:?}|{}|{}|{}",
            base.runs,
            base.filter.key(),
            cand.runs,
            cand.filter.key(),
            metrics.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            by.as_str(),
            thresholds.latency,
            thresholds.throughput,
        );
        let digest = sha2::Sha256::digest(format!("{text}|{}|{}", bounds(&base), bounds(&cand)));
        format!("compare.{}", crate::hash::hex(&digest[..16]))
    };
    asked
        .send_json(key, "compare", async |client, cat| {
            let ask = CompareAsk {
                base: &base,
                cand: &cand,
                metrics: &metrics,
                by,
                thresholds,
            };
            match compared(client, cat, &ask, now).await {
                Ok(Ok(c)) => Ok(c),
                Ok(Err(r)) if r.is_usage() => Err(ApiError::BadRequest(r.to_string())),
                Ok(Err(r)) => Err(ApiError::NoSamples(r.to_string())),
                Err(e) => Err(super::error::from_db(e)),
            }
        })
        .await
}
