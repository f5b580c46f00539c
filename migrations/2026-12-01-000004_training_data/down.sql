DROP TABLE training_data;
