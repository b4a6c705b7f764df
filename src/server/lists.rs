//! Listings that need no cache: `GET /llms`, `/metric-types` (from the data state the
//! listener keeps), `/runs` (what `llmrank runs` lists) and `/workloads` (those holding runs).

use hyper::StatusCode;
use serde_json::json;

use super::error::{from_db, ApiError};
use super::http::{json_response, Resp};
use super::params::Params;
use super::App;

/// The newest runs: source, workload, rows, status (what `llmrank runs` lists).
pub async fn runs(app: &App, query: &str) -> Result<Resp, ApiError> {
    let p = Params::parse(query, &["limit"])?;
    let client = app.connection().await?;
    let list = crate::db::runs::list(&**client, p.limit.unwrap_or(20))
        .await
        .map_err(from_db)?;
    Ok(json_response(StatusCode::OK, json!({ "runs": list })))
}

/// The workloads that hold runs (the dashboard's workload picker).
pub async fn workloads(app: &App, query: &str) -> Result<Resp, ApiError> {
    Params::parse(query, &[])?;
    let client = app.connection().await?;
    let list = crate::db::workloads::list(&**client)
        .await
        .map_err(from_db)?;
    Ok(json_response(StatusCode::OK, json!({ "workloads": list })))
}

pub fn llms(app: &App) -> Resp {
    let state = app.data.borrow();
    let llms: Vec<_> = state
        .catalogue
        .llms
        .iter()
        .map(|(id, name)| json!({ "id": id, "name": name }))
        .collect();
    json_response(StatusCode::OK, json!({ "llms": llms }))
}

pub fn metric_types(app: &App) -> Resp {
    let state = app.data.borrow();
    let metrics: Vec<_> = state
        .catalogue
        .metrics
        .iter()
        .map(
            |(id, m)| json!({ "id": id, "name": m.name, "unit": m.unit, "direction": m.direction }),
        )
        .collect();
    json_response(StatusCode::OK, json!({ "metrics": metrics }))
}
