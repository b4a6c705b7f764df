-- A run's completion changes answers (rankings judge the noise over completed runs: migration
-- 0012), so it moves the data version like a batch does: `runs::finish` records it in
-- data_changes, which writers may now insert into (only the owner could).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'llmrank_writer') THEN
        EXECUTE 'GRANT INSERT ON data_changes TO llmrank_writer';
    END IF;
END
$$;
