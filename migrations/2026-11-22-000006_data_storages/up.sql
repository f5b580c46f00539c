-- A result table bound to a storage cluster (`data_storages/`). One binding per result table
-- and storage type; `physical_table_name` is the table, key prefix or index it lands in.
CREATE TABLE data_storages (
    result_table_id      TEXT NOT NULL REFERENCES result_tables (result_table_id) ON DELETE CASCADE,
    storage_type         TEXT NOT NULL CHECK (storage_type IN ('postgresql', 'mysql', 'tspider', 'redis', 'es', 'queue')),
    cluster_name         TEXT NOT NULL REFERENCES storage_clusters (cluster_name),
    physical_table_name  TEXT NOT NULL,
    expires              TEXT NOT NULL,
    expire_days          INTEGER,
    storage_config       JSONB NOT NULL DEFAULT '{}',
    fields               JSONB NOT NULL,
    raw_data_id          BIGINT,
    bk_biz_id            BIGINT NOT NULL,
    data_type            TEXT NOT NULL DEFAULT 'clean',
    bk_app_code          TEXT NOT NULL,
    created_by           TEXT NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by           TEXT NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (result_table_id, storage_type)
);
CREATE INDEX data_storages_raw_data ON data_storages (raw_data_id);
CREATE INDEX data_storages_biz ON data_storages (bk_biz_id);

-- The shipper of a data storage (`tasks/`): its state and counters. The stream position it has
-- committed lives in the storage itself (written with the rows); `last_seq` mirrors it.
CREATE TABLE shippers (
    result_table_id  TEXT NOT NULL,
    storage_type     TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'stopped' CHECK (status IN ('running', 'stopped', 'failed')),
    status_message   TEXT NOT NULL DEFAULT '',
    rows_written     BIGINT NOT NULL DEFAULT 0,
    batches          BIGINT NOT NULL DEFAULT 0,
    dead_letters     BIGINT NOT NULL DEFAULT 0,
    last_seq         BIGINT NOT NULL DEFAULT 0,
    last_write_at    TIMESTAMPTZ,
    started_at       TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (result_table_id, storage_type),
    FOREIGN KEY (result_table_id, storage_type) REFERENCES data_storages ON DELETE CASCADE
);

-- Rows a storage refused for good (Elasticsearch mapping errors…), kept for operators.
CREATE TABLE shipper_dead_letters (
    id               BIGSERIAL PRIMARY KEY,
    result_table_id  TEXT NOT NULL,
    storage_type     TEXT NOT NULL,
    seq              BIGINT NOT NULL,
    item_index       INTEGER NOT NULL,
    error            TEXT NOT NULL,
    document         TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (result_table_id, storage_type) REFERENCES data_storages ON DELETE CASCADE
);
CREATE INDEX shipper_dead_letters_recent ON shipper_dead_letters (result_table_id, storage_type, id DESC);
