-- Views the Grafana dashboards read, so dashboards depend on these names and columns only,
-- not on the samples table (which later migrations may summarise or expire).

-- Per metric and LLM: the statistics of `llmrank rank`, and the rank by mean, best first by
-- the metric's direction.
CREATE VIEW llm_metric_stats AS
SELECT m.name AS metric,
       m.unit,
       m.direction,
       l.name AS llm,
       s.n,
       s.mean,
       s.stddev,
       s.p50,
       s.p90,
       s.p99,
       rank() OVER (PARTITION BY m.id
                    ORDER BY CASE m.direction WHEN 'lower' THEN s.mean ELSE -s.mean END) AS rank_by_mean,
       rank() OVER (PARTITION BY m.id
                    ORDER BY CASE m.direction WHEN 'lower' THEN s.p99 ELSE -s.p99 END) AS rank_by_p99
FROM (
    SELECT metric_id, llm_id,
           count(*)          AS n,
           avg(value)        AS mean,
           stddev_samp(value) AS stddev,
           percentile_cont(0.5)  WITHIN GROUP (ORDER BY value) AS p50,
           percentile_cont(0.9)  WITHIN GROUP (ORDER BY value) AS p90,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY value) AS p99
    FROM llm_metrics
    GROUP BY metric_id, llm_id
) s
JOIN metrics m ON m.id = s.metric_id
JOIN llms l ON l.id = s.llm_id;

-- Runs with the rows their committed batches hold.
CREATE VIEW run_summary AS
SELECT r.id, r.source, r.seed, r.status, r.started_at, r.finished_at,
       coalesce(b.rows, 0)::bigint AS rows,
       coalesce(b.batches, 0)::bigint AS batches
FROM runs r
LEFT JOIN (SELECT run_id, sum(rows) AS rows, count(*) AS batches FROM batches GROUP BY run_id) b
       ON b.run_id = r.id;
