-- Scale: rankings read summaries, raw samples are partitioned by day so retention can drop them.

-- The view over the raw samples goes; it is rebuilt below over the summaries.
DROP VIEW llm_metric_stats;

-- Raw samples, partitioned by day of created_at (UTC). The table keeps its name and columns.
-- Partitions are named llm_metrics_YYYYMMDD and created by the schema owner (`seed` and the
-- long-running commands' upkeep, see llmrank_ensure_partition); a row whose day has no
-- partition yet lands in llm_metrics_default, so a write never fails for want of one, and the
-- upkeep moves such rows into their day's partition when it creates it.
ALTER TABLE llm_metrics RENAME TO llm_metrics_unpartitioned;
CREATE TABLE llm_metrics (
    llm_id     smallint         NOT NULL,
    metric_id  smallint         NOT NULL,
    run_id     integer          NOT NULL,
    value      double precision NOT NULL,
    created_at timestamptz      NOT NULL
) PARTITION BY RANGE (created_at);
CREATE TABLE llm_metrics_default PARTITION OF llm_metrics DEFAULT;

-- Creates the partition of the day holding `at` when missing, moving the default partition's
-- rows of that day into it. Returns true when it created one. Callers serialise upkeep with an
-- advisory lock. CREATE + ATTACH (not CREATE ... PARTITION OF) takes only a SHARE UPDATE
-- EXCLUSIVE lock on llm_metrics, so writers COPYing into other days are not blocked.
CREATE FUNCTION llmrank_ensure_partition(at timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    lo   timestamptz := date_bin('1 day', at, timestamptz '2000-01-01 00:00:00+00');
    hi   timestamptz := lo + interval '1 day';
    part text := 'llm_metrics_' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE llm_metrics)', part);
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (created_at >= %L AND created_at < %L)',
                   part, part || '_bounds', lo, hi);
    EXECUTE format('WITH moved AS (DELETE FROM llm_metrics_default
                                   WHERE created_at >= %L AND created_at < %L RETURNING *)
                    INSERT INTO %I SELECT * FROM moved', lo, hi, part);
    EXECUTE format('ALTER TABLE llm_metrics ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   part, lo, hi);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_bounds');
    RETURN true;
END
$$;

-- Existing samples move into day partitions.
DO $$
DECLARE
    d timestamptz;
BEGIN
    FOR d IN SELECT DISTINCT date_bin('1 day', created_at, timestamptz '2000-01-01 00:00:00+00')
             FROM llm_metrics_unpartitioned LOOP
        PERFORM llmrank_ensure_partition(d);
    END LOOP;
END
$$;
INSERT INTO llm_metrics SELECT * FROM llm_metrics_unpartitioned;
DROP TABLE llm_metrics_unpartitioned;

-- Summaries per metric, bucket (3600 = hour, 86400 = day, 0 = all time with bucket_start
-- -infinity) and LLM: n, mean, M2 (sum of squared deviations), min, max, and a DDSketch
-- (relative accuracy 0.5%) packed as one bigint per non-empty bin: key << 40 | count, sorted.
-- Written in the same transaction as each batch (see src/summary.rs and src/ingest/), so they
-- never disagree with the samples.
CREATE TABLE llm_metric_summaries (
    metric_id    smallint         NOT NULL,
    bucket_secs  integer          NOT NULL CHECK (bucket_secs IN (0, 3600, 86400)),
    bucket_start timestamptz      NOT NULL,
    llm_id       smallint         NOT NULL,
    n            bigint           NOT NULL CHECK (n > 0),
    mean         double precision NOT NULL,
    m2           double precision NOT NULL,
    min          double precision NOT NULL,
    max          double precision NOT NULL,
    sketch       bigint[]         NOT NULL,
    PRIMARY KEY (metric_id, bucket_secs, bucket_start, llm_id)
);
-- A sketch has a few hundred bins (about ln(max/min)/0.01, whatever n): keep rows inline and
-- uncompressed up to a page, so a ranking reads them without TOAST fetches or decompression.
ALTER TABLE llm_metric_summaries SET (toast_tuple_target = 8160);
ALTER TABLE llm_metric_summaries ALTER COLUMN sketch SET STORAGE EXTERNAL;

