DROP TABLE raw_datas;
