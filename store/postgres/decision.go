package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/store"
)

// decisionWrites returns the statements that record a unit of work's
// decisions (store.FoldDecisions of them) and drop, per (execution, task,
// rule) they touch, the oldest that do not start a task execution beyond
// store.DecisionsKept.
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
	var bx []int64
	var bt []string
	var br []int32
	type bound struct {
		x    int64
		task string
		rule int
	}
	seen := map[bound]bool{}
	for i, d := range ds {
		execs[i], tasks[i], rules[i], events[i], keys[i] = d.ExecutionID, d.Task, int32(d.Rule), d.EventID, d.EventKey
		times[i], outcomes[i], reasons[i], tes[i], seqs[i] = d.Time, string(d.Outcome), d.Reason, d.TaskExecutionID, int32(d.SeqNum)
		kept[i] = d.Outcome.Starts()
		if !kept[i] {
			k := bound{d.ExecutionID, d.Task, d.Rule}
			if !seen[k] {
				seen[k] = true
				bx, bt, br = append(bx, d.ExecutionID), append(bt, d.Task), append(br, int32(d.Rule))
			}
		}
	}
	out := []stmt{{sql: s.q(`INSERT INTO {s}.aiflow_decision
			(execution_id, task, rule, event_id, event_key, time, outcome, reason, task_execution_id, seq_num, kept)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::bigint[], $5::text[], $6::timestamptz[],
			$7::text[], $8::text[], $9::bigint[], $10::integer[], $11::boolean[])`),
		args: []any{execs, tasks, rules, events, keys, times, outcomes, reasons, tes, seqs, kept}}}
	if len(bx) > 0 {
		out = append(out, stmt{sql: s.q(`DELETE FROM {s}.aiflow_decision WHERE id IN (
			SELECT d.id FROM unnest($1::bigint[], $2::text[], $3::integer[]) AS u(x, task, rule),
			LATERAL (SELECT id FROM {s}.aiflow_decision
				WHERE execution_id = u.x AND task = u.task AND rule = u.rule AND NOT kept
				ORDER BY id DESC OFFSET $4) AS d)`),
			args: []any{bx, bt, br, store.DecisionsKept}})
	}
	return out
}

// ListDecisions returns the decisions about a task of an execution (every
// task when task is empty), oldest first.
func (s *Store) ListDecisions(ctx context.Context, executionID int64, task string) ([]store.Decision, error) {
	rows, err := s.pool.Query(ctx, s.q(`SELECT id, execution_id, task, rule, event_id, event_key, time, outcome, reason,
			task_execution_id, seq_num
		FROM {s}.aiflow_decision WHERE execution_id = $1 AND ($2::text = '' OR task = $2) ORDER BY id`), executionID, task)
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
