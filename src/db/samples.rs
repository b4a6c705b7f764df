//! Reading samples back for rankings.

use std::collections::HashMap;

use anyhow::Result;
use tokio_postgres::GenericClient;

/// All values of one metric, grouped by LLM name (LLMs without samples are absent).
pub async fn values_by_llm(
    client: &impl GenericClient,
    metric_id: i16,
) -> Result<Vec<(String, Vec<f64>)>> {
    let names: HashMap<i16, String> = client
        .query("SELECT id, name FROM llms", &[])
        .await
        .map_err(|e| super::schema_hint(e, "failed to read LLMs"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // One array per LLM: far fewer protocol rows than one row per sample.
    let rows = client
        .query(
            "SELECT llm_id, array_agg(value) FROM llm_metrics WHERE metric_id = $1 GROUP BY llm_id",
            &[&metric_id],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read samples"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let id: i16 = r.get(0);
            let name = names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| format!("llm #{id}"));
            (name, r.get::<_, Vec<f64>>(1))
        })
        .collect())
}
