package postgres

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/rivertype"

	"github.com/aiflow-go/aiflow/store"
)

// reapBatch bounds the attempts one reaper transaction ends.
const reapBatch = 100

// reapLoop runs the reaper every ReapInterval while this process leads.
func (w *workers) reapLoop(ctx context.Context) {
	s := w.s
	t := time.NewTicker(s.cfg.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.IsLeader() {
			continue
		}
		if _, err := s.reap(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "reaping lost task attempts failed", slog.Any("error", err))
		}
	}
}

// reaped is one attempt the reaper ends.
type reaped struct {
	te      store.TaskExecutionRecord
	attempt int
	jobID   int64
	valid   bool // the lease or dispatch still matches the task execution
}

// reap ends the attempts whose worker is gone, and returns how many it ended:
//
//   - a running attempt whose lease expired TaskStopGrace ago or more (its
//     worker stopped heartbeating; a worker that is alive but cut off has
//     cancelled the attempt TaskStopGrace before the expiry, so it had twice
//     the grace to stop): what store.WorkerLost decides, an interruption and
//     not a failure: RETRYING (run again at once) while the task execution's
//     interruptions stay within its limit, FAILED ("the workers kept dying")
//     at the one after, or STOPPED if it was stopping;
//   - a dispatched attempt that never recorded RUNNING although its job is
//     finished, gone, or running for longer than TaskLeaseTTL (its worker
//     died before the attempt started): RETRYING as an interruption, not a
//     failure (the task's code never ran), so that the engine dispatches the
//     next attempt at once.
//
// Each is ended with its status event, in transactions fenced row by row
// (SKIP LOCKED, attempt and lease checks), so it is safe even when two
// processes reap at once. The River job is cancelled, so a worker that still
// runs it is told to stop.
func (s *Store) reap(ctx context.Context) (int, error) {
	total := 0
	for _, pass := range []func(ctx context.Context) (int, error){s.reapExpiredLeases, s.reapDeadDispatches, s.reapZombieJobs} {
		for {
			n, err := pass(ctx)
			total += n
			if err != nil {
				return total, err
			}
			if n < reapBatch {
				break
			}
		}
	}
	return total, nil
}

func (s *Store) reapExpiredLeases(ctx context.Context) (int, error) {
	return s.reapWith(ctx, `SELECT `+teColsOf("t")+`, l.attempt, coalesce(d.job_id, 0),
			t.attempt = l.attempt AND t.status IN ('RUNNING', 'STOPPING')
		FROM {s}.aiflow_task_lease l
		JOIN {s}.aiflow_task_execution t ON t.id = l.task_execution_id
		LEFT JOIN {s}.aiflow_dispatch d ON d.task_execution_id = l.task_execution_id AND d.attempt = l.attempt
		WHERE l.expires_at < now() - $2::interval
		ORDER BY l.expires_at LIMIT $1
		FOR UPDATE OF l, t SKIP LOCKED`, []any{reapBatch, s.cfg.TaskStopGrace}, heartbeatLost)
}

// heartbeatLost is what becomes of an attempt whose lease expired: its
// worker was lost (store.WorkerLost).
func heartbeatLost(te *store.TaskExecutionRecord) (store.TaskStatus, store.StatusData) {
	return store.WorkerLost(te, errHeartbeatLost.Error())
}

func (s *Store) reapDeadDispatches(ctx context.Context) (int, error) {
	return s.reapWith(ctx, `SELECT `+teColsOf("t")+`, d.attempt, coalesce(d.job_id, 0), true
		FROM {s}.aiflow_dispatch d
		JOIN {s}.aiflow_task_execution t ON t.id = d.task_execution_id AND t.attempt = d.attempt
		LEFT JOIN {s}.river_job j ON j.id = d.job_id
		WHERE d.state = 'pending' AND t.status IN ('QUEUED', 'RETRYING')
			AND (j.id IS NULL OR j.state::text IN ('completed', 'cancelled', 'discarded')
				OR (j.state::text = 'running' AND j.attempted_at < now() - $2::interval))
		ORDER BY d.created_at LIMIT $1
		FOR UPDATE OF d, t SKIP LOCKED`, []any{reapBatch, s.cfg.TaskLeaseTTL}, store.WorkerLostBeforeStart)
}

