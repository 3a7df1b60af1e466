package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/aiflow-go/aiflow/store"
)

const execCols = "id, namespace, workflow, version, status, run_type, note, schedule_id, trigger_id, created_at, updated_at, ended_at, input"

func scanExec(r pgx.CollectableRow) (store.WorkflowExecutionRecord, error) {
	var x store.WorkflowExecutionRecord
	var ended pgtype.Timestamptz
	err := r.Scan(&x.ID, &x.Namespace, &x.Workflow, &x.Version, &x.Status, &x.RunType, &x.Note, &x.ScheduleID, &x.TriggerID,
		&x.CreatedAt, &x.UpdatedAt, &ended, &x.Input)
	x.EndedAt = tsTime(ended)
	return x, err
}

// CreateExecution inserts rec (status INIT) and appends ev in one
// transaction.
func (s *Store) CreateExecution(ctx context.Context, rec store.WorkflowExecutionRecord, ev store.Event) (store.Event, error) {
	var out []store.Event
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = s.createExecutionTx(ctx, tx, rec, ev)
		return err
	})
	if err != nil {
		return store.Event{}, opErr("create execution", err)
	}
	s.hub.appended(partsOf(out))
	return out[0], nil
}

// createExecutionTx inserts rec (INIT) and appends ev in tx.
func (s *Store) createExecutionTx(ctx context.Context, tx pgx.Tx, rec store.WorkflowExecutionRecord, ev store.Event) ([]store.Event, error) {
	var exists bool
	if err := tx.QueryRow(ctx, s.q("SELECT EXISTS (SELECT 1 FROM {s}.aiflow_workflow WHERE namespace = $1 AND name = $2)"), rec.Namespace, rec.Workflow).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		return nil, workflowNotFound(rec.Namespace, rec.Workflow)
	}
	tag, err := tx.Exec(ctx, s.q(`INSERT INTO {s}.aiflow_workflow_execution
		(id, namespace, workflow, version, status, run_type, note, schedule_id, trigger_id, created_at, updated_at, input)
		VALUES ($1, $2, $3, $4, 'INIT', $5, $6, $7, $8, clock_timestamp(), clock_timestamp(), $9) ON CONFLICT (id) DO NOTHING`),
		rec.ID, rec.Namespace, rec.Workflow, rec.Version, string(rec.RunType), rec.Note, rec.ScheduleID, rec.TriggerID, rec.Input)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		return nil, fmt.Errorf("%w: workflow execution %d", store.ErrAlreadyExists, rec.ID)
	}
	return s.insertEvents(ctx, tx, []store.Event{ev})
}

// CreateExecutions inserts recs (status INIT) and appends evs, evs[i] being
// the start event of recs[i], in one transaction: one statement checks the
// workflows, one inserts the executions and one the events, pipelined in one
// round trip with the transaction's begin, whatever the number of
// executions.
func (s *Store) CreateExecutions(ctx context.Context, recs []store.WorkflowExecutionRecord, evs []store.Event) ([]store.Event, error) {
	if len(recs) != len(evs) {
		return nil, fmt.Errorf("%w: %d executions and %d start events: expected one event per execution", store.ErrInvalid, len(recs), len(evs))
	}
	if len(recs) == 0 {
		return nil, nil
	}
	if err := checkEvents(evs); err != nil {
		return nil, opErr("create executions", err)
	}
	var out []store.Event
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = s.createExecutionsTx(ctx, tx, recs, evs)
		return err
	})
	if err != nil {
		return nil, opErr("create executions", err)
	}
	s.hub.appended(partsOf(out))
	return out, nil
}

