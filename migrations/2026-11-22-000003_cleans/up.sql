-- Result tables: typed outputs of cleans (and later of realtime nodes). `fields` holds
-- [{field_name, field_type, field_alias, is_dimension, field_index}] as bklog sends them.
CREATE TABLE result_tables (
    result_table_id          TEXT PRIMARY KEY,
    bk_biz_id                BIGINT NOT NULL,
    result_table_name        TEXT NOT NULL,
    result_table_name_alias  TEXT NOT NULL DEFAULT '',
    processing_type          TEXT NOT NULL,
    description              TEXT NOT NULL DEFAULT '',
    fields                   JSONB NOT NULL,
    bk_app_code              TEXT NOT NULL,
    created_by               TEXT NOT NULL,
    created_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by               TEXT NOT NULL,
    updated_at               TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Cleans: a raw data's json_config producing one result table (processing_id = its id).
CREATE TABLE cleans (
    processing_id      TEXT PRIMARY KEY REFERENCES result_tables (result_table_id) ON DELETE CASCADE,
    raw_data_id        BIGINT NOT NULL REFERENCES raw_datas (id),
    bk_biz_id          BIGINT NOT NULL,
    clean_config_name  TEXT NOT NULL DEFAULT '',
    description        TEXT NOT NULL DEFAULT '',
    json_config        JSONB NOT NULL,
    status             TEXT NOT NULL DEFAULT 'stopped' CHECK (status IN ('stopped', 'started', 'failed')),
    bk_app_code        TEXT NOT NULL,
    created_by         TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by         TEXT NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX cleans_raw_data ON cleans (raw_data_id);
