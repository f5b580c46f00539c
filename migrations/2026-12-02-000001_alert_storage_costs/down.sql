ALTER TABLE alert_es_outbox ALTER COLUMN doc_id TYPE TEXT COLLATE "default";
ALTER TABLE alert_logs ALTER COLUMN alert_id TYPE TEXT COLLATE "default";
ALTER TABLE alerts
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN bk_app_code TYPE TEXT COLLATE "default",
    ALTER COLUMN dedupe_md5 TYPE TEXT COLLATE "default",
    ALTER COLUMN event TYPE JSONB USING event::jsonb,
    ALTER COLUMN dimensions TYPE JSONB USING dimensions::jsonb;
ALTER TABLE alert_events
    ALTER COLUMN id TYPE TEXT COLLATE "default",
    ALTER COLUMN alert_id TYPE TEXT COLLATE "default",
    ALTER COLUMN doc TYPE JSON USING doc::json;
