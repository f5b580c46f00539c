-- What each builder pass costs Postgres (docs/BENCHMARKS.md, "Alerts").
--
-- Ids and digests are ASCII (hex, digits): the indexes they key compare them byte by byte
-- ("C") instead of through the database locale's strcoll (C.UTF-8 is not special-cased as
-- "C" is). Equality is the same; only the cost of each comparison changes.
ALTER TABLE alert_events
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN alert_id TYPE TEXT COLLATE "C",
    -- The document as the clean wrote it (serde_json's output over checked input): valid
    -- JSON by construction, so Postgres no longer checks it again per row. `doc::json`
    -- reads it as JSON in SQL.
    ALTER COLUMN doc TYPE TEXT;
-- An alert's event and dimensions are written by every pass that touches the alert and read
-- by the next: `json` keeps their text (checked, not converted both ways as `jsonb` is).
ALTER TABLE alerts
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN bk_app_code TYPE TEXT COLLATE "C",
    ALTER COLUMN dedupe_md5 TYPE TEXT COLLATE "C",
    ALTER COLUMN event TYPE JSON USING event::json,
    ALTER COLUMN dimensions TYPE JSON USING dimensions::json;
ALTER TABLE alert_logs ALTER COLUMN alert_id TYPE TEXT COLLATE "C";
ALTER TABLE alert_es_outbox ALTER COLUMN doc_id TYPE TEXT COLLATE "C";
