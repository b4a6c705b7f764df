//! The operator's routes: `/readyz` (the database answers) and `/metrics` (Prometheus).

use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::json;

use super::error::ApiError;
use super::http::{bytes_response, json_response, Resp};
use super::App;
use crate::telemetry;

pub async fn ready(app: &App) -> Result<Resp, ApiError> {
    let started = Instant::now();
    let check = async {
        let client = app.ready_pool.get().await.map_err(anyhow::Error::new)?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(anyhow::Error::new)?;
        Ok::<_, anyhow::Error>(())
    };
    let result = tokio::time::timeout(Duration::from_secs(2), check).await;
    metrics::histogram!(telemetry::DB_QUERY_DURATION, "query" => "ready")
        .record(started.elapsed().as_secs_f64());
    match result {
        Ok(Ok(())) => Ok(json_response(StatusCode::OK, json!({ "status": "ready" }))),
        Ok(Err(e)) => Err(ApiError::Unavailable(format!("{e:#}"))),
        Err(_) => Err(ApiError::Unavailable("readiness check timed out".into())),
    }
}

pub fn metrics(app: &App) -> Resp {
    let status = app.pool.status();
    let idle = status.available as f64;
    let in_use = status.size.saturating_sub(status.available) as f64;
    metrics::gauge!(telemetry::DB_POOL_CONNECTIONS, "state" => "idle").set(idle);
    metrics::gauge!(telemetry::DB_POOL_CONNECTIONS, "state" => "in_use").set(in_use);
    let mut text = app.metrics.render();
    text.push_str(
        &app.regression_gauges
            .read()
            .unwrap_or_else(|p| p.into_inner()),
    );
    bytes_response(Bytes::from(text), crate::telemetry::EXPOSITION_CONTENT_TYPE)
}
