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
