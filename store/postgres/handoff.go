package postgres

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Handoff. A unit of work that dispatches a batch attempt while this process
// runs workers with a free handoff slot (Config.HandoffMaxWorkers) commits
// its River job as scheduled handoffFallback ahead (River neither notifies
// nor fetches it), and once the unit has committed, one of this process's goroutines
// runs the attempt at once: its RUNNING statement claims the job (state
// running, as River's fetch would set it) and records RUNNING together, and
// the attempt then runs and ends exactly as one River fetched (the final
// status completes the job in the same transaction). The claim is fenced
// like River's fetch: only a job still scheduled or available is claimed, so
// an attempt runs once whoever gets there first. If this process dies
// before claiming, River's scheduler makes the job available once
// handoffFallback has passed (it runs every 5 s), and any process's River
// fetch runs the attempt; if its RUNNING statement fails, the job is left to
// River likewise.
//
// STOP reaches a handed-off attempt without River (whose producer does not
// know it): the unit of work that moves a task to STOPPING cancels the
// attempt directly when it runs in this process, and the heartbeat, which
// reports the attempts whose task is STOPPING, cancels it in any other.

// handoffFallback is how far ahead a handed-off job is scheduled: how long
// River leaves it to this process's workers.
const handoffFallback = time.Second

// handoffJob is one attempt handed off to this process's workers.
type handoffJob struct {
	queue   string
	te      int64
	attempt int
	jobID   int64 // set once the job is inserted
}

// stopRequest is an attempt that a unit of work moved to STOPPING.
type stopRequest struct {
	te      int64
	attempt int
}

// reserveHandoff takes a handoff slot of queue, if queue is the batch queue
// and this process's workers run with a slot free (none when
// HandoffMaxWorkers is -1); the slot is given back by releaseHandoffs (the
// unit did not commit) or when the attempt ends. Streaming attempts are never handed off: they run for days, and
// River spreads them over the processes, where handoff would pile them on the
// processes that consume their partitions.
func (w *workers) reserveHandoff(queue string) bool {
	if queue != QueueBatch {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.started || w.stopping || w.handing[queue] >= w.s.cfg.HandoffMaxWorkers {
		return false
	}
	w.handing[queue]++
	if w.handoffN == 0 {
		w.idle = make(chan struct{})
	}
	w.handoffN++
	return true
}

// releaseHandoffs gives back the slots of jobs whose unit did not commit
// (or that ended): River runs those that did commit after all.
func (w *workers) releaseHandoffs(jobs []handoffJob) {
	if len(jobs) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, j := range jobs {
		w.handing[j.queue]--
	}
	w.handoffN -= len(jobs)
	if w.handoffN == 0 {
		close(w.idle)
	}
}

// launchHandoffs runs the attempts of jobs, whose unit has committed, each
// in a goroutine of its own.
func (w *workers) launchHandoffs(jobs []handoffJob) {
	for _, j := range jobs {
		go func() {
			defer w.releaseHandoffs([]handoffJob{j})
			w.mu.Lock()
			ctx, stopping := w.hctx, w.stopping || w.dropHandoffs
			w.mu.Unlock()
			if stopping {
				return // River runs it, here after a restart or in another process
			}
			_ = w.work(ctx, handoffRiverJob(j), true)
		}()
	}
}

// handoffRiverJob is the River job of a handed-off attempt as its worker
// sees it once claimed.
func handoffRiverJob(j handoffJob) *river.Job[taskArgs] {
	return &river.Job[taskArgs]{
		JobRow: &rivertype.JobRow{ID: j.jobID, Attempt: 1, Kind: taskArgs{}.Kind(), Queue: j.queue, State: rivertype.JobStateRunning},
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
		for _, a := range []*attempt{w.running[st.te], w.starting[st.te]} {
			if a != nil && a.attempt == st.attempt {
				a.cancel(river.ErrJobCancelledRemotely)
			}
		}
	}
}

// completeJobNow completes the River job of a handed-off attempt that ended
// without its final status completing it (fenced out, or the final status
// could not be recorded), as River's completer does when its worker returns.
// A failure only leaves the job to the reaper.
func (s *Store) completeJobNow(job *river.Job[taskArgs]) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	calls := []*batchCall[finishReq, struct{}]{{req: finishReq{job: job}}}
	err := retry(ctx, 5*time.Second, func(ctx context.Context) error {
		return s.inTx(ctx, func(tx pgx.Tx) error { return s.completeJobs(ctx, tx, calls) })
	})
	if err != nil {
		s.log.Warn("completing a handed-off job failed; the reaper will", slog.Int64("job_id", job.ID), slog.Any("error", err))
	}
}
