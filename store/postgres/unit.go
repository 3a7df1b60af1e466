package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/aiflow-go/aiflow/store"
)

// effectsResult is what a committed unit of work leaves for Consume to do
// after the commit.
type effectsResult struct {
	version  int64
	appended bool
	parts    []int32       // of the appended events
	queues   []string      // of the River jobs inserted that are available now
	handoffs []handoffJob  // the attempts handed off to this process's workers
	stopping []stopRequest // the attempts moved to STOPPING
}

// unitWrite is one unit of work's write, carried from step to step of
// applyEffects: the effects, the task executions they touch and what each
// step decided.
type unitWrite struct {
	s       *Store
	tx      pgx.Tx
	params  store.ConsumeParams
	version int64 // the partition's version the unit was computed on
	fx      *store.Effects
	res     effectsResult

	// pending are the statements not sent yet: the records ride with the
	// reads, or in the final batch when there is nothing to read.
	pending []stmt
	// tes are the task executions the dispatches and stops concern, as
	// they will be written; dispatched are their dispatch rows before the
	// unit.
	tes        map[int64]*store.TaskExecutionRecord
	dispatched map[dispatchKey]dispatchRow
	changed    map[int64]bool // task executions whose status or attempt changed
	ended      map[int64]bool // task executions the unit ended
	fresh      []newDispatch  // the dispatch rows the unit creates
	jobIDs     []int64        // the River job of each fresh dispatch (0: none)
	// jobs are the River jobs of the fresh dispatches when the unit
	// inserts them itself, with their dispatch rows (see insertJobs).
	jobs       *ownJobs
	cancelJobs []int64       // River jobs of stopped attempts
	cancelled  []dispatchKey // dispatch rows the unit cancels
	events     []store.Event // to append: the effects' and the transitions' status events
	ea         *eventArgs    // events as arrays

	// news are the unit's new task executions, inserted in the last round
	// trip as the unit leaves them (see queueNewTaskExecutions);
	// insertedRunning those inserted RUNNING, handed off.
	news            []int64
	insertedRunning map[int64]bool
}

// applyEffects writes a unit of work's effects in tx, with the new position,
// if the partition is still at version. Statements are pipelined: the records
// (and, when dispatches or stops concern task executions that existed before
// this unit, the reads they need) in one round trip, River's insert (only
// with River insert middleware: else the jobs go with their dispatch rows,
// see jobs.go), one round trip per cancelled job, and everything else in a
// last round trip; without such reads the records ride in the last round
// trip too. On a unitTx the first round trip carries the BEGIN and the last
// one the COMMIT: a unit without reads or River calls is one round trip.
// Every check of the writes is raised by its statement (unitcheck.go), so
// that a failed one aborts the transaction before the COMMIT; what the
// handlers read back after the server has committed cannot fail the unit
// (but for a broken connection, when the COMMIT's outcome is unknown
// anyway, as it was when the COMMIT went alone).
func (s *Store) applyEffects(ctx context.Context, tx pgx.Tx, params store.ConsumeParams, version int64, fx *store.Effects) (effectsResult, error) {
	if err := checkEvents(fx.Events); err != nil {
		return effectsResult{}, err
	}
	u := &unitWrite{
		s: s, tx: tx, params: params, version: version, fx: fx,
		tes:        map[int64]*store.TaskExecutionRecord{},
		dispatched: map[dispatchKey]dispatchRow{},
		changed:    map[int64]bool{},
		ended:      map[int64]bool{},
		events:     slices.Clone(fx.Events),
	}
	u.queueRecords()
	if err := u.readTouched(ctx); err != nil {
		return u.res, err
	}
	u.decideDispatches()
	u.decideStops()
	if err := u.insertJobs(ctx); err != nil {
		return u.res, err
	}
	if err := u.cancelStoppedJobs(ctx); err != nil {
		return u.res, err
	}
	u.queueFinal()
	if ut, ok := tx.(*unitTx); ok {
		// The COMMIT goes with the last writes: every check of the unit is
		// raised by its statement (see unitcheck.go), so that none is left
		// to run once the server has committed.
		u.pending = append(u.pending, ut.commitStmt())
	}
	err := u.send(ctx, u.pending)
	return u.res, err
}

