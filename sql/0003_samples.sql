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

-- No index either, on purpose. The ranking query reads a whole metric (a quarter of the table),
-- which a sequential scan serves as well as any index, and on this kind of machine even one small
-- BRIN index made binary COPY ~50% slower (5 M rows, one stream: 4.2 s without, 6.1-6.9 s with).
-- Rankings at scale come from per-batch summaries (a later migration), not from this table.
