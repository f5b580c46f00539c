DROP TABLE cleans;
DROP TABLE result_tables;
