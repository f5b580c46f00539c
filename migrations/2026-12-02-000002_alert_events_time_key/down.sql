ALTER TABLE alert_es_outbox DROP COLUMN time;
ALTER TABLE alert_events DROP CONSTRAINT alert_events_pkey;
ALTER TABLE alert_events ADD CONSTRAINT alert_events_pkey PRIMARY KEY (id);
