package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aiflow-go/aiflow/store"
)

const scheduleCols = "id, namespace, workflow, expression, time_zone, paused, overlap, catch_up, created_at, updated_at, last_fire_at, resumed_at"

func scanSchedule(row pgx.Row) (store.ScheduleRecord, error) {
	var r store.ScheduleRecord
	var last, resumed *time.Time
	err := row.Scan(&r.ID, &r.Namespace, &r.Workflow, &r.Expression, &r.TimeZone, &r.Paused, &r.Overlap, &r.CatchUp,
		&r.CreatedAt, &r.UpdatedAt, &last, &resumed)
	if last != nil {
		r.LastFireAt = *last
	}
	if resumed != nil {
		r.ResumedAt = *resumed
	}
	return r, err
}

func scheduleNotFound(id int64) error { return fmt.Errorf("%w: id %d", store.ErrScheduleNotFound, id) }

// isForeignKey reports whether err is a foreign key violation.
func isForeignKey(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// AddSchedule records a workflow schedule and appends ev (the
// schedule_changed event) in one transaction. The schedule's creation time,
// which anchors interval ticks, is the database's time truncated to the
// second.
func (s *Store) AddSchedule(ctx context.Context, rec store.ScheduleRecord, ev store.Event) (store.ScheduleRecord, error) {
	var out store.ScheduleRecord
	var appended []store.Event
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanSchedule(tx.QueryRow(ctx, s.q(`INSERT INTO {s}.aiflow_schedule (namespace, workflow, expression, time_zone, overlap, catch_up)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+scheduleCols),
			rec.Namespace, rec.Workflow, rec.Expression, rec.TimeZone, rec.Overlap, rec.CatchUp))
		if isForeignKey(err) {
			return workflowNotFound(rec.Namespace, rec.Workflow)
		}
		if err != nil {
			return err
		}
		ev.Data = fmt.Appendf(nil, `{"schedule_id":%d}`, out.ID)
		appended, err = s.insertEvents(ctx, tx, []store.Event{ev})
		return err
	})
	if err != nil {
		return store.ScheduleRecord{}, opErr("add schedule", err)
	}
	s.hub.appended(partsOf(appended))
	return out, nil
}

// GetSchedule returns a schedule.
func (s *Store) GetSchedule(ctx context.Context, id int64) (store.ScheduleRecord, error) {
	r, err := scanSchedule(s.pool.QueryRow(ctx, s.q("SELECT "+scheduleCols+" FROM {s}.aiflow_schedule WHERE id = $1"), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, scheduleNotFound(id)
	}
	return r, opErr("get schedule", err)
}

// ListSchedules lists schedules by id.
func (s *Store) ListSchedules(ctx context.Context, ns, wf string) ([]store.ScheduleRecord, error) {
	rows, err := s.pool.Query(ctx, s.q("SELECT "+scheduleCols+` FROM {s}.aiflow_schedule
		WHERE ($1 = '' OR namespace = $1) AND ($2 = '' OR workflow = $2) ORDER BY id`), ns, wf)
	if err != nil {
		return nil, opErr("list schedules", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.ScheduleRecord, error) { return scanSchedule(r) })
	return out, opErr("list schedules", err)
}

// changeSchedule runs stmt (which must affect the schedule $1) and appends ev
// in one transaction.
func (s *Store) changeSchedule(ctx context.Context, op string, id int64, ev store.Event, stmt string, args ...any) error {
	var appended []store.Event
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, s.q(stmt), append([]any{id}, args...)...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return scheduleNotFound(id)
		}
		ev.Data = fmt.Appendf(nil, `{"schedule_id":%d}`, id)
		appended, err = s.insertEvents(ctx, tx, []store.Event{ev})
		return err
	})
	if err == nil {
		s.hub.appended(partsOf(appended))
	}
	return opErr(op, err)
}

// SetSchedulePaused pauses or resumes a schedule; resuming a paused one sets
// its resumed_at to the database's time.
func (s *Store) SetSchedulePaused(ctx context.Context, id int64, paused bool, ev store.Event) error {
	return s.changeSchedule(ctx, "set schedule paused", id, ev, `UPDATE {s}.aiflow_schedule
		SET paused = $2, updated_at = clock_timestamp(),
			resumed_at = CASE WHEN paused AND NOT $2 THEN clock_timestamp() ELSE resumed_at END
		WHERE id = $1`, paused)
}

// DeleteSchedule deletes a schedule.
func (s *Store) DeleteSchedule(ctx context.Context, id int64, ev store.Event) error {
	return s.changeSchedule(ctx, "delete schedule", id, ev, "DELETE FROM {s}.aiflow_schedule WHERE id = $1")
}

// FireTimer records a tick and appends its event in one transaction, once per
// (key, nominal time). A schedule's tick fires only while the schedule exists
// and is not paused, and only if it falls after the schedule's last resume
// (checked under a row lock, so it cannot race a pause or a resume); it moves
// the schedule's last firing time forward.
func (s *Store) FireTimer(ctx context.Context, f store.Firing) (bool, error) {
	fired := false
	var appended []store.Event
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if f.ScheduleID != 0 {
			var paused bool
			var resumed *time.Time
			err := tx.QueryRow(ctx, s.q("SELECT paused, resumed_at FROM {s}.aiflow_schedule WHERE id = $1 FOR UPDATE"),
				f.ScheduleID).Scan(&paused, &resumed)
			if errors.Is(err, pgx.ErrNoRows) || (err == nil && (paused || (resumed != nil && !f.At.After(*resumed)))) {
				return nil
			}
			if err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, s.q("INSERT INTO {s}.aiflow_timer_fire (key, at) VALUES ($1, $2) ON CONFLICT DO NOTHING"), f.Key, f.At)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if f.ScheduleID != 0 {
			if _, err := tx.Exec(ctx, s.q(`UPDATE {s}.aiflow_schedule SET last_fire_at = $2
				WHERE id = $1 AND (last_fire_at IS NULL OR last_fire_at < $2)`), f.ScheduleID, f.At); err != nil {
				return err
			}
		}
		appended, err = s.insertEvents(ctx, tx, []store.Event{f.Event})
		fired = err == nil
		return err
	})
	if err != nil {
		return false, opErr("fire timer", err)
	}
	if fired {
		s.hub.appended(partsOf(appended))
	}
	return fired, nil
}

// firingPruneBatch bounds the firing records one PruneFirings statement
// reads.
const firingPruneBatch = 5000

// PruneFirings deletes the firing records made at least minAge ago (by the
// database's clock), except the keep[key] latest (at least one) of each key
// of keep. It walks the old records oldest first through an index on their
// age, a batch per statement: each batch costs its size whatever the table
// holds, and is its own short transaction (a long one would hold back the
// horizon of the event log's readers).
func (s *Store) PruneFirings(ctx context.Context, keep map[string]int, minAge time.Duration) (int, error) {
	keys, counts := make([]string, 0, len(keep)), make([]int32, 0, len(keep))
	for k, n := range keep {
		keys, counts = append(keys, k), append(counts, int32(min(max(n, 1), math.MaxInt32)))
	}
	var cutoff time.Time
	if err := s.pool.QueryRow(ctx, "SELECT now() - $1::interval", minAge).Scan(&cutoff); err != nil {
		return 0, opErr("prune firings", err)
	}
	// The cursor: the last record of the previous batch, by (fired_at,
	// key, at).
	var curFired, curAt time.Time
	curKey := ""
	total := 0
	for {
		// cut is, for each kept key of the batch, the nominal time of its
		// keep-th latest record (none if it has fewer): older records go.
		var deleted, read int
		err := s.pool.QueryRow(ctx, s.q(`WITH batch AS MATERIALIZED (
				SELECT ctid, key, at, fired_at FROM {s}.aiflow_timer_fire
				WHERE fired_at <= $3 AND (fired_at, key, at) > ($4, $5, $6)
				ORDER BY fired_at, key, at LIMIT $7
			), cut AS (
				SELECT k.key, (SELECT x.at FROM {s}.aiflow_timer_fire x WHERE x.key = k.key
					ORDER BY x.at DESC OFFSET k.keep - 1 LIMIT 1) AS at
				FROM unnest($1::text[], $2::int[]) AS k(key, keep)
				WHERE k.key IN (SELECT key FROM batch)
			), gone AS (
				DELETE FROM {s}.aiflow_timer_fire WHERE ctid = ANY(ARRAY(
					SELECT b.ctid FROM batch b LEFT JOIN cut c ON c.key = b.key
					WHERE c.key IS NULL OR b.at < c.at))
				RETURNING 1
			)
			SELECT (SELECT count(*) FROM gone), l.n, l.fired_at, l.key, l.at FROM (
				SELECT count(*) OVER () AS n, fired_at, key, at FROM batch
				ORDER BY fired_at DESC, key DESC, at DESC LIMIT 1) l`),
			keys, counts, cutoff, curFired, curKey, curAt, firingPruneBatch).Scan(&deleted, &read, &curFired, &curKey, &curAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return total, nil // nothing left to read
		}
		if err != nil {
			return total, opErr("prune firings", err)
		}
		total += deleted
		if read < firingPruneBatch {
			return total, nil
		}
	}
}
