package postgres

import (
	"context"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

// Retention: Prune walks each table in primary-key order, a batch of
// PruneParams.BatchSize rows per statement, each statement its own short
// implicit transaction that locks only the rows it deletes. Nothing is added
// to the hot path: the event log is walked by id, whose order is the order
// of the rows' time (both are taken when the row is inserted), so the walk
// stops at the first batch that reaches an event newer than the cut-off;
// executions likewise stop at the first batch that reaches one created after
// it (an execution created after the cut-off cannot have ended before it).

// pruneEventsHead reads the batch of events after the cursor $1 by id and
// deletes those appended before $3 that every partition reading them has
// consumed (at or before the partition's cursor): a user event (partition -1)
// must be at or before the lowest cursor, another event at or before its own
// partition's. pruneEventsTail returns how many it deleted (or would
// delete), the batch's size, its last id and whether the batch reached an
// event appended at or after $3; pruneEventsDelete deletes them.
const pruneEventsHead = `WITH batch AS MATERIALIZED (
	SELECT id, xid, partition, time FROM {s}.aiflow_event WHERE id > $1 ORDER BY id LIMIT $2
), low AS MATERIALIZED (
	SELECT pos_xid, pos_id FROM {s}.aiflow_partition ORDER BY pos_xid, pos_id LIMIT 1
), gone AS MATERIALIZED (
	SELECT b.id FROM batch b WHERE b.time < $3 AND (
		(b.partition = -1 AND (b.xid, b.id) <= (SELECT pos_xid, pos_id FROM low))
		OR (b.partition >= 0 AND (b.xid, b.id) <= (SELECT p.pos_xid, p.pos_id FROM {s}.aiflow_partition p WHERE p.partition = b.partition)))
)`

// pruneEventsDelete is the part of a prune of events that a dry run leaves
// out. The ids go through an array, whose length the planner does not weigh
// against the table's size: the delete probes the primary key, even on a
// small table.
const pruneEventsDelete = `, del AS (DELETE FROM {s}.aiflow_event e WHERE e.id = ANY(ARRAY(SELECT id FROM gone)))`

// pruneExecutionsSQL reads the batch of workflow executions after the cursor
// $1 by id and returns the ids of those that finished before $3 and have no
// alive task execution, the batch's size, its last id and whether the batch
// reached an execution created at or after $3.
const pruneExecutionsSQL = `WITH batch AS MATERIALIZED (
	SELECT id, status, coalesce(ended_at, updated_at) AS ended, created_at FROM {s}.aiflow_workflow_execution
	WHERE id > $1 ORDER BY id LIMIT $2
)
SELECT coalesce((SELECT array_agg(b.id) FROM batch b WHERE b.status IN ('SUCCESS', 'FAILED', 'STOPPED') AND b.ended < $3
		AND NOT EXISTS (SELECT 1 FROM {s}.aiflow_task_execution t
			WHERE t.execution_id = b.id AND t.status NOT IN ('SUCCESS', 'FAILED', 'STOPPED'))), '{}'),
	count(*), coalesce(max(id), $1), coalesce(bool_or(created_at >= $3), false) FROM batch`

// pruneTaskExecutionsSQL deletes up to $2 task executions of the workflow
// executions $1 with their logs, dispatch records and leases, and returns
// how many task executions and logs it deleted. The task executions are
// finished (pruneExecutionsSQL checked it, and a finished one never comes
// alive again). The ids are passed through sub-selects, whose values the
// planner does not weigh against the tables' sizes: every batch probes the
// indexes, even on small tables.
const pruneTaskExecutionsSQL = `WITH te AS MATERIALIZED (
	SELECT id FROM {s}.aiflow_task_execution WHERE execution_id = ANY((SELECT $1::bigint[])::bigint[]) LIMIT $2
), ids AS MATERIALIZED (SELECT ARRAY(SELECT id FROM te) AS a),
l AS (DELETE FROM {s}.aiflow_task_log WHERE task_execution_id = ANY((SELECT a FROM ids)::bigint[])),
ls AS (DELETE FROM {s}.aiflow_task_log_size WHERE task_execution_id = ANY((SELECT a FROM ids)::bigint[]) RETURNING 1),
d AS (DELETE FROM {s}.aiflow_dispatch WHERE task_execution_id = ANY((SELECT a FROM ids)::bigint[])),
le AS (DELETE FROM {s}.aiflow_task_lease WHERE task_execution_id = ANY((SELECT a FROM ids)::bigint[])),
t AS (DELETE FROM {s}.aiflow_task_execution WHERE id = ANY((SELECT a FROM ids)::bigint[]) RETURNING 1)
SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM ls)`

// countTaskExecutionsSQL counts, for a dry run, the task executions, logs
// and decisions that pruneTaskExecutionsSQL and deleteExecutionsSQL would
// delete.
const countTaskExecutionsSQL = `SELECT count(*), count(z.task_execution_id),
	(SELECT coalesce(sum(1 + coalesce(cardinality(older_id), 0)), 0) FROM {s}.aiflow_decision WHERE execution_id = ANY((SELECT $1::bigint[])::bigint[]))
	FROM {s}.aiflow_task_execution t
	LEFT JOIN {s}.aiflow_task_log_size z ON z.task_execution_id = t.id WHERE t.execution_id = ANY($1::bigint[])`

// deleteExecutionsSQL deletes the workflow executions $1, still finished and
// without task executions, with their decisions (by execution_id, through
// the decisions' index), and returns how many executions and decisions it
// deleted.
const deleteExecutionsSQL = `WITH x AS (DELETE FROM {s}.aiflow_workflow_execution x WHERE x.id = ANY((SELECT $1::bigint[])::bigint[])
	AND x.status IN ('SUCCESS', 'FAILED', 'STOPPED')
	AND NOT EXISTS (SELECT 1 FROM {s}.aiflow_task_execution t WHERE t.execution_id = x.id) RETURNING id),
dc AS (DELETE FROM {s}.aiflow_decision WHERE execution_id = ANY(ARRAY(SELECT id FROM x)) RETURNING 1 + coalesce(cardinality(older_id), 0) AS n)
SELECT (SELECT count(*) FROM x), (SELECT coalesce(sum(n), 0) FROM dc)`

// Prune deletes the events and finished workflow executions that p selects
// (see store.PruneParams), in batches of p.BatchSize rows, each its own short
// transaction, and returns the counts.
func (s *Store) Prune(ctx context.Context, p store.PruneParams) (store.PruneResult, error) {
	n := p.BatchSize
	if n <= 0 {
		n = store.DefaultPruneBatch
	}
	var res store.PruneResult
	if !p.ExecutionsBefore.IsZero() {
		r, err := s.pruneExecutions(ctx, p.ExecutionsBefore, n, p.DryRun)
		res.Add(r)
		if err != nil {
			return res, opErr("prune executions", err)
		}
	}
	if !p.EventsBefore.IsZero() {
		var err error
		res.Events, err = s.pruneEvents(ctx, p.EventsBefore, n, p.DryRun)
		if err != nil {
			return res, opErr("prune events", err)
		}
	}
	return res, nil
}

func (s *Store) pruneEvents(ctx context.Context, before time.Time, n int, dry bool) (int64, error) {
	sql := pruneEventsHead + pruneEventsDelete + pruneEventsTail
	if dry {
		sql = pruneEventsHead + pruneEventsTail
	}
	sql = s.q(sql)
	var total, cursor int64
	for {
		var gone, read int64
		var newer bool
		if err := s.pool.QueryRow(ctx, sql, cursor, n, before).Scan(&gone, &read, &cursor, &newer); err != nil {
			return total, err
		}
		total += gone
		if read < int64(n) || newer {
			return total, nil
		}
	}
}

// pruneEventsTail is the result of a prune of events.
const pruneEventsTail = `
SELECT (SELECT count(*) FROM gone), count(*), coalesce(max(id), $1), coalesce(bool_or(time >= $3), false) FROM batch`

func (s *Store) pruneExecutions(ctx context.Context, before time.Time, n int, dry bool) (store.PruneResult, error) {
	var res store.PruneResult
	var cursor int64
	for {
		var ids []int64
		var read int64
		var newer bool
		if err := s.pool.QueryRow(ctx, s.q(pruneExecutionsSQL), cursor, n, before).Scan(&ids, &read, &cursor, &newer); err != nil {
			return res, err
		}
		if len(ids) > 0 {
			r, err := s.pruneExecutionBatch(ctx, ids, n, dry)
			res.Add(r)
			if err != nil {
				return res, err
			}
		}
		if read < int64(n) || newer {
			return res, nil
		}
	}
}

// pruneExecutionBatch deletes the task executions of the workflow
// executions ids, n at a time, then the executions with their decisions.
func (s *Store) pruneExecutionBatch(ctx context.Context, ids []int64, n int, dry bool) (store.PruneResult, error) {
	var res store.PruneResult
	if dry {
		res.WorkflowExecutions = int64(len(ids))
		err := s.pool.QueryRow(ctx, s.q(countTaskExecutionsSQL), ids).Scan(&res.TaskExecutions, &res.TaskLogs, &res.Decisions)
		return res, err
	}
	for {
		var tes, logs int64
		if err := s.pool.QueryRow(ctx, s.q(pruneTaskExecutionsSQL), ids, n).Scan(&tes, &logs); err != nil {
			return res, err
		}
		res.TaskExecutions += tes
		res.TaskLogs += logs
		if tes < int64(n) {
			break
		}
	}
	err := s.pool.QueryRow(ctx, s.q(deleteExecutionsSQL), ids).Scan(&res.WorkflowExecutions, &res.Decisions)
	return res, err
}
