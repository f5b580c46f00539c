-- What bklog's access and auth calls need (issue 19).
-- The collector of a raw data (BKData's collectorhub): `stopped` refuses ingest until started.
ALTER TABLE raw_datas ADD COLUMN collector_status TEXT NOT NULL DEFAULT 'started';
-- The deploy plan's parts not modelled as columns (tags, data_source, data_region,
-- data_source_tags, data_scenario_id, permission, access_conf_info), answered back as sent.
ALTER TABLE raw_datas ADD COLUMN access_extra JSONB NOT NULL DEFAULT '{}';

-- BKData data tokens (auth/tokens/): a secret an app presents instead of a user
-- (bkdata_authentication_method=token), granting actions on named objects. Only a hash of
-- the token is kept; it is shown once, at creation.
CREATE TABLE data_tokens (
    id                      BIGSERIAL PRIMARY KEY,
    token_hash              TEXT NOT NULL UNIQUE,
    token_masked            TEXT NOT NULL,
    -- The app that may present it.
    data_token_bk_app_code  TEXT NOT NULL,
    -- The app that created it (and may read and update it).
    bk_app_code             TEXT NOT NULL,
    status                  TEXT NOT NULL DEFAULT 'enabled',
    description             TEXT NOT NULL DEFAULT '',
    expired_at              TIMESTAMPTZ NOT NULL,
    created_by              TEXT NOT NULL,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by              TEXT NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE data_token_permissions (
    id                  BIGSERIAL PRIMARY KEY,
    token_id            BIGINT NOT NULL REFERENCES data_tokens(id) ON DELETE CASCADE,
    action_id           TEXT NOT NULL,
    object_class        TEXT NOT NULL,
    scope_id_key        TEXT NOT NULL,
    scope_object_class  TEXT NOT NULL,
    -- The object's id under scope_id_key (e.g. the result table id).
    scope_id            TEXT NOT NULL,
    scope               JSONB NOT NULL,
    status              TEXT NOT NULL DEFAULT 'active',
    created_by          TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by          TEXT NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (token_id, action_id, scope_object_class, scope_id)
);

-- Resources asked for a flow (dataflow tool/job/set_resource/: bklog's usage type and input
-- peak), recorded and answered back; the worker fleet is shared, so they reserve nothing.
ALTER TABLE flows ADD COLUMN resource_settings JSONB NOT NULL DEFAULT '{}';
