//! The `llm_request_summaries` table (joint summaries of requests, see `joint`): merging a
//! batch's rows inside its transaction, reading them for a window, and the exact answer from
//! the raw requests in `llm_metrics`.

use std::collections::BTreeMap;

use anyhow::Result;
use tokio_postgres::GenericClient;

use super::summaries::secs;
use crate::domain::MetricKind;
use crate::joint::{Joint, JointKey};
use crate::window::Bounds;

/// Merges `rows` into the table. The cell cap needs the merged row, so rows are merged here:
/// missing ones are inserted empty, then every row is locked in key order (concurrent writers
/// of the same buckets wait for each other instead of deadlocking), merged, and written back.
pub async fn merge(
    client: &impl GenericClient,
    rows: &[(JointKey, Joint)],
) -> Result<u64, tokio_postgres::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let (mut secs_, mut start, mut llm, mut workload) = (
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
    );
    for (k, _) in rows {
        secs_.push(k.bucket_secs as i32);
        start.push(k.bucket_start);
        llm.push(k.llm_id);
        workload.push(k.workload_id);
    }
    const KEYS: &str = "FROM unnest($1::int[], $2::bigint[], $3::smallint[], $4::int[])
                        AS u(secs, start, llm_id, workload_id)";
    const START: &str =
        "CASE WHEN u.secs = 0 THEN '-infinity'::timestamptz ELSE to_timestamp(u.start) END";
    client
        .execute(
            &format!(
                "INSERT INTO llm_request_summaries
                     (bucket_secs, bucket_start, llm_id, workload_id, n, failed, timed, seconds,
                      tokened, tokens, resolved, cells)
                 SELECT u.secs, {START}, u.llm_id, u.workload_id, 0, 0, 0, 0, 0, 0,
                        '{{1,1023,1,1023,1,1023}}', '{{}}'
                 {KEYS} ORDER BY 1, 2, 4, 3
                 ON CONFLICT DO NOTHING"
            ),
            &[&secs_, &start, &llm, &workload],
        )
        .await?;
    let found = client
        .query(
            &format!(
                "SELECT s.bucket_secs, u.start, s.llm_id, s.workload_id,
                        s.n, s.failed, s.timed, s.seconds, s.tokened, s.tokens, s.resolved,
                        s.cells
                 FROM llm_request_summaries s
                 JOIN (SELECT u.secs, u.start, u.llm_id, u.workload_id, {START} AS at {KEYS}) u
                   ON s.bucket_secs = u.secs AND s.bucket_start = u.at
                  AND s.llm_id = u.llm_id AND s.workload_id = u.workload_id
                 ORDER BY s.bucket_secs, s.bucket_start, s.workload_id, s.llm_id
                 FOR UPDATE OF s"
            ),
            &[&secs_, &start, &llm, &workload],
        )
        .await?;
    let mut stored: BTreeMap<JointKey, Joint> = BTreeMap::new();
    for r in &found {
        let key = JointKey {
            bucket_secs: i64::from(r.get::<_, i32>(0)),
            bucket_start: r.get(1),
            llm_id: r.get(2),
            workload_id: r.get(3),
        };
        stored.insert(key, joint_of(r, 4));
    }
    let (mut n, mut failed, mut timed, mut seconds) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut tokened, mut tokens) = (Vec::new(), Vec::new());
    let (mut ranges, mut cells, mut lo, mut hi) =
        (Vec::<i16>::new(), Vec::<i64>::new(), Vec::new(), Vec::new());
    for (k, j) in rows {
        let mut m = stored.remove(k).unwrap_or_default();
        m.merge(j);
        n.push(m.n as i64);
        failed.push(m.failed as i64);
        timed.push(m.timed as i64);
        seconds.push(m.seconds);
        tokened.push(m.tokened as i64);
        tokens.push(m.tokens);
        ranges.extend(m.range_keys());
        lo.push(cells.len() as i32 + 1);
        cells.extend(m.pack());
        hi.push(cells.len() as i32);
    }
    let written = client
        .execute(
            "UPDATE llm_request_summaries s
             SET n = u.n, failed = u.failed, timed = u.timed, seconds = u.seconds,
                 tokened = u.tokened, tokens = u.tokens,
                 resolved = ($9::smallint[])[u.i * 6 - 5:u.i * 6],
                 cells = coalesce(($10::bigint[])[u.lo:u.hi], '{}')
             FROM unnest($1::int[], $2::bigint[], $3::smallint[], $4::int[], $5::bigint[],
                         $6::bigint[], $7::bigint[], $8::float8[], $11::int[], $12::int[],
                         $13::bigint[], $14::float8[])
                  WITH ORDINALITY AS u(secs, start, llm_id, workload_id, n, failed, timed, seconds,
                                       lo, hi, tokened, tokens, i)
             WHERE s.bucket_secs = u.secs
               AND s.bucket_start = CASE WHEN u.secs = 0 THEN '-infinity'::timestamptz
                                         ELSE to_timestamp(u.start) END
               AND s.llm_id = u.llm_id AND s.workload_id = u.workload_id",
            &[
                &secs_, &start, &llm, &workload, &n, &failed, &timed, &seconds, &ranges, &cells,
                &lo, &hi, &tokened, &tokens,
            ],
        )
        .await?;
    Ok(written)
}

