-- LLM ids are handed out as the next free one under an advisory lock held to COMMIT (see
-- `db::catalogue::ensure_llm`), not by a sequence: a rejected import rolls back and burns no
-- id, so the smallint space counts LLMs that exist, not attempts.
ALTER TABLE llms ALTER COLUMN id DROP IDENTITY IF EXISTS;
