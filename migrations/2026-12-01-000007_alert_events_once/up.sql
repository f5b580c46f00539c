-- Events are written once, by the builder, with their outcome (issue 7's rate: storing an
-- event, claiming it and then updating its outcome wrote each row three times). Events reach
-- the builder through the bus (`alert.cleaned`), or, from inside the platform (its own faults,
-- the `alert` storage), through the small inbox below.
DROP INDEX alert_events_pending;
-- The document as received: `json` keeps the text (checked, not re-encoded); `jsonb` cost
-- more per event than anything else in the insert.
ALTER TABLE alert_events ALTER COLUMN doc TYPE JSON USING doc::json;

-- Cleaned events from callers holding only a database connection, waiting for a builder.
CREATE TABLE alert_inbox (
    seq          BIGSERIAL PRIMARY KEY,
    bk_app_code  TEXT NOT NULL,
    doc          JSON NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A pass rewrites every alert its events touch. With no index on a column an update changes
-- (next_status_time was one) and room left on each page, the new version stays on its page
-- (a HOT update: no index entries written). Due alerts are found among the open ones
-- (`alerts_one_open`), which are few.
DROP INDEX alerts_next_status;
ALTER TABLE alerts SET (fillfactor = 50);
