ALTER TABLE shippers DROP COLUMN stopped_with_clean;
