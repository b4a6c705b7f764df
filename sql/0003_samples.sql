-- The samples. Append-only and never addressed one by one, so no per-row primary key:
-- on a 2-core machine a btree primary key cuts binary COPY speed 2.5-4x.
-- Column order packs without alignment padding (2 + 2 + 4 + 8 + 8 bytes).
-- No foreign keys either: they would be checked row by row during COPY; the writer
-- takes its ids from the catalogue and the run it created.
CREATE TABLE llm_metrics (
    llm_id     smallint         NOT NULL,
    metric_id  smallint         NOT NULL,
    run_id     integer          NOT NULL,
    value      double precision NOT NULL,
    created_at timestamptz      NOT NULL
);

-- Writers send each batch's rows grouped by metric, so pages hold long runs of one metric and
-- one LLM: a small BRIN index lets a ranking read only its metric's pages, and the run/time
-- columns serve per-run and time-window queries, at a negligible cost to COPY.
CREATE INDEX llm_metrics_brin ON llm_metrics
    USING brin (metric_id, llm_id, run_id, created_at) WITH (pages_per_range = 16);
