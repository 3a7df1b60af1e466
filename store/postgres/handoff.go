package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/aiflow-go/aiflow/store"
)

// Handoff. A unit of work that dispatches batch attempts while this process
// runs workers with free handoff slots (Config.HandoffMaxWorkers) starts as
// many of them as there are free slots itself, the first ones due (the
// others go to River). In its transaction, besides each task execution and
// its dispatch row (running), it records RUNNING with its status event and
// takes the attempt's lease for this process. A handed-off attempt has no
// River job: River never runs it, and a job would only be inserted and
// completed for nothing (two new versions of a row with entries in each of
// River's indexes, about a third of the backends' CPU of a task start).
// Once the unit has committed, this process runs the attempts at once,
// without River's notification and fetch nor a RUNNING statement of their
// own; from there each is like any other: heartbeats, the final status (no
// job to complete), the reaper (which ends it by its lease). Should the process die in between, each is an attempt whose
// worker died after RUNNING: its lease expires and the reaper ends it as an
// interruption (store.WorkerLost), and it runs again.
//
// STOP reaches a handed-off attempt without River (whose producer does not
// know it): the unit of work that moves a task to STOPPING cancels the
// attempt directly when it runs in this process (the attempt is registered
// before its unit's Consume returns, so the partition's next unit finds it),
// and the heartbeat, which reports the attempts whose task is STOPPING,
// cancels it in any other.

// handoffJob is one attempt handed off to this process's workers.
type handoffJob struct {
	te      int64
	attempt int
	run     *store.TaskRun // set once RUNNING is recorded
	// sent is when (on the lease clock) the statement taking the lease was
	// built, before it was sent: the lease expires at least TaskLeaseTTL
	// after it.
	sent time.Time
}

// stopRequest is an attempt that a unit of work moved to STOPPING.
type stopRequest struct {
	te      int64
	attempt int
}

// reserveHandoffs takes up to n handoff slots, as many as this process's
// workers have free (none when HandoffMaxWorkers is -1), and returns how many
// it took; the slots are given back by releaseHandoffs (the unit did not
// commit) or as the attempts end. Only batch attempts are handed off:
// streaming attempts run for days, and River spreads them over the
// processes, where handoff would pile them on the processes that consume
// their partitions.
func (w *workers) reserveHandoffs(n int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.started || w.stopping {
		return 0
	}
	n = min(n, w.s.cfg.HandoffMaxWorkers-w.handoffN)
	if n <= 0 {
		return 0
	}
	if w.handoffN == 0 {
		w.idle = make(chan struct{})
	}
	w.handoffN += n
	return n
}

// releaseHandoffs gives back the slots of jobs whose unit did not commit, or
// whose attempt ended.
func (w *workers) releaseHandoffs(jobs []handoffJob) {
	if len(jobs) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.handoffN -= len(jobs)
	if w.handoffN == 0 {
		close(w.idle)
	}
}

// launchHandoffs runs the attempts of jobs, whose unit has committed, each
// in a goroutine of its own, registered before it returns (so that a stop
// finds them). Attempts launched while the workers stop end interrupted
// without running (RETRYING, not a failure).
func (w *workers) launchHandoffs(jobs []handoffJob) {
	w.mu.Lock()
	drop := w.dropHandoffs
	w.mu.Unlock()
	if drop {
		w.releaseHandoffs(jobs)
		return
	}
	for _, j := range jobs {
		w.mu.Lock()
		hctx, cancel := context.WithCancelCause(w.bctx)
		a := &attempt{te: j.te, attempt: j.attempt, cancel: cancel, leaseSent: j.sent}
		w.running[j.te] = a
		if w.stopping || w.forced {
			a.interrupted = true
			a.cancel(store.ErrStopped)
		}
		w.checkLeaseLocked(a, w.clock())
		w.mu.Unlock()
		go func() {
			defer w.releaseHandoffs([]handoffJob{j})
			w.handedOff.Add(1)
			w.run(hctx, a, handoffRiverJob(j), j.run, true)
		}()
	}
}

