ALTER TABLE flow_nodes
    DROP COLUMN status_message, DROP COLUMN checkpoint, DROP COLUMN rows_in,
    DROP COLUMN rows_out, DROP COLUMN late_rows, DROP COLUMN bad_rows, DROP COLUMN windows;
DROP TABLE flow_deploys;
