-- AIFlow for Go, schema version 18: a user event addressed to one workflow
-- execution (its execution id set, not sent to the whole namespace, its
-- workflow named) records in target the partition of that execution
-- (store.Placement.Target); NULL for every other event. A partition's
-- consumer reads such an event only when the execution is in the partition
-- or when a trigger of one of its workflows expects the event's key
-- (store.ConsumeParams.AddressedKeys), where every partition read it before.
-- The events appended before this migration have no target: every partition
-- reads them, as before. Adding a nullable column without a default
-- rewrites nothing.
--
-- {schema}.send_event records the target too: {schema}.aiflow_target is
-- store.Placement.Execution in SQL (FNV-1a of the namespace, a zero byte and
-- the workflow, modulo the partitions; from the aiflow_meta row
-- "spread_executions_from" on, the execution id's turn after it), and the
-- function's INSERT (as Postgres prints it) is rewritten with the column
-- added; nothing else of it changes. {schema} is the quoted schema;
-- {partitions} the number of partitions.

ALTER TABLE {schema}.aiflow_event ADD COLUMN target integer;

CREATE FUNCTION {schema}.aiflow_target(namespace text, workflow text, execution_id bigint) RETURNS integer
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n    bigint := {partitions};
    b    bytea  := convert_to(aiflow_target.namespace, 'UTF8') || decode('00', 'hex') || convert_to(aiflow_target.workflow, 'UTF8');
    h    bigint := 2166136261;
    w    bigint;
    from_id bigint;
BEGIN
    IF n <= 1 THEN
        RETURN 0;
    END IF;
    FOR i IN 0 .. length(b) - 1 LOOP
        h := ((h # get_byte(b, i)::bigint) * 16777619) & 4294967295;
    END LOOP;
    w := h % n;
    SELECT m.value::bigint INTO from_id FROM {schema}.aiflow_meta m WHERE m.key = 'spread_executions_from';
    IF from_id IS NULL OR from_id <= 0 OR aiflow_target.execution_id < from_id THEN
        RETURN w;
    END IF;
    RETURN (w + aiflow_target.execution_id % n) % n;
END;
$fn$;

DO $migration$
DECLARE
    fn   regprocedure := '{schema}.send_event(text, text, text, text, bigint, bigint, boolean, text, text)'::regprocedure;
    old1 text := 'trace_parent)';
    new1 text := 'trace_parent, target)';
    old2 text := 'coalesce(send_event.traceparent, ''''))';
    new2 text := 'coalesce(send_event.traceparent, ''''),'
        || ' CASE WHEN v_exec <> 0 AND v_workflow <> '''' AND NOT coalesce(send_event.to_namespace, false)'
        || ' THEN {schema}.aiflow_target(send_event.namespace, v_workflow, v_exec) END)';
    def  text := pg_get_functiondef(fn);
BEGIN
    IF (length(def) - length(replace(def, old1, ''))) / length(old1) <> 1
        OR (length(def) - length(replace(def, old2, ''))) / length(old2) <> 1 THEN
        RAISE EXCEPTION 'aiflow: migration 18: % does not insert its event as expected', fn;
    END IF;
    EXECUTE replace(replace(def, old1, new1), old2, new2);
END
$migration$;
