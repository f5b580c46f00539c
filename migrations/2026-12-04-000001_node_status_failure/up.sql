-- Node states are an enum now (no-start, running, failure); the flow monitor of earlier
-- versions also read `failed` as `failure`. Rows written with it keep their meaning.
UPDATE flow_nodes SET status = 'failure' WHERE status = 'failed';
