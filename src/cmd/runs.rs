//! `llmrank runs`: the runs that wrote samples, newest first.

use anyhow::Result;

use crate::config::Settings;
use crate::db::{self, runs};
use crate::table;
use crate::table::thousands;

/// Deletes run `id` and rebuilds the summaries it touched.
pub async fn delete(settings: &Settings, id: i32) -> Result<crate::ingest::delete::Report> {
    let pg = db::pg_config(&settings.database, "llmrank-runs")?;
    let mut client = db::connect(&pg).await?;
    crate::ingest::delete::delete(&mut client, id).await
}

pub async fn run(settings: &Settings, limit: i64) -> Result<String> {
    let pg = db::pg_config(&settings.database, "llmrank-runs")?;
    let client = db::connect(&pg).await?;
    let list = runs::list(&client, limit).await?;
    if list.is_empty() {
        return Ok("no runs yet; `llmrank simulate` or `llmrank import` makes one\n".into());
    }
    let mut rows = vec![[
        "id",
        "source",
        "seed",
        "rows",
        "status",
        "started (UTC)",
        "finished (UTC)",
        "workload",
    ]
    .map(String::from)
    .to_vec()];
    for r in &list {
        rows.push(vec![
            r.id.to_string(),
            r.source.clone(),
            r.seed.map_or_else(|| "-".into(), |s| s.to_string()),
            thousands(r.rows as u64),
            r.status.clone(),
            r.started_at.clone(),
            r.finished_at.clone().unwrap_or_else(|| "-".into()),
            r.workload_text(),
        ]);
    }
    let mut out = table::render(&rows, &[]);
    for r in list.iter().filter(|r| r.error.is_some()) {
        out.push_str(&format!(
            "run {}: {}\n",
            r.id,
            r.error.as_deref().unwrap_or_default()
        ));
    }
    Ok(out)
}
