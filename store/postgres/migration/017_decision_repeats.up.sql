-- AIFlow for Go, schema version 17: a ring of decisions (migration 11) counts
-- repeats and keeps its newest entry in the row's own columns. An
-- evaluation that repeats the ring's newest entry (same outcome, reason and
-- task execution: store.Decision.Repeats) is counted in it (count, the
-- latest event in event_id, event_key, time; the first in first_event_id)
-- rather than appended, so a condition false at every event keeps one entry.
-- The older entries, oldest first, are in the older_* arrays (at most
-- store.DecisionsKept - 1), each with its id, count and first event. A unit
-- of work whose evaluations repeat the newest entry of a ring rewrites only
-- the row's narrow columns (its arrays, when there are any, are copied as
-- they are): the row of such a ring has no array at all and is about a tenth
-- of the ring of migration 11 (eight arrays of 20). newest_id is the id of
-- the newest entry (the row's own id stays that of the ring). Start
-- decisions (kept) count 1; their first event is their event (NULL here).
-- Existing rings keep their entries, each counted once.

ALTER TABLE {schema}.aiflow_decision
    ADD COLUMN newest_id               bigint,
    ADD COLUMN count                   integer NOT NULL DEFAULT 1,
    ADD COLUMN first_event_id          bigint,
    ADD COLUMN older_id                bigint[],
    ADD COLUMN older_event_id          bigint[],
    ADD COLUMN older_event_key         text[],
    ADD COLUMN older_time              timestamptz[],
    ADD COLUMN older_outcome           text[],
    ADD COLUMN older_reason            text[],
    ADD COLUMN older_task_execution_id bigint[],
    ADD COLUMN older_seq_num           integer[],
    ADD COLUMN older_count             integer[],
    ADD COLUMN older_first_event_id    bigint[];

UPDATE {schema}.aiflow_decision SET
    newest_id = recent_id[cardinality(recent_id)],
    first_event_id = event_id,
    older_id = CASE WHEN cardinality(recent_id) > 1 THEN recent_id[1:cardinality(recent_id) - 1] END,
    older_event_id = CASE WHEN cardinality(recent_id) > 1 THEN recent_event_id[1:cardinality(recent_id) - 1] END,
    older_event_key = CASE WHEN cardinality(recent_id) > 1 THEN recent_event_key[1:cardinality(recent_id) - 1] END,
    older_time = CASE WHEN cardinality(recent_id) > 1 THEN recent_time[1:cardinality(recent_id) - 1] END,
    older_outcome = CASE WHEN cardinality(recent_id) > 1 THEN recent_outcome[1:cardinality(recent_id) - 1] END,
    older_reason = CASE WHEN cardinality(recent_id) > 1 THEN recent_reason[1:cardinality(recent_id) - 1] END,
    older_task_execution_id = CASE WHEN cardinality(recent_id) > 1 THEN recent_task_execution_id[1:cardinality(recent_id) - 1] END,
    older_seq_num = CASE WHEN cardinality(recent_id) > 1 THEN recent_seq_num[1:cardinality(recent_id) - 1] END,
    older_count = CASE WHEN cardinality(recent_id) > 1 THEN array_fill(1, ARRAY[cardinality(recent_id) - 1]) END,
    older_first_event_id = CASE WHEN cardinality(recent_id) > 1 THEN recent_event_id[1:cardinality(recent_id) - 1] END
WHERE NOT kept AND cardinality(recent_id) > 0;

ALTER TABLE {schema}.aiflow_decision
    DROP COLUMN recent_id,
    DROP COLUMN recent_event_id,
    DROP COLUMN recent_event_key,
    DROP COLUMN recent_time,
    DROP COLUMN recent_outcome,
    DROP COLUMN recent_reason,
    DROP COLUMN recent_task_execution_id,
    DROP COLUMN recent_seq_num;
