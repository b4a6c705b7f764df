//! Rebuilding the summaries from the raw samples: after an upgrade from a version without
//! summaries (`seed` runs it when migration 0005 finds samples), or on demand
//! (`llmrank summarize`) to check them.
//!
//! One transaction: the summaries are emptied (TRUNCATE locks the table, so a writer committing
//! meanwhile waits and then adds its batch on top of the rebuilt rows, never lost or counted
//! twice), then each day's samples are streamed with binary COPY (partition by partition),
//! summarised by hour with the same code as live batches (`summary::Rollup`), and written with
//! the same upsert. Memory stays bounded whatever the number of samples; progress is logged per
//! day. Raw samples already dropped by retention cannot be summarised again: their summaries are
//! lost by a rebuild, so it refuses when retention has dropped any.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bytes::{Buf, BytesMut};
use futures_util::StreamExt;
use tokio_postgres::Client;

use crate::db::{maintain, notify, samples, summaries};
use crate::summary::{Rollup, RowKey, SeriesKey, Summary, DAY, TOTAL};
use crate::table::thousands;
use crate::window::rfc3339;

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub days: usize,
    pub samples: u64,
    pub rows_written: usize,
    pub millis: u128,
}

impl Report {
    pub fn summary(&self) -> String {
        format!(
            "summaries rebuilt from {} samples over {} days: {} summary rows in {:.1} s",
            thousands(self.samples),
            self.days,
            thousands(self.rows_written as u64),
            self.millis as f64 / 1000.0
        )
    }
}

/// Rebuilds every summary from the raw samples.
pub async fn rebuild(client: &mut Client) -> Result<Report> {
    let started = Instant::now();
    if let Some(h) = samples::retention_horizon(client).await? {
        bail!(
            "raw samples before {} were dropped by retention, so their summaries cannot be rebuilt; nothing changed",
            rfc3339(h)
        );
    }
    let tx = client
        .transaction()
        .await
        .context("failed to start the rebuild")?;
    tx.batch_execute("SET LOCAL statement_timeout = 0; TRUNCATE llm_metric_summaries")
        .await
        .context("failed to empty the summaries")?;
    // Every day a partition holds, and every day with rows waiting in the default one.
    let mut days: Vec<i64> = maintain::day_partitions(&tx)
        .await?
        .into_iter()
        .map(|(_, day)| day)
        .chain(maintain::default_partition_days(&tx, None).await?)
        .collect();
    days.sort_unstable();
    days.dedup();
    let mut totals: BTreeMap<RowKey, Summary> = BTreeMap::new();
    let (mut n_samples, mut rows_written, mut days_with_samples) = (0u64, 0usize, 0usize);
    for (i, &day) in days.iter().enumerate() {
        let (rollup, n) = read_day(&tx, day).await?;
        let mut rows = rollup.rows();
        rows.retain(|(k, s)| {
            if k.bucket_secs == TOTAL {
                totals
                    .entry(*k)
                    .and_modify(|t| t.merge(s))
                    .or_insert_with(|| s.clone());
                false
            } else {
                true
            }
        });
        summaries::upsert(&tx, &rows)
            .await
            .context("failed to write summaries")?;
        rows_written += rows.len();
        n_samples += n;
        days_with_samples += usize::from(n > 0);
        tracing::info!(
            day = %rfc3339(day),
            done = i + 1,
            of = days.len(),
            samples = n,
            "summarized"
        );
    }
    let totals: Vec<(RowKey, Summary)> = totals.into_iter().collect();
    summaries::upsert(&tx, &totals)
        .await
        .context("failed to write summaries")?;
    rows_written += totals.len();
    let requests = super::requests::rebuild(&tx, None).await?;
    tracing::info!(requests, "request summaries rebuilt");
    notify::record_change(&tx, "summarize").await?;
    tx.commit().await.context("failed to commit the rebuild")?;
    Ok(Report {
        days: days_with_samples,
        samples: n_samples,
        rows_written,
        millis: started.elapsed().as_millis(),
    })
}

/// Streams one day's samples into a rollup; returns it and the number of samples.
async fn read_day(tx: &tokio_postgres::Transaction<'_>, day: i64) -> Result<(Rollup, u64)> {
    let stmt = format!(
        "COPY (SELECT m.llm_id, m.metric_id, m.value, m.created_at, coalesce(r.workload_id, 1)
               FROM llm_metrics m LEFT JOIN runs r ON r.id = m.run_id
               WHERE m.created_at >= to_timestamp({day}) AND m.created_at < to_timestamp({}))
         TO STDOUT (FORMAT binary)",
        day + DAY
    );
    let stream = tx
        .copy_out(stmt.as_str())
        .await
        .with_context(|| format!("failed to read the samples of {}", rfc3339(day)))?;
    futures_util::pin_mut!(stream);
    let mut buf = BytesMut::new();
    let mut header_done = false;
    let mut rollup = Rollup::default();
    let mut n = 0u64;
    // Tuples: field count (i16), then per field a length (i32) and the value.
    const TUPLE: usize = 2 + (4 + 2) + (4 + 2) + (4 + 8) + (4 + 8) + (4 + 4);
    while let Some(chunk) = stream.next().await {
        buf.extend_from_slice(&chunk.context("failed to read samples")?);
        if !header_done {
            if buf.len() < 19 {
                continue;
            }
            let ext = u32::from_be_bytes([buf[15], buf[16], buf[17], buf[18]]) as usize;
            if buf.len() < 19 + ext {
                continue;
            }
            buf.advance(19 + ext);
            header_done = true;
        }
        while buf.len() >= TUPLE {
            let fields = i16::from_be_bytes([buf[0], buf[1]]);
            if fields == -1 {
                buf.clear();
                break;
            }
            let mut t = &buf[2..TUPLE];
            t.advance(4);
            let llm_id = t.get_i16();
            t.advance(4);
            let metric_id = t.get_i16();
            t.advance(4);
            let value = t.get_f64();
            t.advance(4);
            let at_us = t.get_i64();
            t.advance(4);
            let workload_id = t.get_i32();
            let secs = crate::db::copy::unix_secs(at_us);
            let series = SeriesKey {
                metric_id,
                llm_id,
                workload_id,
            };
            rollup.add(series, secs, value);
            n += 1;
            buf.advance(TUPLE);
        }
    }
    Ok((rollup, n))
}
