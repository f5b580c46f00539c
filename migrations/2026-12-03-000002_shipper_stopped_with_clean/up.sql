-- A shipper stopped by a DELETE of all its table's tasks (with the clean): starting the clean
-- starts it again. Kept as state, not in the status message other writers change.
ALTER TABLE shippers ADD COLUMN stopped_with_clean BOOLEAN NOT NULL DEFAULT false;
UPDATE shippers SET stopped_with_clean = true
 WHERE status = 'stopped' AND status_message LIKE 'stopped with the clean%';