fn joint_of(r: &tokio_postgres::Row, first: usize) -> Joint {
    let n: i64 = r.get(first);
    let failed: i64 = r.get(first + 1);
    let timed: i64 = r.get(first + 2);
    let seconds: f64 = r.get(first + 3);
    let tokened: i64 = r.get(first + 4);
    let tokens: f64 = r.get(first + 5);
    let range: Vec<i16> = r.get(first + 6);
    let cells: Vec<i64> = r.get(first + 7);
    let mut counts = Joint::default();
    (counts.n, counts.failed, counts.timed, counts.seconds) =
        (n as u64, failed as u64, timed as u64, seconds);
    (counts.tokened, counts.tokens) = (tokened as u64, tokens);
    Joint::unpack(&cells, &range, counts)
}

/// The joint rows over `window` (all time: the total rows) of the `workloads` given (`None`:
/// all): (LLM id, workload id, summary), one per stored row, not merged (a count sums them).
pub async fn rows(
    client: &impl GenericClient,
    window: &Bounds,
    workloads: Option<&[i32]>,
) -> Result<Vec<(i16, i32, Joint)>> {
    let rows = if window.is_all_time() {
        client
            .query(
                "SELECT llm_id, workload_id, n, failed, timed, seconds, tokened, tokens, resolved, cells
                 FROM llm_request_summaries
                 WHERE bucket_secs = 0 AND n > 0
                   AND ($1::int[] IS NULL OR workload_id = ANY($1))",
                &[&workloads],
            )
            .await
    } else {
        let [d0, d1, h0, h1, t0, t1] = super::summaries::piece_secs(&window.pieces());
        client
            .query(
                "SELECT llm_id, workload_id, n, failed, timed, seconds, tokened, tokens, resolved, cells
                 FROM llm_request_summaries
                 WHERE n > 0 AND (
                     (bucket_secs = 86400 AND bucket_start >= to_timestamp($1) AND bucket_start < to_timestamp($2))
                  OR (bucket_secs = 3600 AND ((bucket_start >= to_timestamp($3) AND bucket_start < to_timestamp($4))
                                           OR (bucket_start >= to_timestamp($5) AND bucket_start < to_timestamp($6)))))
                   AND ($7::int[] IS NULL OR workload_id = ANY($7))",
                &[&d0, &d1, &h0, &h1, &t0, &t1, &workloads],
            )
            .await
    }
    .map_err(|e| super::schema_hint(e, "failed to read request summaries"))?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), joint_of(r, 2)))
        .collect())
}

/// The metric ids a request's values are stored under (`None`: not in the catalogue).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestMetrics {
    pub ttft: Option<i16>,
    pub tpot: Option<i16>,
    pub e2e: Option<i16>,
    pub tps: Option<i16>,
    pub rps: Option<i16>,
}

/// Thresholds (ms) of an exact count; `None`: unconstrained.
#[derive(Debug, Clone, Copy, Default)]
pub struct Thresholds {
    pub ttft: Option<f64>,
    pub tpot: Option<f64>,
    pub e2e: Option<f64>,
}

/// What the raw requests of one run and LLM within a window say.
#[derive(Debug, Clone, PartialEq)]
pub struct RunCount {
    pub llm_id: i16,
    pub workload_id: i32,
    pub run_id: i32,
    /// Successful requests in the window, and those meeting the thresholds.
    pub ok: u64,
    pub good: u64,
    /// Σ 1 / RPS of simulated requests (their run time).
    pub simulated_seconds: Option<f64>,
    /// Successful requests whose output tokens are known, and the sum of those tokens.
    pub tokened: u64,
    pub tokens: f64,
}

/// A run's request totals, recorded when it finished.
#[derive(Debug, Clone, PartialEq)]
pub struct RunTotals {
    pub run_id: i32,
    pub workload_id: i32,
    pub duration_secs: Option<f64>,
    pub requests: u64,
    pub failed: u64,
    /// When its first request was taken (Unix s): where its failures are counted.
    pub first_request_at: Option<i64>,
    pub failed_llm_id: Option<i16>,
}

