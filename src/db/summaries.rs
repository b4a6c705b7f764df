//! The `llm_metric_summaries` table: writing a batch's summary rows (one statement, inside the
//! batch's transaction) and reading them back for a window or a history.

use std::collections::BTreeMap;

use anyhow::Result;
use tokio_postgres::{GenericClient, ToStatement};

use crate::summary::{RowKey, Sketch, Summary, DAY, HOUR};
use crate::window::Bounds;

/// The merge of a stored summary row `s` with an incoming one (`excluded`), as the SET items of
/// an upsert: the same formulas as `Summary::merge` (Chan's for n/mean/M2, least/greatest,
/// bin-wise sum). Shared by this table's upsert and `run_summaries`'.
macro_rules! merge_summary {
    () => {
        "n = s.n + excluded.n,
                 mean = s.mean + (excluded.mean - s.mean) * (excluded.n::float8 / (s.n + excluded.n)),
                 m2 = s.m2 + excluded.m2 + (excluded.mean - s.mean) * (excluded.mean - s.mean)
                      * (s.n::float8 * excluded.n::float8 / (s.n + excluded.n)),
                 min = least(s.min, excluded.min),
                 max = greatest(s.max, excluded.max),
                 sketch = llmrank_sketch_merge(s.sketch, excluded.sketch)"
    };
}
pub(crate) use merge_summary;

/// The statement that merges a batch's summary rows (see [`upsert`]).
pub const UPSERT: &str = concat!(
    "INSERT INTO llm_metric_summaries AS s
                 (metric_id, bucket_secs, bucket_start, llm_id, workload_id, n, mean, m2, min, max, sketch)
             SELECT u.metric_id, u.secs,
                    CASE WHEN u.secs = 0 THEN '-infinity'::timestamptz ELSE to_timestamp(u.start) END,
                    u.llm_id, u.workload_id, u.n, u.mean, u.m2, u.min, u.max, ($10::bigint[])[u.lo:u.hi]
             FROM unnest($1::smallint[], $2::int[], $3::bigint[], $4::smallint[], $5::bigint[],
                         $6::float8[], $7::float8[], $8::float8[], $9::float8[], $11::int[], $12::int[],
                         $13::int[])
                  AS u(metric_id, secs, start, llm_id, n, mean, m2, min, max, lo, hi, workload_id)
             ORDER BY 1, 2, 3, 4, 5
             ON CONFLICT (metric_id, bucket_secs, bucket_start, llm_id, workload_id) DO UPDATE SET ",
    merge_summary!()
);

/// Merges `rows` into the table: new keys are inserted, existing ones merged in SQL with the
/// same formulas as `Summary::merge` (Chan's for n/mean/M2, least/greatest, bin-wise sum).
/// One statement for the whole batch; rows are locked in key order, so concurrent writers do
/// not deadlock on each other's buckets.
pub async fn upsert(
    client: &impl GenericClient,
    rows: &[(RowKey, Summary)],
) -> Result<u64, tokio_postgres::Error> {
    upsert_with(client, UPSERT, rows).await
}

