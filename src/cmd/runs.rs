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
    let policy = crate::db::retry::RetryPolicy::from(&settings.simulate.retry);
    crate::ingest::delete::delete(&mut client, id, &policy).await
}

/// The newest `limit` runs as a table, fitted to `width` when given.
pub async fn run(settings: &Settings, limit: i64, width: Option<usize>) -> Result<String> {
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
    // The workload is the long text; the seed, then the finish time, go first.
    let shape = table::Shape {
        names: 7,
        droppable: &[2, 6],
    };
    let mut out = table::render_fit(&rows, &[], width, shape);
    let mut errors = String::new();
    for r in list.iter().filter(|r| r.error.is_some()) {
        errors.push_str(&format!(
            "run {}: {}\n",
            r.id,
            r.error.as_deref().unwrap_or_default()
        ));
    }
    out.push_str(&table::wrap(&errors, width));
    Ok(out)
}
