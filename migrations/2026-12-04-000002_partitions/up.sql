-- Partitions (issue 21): a raw data's and a result table's stream is `partitions` logs
-- (BKData's Kafka partitions, `storage_partitions` in its API). Ingest spreads a raw data's
-- records by the JSON field `partition_key` names, or evenly when it is NULL.
ALTER TABLE raw_datas ADD COLUMN partitions INTEGER NOT NULL DEFAULT 1 CHECK (partitions >= 1);
ALTER TABLE raw_datas ADD COLUMN partition_key TEXT;
ALTER TABLE result_tables ADD COLUMN partitions INTEGER NOT NULL DEFAULT 1 CHECK (partitions >= 1);
-- Where a shipper's counters reach in partitions 1 and up (partition 0's stays in
-- shippers.last_seq, so a one-partition shipper is what it was).
CREATE TABLE shipper_partitions (
    result_table_id TEXT NOT NULL,
    storage_type TEXT NOT NULL,
    partition INTEGER NOT NULL CHECK (partition >= 1),
    last_seq BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (result_table_id, storage_type, partition),
    FOREIGN KEY (result_table_id, storage_type) REFERENCES shippers ON DELETE CASCADE
);
