package postgres

// Task leases: the heartbeat that renews them, the watchdog that stops an
// attempt before its lease can expire, and progress reports.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/store"
)

// heartbeatLoop renews the leases of this process's running attempts every
// TaskHeartbeat (or as soon as the previous renewal returned, if it took
// longer), in one query bounded by the earliest deadline of their leases
// (see leaseWatch), and cancels the attempts whose lease is gone
// (reaped) and those whose task is STOPPING (a stop that did not reach them
// otherwise). An attempt whose lease could not be renewed in time is
// cancelled by leaseWatch.
func (w *workers) heartbeatLoop(ctx context.Context) {
	s := w.s
	t := time.NewTicker(s.cfg.TaskHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if w.heartbeatsPaused.Load() {
			continue
		}
		sent := w.clock()
		w.mu.Lock()
		owner := w.owner
		list := make([]*attempt, 0, len(w.running))
		// A slow renewal still proves the leases from sent: wait for it up
		// to the earliest deadline of the leases it renews.
		deadline := sent.Add(s.cfg.TaskLeaseTTL - s.cfg.TaskStopGrace)
		for _, a := range w.running {
			list = append(list, a)
			if d := w.leaseDeadline(a); !a.leaseLost && d.After(sent) && d.Before(deadline) {
				deadline = d
			}
		}
		w.mu.Unlock()
		if len(list) == 0 {
			continue
		}
		tes, atts := make([]int64, len(list)), make([]int32, len(list))
		for i, a := range list {
			tes[i], atts[i] = a.te, int32(a.attempt)
		}
		// A renewal that arrives after the deadline cannot save the
		// attempts any more: do not wait for it longer (the deadline is on
		// the lease clock; the timeout on the real one).
		qctx, cancel := context.WithTimeout(ctx, deadline.Sub(sent))
		rows, err := s.pool.Query(qctx, s.q(`UPDATE {s}.aiflow_task_lease AS l SET expires_at = now() + $4::interval
			FROM unnest($1::bigint[], $2::integer[]) AS u(te, attempt)
			WHERE l.task_execution_id = u.te AND l.attempt = u.attempt AND l.owner = $3
			RETURNING l.task_execution_id, l.attempt, EXISTS (SELECT 1 FROM {s}.aiflow_task_execution t
				WHERE t.id = l.task_execution_id AND t.attempt = l.attempt AND t.status = 'STOPPING')`), tes, atts, owner, s.cfg.TaskLeaseTTL)
		var renewed []int64
		var stopping []stopRequest
		if err == nil {
			var id int64
			var att int32
			var stop bool
			_, err = pgx.ForEachRow(rows, []any{&id, &att, &stop}, func() error {
				renewed = append(renewed, id)
				if stop {
					stopping = append(stopping, stopRequest{te: id, attempt: int(att)})
				}
				return nil
			})
		}
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.WarnContext(ctx, "renewing task leases failed", slog.Any("error", err), slog.Int("attempts", len(list)))
			continue
		}
		ok := make(map[int64]bool, len(renewed))
		for _, id := range renewed {
			ok[id] = true
		}
		w.mu.Lock()
		for _, a := range list {
			if w.running[a.te] != a {
				continue
			}
			if ok[a.te] {
				if sent.After(a.leaseSent) {
					a.leaseSent = sent
				}
				continue
			}
			s.log.WarnContext(ctx, "task lease lost; cancelling the attempt", slog.Int64("task_execution_id", a.te), slog.Int("attempt", a.attempt))
			a.leaseLost = true
			a.cancel(errLeaseLost)
		}
		w.mu.Unlock()
		// A stop whose cancellation did not reach the attempt (a handed-off
		// attempt stopped by another process, or River's notification lost).
		w.cancelLocal(stopping)
	}
}

// leaseDeadline is when the holder of a's lease must have cancelled it: the
// database expires the lease TaskLeaseTTL after the last renewal was sent at
// the earliest, and the attempt gets TaskStopGrace before that to stop.
// Called with w.mu held.
func (w *workers) leaseDeadline(a *attempt) time.Time {
	return a.leaseSent.Add(w.s.cfg.TaskLeaseTTL - w.s.cfg.TaskStopGrace)
}

// checkLeaseLocked cancels a if its lease can no longer be proven at now.
// Called with w.mu held.
func (w *workers) checkLeaseLocked(a *attempt, now time.Time) {
	if a.leaseLost || now.Before(w.leaseDeadline(a)) {
		return
	}
	a.leaseLost = true
	w.s.log.Warn("cannot prove the task lease any more (no renewal in time); cancelling the attempt",
		slog.Int64("task_execution_id", a.te), slog.Int("attempt", a.attempt),
		slog.Duration("since_last_renewal_sent", now.Sub(a.leaseSent)))
	a.cancel(errLeaseLost)
}

// leaseWatchStep is the period of leaseWatch: a small part of the stop
// grace, so that an attempt is cancelled almost at its deadline.
func (w *workers) leaseWatchStep() time.Duration {
	return max(min(100*time.Millisecond, w.s.cfg.TaskStopGrace/4), time.Millisecond)
}

// leaseWatch is the watchdog of the leases: every leaseWatchStep it cancels
// the attempts whose lease this process can no longer prove (no renewal
// sent within TaskLeaseTTL minus TaskStopGrace was answered), whether the
// heartbeat failed, blocks, or the whole process was paused (SIGSTOP, a
// frozen VM): after a pause its first tick cancels them at once, on the
// monotonic clock, before any renewal is tried. Pauses longer than the stop
// grace are logged.
func (w *workers) leaseWatch(ctx context.Context) {
	step := w.leaseWatchStep()
	t := time.NewTicker(step)
	defer t.Stop()
	last := w.clock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := w.clock()
		if gap := now.Sub(last); gap > step+w.s.cfg.TaskStopGrace {
			w.s.log.Warn("the process did not run for a while (paused or starved); checking the task leases", slog.Duration("gap", gap))
		}
		last = now
		w.mu.Lock()
		for _, a := range w.running {
			w.checkLeaseLocked(a, now)
		}
		w.mu.Unlock()
	}
}

// ReportProgress records an operator's progress on a running attempt.
func (s *Store) ReportProgress(ctx context.Context, id int64, attemptNo int, r store.Report) error {
	tag, err := s.pool.Exec(ctx, s.q(`UPDATE {s}.aiflow_task_execution SET
			status_message = CASE WHEN $3 <> '' THEN $3 ELSE status_message END,
			metrics = CASE WHEN $4::jsonb IS NULL THEN metrics
				WHEN jsonb_typeof(metrics) = 'object' THEN metrics || $4::jsonb ELSE $4::jsonb END,
			updated_at = clock_timestamp()
		WHERE id = $1 AND attempt = $2 AND status IN ('RUNNING', 'STOPPING')`), id, attemptNo, r.StatusMessage, metricsArg(r.Metrics))
	if err != nil {
		return opErr("report progress", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if _, err := s.GetTaskExecution(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("%w: task execution %d attempt %d is not running", store.ErrConflict, id, attemptNo)
}

// metricsArg is the jsonb argument of metrics, as JSON text (a map has no
// text encoding, which the simple protocol and QueryExecModeExec need): SQL
// NULL when there are none.
func metricsArg(m map[string]float64) any {
	if m == nil {
		return nil
	}
	data, err := json.Marshal(m)
	if err != nil { // NaN or infinities: let the query fail with pgx's error, as before
		return m
	}
	return string(data)
}
