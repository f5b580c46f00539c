DELETE FROM data_storages WHERE storage_type = 'alert';
DELETE FROM storage_clusters WHERE cluster_type = 'alert';
ALTER TABLE data_storages DROP CONSTRAINT data_storages_storage_type_check;
ALTER TABLE data_storages ADD CONSTRAINT data_storages_storage_type_check
    CHECK (storage_type IN ('postgresql', 'mysql', 'tspider', 'redis', 'es', 'queue'));
ALTER TABLE storage_clusters DROP CONSTRAINT storage_clusters_cluster_type_check;
ALTER TABLE storage_clusters ADD CONSTRAINT storage_clusters_cluster_type_check
    CHECK (cluster_type IN ('postgresql', 'mysql', 'tspider', 'redis', 'es', 'queue'));
DROP TABLE alert_es_rejected;
DROP TABLE alert_es_outbox;
