ALTER TABLE cleans DROP COLUMN counted_to;
