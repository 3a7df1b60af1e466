-- AIFlow for Go, schema version 18: a user event addressed to one workflow
-- execution (its execution id set, not sent to the whole namespace, its
-- workflow named) records in target the partition of that execution
-- (store.Placement.Target); NULL for every other event. A partition's
-- consumer reads such an event only when the execution is in the partition
-- or when a trigger of one of its workflows expects the event's key
-- (store.ConsumeParams.AddressedKeys), where every partition read it before.
-- The events appended before this migration, and those that
-- {schema}.send_event appends, have no target: every partition reads them,
-- as before. Adding a nullable column without a default rewrites nothing.
-- {schema} is the quoted schema.

ALTER TABLE {schema}.aiflow_event ADD COLUMN target integer;
