ALTER TABLE alerts RESET (fillfactor);
CREATE INDEX alerts_next_status ON alerts (next_status_time) WHERE next_status IS NOT NULL;
DROP TABLE alert_inbox;
ALTER TABLE alert_events ALTER COLUMN doc TYPE JSONB USING doc::jsonb;
CREATE INDEX alert_events_pending ON alert_events (seq) WHERE outcome IS NULL;
