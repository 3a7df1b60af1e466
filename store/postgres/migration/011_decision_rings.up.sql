-- AIFlow for Go, schema version 11: the decisions that start nothing are
-- kept in one row per (execution, task, rule), a ring of the latest
-- store.DecisionsKept: each unit of work upserts that row (one row per rule
-- it evaluated, however many events it applied) instead of inserting a row
-- per decision and deleting the oldest. The row's own columns hold the
-- latest decision; the recent_* arrays hold them all, oldest first, each with
-- its id (drawn from the ids of the table, so that all decisions of an
-- execution sort in the order they were made). Start decisions stay one row
-- each (kept), as before.

ALTER TABLE {schema}.aiflow_decision
    ADD COLUMN recent_id                bigint[],
    ADD COLUMN recent_event_id          bigint[],
    ADD COLUMN recent_event_key         text[],
    ADD COLUMN recent_time              timestamptz[],
    ADD COLUMN recent_outcome           text[],
    ADD COLUMN recent_reason            text[],
    ADD COLUMN recent_task_execution_id bigint[],
    ADD COLUMN recent_seq_num           integer[];

WITH old AS (DELETE FROM {schema}.aiflow_decision WHERE NOT kept RETURNING *),
ring AS (
    SELECT execution_id, task, rule,
        array_agg(id ORDER BY id) AS ids, array_agg(event_id ORDER BY id) AS event_ids,
        array_agg(event_key ORDER BY id) AS event_keys, array_agg(time ORDER BY id) AS times,
        array_agg(outcome ORDER BY id) AS outcomes, array_agg(reason ORDER BY id) AS reasons,
        array_agg(task_execution_id ORDER BY id) AS tes, array_agg(seq_num ORDER BY id) AS seqs
    FROM old GROUP BY execution_id, task, rule)
INSERT INTO {schema}.aiflow_decision (execution_id, task, rule, event_id, event_key, time, outcome, reason,
    task_execution_id, seq_num, kept, recent_id, recent_event_id, recent_event_key, recent_time, recent_outcome,
    recent_reason, recent_task_execution_id, recent_seq_num)
SELECT execution_id, task, rule, event_ids[cardinality(ids)], event_keys[cardinality(ids)], times[cardinality(ids)],
    outcomes[cardinality(ids)], reasons[cardinality(ids)], tes[cardinality(ids)], seqs[cardinality(ids)], false,
    ids, event_ids, event_keys, times, outcomes, reasons, tes, seqs
FROM ring;

DROP INDEX {schema}.aiflow_decision_bounded;
CREATE UNIQUE INDEX aiflow_decision_ring ON {schema}.aiflow_decision (execution_id, task, rule) WHERE NOT kept;