/// [`upsert`] with `statement`: [`UPSERT`] or its prepared form (writers prepare it once per
/// connection; parsing and planning it for every batch cost as much as running it).
pub async fn upsert_with<S: ToStatement + Sync + Send + ?Sized>(
    client: &impl GenericClient,
    statement: &S,
    rows: &[(RowKey, Summary)],
) -> Result<u64, tokio_postgres::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let len = rows.len();
    let (mut metric, mut secs, mut start, mut llm) = (
        Vec::with_capacity(len),
        Vec::with_capacity(len),
        Vec::with_capacity(len),
        Vec::with_capacity(len),
    );
    let (mut n, mut mean, mut m2, mut min, mut max) = (
        Vec::with_capacity(len),
        Vec::with_capacity(len),
        Vec::with_capacity(len),
        Vec::with_capacity(len),
        Vec::with_capacity(len),
    );
    let (mut lo, mut hi, mut bins, mut workload) = (
        Vec::with_capacity(len),
        Vec::with_capacity(len),
        Vec::<i64>::new(),
        Vec::with_capacity(len),
    );
    for (k, s) in rows {
        metric.push(k.metric_id);
        secs.push(k.bucket_secs as i32);
        start.push(k.bucket_start);
        llm.push(k.llm_id);
        workload.push(k.workload_id);
        n.push(s.moments.n as i64);
        mean.push(s.moments.mean);
        m2.push(s.moments.m2);
        min.push(s.min);
        max.push(s.max);
        // 1-based inclusive slice bounds into the flat array of bins.
        lo.push(bins.len() as i32 + 1);
        bins.extend(s.sketch.pack());
        hi.push(bins.len() as i32);
    }
    client
        .execute(
            statement,
            &[
                &metric, &secs, &start, &llm, &n, &mean, &m2, &min, &max, &bins, &lo, &hi,
                &workload,
            ],
        )
        .await
}

/// One summary row as stored.
pub(crate) fn summary_of(row: &tokio_postgres::Row, first: usize) -> Summary {
    let n: i64 = row.get(first);
    let Packed(sketch) = row.get(first + 5);
    Summary {
        moments: crate::stats::Moments {
            n: n as u64,
            mean: row.get(first + 1),
            m2: row.get(first + 2),
        },
        min: row.get(first + 3),
        max: row.get(first + 4),
        sketch,
    }
}

/// A sketch column read from PostgreSQL's binary array form straight into bins, without a
/// vector of integers in between (a month of day rows holds ~170 k of them).
struct Packed(Sketch);

impl<'a> tokio_postgres::types::FromSql<'a> for Packed {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Packed, Box<dyn std::error::Error + Sync + Send>> {
        fn int(raw: &mut &[u8]) -> Result<i32, Box<dyn std::error::Error + Sync + Send>> {
            let (head, rest) = raw
                .split_first_chunk::<4>()
                .ok_or("a sketch array cut short")?;
            *raw = rest;
            Ok(i32::from_be_bytes(*head))
        }
        let mut raw = raw;
        let (dims, _has_nulls, _element_type) = (int(&mut raw)?, int(&mut raw)?, int(&mut raw)?);
        if dims == 0 {
            return Ok(Packed(Sketch::default()));
        }
        if dims != 1 {
            return Err(format!("a sketch array of {dims} dimensions, not 1").into());
        }
        let (len, _lower_bound) = (int(&mut raw)?, int(&mut raw)?);
        let len = usize::try_from(len)?;
        if raw.len() != len * 12 || raw.chunks_exact(12).any(|e| e[..4] != [0, 0, 0, 8]) {
            return Err("a sketch array with a null or a value that is not a bigint".into());
        }
        // Each element: its length (8) and the bigint.
        let bins = raw.chunks_exact(12).map(|e| {
            let mut v = [0u8; 8];
            v.copy_from_slice(&e[4..]);
            i64::from_be_bytes(v)
        });
        Ok(Packed(Sketch::from_packed(bins)))
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        *ty == tokio_postgres::types::Type::INT8_ARRAY
    }
}

/// `to_timestamp` argument for a bound: seconds, or ±infinity when unbounded.
pub(crate) fn secs(b: Option<i64>, unbounded: f64) -> f64 {
    b.map_or(unbounded, |s| s as f64)
}

/// The `to_timestamp` arguments of a window's pieces, in the order the bucket queries bind
/// them: the days' start and end, the head hours', the tail hours' (an unbounded head ends
/// at −infinity and an unbounded tail starts at +infinity, so neither matches a row).
pub(crate) fn piece_secs(p: &crate::window::Pieces) -> [f64; 6] {
    [
        secs(p.days.0, f64::NEG_INFINITY),
        secs(p.days.1, f64::INFINITY),
        secs(p.head.0, f64::NEG_INFINITY),
        secs(p.head.1, f64::NEG_INFINITY),
        secs(p.tail.0, f64::INFINITY),
        secs(p.tail.1, f64::INFINITY),
    ]
}