// send sends stmts in one round trip; a failed check is turned into the
// store's error (checkError), and a version-checked write that found no row
// is explained (see unitConflict).
func (u *unitWrite) send(ctx context.Context, stmts []stmt) error {
	err := checkError(sendBatch(ctx, u.tx, stmts))
	if errors.Is(err, errVersionMoved) {
		return u.s.unitConflict(ctx, u.params, u.version)
	}
	return err
}

// queueRecords queues the new position (checked against the version) and
// the records: new and updated workflow executions and task notes. The new
// task executions, which the later steps know without reading them, are
// inserted last, in the state the unit leaves them in.
func (u *unitWrite) queueRecords() {
	u.pending = append(u.pending, stmt{
		sql:  u.s.q(checkedVersionSQL),
		args: []any{u.params.Partition, u.fx.Position.XID, u.fx.Position.ID, u.version, u.params.Owner},
		handle: func(br pgx.BatchResults) error {
			return br.QueryRow().Scan(&u.res.version)
		},
	})
	u.pending = append(u.pending, u.s.executionRecords(u.fx)...)
	for i := range u.fx.NewTaskExecutions {
		te := u.fx.NewTaskExecutions[i]
		u.tes[te.ID] = &te
		u.news = append(u.news, te.ID)
	}
	u.pending = append(u.pending, u.s.taskNotes(u.fx.TaskNotes, u.tes)...)
}

