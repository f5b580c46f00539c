-- The raw position each partition of a clean has counted up to ({"k": seq}), written with
-- the counters: a message cleaned again after a crash is counted once, whether the crash
-- came before or after its rows went out.
ALTER TABLE cleans ADD COLUMN counted_to JSONB NOT NULL DEFAULT '{}';
