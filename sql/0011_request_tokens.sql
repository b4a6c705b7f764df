-- Output tokens in the joint request summaries, so a sweep level's output tokens per second
-- (and per GPU) can be drawn against its interactivity (tokens/s per user) at constant cost.
--   tokened  requests whose output tokens are known; tokens: the sum of their output tokens
-- A request's tokens follow from its own values (src/joint.rs `output_tokens`), so a rebuild
-- from the raw requests finds what the writer found. Rows written before this migration hold
-- 0 and 0 (no output throughput) until `llmrank summarize` rebuilds them; adding columns with
-- a constant default rewrites nothing.
ALTER TABLE llm_request_summaries
    ADD COLUMN tokened bigint NOT NULL DEFAULT 0 CHECK (tokened >= 0),
    ADD COLUMN tokens double precision NOT NULL DEFAULT 0 CHECK (tokens >= 0);

-- Cells compressed with lz4 (0010 kept them uncompressed). Every batch rewrites its LLM's hour,
-- day and all-time rows (up to 64 KiB of cells each), and those writes, not the merge, were most
-- of what the joint summaries cost ingest (`llmrank bench`: simulate at 0.75x of PostgreSQL's
-- own parallel COPY with them, 0.94x without them). Sorted cells compress to about 62% with
-- lz4, and lz4 decompresses far faster than pglz, whose cost made 0010 choose no compression.
-- Applies to values written from now on. A server built without lz4 keeps them uncompressed.
DO $$
BEGIN
    ALTER TABLE llm_request_summaries
        ALTER COLUMN cells SET STORAGE EXTENDED,
        ALTER COLUMN cells SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available: request summary cells stay uncompressed';
END
$$;
