-- Nothing to undo: `failure` is what `failed` meant.
SELECT 1;