-- Adds two packed sketches bin by bin: a two-pointer merge of arrays sorted by key (both
-- always are: Rust packs them sorted and this keeps them so), ~40% cheaper here than
-- unnest + GROUP BY. Every batch runs it for each of its summary rows.
CREATE FUNCTION llmrank_sketch_merge(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    i   int := 1;
    j   int := 1;
    na  int := coalesce(cardinality(a), 0);
    nb  int := coalesce(cardinality(b), 0);
    ka  bigint;
    kb  bigint;
    out bigint[] := '{}';
BEGIN
    WHILE i <= na OR j <= nb LOOP
        IF j > nb THEN
            out := out || a[i]; i := i + 1;
        ELSIF i > na THEN
            out := out || b[j]; j := j + 1;
        ELSE
            ka := a[i] >> 40;
            kb := b[j] >> 40;
            IF ka = kb THEN
                out := out || (a[i] + (b[j] & 1099511627775)); i := i + 1; j := j + 1;
            ELSIF ka < kb THEN
                out := out || a[i]; i := i + 1;
            ELSE
                out := out || b[j]; j := j + 1;
            END IF;
        END IF;
    END LOOP;
    RETURN out;
END
$$;

-- The sketch's value of the i-th smallest sample (0-based), clamped to [lo, hi]: the same
-- representative the Rust side uses, 2·γ^k/(γ + 1) with γ = 1.005/0.995.
CREATE FUNCTION llmrank_sketch_order_stat(sketch bigint[], i bigint, lo double precision,
                                          hi double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(greatest(
               CASE WHEN k = -8388608 THEN 0
                    ELSE 2 * exp(k * ln(1.005::float8 / 0.995)) / (1.005::float8 / 0.995 + 1) END,
               lo), hi)
    FROM (SELECT e >> 40 AS k, sum(e & 1099511627775) OVER (ORDER BY e) AS seen
          FROM unnest(sketch) AS x(e)) AS bins
    WHERE seen > i
    ORDER BY seen
    LIMIT 1
$$;

-- percentile_cont(q) from a summary: interpolation between the sketched order statistics
-- around rank q·(n − 1), the exact min and max at the ends (src/stats.rs does the same).
CREATE FUNCTION llmrank_percentile(sketch bigint[], n bigint, q double precision,
                                   lo double precision, hi double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN n = 1 THEN lo
                ELSE a + (b - a) * (pos - floor(pos)) END
    FROM (SELECT q * (n - 1) AS pos) AS p,
         LATERAL (SELECT floor(pos)::bigint AS i) AS r,
         LATERAL (SELECT CASE WHEN i = 0 THEN lo WHEN i >= n - 1 THEN hi
                              ELSE llmrank_sketch_order_stat(sketch, i, lo, hi) END AS a,
                         CASE WHEN i + 1 >= n - 1 THEN hi
                              ELSE llmrank_sketch_order_stat(sketch, i + 1, lo, hi) END AS b) AS v
$$;

-- Per metric and LLM, all time: the statistics of `llmrank rank` (percentiles within 0.5%),
-- read from one summary row per LLM, whatever the number of samples.
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
       s.p95,
       s.p99,
       rank() OVER (PARTITION BY m.id
                    ORDER BY CASE m.direction WHEN 'lower' THEN s.mean ELSE -s.mean END) AS rank_by_mean,
       rank() OVER (PARTITION BY m.id
                    ORDER BY CASE m.direction WHEN 'lower' THEN s.p99 ELSE -s.p99 END) AS rank_by_p99
FROM (
    SELECT metric_id, llm_id, n, mean,
           CASE WHEN n > 1 THEN sqrt(m2 / (n - 1)) END AS stddev,
           llmrank_percentile(sketch, n, 0.5, min, max)  AS p50,
           llmrank_percentile(sketch, n, 0.9, min, max)  AS p90,
           llmrank_percentile(sketch, n, 0.95, min, max) AS p95,
           llmrank_percentile(sketch, n, 0.99, min, max) AS p99
    FROM llm_metric_summaries
    WHERE bucket_secs = 0
) s
JOIN metrics m ON m.id = s.metric_id
JOIN llms l ON l.id = s.llm_id;

-- Per metric, LLM and hour: the trend Grafana draws.
CREATE VIEW llm_metric_hourly AS
SELECT m.name AS metric,
       l.name AS llm,
       s.bucket_start AS time,
       s.n,
       s.mean,
       llmrank_percentile(s.sketch, s.n, 0.5, s.min, s.max)  AS p50,
       llmrank_percentile(s.sketch, s.n, 0.99, s.min, s.max) AS p99
FROM llm_metric_summaries s
JOIN metrics m ON m.id = s.metric_id
JOIN llms l ON l.id = s.llm_id
WHERE s.bucket_secs = 3600;

-- Changes to the data that no batch records (summaries rebuilt, retention): part of the data
-- version `serve` keys its cache by.
CREATE TABLE data_changes (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at   timestamptz NOT NULL DEFAULT now(),
    what text NOT NULL
);

-- Raw samples older than this were dropped by retention (one row, absent until the first drop);
-- `rank --exact` refuses windows that reach before it. Summaries are kept.
CREATE TABLE retention_horizon (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    raw_before timestamptz NOT NULL
);
