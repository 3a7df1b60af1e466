package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/store"
)

const triggerCols = "id, namespace, workflow, name, keys, paused, created_at, updated_at"

func scanTrigger(row pgx.Row) (store.TriggerRecord, error) {
	var r store.TriggerRecord
	err := row.Scan(&r.ID, &r.Namespace, &r.Workflow, &r.Name, &r.Keys, &r.Paused, &r.CreatedAt, &r.UpdatedAt)
	return r, err
}

func triggerNotFound(id int64) error { return fmt.Errorf("%w: id %d", store.ErrTriggerNotFound, id) }

// UpsertTrigger records a trigger by (namespace, workflow, name); a new one
// is created with its trigger_added event in one transaction, an existing
// one returned unchanged.
func (s *Store) UpsertTrigger(ctx context.Context, rec store.TriggerRecord, ev func(store.TriggerRecord) store.Event) (store.TriggerRecord, bool, error) {
	var out store.TriggerRecord
	created := false
	var appended []store.Event
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanTrigger(tx.QueryRow(ctx, s.q(`INSERT INTO {s}.aiflow_trigger (namespace, workflow, name, keys)
			VALUES ($1, $2, $3, $4) ON CONFLICT (namespace, workflow, name) DO NOTHING RETURNING `+triggerCols),
			rec.Namespace, rec.Workflow, rec.Name, rec.Keys))
		switch {
		case isForeignKey(err):
			return workflowNotFound(rec.Namespace, rec.Workflow)
		case errors.Is(err, pgx.ErrNoRows): // it exists
			out, err = scanTrigger(tx.QueryRow(ctx, s.q("SELECT "+triggerCols+` FROM {s}.aiflow_trigger
				WHERE namespace = $1 AND workflow = $2 AND name = $3`), rec.Namespace, rec.Workflow, rec.Name))
			return err
		case err != nil:
			return err
		}
		created = true
		appended, err = s.insertEvents(ctx, tx, []store.Event{ev(out)})
		return err
	})
	if err != nil {
		return store.TriggerRecord{}, false, opErr("upsert trigger", err)
	}
	s.hub.appended(partsOf(appended))
	return out, created, nil
}

// GetTrigger returns a trigger.
func (s *Store) GetTrigger(ctx context.Context, id int64) (store.TriggerRecord, error) {
	r, err := scanTrigger(s.pool.QueryRow(ctx, s.q("SELECT "+triggerCols+" FROM {s}.aiflow_trigger WHERE id = $1"), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, triggerNotFound(id)
	}
	return r, opErr("get trigger", err)
}

// ListTriggers lists triggers by id.
func (s *Store) ListTriggers(ctx context.Context, ns, wf string) ([]store.TriggerRecord, error) {
	rows, err := s.pool.Query(ctx, s.q("SELECT "+triggerCols+` FROM {s}.aiflow_trigger
		WHERE ($1 = '' OR namespace = $1) AND ($2 = '' OR workflow = $2) ORDER BY id`), ns, wf)
	if err != nil {
		return nil, opErr("list triggers", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.TriggerRecord, error) { return scanTrigger(r) })
	return out, opErr("list triggers", err)
}

func (s *Store) changeTrigger(ctx context.Context, op string, id int64, ev store.Event, stmt string, args ...any) error {
	var appended []store.Event
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, s.q(stmt), append([]any{id}, args...)...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return triggerNotFound(id)
		}
		appended, err = s.insertEvents(ctx, tx, []store.Event{ev})
		return err
	})
	if err == nil {
		s.hub.appended(partsOf(appended))
	}
	return opErr(op, err)
}

// SetTriggerPaused pauses or resumes a trigger.
func (s *Store) SetTriggerPaused(ctx context.Context, id int64, paused bool, ev store.Event) error {
	return s.changeTrigger(ctx, "set trigger paused", id, ev,
		"UPDATE {s}.aiflow_trigger SET paused = $2, updated_at = clock_timestamp() WHERE id = $1", paused)
}

// DeleteTrigger deletes a trigger.
func (s *Store) DeleteTrigger(ctx context.Context, id int64, ev store.Event) error {
	return s.changeTrigger(ctx, "delete trigger", id, ev, "DELETE FROM {s}.aiflow_trigger WHERE id = $1")
}
