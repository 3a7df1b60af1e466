package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/aiflow-go/aiflow/internal/leader"
	"github.com/aiflow-go/aiflow/internal/startstop"
	"github.com/aiflow-go/aiflow/store"
)

// Errors that end attempts.
var (
	errLeaseLost     = errors.New("aiflow: the attempt's lease was lost (heartbeats failed or the attempt was reaped)")
	errHeartbeatLost = errors.New("heartbeat lost: the worker stopped renewing the attempt's lease")
)

// workers runs task attempts through River.
type workers struct {
	s *Store

	mu       sync.Mutex
	handler  store.TaskHandler
	owner    string
	started  bool
	stopping bool
	running  map[int64]*attempt // by task execution id
	forced   bool               // StopWorkers cancelled every attempt: interrupt those that start
	bg       startstop.Service  // the background services: heartbeats, lease watch, reaper
	handoffN int                // handoff slots taken
	idle     chan struct{}      // closed when handoffN drops to 0
	bctx     context.Context    // of the background services and handed-off attempts

	handedOff    atomic.Int64 // attempts started by handoff (for tests)
	dropHandoffs bool         // tests: run no handed-off attempt, as a process that died after its unit committed
	// clock is the monotonic clock of the leases (time.Now; tests shift it
	// to simulate a pause of the process).
	clock func() time.Time
	// heartbeatsPaused makes the heartbeat skip its renewals (tests: a
	// database that does not answer).
	heartbeatsPaused atomic.Bool
	elector          *leader.Elector
	starter          *batcher[*river.Job[taskArgs], *store.TaskRun]
	finisher         *batcher[finishReq, struct{}]
}

type attempt struct {
	te          int64
	attempt     int
	streaming   bool
	cancel      context.CancelCauseFunc
	interrupted bool
	// abandoned: LoseWorkers made this process act as dead for the
	// attempt, which records nothing any more. Guarded by workers.mu.
	abandoned bool
	// leaseSent is when (monotonic clock) this process sent the last
	// statement that took or renewed the attempt's lease successfully: the
	// database set its expiry to at least leaseSent + TaskLeaseTTL. Guarded
	// by workers.mu.
	leaseSent time.Time
	// leaseLost is set once the attempt was cancelled for a lease it could
	// no longer prove. Guarded by workers.mu.
	leaseLost bool
}

func newWorkers(s *Store) *workers {
	return &workers{s: s, running: map[int64]*attempt{}, clock: time.Now,
		starter: newStarter(s), finisher: newBatcher(finishBatchMax, s.finishBatch)}
}

// StartWorkers starts running dispatched attempts with the handler: the River
// client (fetching from the batch and streaming queues), the heartbeats of
// running attempts, and the leader election and reaper.
func (s *Store) StartWorkers(ctx context.Context, params store.WorkersParams) error {
	if params.Handler == nil {
		return fmt.Errorf("%w: WorkersParams.Handler is nil", store.ErrInvalid)
	}
	if params.Owner == "" {
		return fmt.Errorf("%w: WorkersParams.Owner is empty: expected the client's id", store.ErrInvalid)
	}
	w := s.workers
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return fmt.Errorf("%w: workers already started", store.ErrConflict)
	}
	el, err := leader.New(leader.Config{
		Pool: s.pool, Table: s.schema + ".aiflow_leader", Name: "aiflow", ID: params.Owner, TTL: s.cfg.LeaderTTL, Logger: s.cfg.Logger,
	})
	if err != nil {
		return err
	}
	w.handler, w.owner, w.stopping, w.forced = params.Handler, params.Owner, false, false
	if err := s.river.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("postgres: starting River: %w", err)
	}
	if err := el.Start(ctx); err != nil {
		_ = s.river.Stop(context.WithoutCancel(ctx))
		return err
	}
	w.elector = el
	w.starter.start()
	w.finisher.start()
	// The background context is the service's: Stop cancels it.
	err = w.bg.StartInit(context.Background(), func(bctx context.Context) error {
		w.bctx = bctx
		return nil
	}, w.background)
	if err != nil { // cannot fail: the service is stopped whenever started is false
		return err
	}
	w.started = true
	return nil
}

// background runs the heartbeats of running attempts, the lease watch and
// the reaper until ctx ends.
func (w *workers) background(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { w.heartbeatLoop(ctx) })
	wg.Go(func() { w.leaseWatch(ctx) })
	wg.Go(func() { w.reapLoop(ctx) })
	wg.Wait()
}