/// Exact counts from the raw requests: one pass over the window's rows, grouped by request.
/// A simulated request's TPOT is 1000 / its decode speed (simulate stores TPS, not TPOT).
pub async fn exact(
    client: &impl GenericClient,
    window: &Bounds,
    workloads: Option<&[i32]>,
    ids: RequestMetrics,
    t: Thresholds,
) -> Result<Vec<RunCount>> {
    let none = -1i16;
    let rows = client
        .query(
            "WITH q AS (
                 SELECT m.run_id, m.llm_id, m.request,
                        min(m.value) FILTER (WHERE m.metric_id = $4) AS ttft,
                        min(m.value) FILTER (WHERE m.metric_id = $5) AS tpot,
                        min(m.value) FILTER (WHERE m.metric_id = $6) AS e2e,
                        min(m.value) FILTER (WHERE m.metric_id = $7) AS tps,
                        min(m.value) FILTER (WHERE m.metric_id = $8) AS rps
                 FROM llm_metrics m
                 WHERE m.request IS NOT NULL
                   AND m.created_at >= to_timestamp($1) AND m.created_at < to_timestamp($2)
                   AND ($3::int[] IS NULL
                        OR m.run_id IN (SELECT id FROM runs WHERE workload_id = ANY($3)))
                 GROUP BY m.run_id, m.llm_id, m.request)
             SELECT q.llm_id, r.workload_id, q.run_id,
                    count(*),
                    count(*) FILTER (WHERE ($9::float8 IS NULL OR q.ttft <= $9)
                        AND ($10::float8 IS NULL OR coalesce(q.tpot,
                                CASE WHEN r.source = 'simulate' THEN 1000 / q.tps END) <= $10)
                        AND ($11::float8 IS NULL OR q.e2e <= $11)),
                    sum(1 / q.rps) FILTER (WHERE r.source = 'simulate'),
                    count(k.tokens) FILTER (WHERE k.tokens >= 1 - 1e-9),
                    coalesce(sum(k.tokens) FILTER (WHERE k.tokens >= 1 - 1e-9), 0)
             FROM q JOIN runs r ON r.id = q.run_id
             -- A request's output tokens from its values (joint::output_tokens).
             CROSS JOIN LATERAL (SELECT CASE WHEN r.source = 'simulate'
                                             THEN (q.e2e - q.ttft) * q.tps / 1000
                                             ELSE (q.e2e - q.ttft) / nullif(q.tpot, 0) + 1
                                        END AS tokens) k
             GROUP BY q.llm_id, q.run_id, r.id",
            &[
                &secs(window.from, f64::NEG_INFINITY),
                &secs(window.to, f64::INFINITY),
                &workloads,
                &ids.ttft.unwrap_or(none),
                &ids.tpot.unwrap_or(none),
                &ids.e2e.unwrap_or(none),
                &ids.tps.unwrap_or(none),
                &ids.rps.unwrap_or(none),
                &t.ttft,
                &t.tpot,
                &t.e2e,
            ],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read requests"))?;
    Ok(rows
        .iter()
        .map(|r| RunCount {
            llm_id: r.get(0),
            workload_id: r.get(1),
            run_id: r.get(2),
            ok: r.get::<_, i64>(3) as u64,
            good: r.get::<_, i64>(4) as u64,
            simulated_seconds: r.get(5),
            tokened: r.get::<_, i64>(6) as u64,
            tokens: r.get(7),
        })
        .collect())
}

/// The request totals of runs in `workloads` (`None`: all) that have a duration or failures.
pub async fn run_totals(
    client: &impl GenericClient,
    workloads: Option<&[i32]>,
) -> Result<Vec<RunTotals>> {
    let rows = client
        .query(
            "SELECT id, workload_id,
                    (params->'outcome'->>'duration_secs')::float8,
                    coalesce((params->'outcome'->>'requests')::bigint, 0),
                    coalesce((params->'outcome'->>'failed_requests')::bigint, 0),
                    (params->'outcome'->>'first_request_at')::bigint,
                    (params->'outcome'->>'failed_llm_id')::smallint
             FROM runs
             WHERE status <> 'deleted'
               AND ((params->'outcome'->>'duration_secs') IS NOT NULL
                    OR coalesce((params->'outcome'->>'failed_requests')::bigint, 0) > 0)
               AND ($1::int[] IS NULL OR workload_id = ANY($1))",
            &[&workloads],
        )
        .await
        .map_err(|e| super::schema_hint(e, "failed to read runs"))?;
    Ok(rows
        .iter()
        .map(|r| RunTotals {
            run_id: r.get(0),
            workload_id: r.get(1),
            duration_secs: r.get(2),
            requests: r.get::<_, i64>(3) as u64,
            failed: r.get::<_, i64>(4) as u64,
            first_request_at: r.get(5),
            failed_llm_id: r.get(6),
        })
        .collect())
}

impl RunTotals {
    /// The run time one request of the run stands for: its duration ÷ its requests.
    pub fn share(&self) -> Option<f64> {
        self.duration_secs
            .map(|d| d / (self.requests + self.failed).max(1) as f64)
    }
}

/// The metric ids of a request's values, from the catalogue table.
pub async fn request_metrics(client: &impl GenericClient) -> Result<RequestMetrics> {
    let rows = client
        .query("SELECT name, id FROM metrics", &[])
        .await
        .map_err(|e| super::schema_hint(e, "failed to read the metrics"))?;
    let id = |m: MetricKind| {
        rows.iter()
            .find(|r| r.get::<_, &str>(0) == m.name())
            .map(|r| r.get::<_, i16>(1))
    };
    Ok(RequestMetrics {
        ttft: id(MetricKind::Ttft),
        tpot: id(MetricKind::Tpot),
        e2e: id(MetricKind::E2eLatency),
        tps: id(MetricKind::Tps),
        rps: id(MetricKind::Rps),
    })
}