/// The merged summary of each LLM over `window` (all time: the total row), by LLM id, over
/// the `workloads` given (`None`: all). Reads at most one row per LLM and workload for all
/// time, and whole days plus at most 2 × 23 hours of rows per LLM and workload for a window
/// (its bounds are whole hours).
pub async fn by_llm(
    client: &impl GenericClient,
    metric_id: i16,
    window: &Bounds,
    workloads: Option<&[i32]>,
) -> Result<Vec<(i16, Summary)>> {
    if let Some(found) = by_llm_before(client, metric_id, window, workloads).await? {
        return Ok(found);
    }
    let rows = if window.is_all_time() {
        client
            .query(
                "SELECT llm_id, n, mean, m2, min, max, sketch FROM llm_metric_summaries
                 WHERE metric_id = $1 AND bucket_secs = 0
                   AND ($2::int[] IS NULL OR workload_id = ANY($2))",
                &[&metric_id, &workloads],
            )
            .await
    } else {
        let [d0, d1, h0, h1, t0, t1] = piece_secs(&window.pieces());
        client
            .query(
                "SELECT llm_id, n, mean, m2, min, max, sketch FROM llm_metric_summaries
                 WHERE metric_id = $1 AND (
                     (bucket_secs = 86400 AND bucket_start >= to_timestamp($2) AND bucket_start < to_timestamp($3))
                  OR (bucket_secs = 3600 AND ((bucket_start >= to_timestamp($4) AND bucket_start < to_timestamp($5))
                                           OR (bucket_start >= to_timestamp($6) AND bucket_start < to_timestamp($7)))))
                   AND ($8::int[] IS NULL OR workload_id = ANY($8))",
                &[&metric_id, &d0, &d1, &h0, &h1, &t0, &t1, &workloads],
            )
            .await
    }
    .map_err(|e| super::schema_hint(e, "failed to read summaries"))?;
    Ok(
        merge_by_llm(rows.iter().map(|r| (r.get(0), summary_of(r, 1))))
            .into_iter()
            .collect(),
    )
}

/// How recent the end of an open-started window must be for [`by_llm_before`] to read it as
/// all time less what follows: a week of rows after it at most, however long the history.
const RECENT_END: i64 = 7 * DAY;

