-- AIFlow for Go, schema version 5: the failed attempts at a partition's next
-- unit of work (a condition that errored or panicked), kept with its cursor so
-- that the bound on attempts before an event is skipped as poison holds
-- across restarts and lease moves. A JSON array of
-- {"event_id", "target", "attempts", "error"}; NULL when there is none.
-- Cleared whenever the cursor moves.

ALTER TABLE {schema}.aiflow_partition ADD COLUMN failures jsonb;
