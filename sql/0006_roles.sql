-- Least privilege: two group roles, granted what each kind of process needs and nothing more.
-- The schema owner (who runs these migrations, partition upkeep and retention) keeps DDL.
--   llmrank_writer: simulate, import, POST /samples: record runs, write batches, samples and
--                   summaries (straight into day partitions too); no DDL.
--   llmrank_reader: serve, rank, Grafana: read everything; write nothing.
-- Login roles join them (`CREATE ROLE simulate LOGIN PASSWORD '...' IN ROLE llmrank_writer`).
-- Where the owner may not create roles (a managed database), this step is skipped with a notice.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['llmrank_writer', 'llmrank_reader'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN NULL; -- created concurrently
                WHEN insufficient_privilege THEN
                    RAISE NOTICE 'cannot create role %: least-privilege roles skipped', r;
                    RETURN;
            END;
        END IF;
    END LOOP;

    EXECUTE 'GRANT USAGE ON SCHEMA public TO llmrank_writer, llmrank_reader';
    EXECUTE 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO llmrank_reader, llmrank_writer';
    EXECUTE 'GRANT INSERT, UPDATE ON runs, batches, llm_metric_summaries TO llmrank_writer';
    EXECUTE 'GRANT INSERT ON llm_metrics, llm_metrics_default TO llmrank_writer';
    EXECUTE 'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO llmrank_writer';
    -- Day partitions the owner creates later: readable by both, writable by writers.
    EXECUTE 'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO llmrank_reader, llmrank_writer';
    EXECUTE 'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT INSERT ON TABLES TO llmrank_writer';
    -- Partitions that exist already.
    FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'llm_metrics'::regclass LOOP
        EXECUTE format('GRANT INSERT ON %I TO llmrank_writer', r);
    END LOOP;
END
$$;