// StopWorkers stops fetching jobs and taking handoffs, interrupts streaming
// attempts at once, waits for the other running attempts until ctx ends, then
// cancels those still running and waits for them to return. Interrupted attempts end
// RETRYING without counting as a failure, so another client runs them again.
func (s *Store) StopWorkers(ctx context.Context) error {
	w := s.workers
	w.mu.Lock()
	if !w.started {
		w.mu.Unlock()
		return nil
	}
	w.stopping = true
	for _, a := range w.running {
		if a.streaming {
			a.interrupted = true
			a.cancel(store.ErrStopped)
		}
	}
	w.mu.Unlock()

	err := s.river.Stop(ctx)
	riverStopped := err == nil
	if err == nil {
		err = w.waitHandoffs(ctx)
	}
	if err != nil {
		w.mu.Lock()
		w.forced = true
		for _, a := range w.running {
			a.interrupted = true
			a.cancel(store.ErrStopped)
		}
		w.mu.Unlock()
		if !riverStopped {
			if serr := s.river.Stop(context.Background()); serr != nil {
				err = errors.Join(err, serr)
			}
		}
		_ = w.waitHandoffs(context.Background())
	}
	// River and the handoffs have stopped: no attempt is starting or
	// finishing any more.
	w.starter.stop()
	w.finisher.stop()
	w.mu.Lock()
	el := w.elector
	w.mu.Unlock()
	_ = w.bg.Stop(context.Background()) // waits: it cannot fail
	rctx, rcancel := context.WithTimeout(context.Background(), s.cfg.ResignTimeout)
	if rerr := el.Stop(rctx); rerr != nil {
		s.log.Warn("resigning the leader lease failed", slog.Any("error", rerr))
	}
	rcancel()
	w.mu.Lock()
	w.started, w.handler, w.elector = false, nil, nil
	w.mu.Unlock()
	return err
}

// IsLeader reports whether this store's workers hold the leader lease.
func (s *Store) IsLeader() bool {
	w := s.workers
	w.mu.Lock()
	el := w.elector
	w.mu.Unlock()
	return el != nil && el.IsLeader()
}

// work runs one attempt River fetched: RUNNING (fenced), then run.
func (w *workers) work(ctx context.Context, job *river.Job[taskArgs]) error {
	s := w.s
	args := job.Args
	// The statement that takes the lease sets its expiry from its own
	// start, later than this.
	sent := w.clock()
	run, err := w.starter.do(job)
	if err == nil && run == nil {
		return nil // fenced out (stopped or superseded): River completes the job
	}
	if err != nil {
		if ctx.Err() != nil {
			// Interrupted before it started: River makes the job available
			// again (it was cancelled by a shutdown).
			return ctx.Err()
		}
		s.log.WarnContext(ctx, "recording RUNNING failed; the reaper will retry the attempt",
			slog.Int64("task_execution_id", args.TaskExecutionID), slog.Int("attempt", args.Attempt), slog.Any("error", err))
		return err
	}
	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	a := &attempt{te: run.ID, attempt: run.Attempt, streaming: run.Streaming, cancel: cancel, leaseSent: sent}
	w.mu.Lock()
	w.running[run.ID] = a
	if (a.streaming && w.stopping) || w.forced {
		a.interrupted = true
		a.cancel(store.ErrStopped)
	}
	w.checkLeaseLocked(a, w.clock())
	w.mu.Unlock()
	w.run(hctx, a, job, run, false)
	return nil
}

// run runs a started attempt registered in w.running: the handler (unless
// the attempt was interrupted before it began), then the final status. A
// handed-off attempt (handoff) that was interrupted before it began never
// runs its handler.
func (w *workers) run(ctx context.Context, a *attempt, job *river.Job[taskArgs], run *store.TaskRun, handoff bool) {
	s := w.s
	w.mu.Lock()
	handler, interrupted := w.handler, a.interrupted
	w.mu.Unlock()
	var runErr error
	if interrupted && handoff {
		runErr = store.ErrStopped // started as the workers stopped: never began
	} else {
		runErr = callHandler(ctx, handler, run)
	}
	// Cancelled because this process could not keep the attempt's lease:
	// its worker is as good as lost. So is an attempt that failed because its
	// context ended for any other reason than a stop (a stop cancels with
	// store.ErrStopped and marks the attempt interrupted): the failure is not
	// the task's own.
	cause := context.Cause(ctx)
	lost := errors.Is(cause, errLeaseLost) ||
		(runErr != nil && ctx.Err() != nil && !interrupted && !errors.Is(cause, store.ErrStopped))
	a.cancel(nil)

	w.mu.Lock()
	interrupted, abandoned := a.interrupted, a.abandoned
	if w.running[run.ID] == a {
		delete(w.running, run.ID)
	}
	w.mu.Unlock()
	if abandoned {
		return // as a dead process: the reaper ends the attempt
	}
	if _, err := w.finisher.do(finishReq{job: job, runErr: runErr, interrupted: interrupted, lost: lost}); err != nil {
		s.log.ErrorContext(ctx, "recording the final status failed; the reaper will end the attempt once its lease expires",
			slog.Int64("task_execution_id", run.ID), slog.Int("attempt", run.Attempt), slog.Any("error", err))
	}
}

// waitHandoffs waits until every handoff slot is given back, or ctx ends.
func (w *workers) waitHandoffs(ctx context.Context) error {
	w.mu.Lock()
	if w.handoffN == 0 {
		w.mu.Unlock()
		return nil
	}
	idle := w.idle
	w.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// callHandler runs the handler and turns a panic into an error.
func callHandler(ctx context.Context, h store.TaskHandler, run *store.TaskRun) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("task panicked: %v", r)
		}
	}()
	return h(ctx, run)
}

// retry runs fn until it succeeds, ctx ends or the budget is spent, with
// backoff between tries.
func retry(ctx context.Context, budget time.Duration, fn func(ctx context.Context) error) error {
	deadline := time.Now().Add(budget)
	delay := 50 * time.Millisecond
	for {
		err := fn(ctx)
		if err == nil || isStoreSentinel(err) || ctx.Err() != nil || time.Now().Add(delay).After(deadline) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(delay*2, 2*time.Second)
	}
}

func (w *workers) ownerID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.owner
}
