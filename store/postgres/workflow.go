package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/store"
)

const workflowCols = "namespace, name, version, definition, enabled, partition, created_at, updated_at"

func scanWorkflow(r pgx.CollectableRow) (store.WorkflowRecord, error) {
	var w store.WorkflowRecord
	err := r.Scan(&w.Namespace, &w.Name, &w.Version, &w.Definition, &w.Enabled, &w.Partition, &w.CreatedAt, &w.UpdatedAt)
	return w, err
}

// RegisterWorkflow records a definition: it creates the workflow (enabled)
// if needed, a new version if rec.Version is new, and makes rec.Version the
// workflow's current version; the enabled flag of an existing workflow is
// kept.
func (s *Store) RegisterWorkflow(ctx context.Context, rec store.WorkflowRecord) (store.WorkflowRecord, error) {
	var out store.WorkflowRecord
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, s.q("SELECT EXISTS (SELECT 1 FROM {s}.aiflow_namespace WHERE name = $1 FOR SHARE)"), rec.Namespace).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return namespaceNotFound(rec.Namespace)
		}
		part := store.PartitionOf(rec.Namespace, rec.Name, s.nPart)
		b := &pgx.Batch{}
		b.Queue(s.q(`INSERT INTO {s}.aiflow_workflow (namespace, name, version, definition, enabled, partition)
			VALUES ($1, $2, $3, $4, true, $5) ON CONFLICT (namespace, name) DO NOTHING`), rec.Namespace, rec.Name, rec.Version, rec.Definition, part)
		b.Queue(s.q(`INSERT INTO {s}.aiflow_workflow_version (namespace, workflow, version, definition)
			VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`), rec.Namespace, rec.Name, rec.Version, rec.Definition)
		b.Queue(s.q(`UPDATE {s}.aiflow_workflow SET version = $3, definition = $4, updated_at = clock_timestamp()
			WHERE namespace = $1 AND name = $2 AND version <> $3`), rec.Namespace, rec.Name, rec.Version, rec.Definition)
		b.Queue(s.q("SELECT "+workflowCols+" FROM {s}.aiflow_workflow WHERE namespace = $1 AND name = $2"), rec.Namespace, rec.Name)
		br := tx.SendBatch(ctx, b)
		for range 3 {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
		}
		rows, err := br.Query()
		if err == nil {
			out, err = pgx.CollectExactlyOneRow(rows, scanWorkflow)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	})
	return out, opErr("register workflow", err)
}

// GetWorkflow returns a workflow.
func (s *Store) GetWorkflow(ctx context.Context, ns, name string) (store.WorkflowRecord, error) {
	rows, err := s.pool.Query(ctx, s.q("SELECT "+workflowCols+" FROM {s}.aiflow_workflow WHERE namespace = $1 AND name = $2"), ns, name)
	if err != nil {
		return store.WorkflowRecord{}, opErr("get workflow", err)
	}
	w, err := pgx.CollectExactlyOneRow(rows, scanWorkflow)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, workflowNotFound(ns, name)
	}
	return w, opErr("get workflow", err)
}

// ListWorkflows lists workflows by namespace and name.
func (s *Store) ListWorkflows(ctx context.Context, ns string) ([]store.WorkflowRecord, error) {
	rows, err := s.pool.Query(ctx, s.q("SELECT "+workflowCols+" FROM {s}.aiflow_workflow WHERE $1 = '' OR namespace = $1 ORDER BY namespace, name"), ns)
	if err != nil {
		return nil, opErr("list workflows", err)
	}
	out, err := pgx.CollectRows(rows, scanWorkflow)
	return out, opErr("list workflows", err)
}

