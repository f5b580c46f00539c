-- Raw data sources (BKData access): records arrive over HTTP or straight onto the bus
-- subject `bkdata.raw.{id}`.
CREATE TABLE raw_datas (
    id                BIGSERIAL PRIMARY KEY,
    bk_biz_id         BIGINT NOT NULL,
    raw_data_name     TEXT NOT NULL,
    raw_data_alias    TEXT NOT NULL DEFAULT '',
    data_encoding     TEXT NOT NULL DEFAULT 'UTF-8',
    data_scenario     TEXT NOT NULL DEFAULT 'custom',
    sensitivity       TEXT NOT NULL DEFAULT 'private',
    description       TEXT NOT NULL DEFAULT '',
    maintainer        TEXT NOT NULL DEFAULT '',
    bk_app_code       TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by        TEXT NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    records_ingested  BIGINT NOT NULL DEFAULT 0,
    last_ingest_at    TIMESTAMPTZ,
    UNIQUE (bk_biz_id, raw_data_name)
);
