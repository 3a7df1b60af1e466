-- AIFlow for Go, schema version 13: the executions of one workflow are
-- spread over the partitions (store.Placement). An execution whose id is at
-- least the value of the aiflow_meta row "spread_executions_from" lives in
-- the partition its id chooses; the executions made before this migration
-- (smaller ids, including ids already reserved) stay in their workflow's
-- partition, where their engine state is. The row is the execution id
-- sequence's next value, and never changes afterwards.
--
-- Enabling and disabling a workflow now concerns every partition (those
-- events belong to partition -1, and the partitions read them in log order
-- with the user events): so that the partitions learn of the workflows
-- disabled before this migration, a disable event is appended for each.
-- {schema} is the quoted schema.

INSERT INTO {schema}.aiflow_meta (key, value)
SELECT 'spread_executions_from', (CASE WHEN is_called THEN last_value + 1 ELSE last_value END)::text
FROM {schema}.aiflow_execution_id_seq;

INSERT INTO {schema}.aiflow_event (partition, kind, namespace, key, sender, workflow)
SELECT -1, 2, namespace, 'aiflow.disable_workflow', 'aiflow.client', name
FROM {schema}.aiflow_workflow WHERE NOT enabled ORDER BY namespace, name;
