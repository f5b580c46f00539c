DROP TABLE alert_es_rejected; DROP TABLE alert_es_outbox;
