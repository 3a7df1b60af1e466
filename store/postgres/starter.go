package postgres

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/aiflow-go/aiflow/store"
)

// startBatchMax bounds the attempts one RUNNING statement records.
const startBatchMax = 200

// startCall is one attempt to record RUNNING for; the result is its run, or
// nil when it was fenced out (stopped or superseded).
type startCall = batchCall[*river.Job[taskArgs], *store.TaskRun]

// newStarter returns the batcher that records RUNNING for the attempts this
// process's workers begin (see startBatch).
func newStarter(s *Store) *batcher[*river.Job[taskArgs], *store.TaskRun] {
	return newBatcher(startBatchMax, s.startBatch)
}

// startRunningSQL records RUNNING for the attempts of $1/$2 that are still
// startable, locking their task executions in id order (as the units of work
// do), marks their dispatches running, takes their leases and appends their
// status events ($5.. are insertEventsSQL's arrays; the events of attempts
// that were fenced out are left out). It returns the attempts started. The
// update joins the locked rows rather than testing membership in them, which
// a plan made on a young table's statistics did with a nested loop over the
// CTE: quadratic in the batch (33 of the 42 ms of a 200-attempt batch).
var startRunningSQL = `WITH req AS (SELECT * FROM unnest($1::bigint[], $2::integer[]) AS r(te, attempt)),
locked AS MATERIALIZED (SELECT t.id, req.attempt FROM {s}.aiflow_task_execution t JOIN req ON req.te = t.id ORDER BY t.id FOR UPDATE OF t),
up AS (
	UPDATE {s}.aiflow_task_execution t SET status = 'RUNNING', error = '', started_at = clock_timestamp(), updated_at = clock_timestamp()
	FROM locked
	WHERE t.id = locked.id AND t.attempt = locked.attempt AND t.status IN ('QUEUED', 'RETRYING')
		AND EXISTS (SELECT 1 FROM {s}.aiflow_dispatch d WHERE d.task_execution_id = locked.id AND d.attempt = locked.attempt AND d.state = 'pending')
	RETURNING t.id, t.attempt, t.started_at, t.updated_at),
d AS (
	UPDATE {s}.aiflow_dispatch d SET state = 'running', updated_at = clock_timestamp() FROM up WHERE d.task_execution_id = up.id AND d.attempt = up.attempt),
l AS (
	INSERT INTO {s}.aiflow_task_lease (task_execution_id, attempt, owner, expires_at)
	SELECT up.id, up.attempt, $3, now() + $4::interval FROM up
	ON CONFLICT (task_execution_id) DO UPDATE SET attempt = EXCLUDED.attempt, owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at),
ev AS (
	INSERT INTO {s}.aiflow_event (` + eventWriteCols + `)
	SELECT ` + eventWriteCols + ` FROM ` + eventRows(5) + `
	WHERE u.task_execution_id IN (SELECT id FROM up)
	ORDER BY u.ord
	RETURNING id)
SELECT up.id, up.started_at, up.updated_at, (SELECT count(*) FROM ev) FROM up`

// startBatch records RUNNING, fenced by the attempt (the task execution is
// still at this attempt, QUEUED or RETRYING, its dispatch pending), with the
// status events and the attempts' leases, for calls: one read and one
// statement that commits on its own, whatever the number of calls.
func (s *Store) startBatch(calls []*startCall) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.TaskLeaseTTL+10*time.Second)
	defer cancel()
	runs := make([]*store.TaskRun, len(calls))
	var parts []int32
	err := retry(ctx, s.cfg.TaskLeaseTTL, func(ctx context.Context) error {
		clear(runs)
		parts = parts[:0]
		tes, atts := make([]int64, len(calls)), make([]int32, len(calls))
		for i, c := range calls {
			tes[i], atts[i] = c.req.Args.TaskExecutionID, int32(c.req.Args.Attempt)
		}
		// With each attempt, what its worker needs of the execution.
		rows, err := s.pool.Query(ctx, s.q(`SELECT `+teColsOf("t")+`, coalesce(d.state, ''), coalesce(x.version, ''), coalesce(x.input, '')
			FROM unnest($1::bigint[], $2::integer[]) AS r(te, attempt)
			JOIN {s}.aiflow_task_execution t ON t.id = r.te
			LEFT JOIN {s}.aiflow_dispatch d ON d.task_execution_id = r.te AND d.attempt = r.attempt
			LEFT JOIN {s}.aiflow_workflow_execution x ON x.id = t.execution_id`), tes, atts)
		if err != nil {
			return err
		}
		byID := map[int64]store.TaskExecutionRecord{}
		dstate := map[int64]string{}
		execOf := map[int64][2]string{}
		for rows.Next() {
			var state, version, input string
			te, err := scanTE(rows, &state, &version, &input)
			if err != nil {
				rows.Close()
				return err
			}
			byID[te.ID], dstate[te.ID], execOf[te.ID] = te, state, [2]string{version, input}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// The events' fields never change after a task execution is
		// created; the statement re-checks what does.
		var reqTE []int64
		var reqAtt []int32
		var events []store.Event
		for _, c := range calls {
			te, ok := byID[c.req.Args.TaskExecutionID]
			if !ok || te.Attempt != c.req.Args.Attempt || dstate[te.ID] != dispatchPending ||
				(te.Status != store.TaskQueued && te.Status != store.TaskRetrying) {
				continue // fenced out: final, an attempt never becomes startable again
			}
			te.Status, te.Error = store.TaskRunning, ""
			reqTE, reqAtt = append(reqTE, te.ID), append(reqAtt, int32(te.Attempt))
			events = append(events, store.NewStatusEvent(&te, store.TaskRunning, store.StatusData{}, store.SenderWorker))
		}
		if len(reqTE) == 0 {
			return nil
		}
		a := s.eventArgs(events)
		rows, err = s.pool.Query(ctx, s.q(startRunningSQL),
			append([]any{reqTE, reqAtt, s.workers.ownerID(), s.cfg.TaskLeaseTTL}, a.args()...)...)
		if err != nil {
			return err
		}
		started := map[int64]store.TaskExecutionRecord{}
		for rows.Next() {
			var id, nev int64
			var startedAt, updatedAt time.Time
			if err := rows.Scan(&id, &startedAt, &updatedAt, &nev); err != nil {
				rows.Close()
				return err
			}
			te := byID[id]
			te.Status, te.Error, te.StartedAt, te.UpdatedAt = store.TaskRunning, "", startedAt, updatedAt
			started[id] = te
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for i, c := range calls {
			if te, ok := started[c.req.Args.TaskExecutionID]; ok {
				x := execOf[te.ID]
				runs[i] = &store.TaskRun{TaskExecutionRecord: te, Version: x[0], Input: x[1]}
			}
		}
		for i, ev := range events {
			if _, ok := started[ev.TaskExecutionID]; ok {
				parts = append(parts, a.partition[i])
			}
		}
		return nil
	})
	if err == nil && len(parts) > 0 {
		s.hub.appended(parts)
	}
	for i, c := range calls {
		c.res, c.err = runs[i], err
		if err != nil {
			c.res = nil
		}
		close(c.done)
	}
}