/// [`by_llm`] of a window open at the start and ending recently (`until=1h`, a comparison's
/// usual base): the all-time rows less the rows after its end, so the cost is that of the
/// little that follows, not of the whole history before. `None` (read it directly) for other
/// windows, and when an LLM's min or max cannot be known that way (the rows after the end
/// hold it): answers are the same either way, up to the last bits of the mean.
async fn by_llm_before(
    client: &impl GenericClient,
    metric_id: i16,
    window: &Bounds,
    workloads: Option<&[i32]>,
) -> Result<Option<Vec<(i16, Summary)>>> {
    let (None, Some(end)) = (window.from, window.to) else {
        return Ok(None);
    };
    if end < crate::window::now() - RECENT_END {
        return Ok(None);
    }
    let after = Bounds {
        from: Some(end),
        to: None,
    };
    let [d0, d1, h0, h1, ..] = piece_secs(&after.pieces());
    let rows = client
        .query(
            "SELECT bucket_secs = 0, llm_id, n, mean, m2, min, max, sketch FROM llm_metric_summaries
             WHERE metric_id = $1 AND (
                 bucket_secs = 0
              OR (bucket_secs = 86400 AND bucket_start >= to_timestamp($2) AND bucket_start < to_timestamp($3))
              OR (bucket_secs = 3600 AND bucket_start >= to_timestamp($4) AND bucket_start < to_timestamp($5)))
               AND ($6::int[] IS NULL OR workload_id = ANY($6))",
            &[&metric_id, &d0, &d1, &h0, &h1, &workloads],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read summaries"))?;
    let total = merge_by_llm(
        rows.iter()
            .filter(|r| r.get::<_, bool>(0))
            .map(|r| (r.get(1), summary_of(r, 2))),
    );
    let mut later = merge_by_llm(
        rows.iter()
            .filter(|r| !r.get::<_, bool>(0))
            .map(|r| (r.get(1), summary_of(r, 2))),
    );
    let mut found = Vec::with_capacity(total.len());
    for (llm, all) in total {
        let Some(part) = later.remove(&llm) else {
            found.push((llm, all));
            continue;
        };
        if part.moments.n == all.moments.n {
            continue; // all of this LLM's data is after the end
        }
        match all.without(&part) {
            Some(before) => found.push((llm, before)),
            None => return Ok(None),
        }
    }
    // Rows after the end of an LLM without an all-time row: not a subset; read directly.
    Ok(later.is_empty().then_some(found))
}

/// Summaries merged per LLM.
fn merge_by_llm(rows: impl Iterator<Item = (i16, Summary)>) -> BTreeMap<i16, Summary> {
    let mut merged: BTreeMap<i16, Summary> = BTreeMap::new();
    for (llm, s) in rows {
        merged.entry(llm).and_modify(|m| m.merge(&s)).or_insert(s);
    }
    merged
}

/// Per LLM, the summaries of each `bucket_secs` bucket (an hour or a day) within `window`
/// over the `workloads` given (`None`: all), merged across workloads, in time order:
/// (LLM id, bucket start in Unix seconds, summary).
/// The start of the first day holding a summary of `metric_id` (Unix seconds) over
/// `workloads` and, when given, of `llm_id`, if any.
pub async fn first_day(
    client: &impl GenericClient,
    metric_id: i16,
    llm_id: Option<i16>,
    workloads: &[i32],
) -> Result<Option<i64>> {
    let row = client
        .query_one(
            "SELECT extract(epoch FROM min(bucket_start))::bigint FROM llm_metric_summaries
             WHERE metric_id = $1 AND bucket_secs = 86400 AND workload_id = ANY($2)
               AND ($3::int2 IS NULL OR llm_id = $3)",
            &[&metric_id, &workloads, &llm_id],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read summaries"))?;
    Ok(row.get(0))
}

pub async fn series(
    client: &impl GenericClient,
    metric_id: i16,
    bucket_secs: i64,
    window: &Bounds,
    llm_id: Option<i16>,
    workloads: Option<&[i32]>,
) -> Result<Vec<(i16, i64, Summary)>> {
    debug_assert!(bucket_secs == HOUR || bucket_secs == DAY);
    let rows = client
        .query(
            "SELECT llm_id, extract(epoch FROM bucket_start)::bigint,
                    n, mean, m2, min, max, sketch
             FROM llm_metric_summaries
             WHERE metric_id = $1 AND bucket_secs = $2
               AND bucket_start >= to_timestamp($3) AND bucket_start < to_timestamp($4)
               AND ($5::smallint IS NULL OR llm_id = $5)
               AND ($6::int[] IS NULL OR workload_id = ANY($6))
             ORDER BY llm_id, bucket_start",
            &[
                &metric_id,
                &(bucket_secs as i32),
                &secs(window.from, f64::NEG_INFINITY),
                &secs(window.to, f64::INFINITY),
                &llm_id,
                &workloads,
            ],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read summaries"))?;
    // Rows of one bucket from several workloads are adjacent: merge them.
    let mut out: Vec<(i16, i64, Summary)> = Vec::with_capacity(rows.len());
    for r in &rows {
        let (llm, start, s): (i16, i64, Summary) = (r.get(0), r.get(1), summary_of(r, 2));
        match out.last_mut() {
            Some((l, t, m)) if *l == llm && *t == start => m.merge(&s),
            _ => out.push((llm, start, s)),
        }
    }
    Ok(out)
}

/// One day's summary of one LLM, metric and workload.
#[derive(Debug, Clone)]
pub struct DayRow {
    pub metric_id: i16,
    pub llm_id: i16,
    pub workload_id: i32,
    /// The day's start, Unix seconds.
    pub day: i64,
    pub summary: Summary,
}

/// The day rows within `window` (whole days) of `metrics` and of the `workloads` given
/// (`None`: all), every LLM and workload apart, ordered by metric, LLM, workload and day: the
/// series `regressions` judges. One row per series and day, whatever the samples.
pub async fn days(
    client: &impl GenericClient,
    window: &Bounds,
    metrics: &[i16],
    workloads: Option<&[i32]>,
) -> Result<Vec<DayRow>> {
    // The metrics bound the primary key's first column, so the scan reads their day rows
    // only; the order is made here (sorting the rows with their sketches in PostgreSQL cost
    // more than reading them).
    let rows = client
        .query(
            "SELECT metric_id, llm_id, workload_id, extract(epoch FROM bucket_start)::bigint,
                    n, mean, m2, min, max, sketch
             FROM llm_metric_summaries
             WHERE metric_id = ANY($1) AND bucket_secs = 86400
               AND bucket_start >= to_timestamp($2) AND bucket_start < to_timestamp($3)
               AND ($4::int[] IS NULL OR workload_id = ANY($4))",
            &[
                &metrics,
                &secs(window.from, f64::NEG_INFINITY),
                &secs(window.to, f64::INFINITY),
                &workloads,
            ],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read daily summaries"))?;
    let mut days: Vec<DayRow> = rows
        .iter()
        .map(|r| DayRow {
            metric_id: r.get(0),
            llm_id: r.get(1),
            workload_id: r.get(2),
            day: r.get(3),
            summary: summary_of(r, 4),
        })
        .collect();
    days.sort_unstable_by_key(|d| (d.metric_id, d.llm_id, d.workload_id, d.day));
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_postgres::types::{FromSql, ToSql, Type};

    #[test]
    fn a_sketch_read_from_the_wire_is_the_sketch_packed() {
        let values: Vec<f64> = (1..5_000).map(|i| f64::from(i).powf(1.3)).collect();
        let sketch = Sketch::of(&values);
        let packed: Vec<i64> = sketch.pack().collect();
        let mut wire = bytes::BytesMut::new();
        packed.to_sql(&Type::INT8_ARRAY, &mut wire).unwrap();
        let Packed(back) = Packed::from_sql(&Type::INT8_ARRAY, &wire).unwrap();
        assert_eq!(back, sketch);
        let empty: Vec<i64> = Vec::new();
        let mut wire = bytes::BytesMut::new();
        empty.to_sql(&Type::INT8_ARRAY, &mut wire).unwrap();
        let Packed(back) = Packed::from_sql(&Type::INT8_ARRAY, &wire).unwrap();
        assert_eq!(back, Sketch::default());
        // Out of order (never stored so, but read right all the same), and a null: refused.
        let mut wire = bytes::BytesMut::new();
        packed
            .iter()
            .rev()
            .copied()
            .collect::<Vec<i64>>()
            .to_sql(&Type::INT8_ARRAY, &mut wire)
            .unwrap();
        assert_eq!(
            Packed::from_sql(&Type::INT8_ARRAY, &wire).unwrap().0,
            sketch
        );
        let mut wire = bytes::BytesMut::new();
        vec![Some(1_i64), None]
            .to_sql(&Type::INT8_ARRAY, &mut wire)
            .unwrap();
        assert!(Packed::from_sql(&Type::INT8_ARRAY, &wire).is_err());
    }
}
