-- The training store of the schema workflow (seed 002's training_load): DDL, documents and
-- question-SQL pairs per app and business database. `tokens` holds the search terms (ASCII
-- words, CJK characters and character pairs), matched with a GIN index; it does not depend on
-- the database's LC_CTYPE as pg_trgm does for non-ASCII text. `content_hash` makes loading
-- idempotent: the same item loaded twice is one row.
CREATE TABLE training_data (
    id            BIGSERIAL PRIMARY KEY,
    bk_app_code   TEXT NOT NULL,
    db_name       TEXT NOT NULL,
    data_type     TEXT NOT NULL CHECK (data_type IN ('ddl', 'documentation', 'sql')),
    question      TEXT,
    content       TEXT NOT NULL,
    tokens        TEXT[] NOT NULL,
    content_hash  TEXT NOT NULL,
    source_file   TEXT NOT NULL DEFAULT '',
    task_id       TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (bk_app_code, db_name, data_type, content_hash)
);
CREATE INDEX training_data_tokens ON training_data USING GIN (tokens);
CREATE INDEX training_data_app_type ON training_data (bk_app_code, data_type);