// touched returns the task executions that dispatches and stops concern and
// that this unit did not create, in id order.
func (u *unitWrite) touched() []int64 {
	var ids []int64
	for _, d := range u.fx.Dispatches {
		if u.tes[d.TaskExecutionID] == nil {
			ids = append(ids, d.TaskExecutionID)
		}
	}
	for _, st := range u.fx.Stops {
		if u.tes[st.TaskExecutionID] == nil {
			ids = append(ids, st.TaskExecutionID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// readTouched locks and reads the touched task executions that existed
// before this unit, with their dispatch rows, in the round trip of the
// records.
func (u *unitWrite) readTouched(ctx context.Context) error {
	touched := u.touched()
	if len(touched) == 0 {
		return nil
	}
	reads := append(u.pending, stmt{
		sql:  u.s.q("SELECT " + teCols + " FROM {s}.aiflow_task_execution WHERE id = ANY($1) ORDER BY id FOR UPDATE"),
		args: []any{touched},
		handle: func(br pgx.BatchResults) error {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				te, err := scanTE(rows)
				if err != nil {
					return err
				}
				u.tes[te.ID] = &te
			}
			return rows.Err()
		},
	}, stmt{
		sql:  u.s.q("SELECT task_execution_id, attempt, coalesce(job_id, 0), state FROM {s}.aiflow_dispatch WHERE task_execution_id = ANY($1)"),
		args: []any{touched},
		handle: func(br pgx.BatchResults) error {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			var k dispatchKey
			var d dispatchRow
			_, err = pgx.ForEachRow(rows, []any{&k.te, &k.attempt, &d.jobID, &d.state}, func() error {
				u.dispatched[k] = d
				return nil
			})
			return err
		},
	})
	if err := u.send(ctx, reads); err != nil {
		return err
	}
	u.pending = nil
	return nil
}

// decideDispatches applies each dispatch (store.DispatchStatus) that no
// dispatch row of the same attempt precedes, and plans its dispatch row.
func (u *unitWrite) decideDispatches() {
	seen := map[dispatchKey]bool{}
	for _, d := range u.fx.Dispatches {
		te := u.tes[d.TaskExecutionID]
		k := dispatchKey{d.TaskExecutionID, d.Attempt}
		if te == nil || seen[k] {
			continue
		}
		if _, dup := u.dispatched[k]; dup {
			continue
		}
		status, ok := store.DispatchStatus(te, d.Attempt)
		if !ok {
			continue // stopped or finished meanwhile
		}
		te.Status, te.Attempt = status, d.Attempt
		u.changed[te.ID] = true
		seen[k] = true
		u.fresh = append(u.fresh, newDispatch{key: k, notBefore: d.NotBefore, streaming: te.Streaming})
	}
}

// decideStops applies each stop (store.Stop): an attempt that does not run
// ends STOPPED with its dispatches cancelled (fresh ones are recorded
// cancelled, with no job); a running one becomes STOPPING, its River job is
// cancelled and its worker told after the commit.
func (u *unitWrite) decideStops() {
	for _, st := range u.fx.Stops {
		te := u.tes[st.TaskExecutionID]
		if te == nil {
			continue
		}
		tr := store.Stop(te, st.Reason)
		if tr.Action == store.StopIgnored {
			continue
		}
		te.Status, te.Attempt = tr.Status, tr.Attempt
		u.changed[te.ID] = true
		u.events = append(u.events, tr.Event)
		switch tr.Action {
		case store.StopNow:
			u.ended[te.ID] = true
			u.cancelDispatches(te.ID, dispatchPending, dispatchRunning)
			for i := range u.fresh {
				if u.fresh[i].key.te == te.ID {
					u.fresh[i].dropped = true
				}
			}
		case store.StopRunning:
			u.res.stopping = append(u.res.stopping, stopRequest{te: te.ID, attempt: te.Attempt})
			if d, ok := u.dispatched[dispatchKey{te.ID, te.Attempt}]; ok && d.jobID != 0 {
				u.cancelJobs = append(u.cancelJobs, d.jobID)
			}
		}
	}
}

// cancelDispatches cancels te's earlier dispatch rows in one of states, and
// their River jobs.
func (u *unitWrite) cancelDispatches(te int64, states ...string) {
	for k, d := range u.dispatched {
		if k.te == te && slices.Contains(states, d.state) {
			if d.jobID != 0 {
				u.cancelJobs = append(u.cancelJobs, d.jobID)
			}
			u.cancelled = append(u.cancelled, k)
			d.state = dispatchCancelled
			u.dispatched[k] = d
		}
	}
}

// reserveHandoffs reserves handoff slots for the attempts of the unit that
// are due now, as many as are free, and returns how many: the first attempts
// due are handed off, the others go to River, which spreads them over the
// processes.
func (u *unitWrite) reserveHandoffs(now time.Time) int {
	due := 0
	for _, d := range u.fresh {
		if !d.dropped && !d.streaming && !d.notBefore.After(now) {
			due++
		}
	}
	if due == 0 {
		return 0
	}
	return u.s.workers.reserveHandoffs(due)
}

// insertJobs inserts the River jobs of the fresh dispatches: scheduled ones
// at their time, the others available now in their queue. Handed-off
// attempts (started here and run by this process, see handoff.go) have no
// River job. Without River insert middleware it only plans them: the
// statement of the dispatch rows inserts them (see jobs.go).
func (u *unitWrite) insertJobs(ctx context.Context) error {
	var jobParams []river.InsertManyParams
	var jobOf []int // index in fresh
	now := time.Now()
	handoffs := u.reserveHandoffs(now)
	for i, d := range u.fresh {
		if d.dropped {
			continue
		}
		opts := &river.InsertOpts{Queue: QueueBatch, MaxAttempts: 1}
		if d.streaming {
			opts.Queue = QueueStreaming
		}
		switch {
		case d.notBefore.After(now):
			opts.ScheduledAt = d.notBefore
		case len(u.res.handoffs) < handoffs && !d.streaming:
			u.fresh[i].handoff = true
			u.res.handoffs = append(u.res.handoffs, handoffJob{te: d.key.te, attempt: d.key.attempt})
			continue
		case !slices.Contains(u.res.queues, opts.Queue):
			u.res.queues = append(u.res.queues, opts.Queue)
		}
		jobParams = append(jobParams, river.InsertManyParams{Args: taskArgs{TaskExecutionID: d.key.te, Attempt: d.key.attempt}, InsertOpts: opts})
		jobOf = append(jobOf, i)
	}
	u.jobIDs = make([]int64, len(u.fresh))
	if len(jobParams) == 0 {
		return nil
	}
	if !u.s.riverInsertHooked() {
		u.jobs = u.s.ownJobs(jobParams, jobOf, u.fresh)
		return nil
	}
	results, err := u.s.river.InsertManyTx(ctx, u.tx, jobParams)
	if err != nil {
		return fmt.Errorf("inserting %d River jobs: %w", len(jobParams), err)
	}
	for i, r := range results {
		u.jobIDs[jobOf[i]] = r.Job.ID
	}
	return nil
}

// cancelStoppedJobs cancels the River jobs of the stopped attempts.
func (u *unitWrite) cancelStoppedJobs(ctx context.Context) error {
	for _, id := range u.cancelJobs {
		if _, err := u.s.river.JobCancelTx(ctx, u.tx, id); err != nil && !errors.Is(err, rivertype.ErrNotFound) {
			return fmt.Errorf("cancelling River job %d: %w", id, err)
		}
	}
	return nil
}

// queueFinal queues the last round trip after the records (if not sent
// yet): new task executions, task execution statuses, handed-off starts,
// dispatch rows, events and snapshots.
func (u *unitWrite) queueFinal() {
	u.queueNewTaskExecutions()
	u.queueStatuses()
	if len(u.res.handoffs) > 0 {
		u.pending = append(u.pending, u.s.startHandoffs(u.res.handoffs, u.tes, u.insertedRunning, &u.events)...)
	}
	u.queueDispatchRows()
	u.queueEvents()
	u.pending = append(u.pending, u.s.snapshotWrites(u.params.Partition, u.fx.Snapshots)...)
	u.pending = append(u.pending, u.s.decisionWrites(u.fx.Decisions)...)
}

// queueStatuses writes the status and attempt of the task executions the
// dispatches and stops changed, ending those that ended.
func (u *unitWrite) queueStatuses() {
	if len(u.changed) == 0 {
		return
	}
	ids := make([]int64, 0, len(u.changed))
	statuses, attempts, endeds := []string{}, []int32{}, []bool{}
	for id := range u.changed {
		te := u.tes[id]
		ids, statuses = append(ids, id), append(statuses, string(te.Status))
		attempts, endeds = append(attempts, int32(te.Attempt)), append(endeds, u.ended[id])
	}
	u.pending = append(u.pending, stmt{sql: u.s.q(`UPDATE {s}.aiflow_task_execution AS t SET status = u.status, attempt = u.attempt,
			updated_at = clock_timestamp(), ended_at = CASE WHEN u.ended THEN clock_timestamp() ELSE t.ended_at END
		FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::boolean[]) AS u(id, status, attempt, ended)
		WHERE t.id = u.id`), args: []any{ids, statuses, attempts, endeds}})
}

// queueDispatchRows inserts the fresh dispatch rows (running when handed
// off, cancelled without a job when stopped by the unit) and cancels the
// earlier ones the stops cancelled.
func (u *unitWrite) queueDispatchRows() {
	if u.jobs != nil {
		u.pending = append(u.pending, u.jobs.stmt(u.s, u.fresh))
	} else if n := len(u.fresh); n > 0 {
		teIDs, atts, jobs, states := make([]int64, n), make([]int32, n), make([]pgtype.Int8, n), make([]string, n)
		for i, d := range u.fresh {
			teIDs[i], atts[i], states[i] = d.key.te, int32(d.key.attempt), d.state()
			if id := u.jobIDs[i]; id != 0 {
				jobs[i] = pgtype.Int8{Int64: id, Valid: true}
			}
		}
		u.pending = append(u.pending, stmt{sql: u.s.q(`INSERT INTO {s}.aiflow_dispatch (task_execution_id, attempt, job_id, state)
			SELECT * FROM unnest($1::bigint[], $2::integer[], $3::bigint[], $4::text[]) ON CONFLICT DO NOTHING`),
			args: []any{teIDs, atts, jobs, states}})
	}
	if n := len(u.cancelled); n > 0 {
		teIDs, atts := make([]int64, n), make([]int32, n)
		for i, k := range u.cancelled {
			teIDs[i], atts[i] = k.te, int32(k.attempt)
		}
		u.pending = append(u.pending, stmt{sql: u.s.q(`UPDATE {s}.aiflow_dispatch AS d SET state = 'cancelled', updated_at = clock_timestamp()
			FROM unnest($1::bigint[], $2::integer[]) AS u(te, attempt) WHERE d.task_execution_id = u.te AND d.attempt = u.attempt`),
			args: []any{teIDs, atts}})
	}
}

// queueEvents appends the unit's events; when a namespace is missing none
// is inserted and the statement fails the unit (checkNamespace).
func (u *unitWrite) queueEvents() {
	if len(u.events) == 0 {
		return
	}
	u.ea = u.s.eventArgs(u.events)
	u.pending = append(u.pending, stmt{
		sql:  u.s.q(checkedEventsSQL),
		args: u.ea.args(),
		handle: func(br pgx.BatchResults) error {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			_, ok, err := u.s.readInserted(u.events, u.ea, rows)
			u.res.appended, u.res.parts = ok, u.ea.partition
			return err
		},
	})
}
