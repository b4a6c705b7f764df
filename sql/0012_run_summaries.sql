-- One summary per run × metric × LLM: each run's own statistic, so a ranking can judge the
-- noise between runs (issue 19: the spread between runs of one workload is usually larger than
-- the spread between requests) at the cost of one row per run, not of its samples.
-- Written in the transaction of the batch (or input) that adds to it, with the same merge as
-- llm_metric_summaries; removed with its run. Runs written before this migration have none:
-- their rankings judge the noise between requests, as before.
--   first_hour, last_hour: the first and last hour its samples fall in (a window holds the
--   run's row when it holds [first_hour, last_hour + 1 h))
CREATE TABLE run_summaries (
    metric_id   smallint         NOT NULL,
    run_id      integer          NOT NULL REFERENCES runs (id),
    llm_id      smallint         NOT NULL,
    workload_id integer          NOT NULL,
    first_hour  timestamptz      NOT NULL,
    last_hour   timestamptz      NOT NULL,
    n           bigint           NOT NULL CHECK (n > 0),
    mean        double precision NOT NULL,
    m2          double precision NOT NULL,
    min         double precision NOT NULL,
    max         double precision NOT NULL,
    sketch      bigint[]         NOT NULL,
    PRIMARY KEY (metric_id, run_id, llm_id)
);
ALTER TABLE run_summaries SET (toast_tuple_target = 8160);
ALTER TABLE run_summaries ALTER COLUMN sketch SET STORAGE EXTERNAL;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'llmrank_writer')
       AND EXISTS (SELECT FROM pg_roles WHERE rolname = 'llmrank_reader') THEN
        EXECUTE 'GRANT SELECT ON run_summaries TO llmrank_reader, llmrank_writer';
        EXECUTE 'GRANT INSERT, UPDATE ON run_summaries TO llmrank_writer';
    END IF;
END
$$;
