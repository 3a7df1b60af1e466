package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/store"
)

// pruneIdempotencyBatch bounds the keys one statement of
// PruneIdempotencyKeys deletes, so that it never holds many locks for long.
const pruneIdempotencyBatch = 500

// LookupIdempotencyKey returns the result recorded for k.
func (s *Store) LookupIdempotencyKey(ctx context.Context, k store.IdempotencyKey) (int64, bool, error) {
	if err := store.ValidateIdempotencyKey(k.Key); err != nil {
		return 0, false, err
	}
	id, ok, err := s.lookupIdem(ctx, s.pool, k)
	return id, ok, opErr("look up idempotency key", err)
}

func (s *Store) lookupIdem(ctx context.Context, q querier, k store.IdempotencyKey) (int64, bool, error) {
	var id int64
	err := q.QueryRow(ctx, s.q(`SELECT result_id FROM {s}.aiflow_idempotency_key WHERE namespace = $1 AND kind = $2 AND key = $3`),
		k.Namespace, k.Kind, k.Key).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// once runs write in a transaction that first claims k, and returns its
// result; when k is recorded already (by a call that committed, possibly
// while this one waited for it) it writes nothing and returns the recorded
// result with replayed true.
func (s *Store) once(ctx context.Context, k store.IdempotencyKey, write func(tx pgx.Tx) (int64, error)) (result int64, replayed bool, err error) {
	if id, ok, err := s.lookupIdem(ctx, s.pool, k); err != nil || ok {
		return id, ok, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		// A concurrent call holding k waits here for this transaction (or
		// this one for it), and then finds k recorded.
		tag, err := tx.Exec(ctx, s.q(`INSERT INTO {s}.aiflow_idempotency_key (namespace, kind, key, result_id)
			VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING`), k.Namespace, k.Kind, k.Key)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			replayed = true
			var ok bool
			result, ok, err = s.lookupIdem(ctx, tx, k)
			if err == nil && !ok {
				err = fmt.Errorf("%w: idempotency key %q was deleted while in use: retry", store.ErrConflict, k.Key)
			}
			return err
		}
		if result, err = write(tx); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, s.q(`UPDATE {s}.aiflow_idempotency_key SET result_id = $4
			WHERE namespace = $1 AND kind = $2 AND key = $3`), k.Namespace, k.Kind, k.Key, result)
		return err
	})
	return result, replayed, err
}

// AppendEventOnce appends ev unless k is recorded; then it returns the
// recorded event, read back from the log (with only its id and the
// request's fields if it has been pruned since).
func (s *Store) AppendEventOnce(ctx context.Context, k store.IdempotencyKey, ev store.Event) (store.Event, bool, error) {
	if err := store.CheckIdempotencyKey(k, store.IdempotencySendEvent, ev.Namespace); err != nil {
		return store.Event{}, false, err
	}
	if err := store.ValidateEvent(&ev); err != nil {
		return store.Event{}, false, err
	}
	var out []store.Event
	id, replayed, err := s.once(ctx, k, func(tx pgx.Tx) (int64, error) {
		var err error
		out, err = s.appendEventsNotify(ctx, tx, []store.Event{ev})
		if err != nil {
			return 0, err
		}
		return out[0].ID, nil
	})
	if err != nil {
		return store.Event{}, false, opErr("append event", err)
	}
	if !replayed {
		s.hub.wakeEvents(out)
		return out[0], false, nil
	}
	rows, err := s.pool.Query(ctx, s.q("SELECT "+eventCols+" FROM {s}.aiflow_event WHERE id = $1"), id)
	if err != nil {
		return store.Event{}, false, opErr("append event", err)
	}
	got, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return store.Event{}, false, opErr("append event", err)
	}
	if len(got) == 0 {
		ev.ID = id
		return ev, true, nil
	}
	return got[0], true, nil
}

// CreateExecutionOnce creates the execution unless k is recorded; then it
// returns the recorded execution id.
func (s *Store) CreateExecutionOnce(ctx context.Context, k store.IdempotencyKey, rec store.WorkflowExecutionRecord, ev store.Event) (int64, bool, error) {
	if err := store.CheckIdempotencyKey(k, store.IdempotencyStartExecution, rec.Namespace); err != nil {
		return 0, false, err
	}
	var out []store.Event
	id, replayed, err := s.once(ctx, k, func(tx pgx.Tx) (int64, error) {
		var err error
		out, err = s.createExecutionTx(ctx, tx, rec, ev)
		return rec.ID, err
	})
	if err != nil {
		return 0, false, opErr("create execution", err)
	}
	if !replayed {
		s.hub.appended(partsOf(out))
	}
	return id, replayed, nil
}

// PruneIdempotencyKeys deletes the keys recorded before before, at most
// pruneIdempotencyBatch per statement, until none is left.
func (s *Store) PruneIdempotencyKeys(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		tag, err := s.pool.Exec(ctx, s.q(`DELETE FROM {s}.aiflow_idempotency_key WHERE ctid = ANY (ARRAY(
			SELECT ctid FROM {s}.aiflow_idempotency_key WHERE created_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))`),
			before, pruneIdempotencyBatch)
		if err != nil {
			return total, opErr("prune idempotency keys", err)
		}
		n := int(tag.RowsAffected())
		total += n
		if n < pruneIdempotencyBatch {
			return total, nil
		}
	}
}
