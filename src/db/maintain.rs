//! Upkeep of the raw samples: day partitions created ahead of time (and for rows that landed in
//! the default partition), and retention, which drops the partitions of days older than
//! `retention.raw_days` while the summaries stay. Run by the schema owner: at `seed`, and
//! every hour by the long-running commands (`serve`, continuous `simulate`); a role without DDL
//! rights gets a debug log line and nothing changes.

use anyhow::{Context, Result};
use tokio_postgres::{Client, GenericClient, Transaction};

use super::Pg;

use crate::db::copy::partition_day;
use crate::summary::DAY;
use crate::window::{floor, now, rfc3339};

/// Key of the advisory lock that serialises upkeep ("llmpart" in ASCII).
const LOCK_KEY: i64 = 0x006c_6c6d_7061_7274;

/// Days of partitions created ahead of the current one.
const DAYS_AHEAD: i64 = 2;

/// Rows older than this many days wait in the default partition instead of getting a day
/// partition each (an import of sparse data from years ago would otherwise create thousands).
pub const RECENT_DAYS: i64 = 62;

/// What one upkeep pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upkeep {
    /// Partitions created (ahead of time, or for rows waiting in the default partition).
    pub created: u32,
    /// Partitions dropped by retention.
    pub dropped: Vec<String>,
    /// Rows deleted from the default partition by retention.
    pub default_rows_deleted: u64,
    /// Raw samples before this time (Unix seconds) are gone, when retention is on.
    pub horizon: Option<i64>,
}

impl Upkeep {
    pub fn summary(&self) -> String {
        let mut s = format!("partitions: {} created", self.created);
        if let Some(h) = self.horizon {
            s.push_str(&format!(
                ", {} dropped by retention (raw samples kept from {})",
                self.dropped.len(),
                rfc3339(h)
            ));
        }
        s
    }
}

/// Creates the partitions of the days from `from` to `to` (Unix seconds) that are missing.
/// Only days within [`RECENT_DAYS`] of now are given partitions.
pub async fn ensure_partitions(client: &mut Client, from: i64, to: i64) -> Result<u32> {
    let from = from.max(floor(now(), DAY) - RECENT_DAYS * DAY);
    let tx = locked(client).await?;
    let mut created = 0;
    let mut day = floor(from, DAY);
    while day <= to {
        created += u32::from(ensure(&tx, day).await?);
        day += DAY;
    }
    tx.commit().await.context("failed to commit partitions")?;
    Ok(created)
}

/// [`ensure_partitions`] on a connection of its own, logging instead of failing: for writers,
/// whose role may lack DDL rights (their rows then wait in the default partition).
pub async fn ensure_partitions_best_effort(pg: &Pg, from: i64, to: i64) {
    let result = async {
        let mut client = super::connect(pg).await?;
        ensure_partitions(&mut client, from, to).await
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(error = %format!("{e:#}"), "could not create partitions; rows wait in the default partition");
    }
}

/// A transaction holding the upkeep lock, so two processes never create or drop at once.
async fn locked(client: &mut Client) -> Result<Transaction<'_>> {
    let tx = client
        .transaction()
        .await
        .context("failed to start upkeep")?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .context("failed to take the upkeep lock")?;
    Ok(tx)
}

async fn ensure(client: &impl GenericClient, day: i64) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT llmrank_ensure_partition(to_timestamp($1::float8))",
            &[&(day as f64)],
        )
        .await
        .with_context(|| format!("failed to create the partition of {}", rfc3339(day)))?;
    Ok(row.get(0))
}

/// One upkeep pass: retention first (when `raw_days` > 0), then partitions for the recent rows
/// waiting in the default partition and for the days around now.
pub async fn upkeep(client: &mut Client, raw_days: u64) -> Result<Upkeep> {
    let mut report = Upkeep::default();
    let tx = locked(client).await?;
    if raw_days > 0 {
        let horizon = floor(now(), DAY) - raw_days as i64 * DAY;
        report.horizon = Some(horizon);
        for (name, day) in day_partitions(&tx).await? {
            if day + DAY <= horizon {
                tx.batch_execute(&format!("DROP TABLE {}", super::quote_ident(&name)))
                    .await
                    .with_context(|| format!("failed to drop partition {name}"))?;
                report.dropped.push(name);
            }
        }
        report.default_rows_deleted = tx
            .execute(
                "DELETE FROM llm_metrics_default WHERE created_at < to_timestamp($1::float8)",
                &[&(horizon as f64)],
            )
            .await
            .context("failed to apply retention to the default partition")?;
        if !report.dropped.is_empty() || report.default_rows_deleted > 0 {
            tx.execute(
                "INSERT INTO retention_horizon (raw_before) VALUES (to_timestamp($1::float8))
                 ON CONFLICT (only_row) DO UPDATE
                 SET raw_before = greatest(retention_horizon.raw_before, excluded.raw_before)",
                &[&(horizon as f64)],
            )
            .await
            .context("failed to record the retention horizon")?;
            super::notify::record_change(&tx, "retention").await?;
        }
    }
    let since = floor(now(), DAY) - RECENT_DAYS * DAY;
    for day in default_partition_days(&tx, Some(since)).await? {
        report.created += u32::from(ensure(&tx, day).await?);
    }
    let today = floor(now(), DAY);
    for k in -1..=DAYS_AHEAD {
        report.created += u32::from(ensure(&tx, today + k * DAY).await?);
    }
    tx.commit().await.context("failed to commit upkeep")?;
    Ok(report)
}

/// Runs [`upkeep`] now and then every hour, logging what it did, until the task is dropped.
pub async fn upkeep_forever(pg: Pg, raw_days: u64) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3_600));
    loop {
        tick.tick().await;
        let result = async {
            let mut client = super::connect(&pg).await?;
            upkeep(&mut client, raw_days).await
        }
        .await;
        match result {
            Ok(r) if r.created > 0 || !r.dropped.is_empty() => {
                tracing::info!(
                    created = r.created,
                    dropped = r.dropped.len(),
                    "partition upkeep"
                )
            }
            Ok(_) => {}
            Err(e) if not_owner(&e) => {
                // A reader or writer role: the schema owner's `llmrank seed` does the upkeep.
                tracing::info!("not the schema owner: partition upkeep and retention are left to `llmrank seed`");
                return;
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "partition upkeep failed"),
        }
    }
}

/// True when `e` says this role may not do the upkeep (no DDL rights).
fn not_owner(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<tokio_postgres::Error>()
            .and_then(tokio_postgres::Error::code)
            .is_some_and(|s| *s == tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    })
}

/// The day partitions of `llm_metrics`: (name, day in Unix seconds), by day.
pub async fn day_partitions(client: &impl GenericClient) -> Result<Vec<(String, i64)>> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'llm_metrics'::regclass ORDER BY 1",
            &[],
        )
        .await
        .context("failed to list partitions")?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let name: String = r.get(0);
            let day = partition_day(&name)?;
            Some((name, day))
        })
        .collect())
}

/// The days (Unix seconds) of the rows in the default partition from `since` on (all: `None`).
pub async fn default_partition_days(
    client: &impl GenericClient,
    since: Option<i64>,
) -> Result<Vec<i64>> {
    let rows = client
        .query(
            "SELECT DISTINCT extract(epoch FROM date_bin('1 day', created_at,
                                             timestamptz '2000-01-01 00:00:00+00'))::bigint
             FROM llm_metrics_default
             WHERE created_at >= to_timestamp($1::float8)
             ORDER BY 1",
            &[&since.map_or(f64::NEG_INFINITY, |s| s as f64)],
        )
        .await
        .context("failed to read the default partition")?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
