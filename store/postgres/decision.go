package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/store"
)

// decisionWrites returns the statement that records a unit of work's
// decisions (store.FoldDecisions of them): a row per start decision, and per
// (execution, task, rule) evaluated, the upsert of its ring of the latest
// store.DecisionsKept others (see migration 11). Each decision draws its id
// from the table's identity, in the unit's order.
func (s *Store) decisionWrites(ds []store.Decision) []stmt {
	ds = store.FoldDecisions(ds)
	n := len(ds)
	if n == 0 {
		return nil
	}
	execs, events, tes := make([]int64, n), make([]int64, n), make([]int64, n)
	tasks, keys, outcomes, reasons := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	rules, seqs := make([]int32, n), make([]int32, n)
	times := make([]time.Time, n)
	kept := make([]bool, n)
	for i, d := range ds {
		execs[i], tasks[i], rules[i], events[i], keys[i] = d.ExecutionID, d.Task, int32(d.Rule), d.EventID, d.EventKey
		times[i], outcomes[i], reasons[i], tes[i], seqs[i] = d.Time, string(d.Outcome), d.Reason, d.TaskExecutionID, int32(d.SeqNum)
		kept[i] = d.Outcome.Starts()
	}
	return []stmt{{sql: s.q(writeDecisionsSQL), args: []any{execs, tasks, rules, events, keys, times, outcomes, reasons, tes, seqs, kept,
		store.DecisionsKept}}}
}

// writeDecisionsSQL inserts the start decisions and upserts the rings of
// the others, keeping the last $12 of each. The rings' new entries are
// aggregated from input sorted once by ring and id, not with an ORDER BY in
// each array_agg: before Postgres 16 each such aggregate sorts every group
// on its own, eight sorts per ring, which cost a unit of work whose events
// each reach one execution (a ring of one entry each) about as much as the
// upserts themselves. A GROUP BY keeps its input's order within a group
// (whether it sorts or hashes, it reads the sorted input in order).
const writeDecisionsSQL = `WITH u AS MATERIALIZED (
	SELECT u.*, nextval('{s}.aiflow_decision_id_seq'::regclass) AS id
	FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::bigint[], $5::text[], $6::timestamptz[], $7::text[], $8::text[],
		$9::bigint[], $10::integer[], $11::boolean[]) WITH ORDINALITY
		AS u(execution_id, task, rule, event_id, event_key, time, outcome, reason, task_execution_id, seq_num, kept, ord)
	ORDER BY ord),
starts AS (
	INSERT INTO {s}.aiflow_decision (id, execution_id, task, rule, event_id, event_key, time, outcome, reason,
		task_execution_id, seq_num, kept)
	OVERRIDING SYSTEM VALUE
	SELECT id, execution_id, task, rule, event_id, event_key, time, outcome, reason, task_execution_id, seq_num, true
	FROM u WHERE kept),
g AS (
	SELECT execution_id, task, rule, array_agg(id) AS ids, array_agg(event_id) AS event_ids,
		array_agg(event_key) AS event_keys, array_agg(time) AS times, array_agg(outcome) AS outcomes,
		array_agg(reason) AS reasons, array_agg(task_execution_id) AS tes, array_agg(seq_num) AS seqs
	FROM (SELECT * FROM u WHERE NOT kept ORDER BY execution_id, task, rule, id) AS s
	GROUP BY execution_id, task, rule)
INSERT INTO {s}.aiflow_decision AS d (execution_id, task, rule, event_id, event_key, time, outcome, reason,
	task_execution_id, seq_num, kept, recent_id, recent_event_id, recent_event_key, recent_time, recent_outcome,
	recent_reason, recent_task_execution_id, recent_seq_num)
SELECT execution_id, task, rule, event_ids[cardinality(ids)], event_keys[cardinality(ids)], times[cardinality(ids)],
	outcomes[cardinality(ids)], reasons[cardinality(ids)], tes[cardinality(ids)], seqs[cardinality(ids)], false,
	ids, event_ids, event_keys, times, outcomes, reasons, tes, seqs
FROM g
ON CONFLICT (execution_id, task, rule) WHERE NOT kept DO UPDATE SET
	event_id = EXCLUDED.event_id, event_key = EXCLUDED.event_key, time = EXCLUDED.time, outcome = EXCLUDED.outcome,
	reason = EXCLUDED.reason, task_execution_id = EXCLUDED.task_execution_id, seq_num = EXCLUDED.seq_num,
	recent_id = (d.recent_id || EXCLUDED.recent_id)[` + ringFrom + `:],
	recent_event_id = (d.recent_event_id || EXCLUDED.recent_event_id)[` + ringFrom + `:],
	recent_event_key = (d.recent_event_key || EXCLUDED.recent_event_key)[` + ringFrom + `:],
	recent_time = (d.recent_time || EXCLUDED.recent_time)[` + ringFrom + `:],
	recent_outcome = (d.recent_outcome || EXCLUDED.recent_outcome)[` + ringFrom + `:],
	recent_reason = (d.recent_reason || EXCLUDED.recent_reason)[` + ringFrom + `:],
	recent_task_execution_id = (d.recent_task_execution_id || EXCLUDED.recent_task_execution_id)[` + ringFrom + `:],
	recent_seq_num = (d.recent_seq_num || EXCLUDED.recent_seq_num)[` + ringFrom + `:]`

// ringFrom is the first index of the ring's arrays, old and new
// concatenated, that the ring keeps: the last $12.
const ringFrom = `greatest(1, coalesce(cardinality(d.recent_id), 0) + cardinality(EXCLUDED.recent_id) - $12 + 1)`

// ListDecisions returns the decisions about a task of an execution (every
// task when task is empty), oldest first.
func (s *Store) ListDecisions(ctx context.Context, executionID int64, task string) ([]store.Decision, error) {
	rows, err := s.pool.Query(ctx, s.q(`SELECT id, execution_id, task, rule, event_id, event_key, time, outcome, reason,
			task_execution_id, seq_num
		FROM {s}.aiflow_decision WHERE execution_id = $1 AND ($2::text = '' OR task = $2) AND kept
		UNION ALL
		SELECT r.id, d.execution_id, d.task, d.rule, r.event_id, r.event_key, r.time, r.outcome, r.reason,
			r.task_execution_id, r.seq_num
		FROM {s}.aiflow_decision d,
			unnest(d.recent_id, d.recent_event_id, d.recent_event_key, d.recent_time, d.recent_outcome, d.recent_reason,
				d.recent_task_execution_id, d.recent_seq_num)
			AS r(id, event_id, event_key, time, outcome, reason, task_execution_id, seq_num)
		WHERE d.execution_id = $1 AND ($2::text = '' OR d.task = $2) AND NOT d.kept
		ORDER BY id`), executionID, task)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Decision, error) {
		var d store.Decision
		var rule, seq int32
		var outcome string
		err := r.Scan(&d.ID, &d.ExecutionID, &d.Task, &rule, &d.EventID, &d.EventKey, &d.Time, &outcome, &d.Reason,
			&d.TaskExecutionID, &seq)
		d.Rule, d.SeqNum, d.Outcome = int(rule), int(seq), store.DecisionOutcome(outcome)
		return d, err
	})
}