// ListWorkflowVersions lists a workflow's versions, oldest first.
func (s *Store) ListWorkflowVersions(ctx context.Context, ns, name string) ([]store.WorkflowVersionRecord, error) {
	rows, err := s.pool.Query(ctx, s.q(`SELECT namespace, workflow, version, definition, created_at
		FROM {s}.aiflow_workflow_version WHERE namespace = $1 AND workflow = $2 ORDER BY seq`), ns, name)
	if err != nil {
		return nil, opErr("list workflow versions", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.WorkflowVersionRecord, error) {
		var v store.WorkflowVersionRecord
		err := r.Scan(&v.Namespace, &v.Workflow, &v.Version, &v.Definition, &v.CreatedAt)
		return v, err
	})
	if err != nil {
		return nil, opErr("list workflow versions", err)
	}
	if len(out) == 0 { // every workflow has at least one version
		return nil, workflowNotFound(ns, name)
	}
	return out, nil
}

// SetWorkflowEnabled sets the flag and appends the control event in one
// transaction.
func (s *Store) SetWorkflowEnabled(ctx context.Context, ns, name string, enabled bool, ev store.Event) error {
	var appended []store.Event
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, s.q("UPDATE {s}.aiflow_workflow SET enabled = $3, updated_at = clock_timestamp() WHERE namespace = $1 AND name = $2"), ns, name, enabled)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return workflowNotFound(ns, name)
		}
		appended, err = s.insertEvents(ctx, tx, []store.Event{ev})
		return err
	})
	if err == nil {
		s.hub.appended(partsOf(appended))
	}
	return opErr("set workflow enabled", err)
}

// DeleteWorkflow removes a workflow, its versions, executions, task
// executions and their logs. It fails with ErrConflict while an execution is
// alive.
func (s *Store) DeleteWorkflow(ctx context.Context, ns, name string) error {
	return opErr("delete workflow", s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, s.q("SELECT EXISTS (SELECT 1 FROM {s}.aiflow_workflow WHERE namespace = $1 AND name = $2 FOR UPDATE)"), ns, name).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return workflowNotFound(ns, name)
		}
		var id int64
		var status string
		err := tx.QueryRow(ctx, s.q(`SELECT id, status FROM {s}.aiflow_workflow_execution
			WHERE namespace = $1 AND workflow = $2 AND status NOT IN ('SUCCESS', 'FAILED', 'STOPPED') ORDER BY id LIMIT 1`), ns, name).Scan(&id, &status)
		if err == nil {
			return fmt.Errorf("%w: workflow %q has execution %d %s: stop it first", store.ErrConflict, name, id, status)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(s.q(`WITH te AS (SELECT id FROM {s}.aiflow_task_execution WHERE namespace = $1 AND workflow = $2),
			l AS (DELETE FROM {s}.aiflow_task_log WHERE task_execution_id IN (SELECT id FROM te)),
			ls AS (DELETE FROM {s}.aiflow_task_log_size WHERE task_execution_id IN (SELECT id FROM te)),
			d AS (DELETE FROM {s}.aiflow_dispatch WHERE task_execution_id IN (SELECT id FROM te)),
			le AS (DELETE FROM {s}.aiflow_task_lease WHERE task_execution_id IN (SELECT id FROM te))
			DELETE FROM {s}.aiflow_task_execution WHERE id IN (SELECT id FROM te)`), ns, name)
		b.Queue(s.q(`DELETE FROM {s}.aiflow_decision WHERE execution_id IN
			(SELECT id FROM {s}.aiflow_workflow_execution WHERE namespace = $1 AND workflow = $2)`), ns, name)
		b.Queue(s.q("DELETE FROM {s}.aiflow_workflow_execution WHERE namespace = $1 AND workflow = $2"), ns, name)
		b.Queue(s.q("DELETE FROM {s}.aiflow_workflow WHERE namespace = $1 AND name = $2"), ns, name)
		return tx.SendBatch(ctx, b).Close()
	}))
}

func workflowNotFound(ns, name string) error {
	return fmt.Errorf("%w: %q in namespace %q", store.ErrWorkflowNotFound, name, ns)
}
