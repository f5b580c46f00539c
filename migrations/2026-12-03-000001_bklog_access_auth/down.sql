ALTER TABLE flows DROP COLUMN resource_settings;
DROP TABLE data_token_permissions;
DROP TABLE data_tokens;
ALTER TABLE raw_datas DROP COLUMN access_extra;
ALTER TABLE raw_datas DROP COLUMN collector_status;
