DROP TABLE alert_inbox;
ALTER TABLE alert_events ALTER COLUMN doc TYPE JSONB USING doc::jsonb;
CREATE INDEX alert_events_pending ON alert_events (seq) WHERE outcome IS NULL;
