//! The `workloads` table: what each run's benchmark asked of the server, shared by runs with the
//! same source and parameters, and the key of the summaries' per-workload rows.

use std::collections::BTreeMap;

use anyhow::Result;
use tokio_postgres::GenericClient;

use crate::domain::{RunFilter, SourceKind};

/// The id of the workload of `source` with `params`, created on first sight. `params` values
/// are text, so `--workload concurrency=4` matches whatever tool wrote it.
pub async fn ensure(
    client: &impl GenericClient,
    source: SourceKind,
    params: &BTreeMap<String, String>,
) -> Result<i32> {
    let json = serde_json::to_value(params)?;
    // BTreeMap serialises its keys sorted: one text per distinct workload.
    let key = serde_json::json!({ "source": source.as_str(), "params": json }).to_string();
    super::insert_or_get(
        client,
        "WITH new AS (INSERT INTO workloads (source, key, params) VALUES ($1, $2, $3)
                      ON CONFLICT (key) DO NOTHING RETURNING id)
         SELECT id FROM new UNION ALL SELECT id FROM workloads WHERE key = $2 LIMIT 1",
        "SELECT id FROM workloads WHERE key = $2 AND $1::text IS NOT NULL AND $3::jsonb IS NOT NULL",
        &[&source.as_str(), &key, &json],
    )
    .await
    .map_err(|e| anyhow::anyhow!("failed to record the workload: {e:#}"))
}

/// The ids of the workloads `filter` covers; `None` when it covers everything (no filter).
pub async fn matching(client: &impl GenericClient, filter: &RunFilter) -> Result<Option<Vec<i32>>> {
    if filter.is_everything() {
        return Ok(None);
    }
    let source = filter.source.map(SourceKind::as_str);
    let params = serde_json::to_value(&filter.workload)?;
    let rows = client
        .query(
            "SELECT id FROM workloads
             WHERE ($1::text IS NULL OR source = $1) AND params @> $2::jsonb ORDER BY id",
            &[&source, &params],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read workloads"))?;
    Ok(Some(rows.iter().map(|r| r.get(0)).collect()))
}