// createExecutionsTx inserts recs (INIT) and appends evs in tx, in one
// round trip.
func (s *Store) createExecutionsTx(ctx context.Context, tx pgx.Tx, recs []store.WorkflowExecutionRecord, evs []store.Event) ([]store.Event, error) {
	n := len(recs)
	ids := make([]int64, n)
	versions, nss, wfs, runTypes, notes, inputs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	schedules, triggers := make([]int64, n), make([]int64, n)
	for i, r := range recs {
		ids[i], versions[i], nss[i], wfs[i] = r.ID, r.Version, r.Namespace, r.Workflow
		runTypes[i], notes[i], inputs[i], schedules[i], triggers[i] = string(r.RunType), r.Note, r.Input, r.ScheduleID, r.TriggerID
	}
	a := s.eventArgs(evs)
	b := &pgx.Batch{}
	// The first (namespace, workflow) of recs that is not registered.
	b.Queue(s.q(`SELECT r.ns, r.wf FROM (SELECT DISTINCT ns, wf FROM unnest($1::text[], $2::text[]) AS u(ns, wf)) r
		WHERE NOT EXISTS (SELECT 1 FROM {s}.aiflow_workflow w WHERE w.namespace = r.ns AND w.name = r.wf) LIMIT 1`), nss, wfs)
	b.Queue(s.q(`INSERT INTO {s}.aiflow_workflow_execution
		(id, namespace, workflow, version, status, run_type, note, schedule_id, trigger_id, created_at, updated_at, input)
		SELECT u.id, u.ns, u.wf, u.version, 'INIT', u.run_type, u.note, u.schedule_id, u.trigger_id, clock_timestamp(), clock_timestamp(), u.input
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[])
			AS u(id, ns, wf, version, run_type, note, schedule_id, trigger_id, input)
		ON CONFLICT (id) DO NOTHING`), ids, nss, wfs, versions, runTypes, notes, schedules, triggers, inputs)
	a.queue(b, s.q(insertEventsSQL))
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	var ns, wf string
	switch err := br.QueryRow().Scan(&ns, &wf); {
	case err == nil:
		return nil, workflowNotFound(ns, wf)
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, err
	}
	tag, err := br.Exec()
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() != int64(n) {
		return nil, fmt.Errorf("%w: %d of %d workflow executions exist already", store.ErrAlreadyExists, int64(n)-tag.RowsAffected(), n)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	out, ok, err := s.readInserted(evs, a, rows)
	if err != nil {
		return nil, err
	}
	if err := br.Close(); err != nil {
		return nil, err
	}
	if !ok {
		return nil, s.missingNamespace(ctx, tx, a.namespace)
	}
	return out, nil
}

// AllocateExecutionIDs reserves n workflow execution ids.
func (s *Store) AllocateExecutionIDs(ctx context.Context, n int) ([]int64, error) {
	return s.allocate(ctx, "aiflow_execution_id_seq", n)
}

// AllocateTaskExecutionIDs reserves n task execution ids.
func (s *Store) AllocateTaskExecutionIDs(ctx context.Context, n int) ([]int64, error) {
	return s.allocate(ctx, "aiflow_task_execution_id_seq", n)
}

func (s *Store) allocate(ctx context.Context, seq string, n int) ([]int64, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, s.q("SELECT nextval('{s}."+seq+"') FROM generate_series(1, $1)"), n)
	if err != nil {
		return nil, opErr("allocate ids", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return ids, opErr("allocate ids", err)
}

// GetExecution returns a workflow execution.
func (s *Store) GetExecution(ctx context.Context, id int64) (store.WorkflowExecutionRecord, error) {
	rows, err := s.pool.Query(ctx, s.q("SELECT "+execCols+" FROM {s}.aiflow_workflow_execution WHERE id = $1"), id)
	if err != nil {
		return store.WorkflowExecutionRecord{}, opErr("get execution", err)
	}
	x, err := pgx.CollectExactlyOneRow(rows, scanExec)
	if errors.Is(err, pgx.ErrNoRows) {
		return x, fmt.Errorf("%w: id %d", store.ErrExecutionNotFound, id)
	}
	return x, opErr("get execution", err)
}

// DeleteExecution removes a finished workflow execution, its task
// executions, their logs, dispatch rows and leases (its events stay).
func (s *Store) DeleteExecution(ctx context.Context, id int64) error {
	return opErr("delete execution", s.inTx(ctx, func(tx pgx.Tx) error {
		var status string
		err := tx.QueryRow(ctx, s.q("SELECT status FROM {s}.aiflow_workflow_execution WHERE id = $1 FOR UPDATE"), id).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: id %d", store.ErrExecutionNotFound, id)
		}
		if err != nil {
			return err
		}
		if !store.WorkflowStatus(status).Finished() {
			return fmt.Errorf("%w: workflow execution %d is %s: stop it first", store.ErrConflict, id, status)
		}
		var teID int64
		var task, teStatus string
		var seq int
		err = tx.QueryRow(ctx, s.q(`SELECT id, task, seq_num, status FROM {s}.aiflow_task_execution
			WHERE execution_id = $1 AND status NOT IN ('SUCCESS', 'FAILED', 'STOPPED') ORDER BY id LIMIT 1`), id).Scan(&teID, &task, &seq, &teStatus)
		if err == nil {
			return fmt.Errorf("%w: workflow execution %d: task execution %d (%s #%d) is %s: wait for it to finish",
				store.ErrConflict, id, teID, task, seq, teStatus)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		_, err = tx.Exec(ctx, s.q(`WITH te AS (DELETE FROM {s}.aiflow_task_execution WHERE execution_id = $1 RETURNING id),
			l AS (DELETE FROM {s}.aiflow_task_log WHERE task_execution_id IN (SELECT id FROM te)),
			ls AS (DELETE FROM {s}.aiflow_task_log_size WHERE task_execution_id IN (SELECT id FROM te)),
			d AS (DELETE FROM {s}.aiflow_dispatch WHERE task_execution_id IN (SELECT id FROM te)),
			le AS (DELETE FROM {s}.aiflow_task_lease WHERE task_execution_id IN (SELECT id FROM te)),
			dc AS (DELETE FROM {s}.aiflow_decision WHERE execution_id = $1)
			DELETE FROM {s}.aiflow_workflow_execution WHERE id = $1`), id)
		return err
	}))
}

// ListExecutions lists workflow executions, newest first.
func (s *Store) ListExecutions(ctx context.Context, f store.ExecutionFilter) ([]store.WorkflowExecutionRecord, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.Namespace != "" {
		where = append(where, "namespace = "+arg(f.Namespace))
	}
	if f.Workflow != "" {
		where = append(where, "workflow = "+arg(f.Workflow))
	}
	if len(f.Statuses) > 0 {
		st := make([]string, len(f.Statuses))
		for i, v := range f.Statuses {
			st[i] = string(v)
		}
		where = append(where, "status = ANY("+arg(st)+")")
	}
	if f.BeforeID != 0 {
		where = append(where, "id < "+arg(f.BeforeID))
	}
	if !f.CreatedAfter.IsZero() {
		where = append(where, "created_at >= "+arg(f.CreatedAfter))
	}
	if !f.CreatedBefore.IsZero() {
		where = append(where, "created_at < "+arg(f.CreatedBefore))
	}
	sql := "SELECT " + execCols + " FROM {s}.aiflow_workflow_execution"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY id DESC LIMIT " + arg(listLimit(f.Limit))
	rows, err := s.pool.Query(ctx, s.q(sql), args...)
	if err != nil {
		return nil, opErr("list executions", err)
	}
	out, err := pgx.CollectRows(rows, scanExec)
	return out, opErr("list executions", err)
}

func listLimit(n int) int {
	if n <= 0 {
		return store.DefaultListLimit
	}
	return n
}
