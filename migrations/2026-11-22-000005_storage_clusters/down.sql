DROP TABLE storage_clusters;
