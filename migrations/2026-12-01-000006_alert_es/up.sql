-- Alert and event documents for Elasticsearch (when an `es` cluster is configured for alerts):
-- the builder queues what it wrote in the same transaction (an outbox), a writer sends the
-- queue with `_bulk` and removes what ES took. What ES refuses for good is kept here with why.
CREATE TABLE alert_es_outbox (
    kind       TEXT NOT NULL CHECK (kind IN ('alert', 'event')),
    doc_id     TEXT NOT NULL,
    queued_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, doc_id)
);

CREATE TABLE alert_es_rejected (
    id           BIGSERIAL PRIMARY KEY,
    kind         TEXT NOT NULL,
    doc_id       TEXT NOT NULL,
    index_name   TEXT NOT NULL,
    error        TEXT NOT NULL,
    document     JSONB NOT NULL,
    rejected_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
