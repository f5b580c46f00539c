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

-- The alert path as a storage: a data storage of type `alert` ships a result table's rows into
-- it as events (the built-in cluster `default-alert`).
ALTER TABLE storage_clusters DROP CONSTRAINT storage_clusters_cluster_type_check;
ALTER TABLE storage_clusters ADD CONSTRAINT storage_clusters_cluster_type_check
    CHECK (cluster_type IN ('postgresql', 'mysql', 'tspider', 'redis', 'es', 'queue', 'alert'));
ALTER TABLE data_storages DROP CONSTRAINT data_storages_storage_type_check;
ALTER TABLE data_storages ADD CONSTRAINT data_storages_storage_type_check
    CHECK (storage_type IN ('postgresql', 'mysql', 'tspider', 'redis', 'es', 'queue', 'alert'));
