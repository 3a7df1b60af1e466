package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/aiflow-go/aiflow/store"
)

const teCols = "id, execution_id, namespace, workflow, task, seq_num, attempt, failures, max_attempts, status, error, note, " +
	"status_message, metrics, streaming, timeout_us, created_at, updated_at, started_at, ended_at, interruptions, max_interruptions, trace_parent"

// teColsOf prefixes teCols with a table alias.
func teColsOf(alias string) string {
	cols := strings.Split(teCols, ", ")
	for i := range cols {
		cols[i] = alias + "." + cols[i]
	}
	return strings.Join(cols, ", ")
}

type rowScanner interface{ Scan(dest ...any) error }

func scanTE(r rowScanner, extra ...any) (store.TaskExecutionRecord, error) {
	var te store.TaskExecutionRecord
	var timeoutUS int64
	var started, ended pgtype.Timestamptz
	dest := []any{&te.ID, &te.ExecutionID, &te.Namespace, &te.Workflow, &te.Task, &te.SeqNum, &te.Attempt, &te.Failures,
		&te.MaxAttempts, &te.Status, &te.Error, &te.Note, &te.StatusMessage, &te.Metrics, &te.Streaming, &timeoutUS,
		&te.CreatedAt, &te.UpdatedAt, &started, &ended, &te.Interruptions, &te.MaxInterruptions, &te.TraceParent}
	err := r.Scan(append(dest, extra...)...)
	te.Timeout = time.Duration(timeoutUS) * time.Microsecond
	te.StartedAt, te.EndedAt = tsTime(started), tsTime(ended)
	return te, err
}

func scanTERow(r pgx.CollectableRow) (store.TaskExecutionRecord, error) { return scanTE(r) }

// GetTaskExecution returns a task execution.
func (s *Store) GetTaskExecution(ctx context.Context, id int64) (store.TaskExecutionRecord, error) {
	rows, err := s.pool.Query(ctx, s.q("SELECT "+teCols+" FROM {s}.aiflow_task_execution WHERE id = $1"), id)
	if err != nil {
		return store.TaskExecutionRecord{}, opErr("get task execution", err)
	}
	te, err := pgx.CollectExactlyOneRow(rows, scanTERow)
	if errors.Is(err, pgx.ErrNoRows) {
		return te, fmt.Errorf("%w: id %d", store.ErrTaskExecutionNotFound, id)
	}
	return te, opErr("get task execution", err)
}

// ListTaskExecutions lists task executions by id.
func (s *Store) ListTaskExecutions(ctx context.Context, f store.TaskExecutionFilter) ([]store.TaskExecutionRecord, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.ExecutionID != 0 {
		where = append(where, "execution_id = "+arg(f.ExecutionID))
	}
	if f.Namespace != "" {
		where = append(where, "namespace = "+arg(f.Namespace))
	}
	if f.Workflow != "" {
		where = append(where, "workflow = "+arg(f.Workflow))
	}
	if f.Task != "" {
		where = append(where, "task = "+arg(f.Task))
	}
	if f.SeqNum != 0 {
		where = append(where, "seq_num = "+arg(f.SeqNum))
	}
	if len(f.Statuses) > 0 {
		st := make([]string, len(f.Statuses))
		for i, v := range f.Statuses {
			st[i] = string(v)
		}
		where = append(where, "status = ANY("+arg(st)+")")
	}
	sql := "SELECT " + teCols + " FROM {s}.aiflow_task_execution"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY execution_id, id LIMIT " + arg(listLimit(f.Limit))
	rows, err := s.pool.Query(ctx, s.q(sql), args...)
	if err != nil {
		return nil, opErr("list task executions", err)
	}
	out, err := pgx.CollectRows(rows, scanTERow)
	return out, opErr("list task executions", err)
}