// handoffRiverJob is what a handed-off attempt's worker sees as its River
// job: one without a row (ID 0), which nothing completes.
func handoffRiverJob(j handoffJob) *river.Job[taskArgs] {
	return &river.Job[taskArgs]{
		JobRow: &rivertype.JobRow{ID: 0, Attempt: 1, Kind: taskArgs{}.Kind(), Queue: QueueBatch, State: rivertype.JobStateRunning},
		Args:   taskArgs{TaskExecutionID: j.te, Attempt: j.attempt},
	}
}

// cancelLocal cancels the attempts of stops that run in this process
// (handed off or fetched by River, which also cancels the latter), as River
// does on JobCancelTx.
func (w *workers) cancelLocal(stops []stopRequest) {
	if len(stops) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, st := range stops {
		if a := w.running[st.te]; a != nil && a.attempt == st.attempt {
			a.cancel(river.ErrJobCancelledRemotely)
		}
	}
}

// startHandoffs returns the statements that start the handed-off attempts
// hs in a unit of work, after its task executions are written (tes are their
// records; those of inserted were inserted RUNNING, their times read back by
// the insert): RUNNING (reading back the times into hs[i].run) and the
// leases; it appends the RUNNING status events to events. The leases expire
// TaskLeaseTTL after their statement runs (clock_timestamp, not the
// transaction's start): the holder measures its lease from hs[i].sent,
// taken before.
func (s *Store) startHandoffs(hs []handoffJob, tes map[int64]*store.TaskExecutionRecord, inserted map[int64]bool, events *[]store.Event) []stmt {
	ids, atts := make([]int64, len(hs)), make([]int32, len(hs))
	var updated []int64 // the attempts' task executions that existed before
	byID := make(map[int64]int, len(hs))
	sent := s.workers.clock()
	for i, h := range hs {
		hs[i].sent = sent
		ids[i], atts[i] = h.te, int32(h.attempt)
		byID[h.te] = i
		if !inserted[h.te] {
			updated = append(updated, h.te)
		}
		te := *tes[h.te]
		te.Status, te.Error = store.TaskRunning, ""
		*events = append(*events, store.NewStatusEvent(&te, store.TaskRunning, store.StatusData{}, store.SenderWorker))
		hs[i].run = &store.TaskRun{TaskExecutionRecord: te}
	}
	var out []stmt
	if len(updated) > 0 {
		out = append(out, stmt{
			// Every attempt must be found: the statement raises
			// checkInvariant otherwise, before the unit's COMMIT.
			sql: s.q(`WITH r AS (UPDATE {s}.aiflow_task_execution SET status = 'RUNNING', error = '', started_at = clock_timestamp(),
					updated_at = clock_timestamp()
				WHERE id = ANY($1) RETURNING id, started_at, updated_at, execution_id, true AS running),
				c AS (SELECT count(*) AS n FROM r)
				SELECT r.id, r.started_at, r.updated_at, ` + executionColsSQL + `
				FROM c LEFT JOIN (` + runningExecutionSQL + `) ON true
				WHERE CASE WHEN c.n = cardinality($1::bigint[]) THEN true
					ELSE {s}.aiflow_raise('` + checkInvariant + `', format('starting %s handed-off attempts: %s task executions found',
						cardinality($1::bigint[]), c.n)) IS NULL END`),
			args: []any{updated},
			handle: func(br pgx.BatchResults) error {
				rows, err := br.Query()
				if err != nil {
					return err
				}
				var id int64
				var started, updatedAt time.Time
				var version, input string
				_, err = pgx.ForEachRow(rows, []any{&id, &started, &updatedAt, &version, &input}, func() error {
					if i, ok := byID[id]; ok {
						hs[i].run.StartedAt, hs[i].run.UpdatedAt = started, updatedAt
						hs[i].run.Version, hs[i].run.Input = version, input
					}
					return nil
				})
				return err
			},
		})
	}
	out = append(out, stmt{
		sql: s.q(`INSERT INTO {s}.aiflow_task_lease (task_execution_id, attempt, owner, expires_at)
			SELECT u.te, u.attempt, $3, clock_timestamp() + $4::interval FROM unnest($1::bigint[], $2::integer[]) AS u(te, attempt)
			ON CONFLICT (task_execution_id) DO UPDATE SET attempt = EXCLUDED.attempt, owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at`),
		args: []any{ids, atts, s.workers.ownerID(), s.cfg.TaskLeaseTTL},
	})
	return out
}
