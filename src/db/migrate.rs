//! Schema migrations: the numbered files in `sql/`, compiled into the binary, applied in order
//! in one transaction, recorded in `schema_migrations` with a checksum, and serialised by an
//! advisory lock so two processes starting at once (two pods) do not race.

use anyhow::{bail, Context, Result};
use tokio_postgres::Client;

/// Every migration, in order. A test checks this list against the files in `sql/`.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_catalogue",
        include_str!("../../sql/0001_catalogue.sql"),
    ),
    ("0002_runs", include_str!("../../sql/0002_runs.sql")),
    ("0003_samples", include_str!("../../sql/0003_samples.sql")),
    (
        "0004_dashboard_views",
        include_str!("../../sql/0004_dashboard_views.sql"),
    ),
    (
        "0005_summaries_and_partitions",
        include_str!("../../sql/0005_summaries_and_partitions.sql"),
    ),
    ("0006_roles", include_str!("../../sql/0006_roles.sql")),
    (
        "0007_workloads_and_imports",
        include_str!("../../sql/0007_workloads_and_imports.sql"),
    ),
    (
        "0008_runs_by_workload",
        include_str!("../../sql/0008_runs_by_workload.sql"),
    ),
    (
        "0009_llm_ids_without_a_sequence",
        include_str!("../../sql/0009_llm_ids_without_a_sequence.sql"),
    ),
    ("0010_requests", include_str!("../../sql/0010_requests.sql")),
    (
        "0011_request_tokens",
        include_str!("../../sql/0011_request_tokens.sql"),
    ),
    (
        "0012_run_summaries",
        include_str!("../../sql/0012_run_summaries.sql"),
    ),
    (
        "0013_run_completion_is_a_change",
        include_str!("../../sql/0013_run_completion_is_a_change.sql"),
    ),
];

/// The migration that introduced summaries: samples older than it have none until rebuilt.
pub const SUMMARIES: &str = "0005_summaries_and_partitions";

/// Key of the advisory lock that serialises migrations ("llmrank" in ASCII).
const LOCK_KEY: i64 = 0x006c_6c6d_7261_6e6b;

/// Applies the migrations not yet recorded; returns the names it applied.
pub async fn apply(client: &mut Client) -> Result<Vec<&'static str>> {
    apply_first(client, MIGRATIONS.len()).await
}

/// Applies the first `count` migrations not yet recorded (tests build old schemas with it).
pub async fn apply_first(client: &mut Client, count: usize) -> Result<Vec<&'static str>> {
    let tx = client
        .transaction()
        .await
        .context("failed to start the migration transaction")?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .context("failed to take the migration lock")?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             name       text PRIMARY KEY,
             checksum   text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .context("failed to create schema_migrations")?;
    let recorded: Vec<(String, String)> = tx
        .query("SELECT name, checksum FROM schema_migrations", &[])
        .await
        .context("failed to read schema_migrations")?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut applied = Vec::new();
    for (name, sql) in &MIGRATIONS[..count.min(MIGRATIONS.len())] {
        let sum = checksum(sql);
        match recorded.iter().find(|(n, _)| n == name) {
            Some((_, s)) if *s == sum => continue,
            Some(_) => bail!(
                "migration sql/{name}.sql was changed after it was applied; add a new migration instead"
            ),
            None => {}
        }
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("failed to apply migration sql/{name}.sql"))?;
        tx.execute(
            "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
            &[name, &sum],
        )
        .await
        .with_context(|| format!("failed to record migration {name}"))?;
        applied.push(*name);
    }
    tx.commit()
        .await
        .context("failed to commit the migrations")?;
    Ok(applied)
}

fn checksum(sql: &str) -> String {
    format!("{:016x}", crate::hash::fnv1a(sql.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sql_file_is_listed_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .map(|n| n.trim_end_matches(".sql").to_string())
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|(n, _)| *n).collect();
        assert_eq!(files, listed);
    }
}