// reapZombieJobs asks River to cancel the jobs it still sees running
// although their attempts ended long ago (a worker fenced out before it
// started, or one whose finish failed and whose attempt the reaper ended):
// River's rescuer then finalizes them. A final status recorded by a worker
// completes its job in the same transaction, so that case leaves none.
// Only River's view changes; it returns how many jobs it asked to cancel.
func (s *Store) reapZombieJobs(ctx context.Context) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, s.q(`SELECT j.id FROM {s}.aiflow_dispatch d JOIN {s}.river_job j ON j.id = d.job_id
			WHERE d.state IN ('done', 'cancelled') AND d.updated_at < now() - $1::interval
				AND j.state::text = 'running' AND NOT (j.metadata ? 'cancel_attempted_at')
			LIMIT $2`), s.cfg.TaskLeaseTTL, reapBatch)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := s.river.JobCancelTx(ctx, tx, id); err != nil && !errors.Is(err, rivertype.ErrNotFound) {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, opErr("reap", err)
}

// reapWith ends the attempts query selects with the statuses end decides
// (from the task execution as stored), each with its status event.
func (s *Store) reapWith(ctx context.Context, query string, args []any,
	end func(te *store.TaskExecutionRecord) (store.TaskStatus, store.StatusData)) (int, error) {
	var list []reaped
	var appended []store.Event
	var reasons map[int64]string // by task execution, of the attempts ended
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		list, appended = nil, nil
		rows, err := tx.Query(ctx, s.q(query), args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var r reaped
			if r.te, err = scanTE(rows, &r.attempt, &r.jobID, &r.valid); err != nil {
				rows.Close()
				return err
			}
			list = append(list, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(list) == 0 {
			return nil
		}
		var events []store.Event
		reasons = map[int64]string{}
		ids, statuses, failures, interruptions, errs, endeds := []int64{}, []string{}, []int32{}, []int32{}, []string{}, []bool{}
		leaseTEs, dispTEs, dispAtts := []int64{}, []int64{}, []int32{}
		for _, r := range list {
			leaseTEs = append(leaseTEs, r.te.ID)
			if !r.valid {
				continue // a stale lease: just drop it
			}
			status, data := end(&r.te)
			events = append(events, store.NewStatusEvent(&r.te, status, data, store.SenderReaper))
			ids, statuses, failures = append(ids, r.te.ID), append(statuses, string(status)), append(failures, int32(data.Failures))
			interruptions = append(interruptions, int32(data.Interruptions))
			reasons[r.te.ID] = data.Reason
			errs, endeds = append(errs, data.Error), append(endeds, status.Finished())
			dispTEs, dispAtts = append(dispTEs, r.te.ID), append(dispAtts, int32(r.attempt))
		}
		b := &pgx.Batch{}
		b.Queue(s.q(`DELETE FROM {s}.aiflow_task_lease AS l USING unnest($1::bigint[], $2::integer[]) AS u(te, attempt)
			WHERE l.task_execution_id = u.te AND l.attempt = u.attempt`), leaseTEs, attemptsOf(list))
		b.Queue(s.q(updateFinalSQL), ids, statuses, failures, errs, endeds, interruptions)
		b.Queue(s.q(`UPDATE {s}.aiflow_dispatch AS d SET state = 'reaped', updated_at = clock_timestamp()
			FROM unnest($1::bigint[], $2::integer[]) AS u(te, attempt) WHERE d.task_execution_id = u.te AND d.attempt = u.attempt`), dispTEs, dispAtts)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if appended, err = s.insertEvents(ctx, tx, events); err != nil {
			return err
		}
		for _, r := range list {
			if !r.valid || r.jobID == 0 {
				continue
			}
			if _, err := s.river.JobCancelTx(ctx, tx, r.jobID); err != nil && !errors.Is(err, rivertype.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, opErr("reap", err)
	}
	n := 0
	for _, r := range list {
		if r.valid {
			n++
			s.log.WarnContext(ctx, "task attempt reaped", slog.Int64("task_execution_id", r.te.ID), slog.Int("attempt", r.attempt),
				slog.String("reason", reasons[r.te.ID]))
		}
	}
	if len(appended) > 0 {
		s.hub.appended(partsOf(appended))
	}
	return len(list), nil
}

// updateFinalSQL writes how attempts ended, from arrays: $1 task execution
// ids, $2 statuses, $3 failures, $4 errors (empty keeps the last one), $5
// whether the status is final (which sets ended_at), $6 interruptions.
const updateFinalSQL = `UPDATE {s}.aiflow_task_execution AS t SET status = u.status, failures = u.failures,
		interruptions = u.interruptions, error = CASE WHEN u.error <> '' THEN u.error ELSE t.error END,
		updated_at = clock_timestamp(), ended_at = CASE WHEN u.ended THEN clock_timestamp() ELSE t.ended_at END
	FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::text[], $5::boolean[], $6::integer[])
		AS u(id, status, failures, error, ended, interruptions)
	WHERE t.id = u.id`

func attemptsOf(list []reaped) []int32 {
	out := make([]int32, len(list))
	for i, r := range list {
		out[i] = int32(r.attempt)
	}
	return out
}
