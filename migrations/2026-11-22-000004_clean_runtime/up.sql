-- Counters of a running clean, and samples of the records it could not clean.
ALTER TABLE cleans
    ADD COLUMN records_in BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN rows_out BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN errors_total BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN started_at TIMESTAMPTZ,
    ADD COLUMN status_message TEXT NOT NULL DEFAULT '';

CREATE TABLE clean_errors (
    id             BIGSERIAL PRIMARY KEY,
    processing_id  TEXT NOT NULL REFERENCES cleans (processing_id) ON DELETE CASCADE,
    raw_seq        BIGINT NOT NULL,
    node_label     TEXT NOT NULL,
    error_name     TEXT NOT NULL,
    error_message  TEXT NOT NULL,
    raw_record     TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX clean_errors_recent ON clean_errors (processing_id, id DESC);
