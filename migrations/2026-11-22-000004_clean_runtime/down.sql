DROP TABLE clean_errors;
ALTER TABLE cleans DROP COLUMN records_in, DROP COLUMN rows_out, DROP COLUMN errors_total,
    DROP COLUMN started_at, DROP COLUMN status_message;
