-- Requests kept as requests: each sample row says which request of its run it came from, so the
-- TTFT, TPOT and e2e latency of one request can be joined again (`rank goodput --exact`).
-- (run_id, llm_id, request) names a request; NULL for values that are not a request's (rows
-- written before this migration, generic records without a request column). Adding a
-- nullable column without a default rewrites nothing. The row grows by 4 bytes, which the
-- 8-byte alignment of the heap tuple makes 8 (measured on COPY in the README's Benchmarks).
ALTER TABLE llm_metrics ADD COLUMN request integer;

-- Joint summaries of requests per bucket (3600 = hour, 86400 = day, 0 = all time with
-- bucket_start -infinity), LLM and workload: a sparse log-bucketed histogram over (TTFT, TPOT,
-- e2e) that answers the share of requests meeting any SLO chosen at query time, within the
-- stated bound (src/joint.rs). Written in the same transaction as the samples and their
-- per-metric summaries, merged in Rust under a row lock (cells per row are capped, which SQL
-- cannot do cheaply).
--   n        requests, failed ones included
--   failed   requests the tool counted as failed (they never meet an SLO)
--   timed    requests with a known share of run time; seconds: the sum of those shares
--   resolved per dimension, the lowest and highest cell key kept after folding (1, 1023: none)
--   cells    one bigint per cell: three 10-bit keys (TTFT, TPOT, e2e) << 34 | count
CREATE TABLE llm_request_summaries (
    bucket_secs  integer          NOT NULL CHECK (bucket_secs IN (0, 3600, 86400)),
    bucket_start timestamptz      NOT NULL,
    llm_id       smallint         NOT NULL,
    workload_id  integer          NOT NULL,
    n            bigint           NOT NULL CHECK (n >= 0),
    failed       bigint           NOT NULL CHECK (failed >= 0 AND failed <= n),
    timed        bigint           NOT NULL CHECK (timed >= 0),
    seconds      double precision NOT NULL CHECK (seconds >= 0),
    resolved     smallint[]       NOT NULL,
    cells        bigint[]         NOT NULL,
    PRIMARY KEY (bucket_secs, bucket_start, workload_id, llm_id)
);
-- Cells are read whole; keep them uncompressed (decompressing 64 KiB per row costs more than
-- reading it).
ALTER TABLE llm_request_summaries ALTER COLUMN cells SET STORAGE EXTERNAL;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'llmrank_writer')
       AND EXISTS (SELECT FROM pg_roles WHERE rolname = 'llmrank_reader') THEN
        EXECUTE 'GRANT SELECT ON llm_request_summaries TO llmrank_reader, llmrank_writer';
        EXECUTE 'GRANT INSERT, UPDATE ON llm_request_summaries TO llmrank_writer';
    END IF;
END
$$;
