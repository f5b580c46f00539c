-- Storage clusters result tables are shipped to. `connection` holds host, port, user,
-- password, database…; the API never returns secrets.
CREATE TABLE storage_clusters (
    cluster_name  TEXT PRIMARY KEY,
    cluster_type  TEXT NOT NULL CHECK (cluster_type IN ('postgresql', 'mysql', 'tspider', 'redis', 'es', 'queue')),
    connection    JSONB NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    is_default    BOOLEAN NOT NULL DEFAULT FALSE,
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by    TEXT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- At most one default cluster per type.
CREATE UNIQUE INDEX storage_clusters_one_default ON storage_clusters (cluster_type) WHERE is_default;
