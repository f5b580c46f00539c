DROP TABLE shipper_dead_letters;
DROP TABLE shippers;
DROP TABLE data_storages;
