DROP TABLE shipper_partitions;
ALTER TABLE result_tables DROP COLUMN partitions;
ALTER TABLE raw_datas DROP COLUMN partition_key;
ALTER TABLE raw_datas DROP COLUMN partitions;
