//! The `run_summaries` table: one summary per run × metric × LLM, merged by every batch (or
//! input) that adds to it, in its transaction, so a ranking can take each run's own statistic
//! and judge the noise between runs from one row per run.

use std::collections::BTreeMap;

use anyhow::Result;
use tokio_postgres::{GenericClient, ToStatement};

use crate::summary::{RowKey, SeriesKey, Summary, HOUR, TOTAL};
use crate::window::Bounds;

/// The statement that merges run rows (see [`upsert_with`]): `llm_metric_summaries`' merge.
pub const UPSERT: &str = concat!(
    "INSERT INTO run_summaries AS s
                 (metric_id, run_id, llm_id, workload_id, first_hour, last_hour, n, mean, m2, min, max, sketch)
             SELECT u.metric_id, u.run_id, u.llm_id, u.workload_id, to_timestamp(u.first_hour),
                    to_timestamp(u.last_hour), u.n, u.mean, u.m2, u.min, u.max, ($12::bigint[])[u.lo:u.hi]
             FROM unnest($1::smallint[], $2::int[], $3::smallint[], $4::int[], $5::bigint[], $6::bigint[],
                         $7::bigint[], $8::float8[], $9::float8[], $10::float8[], $11::float8[],
                         $13::int[], $14::int[])
                  AS u(metric_id, run_id, llm_id, workload_id, first_hour, last_hour, n, mean, m2, min,
                       max, lo, hi)
             ORDER BY 1, 2, 3
             ON CONFLICT (metric_id, run_id, llm_id) DO UPDATE SET
                 first_hour = least(s.first_hour, excluded.first_hour),
                 last_hour = greatest(s.last_hour, excluded.last_hour), ",
    super::summaries::merge_summary!()
);

/// What one batch (or input) adds to one run's row of one series.
#[derive(Debug, Clone, Copy)]
pub struct RunRow<'a> {
    pub run_id: i32,
    pub series: SeriesKey,
    /// The first and last hour its samples fall in (Unix seconds).
    pub hours: (i64, i64),
    pub summary: &'a Summary,
}

/// The run rows of a batch's summary rows: each series' all-time row, with the hours its hour
/// rows span, for the run `run_of` gives it (`None`: a series of no single run, left out).
pub fn of_batch(
    rows: &[(RowKey, Summary)],
    run_of: impl Fn(SeriesKey) -> Option<i32>,
) -> Vec<RunRow<'_>> {
    let series = |k: &RowKey| SeriesKey {
        metric_id: k.metric_id,
        llm_id: k.llm_id,
        workload_id: k.workload_id,
    };
    let mut hours: BTreeMap<SeriesKey, (i64, i64)> = BTreeMap::new();
    for (k, _) in rows.iter().filter(|(k, _)| k.bucket_secs == HOUR) {
        let h = hours
            .entry(series(k))
            .or_insert((k.bucket_start, k.bucket_start));
        *h = (h.0.min(k.bucket_start), h.1.max(k.bucket_start));
    }
    rows.iter()
        .filter(|(k, _)| k.bucket_secs == TOTAL)
        .filter_map(|(k, s)| {
            let key = series(k);
            Some(RunRow {
                run_id: run_of(key)?,
                series: key,
                hours: *hours.get(&key)?,
                summary: s,
            })
        })
        .collect()
}

/// Merges `rows` into the table, in one statement (`statement`: [`UPSERT`] or its prepared
/// form), locking rows in key order like the summaries' upsert.
pub async fn upsert_with<S: ToStatement + Sync + Send + ?Sized>(
    client: &impl GenericClient,
    statement: &S,
    rows: &[RunRow<'_>],
) -> Result<u64, tokio_postgres::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let (mut metric, mut run, mut llm, mut workload) = (vec![], vec![], vec![], vec![]);
    let (mut first, mut last, mut n, mut mean) = (vec![], vec![], vec![], vec![]);
    let (mut m2, mut min, mut max) = (vec![], vec![], vec![]);
    let (mut lo, mut hi, mut bins) = (vec![], vec![], Vec::<i64>::new());
    for r in rows {
        metric.push(r.series.metric_id);
        run.push(r.run_id);
        llm.push(r.series.llm_id);
        workload.push(r.series.workload_id);
        first.push(r.hours.0);
        last.push(r.hours.1);
        n.push(r.summary.moments.n as i64);
        mean.push(r.summary.moments.mean);
        m2.push(r.summary.moments.m2);
        min.push(r.summary.min);
        max.push(r.summary.max);
        lo.push(bins.len() as i32 + 1);
        bins.extend(r.summary.sketch.pack());
        hi.push(bins.len() as i32);
    }
    client
        .execute(
            statement,
            &[
                &metric, &run, &llm, &workload, &first, &last, &n, &mean, &m2, &min, &max, &bins,
                &lo, &hi,
            ],
        )
        .await
}

/// One completed run's summary of one metric and LLM.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: i32,
    pub llm_id: i16,
    pub workload_id: i32,
    pub summary: Summary,
}

/// Run rows a ranking or comparison reads at most (a few megabytes): beyond them (e.g. a
/// continuous `simulate`, one run a minute) it judges over requests rather than read them all.
pub const MAX_READ: i64 = 500;

/// The rows of `metric_id` of the completed runs whose samples all lie within `window`, of
/// the `workloads` given (`None`: all): one row per run and LLM, however many samples; `None`
/// when there are more than [`MAX_READ`]. Sketches are read only `with_sketches` (a
/// percentile's noise needs them; the mean's does not: an empty sketch then).
pub async fn within(
    client: &impl GenericClient,
    metric_id: i16,
    window: &Bounds,
    workloads: Option<&[i32]>,
    with_sketches: bool,
) -> Result<Option<Vec<RunSummary>>> {
    let rows = client
        .query(
            "SELECT s.run_id, s.llm_id, s.workload_id, s.n, s.mean, s.m2, s.min, s.max,
                    CASE WHEN $5 THEN s.sketch ELSE '{}'::bigint[] END
             FROM run_summaries s JOIN runs r ON r.id = s.run_id
             WHERE s.metric_id = $1 AND r.status = 'completed'
               AND s.first_hour >= to_timestamp($2)
               AND s.last_hour + interval '1 hour' <= to_timestamp($3)
               AND ($4::int[] IS NULL OR s.workload_id = ANY($4))
             ORDER BY s.run_id DESC, s.llm_id LIMIT $6",
            &[
                &metric_id,
                &super::summaries::secs(window.from, f64::NEG_INFINITY),
                &super::summaries::secs(window.to, f64::INFINITY),
                &workloads,
                &with_sketches,
                &(MAX_READ + 1),
            ],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read run summaries"))?;
    if rows.len() as i64 > MAX_READ {
        return Ok(None);
    }
    Ok(Some(
        rows.iter()
            .map(|r| RunSummary {
                run_id: r.get(0),
                llm_id: r.get(1),
                workload_id: r.get(2),
                summary: super::summaries::summary_of(r, 3),
            })
            .collect(),
    ))
}
