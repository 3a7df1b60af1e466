package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/aiflow-go/aiflow/internal/startstop"
	"github.com/aiflow-go/aiflow/store"
)

type job struct {
	te        int64
	attempt   int
	notBefore time.Time
}

// dispatcher holds the dispatched attempts that no worker runs yet and hands
// them to the started worker pools of the store's replicas in turn. Lock
// order: state.mu, then dispatcher.mu, then workers.mu.
type dispatcher struct {
	clock   clockwork.Clock
	mu      sync.Mutex
	pending []job
	pools   []*workers // started pools
	next    int        // round robin
	timers  map[*timer]struct{}
}

type timer struct {
	job  job
	stop func() bool
}

// enqueue is called with the store's mutex held.
func (d *dispatcher) enqueue(j job) {
	d.mu.Lock()
	d.pending = append(d.pending, j)
	d.mu.Unlock()
}

// cancelRunning is called with the store's mutex held when a RUNNING task
// execution is asked to stop.
func (d *dispatcher) cancelRunning(te int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.pools {
		w.mu.Lock()
		if a := w.running[te]; a != nil {
			a.cancel(errStopRequested)
		}
		w.mu.Unlock()
	}
}

// kick starts the pending attempts that are due on the pools with room.
func (d *dispatcher) kick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.pools) == 0 {
		return
	}
	now := d.clock.Now()
	list := d.pending
	d.pending = nil
	var keep []job
	for _, j := range list {
		if j.notBefore.After(now) {
			d.schedule(j, j.notBefore.Sub(now))
			continue
		}
		started := false
		for range d.pools {
			w := d.pools[d.next%len(d.pools)]
			d.next++
			if w.tryStart(j) {
				started = true
				break
			}
		}
		if !started {
			keep = append(keep, j)
		}
	}
	d.pending = append(keep, d.pending...)
}

// schedule puts a delayed attempt back in the queue when it is due; d.mu is
// held.
func (d *dispatcher) schedule(j job, after time.Duration) {
	if d.timers == nil {
		d.timers = map[*timer]struct{}{}
	}
	t := &timer{job: j}
	tm := d.clock.AfterFunc(after, func() {
		d.mu.Lock()
		delete(d.timers, t)
		j.notBefore = time.Time{}
		d.pending = append(d.pending, j)
		d.mu.Unlock()
		d.kick()
	})
	t.stop = tm.Stop
	d.timers[t] = struct{}{}
}

func (d *dispatcher) addPool(w *workers) {
	d.mu.Lock()
	d.pools = append(d.pools, w)
	d.mu.Unlock()
	d.kick()
}

// removePool stops handing attempts to w; when no pool is left, delayed
// attempts go back to the queue (their timers are stopped; a pool that
// starts later schedules them again).
func (d *dispatcher) removePool(w *workers) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, p := range d.pools {
		if p == w {
			d.pools = append(d.pools[:i], d.pools[i+1:]...)
			break
		}
	}
	if len(d.pools) == 0 {
		for t := range d.timers {
			if t.stop() {
				d.pending = append(d.pending, t.job)
			}
		}
		clear(d.timers)
	}
}

// workers is one replica's pool of goroutines running attempts.
type workers struct {
	s   *Store
	max int

	mu       sync.Mutex
	handler  store.TaskHandler
	life     startstop.Service // the pool's context: from StartWorkers until stop has drained
	ctx      context.Context   // life's, parent of the attempts' contexts
	stopping bool
	running  map[int64]*attempt // by task execution id
	wg       sync.WaitGroup
}

type attempt struct {
	attempt     int
	cancel      context.CancelCauseFunc
	interrupted bool
	streaming   bool
	// abandoned: LoseWorkers ended the attempt as its worker's death
	// would; it records nothing any more. Set with state.mu and
	// workers.mu held.
	abandoned bool
}

var (
	errStopRequested = errors.New("aiflow: task execution stopped")
	errWorkerLost    = errors.New("the worker running the attempt was lost")
)

func newWorkers(s *Store, max int) *workers {
	return &workers{s: s, max: max, running: map[int64]*attempt{}}
}

// StartWorkers starts running dispatched attempts with the handler.
func (s *Store) StartWorkers(ctx context.Context, params store.WorkersParams) error {
	if params.Handler == nil {
		return fmt.Errorf("%w: WorkersParams.Handler is nil", store.ErrInvalid)
	}
	w := s.workers
	w.mu.Lock()
	if w.handler != nil {
		w.mu.Unlock()
		return fmt.Errorf("%w: workers already started on this store (use Replica for another client)", store.ErrConflict)
	}
	// life is stopped whenever handler is nil, and its context (without
	// ctx's cancellation) cannot end: it starts.
	_ = w.life.StartInit(context.WithoutCancel(ctx), func(ctx context.Context) error {
		w.ctx = ctx
		return nil
	}, nil)
	w.handler = params.Handler
	w.stopping = false
	w.mu.Unlock()
	s.disp.addPool(w)
	return nil
}

// StopWorkers stops taking work, interrupts streaming attempts, drains the
// others until ctx ends, then cancels them.
func (s *Store) StopWorkers(ctx context.Context) error { return s.workers.stop(ctx) }

func (w *workers) stop(ctx context.Context) error {
	w.mu.Lock()
	if w.handler == nil || w.stopping {
		w.mu.Unlock()
		return nil
	}
	w.stopping = true
	w.mu.Unlock()
	w.s.disp.removePool(w)
	w.mu.Lock()
	for _, a := range w.running {
		if a.streaming {
			a.interrupted = true
			a.cancel(store.ErrStopped)
		}
	}
	w.mu.Unlock()

	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		w.mu.Lock()
		for _, a := range w.running {
			a.interrupted = true
			a.cancel(store.ErrStopped)
		}
		w.mu.Unlock()
		<-done
	}
	w.mu.Lock()
	_ = w.life.Stop(context.Background()) // no goroutine: it cannot fail
	w.handler = nil
	w.stopping = false
	w.mu.Unlock()
	return err
}

// tryStart runs one attempt if the pool has room; the dispatcher's mutex is
// held.
func (w *workers) tryStart(j job) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.handler == nil || w.stopping || (w.max > 0 && len(w.running) >= w.max) {
		return false
	}
	if _, busy := w.running[j.te]; busy {
		return false // the previous attempt has not returned yet
	}
	ctx, cancel := context.WithCancelCause(w.ctx)
	a := &attempt{attempt: j.attempt, cancel: cancel}
	w.running[j.te] = a
	handler := w.handler
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer cancel(nil)
		w.run(ctx, j, a, handler)
		w.mu.Lock()
		if w.running[j.te] == a {
			delete(w.running, j.te)
		}
		w.mu.Unlock()
		w.s.disp.kick()
	}()
	return true
}

func (w *workers) run(ctx context.Context, j job, a *attempt, handler store.TaskHandler) {
	s := w.s
	// RUNNING, fenced by the attempt.
	s.mu.Lock()
	te := s.tes[j.te]
	w.mu.Lock()
	abandoned := a.abandoned
	w.mu.Unlock()
	if abandoned || te == nil || te.Attempt != j.attempt || (te.Status != store.TaskQueued && te.Status != store.TaskRetrying) {
		s.mu.Unlock()
		return
	}
	now := s.clock.Now()
	te.Status, te.StartedAt, te.UpdatedAt, te.Error = store.TaskRunning, now, now, ""
	run := &store.TaskRun{TaskExecutionRecord: cloneTE(te)}
	if x := s.execs[te.ExecutionID]; x != nil {
		run.Version, run.Input = x.Version, x.Input
	}
	_, err := s.appendLocked([]store.Event{store.NewStatusEvent(te, store.TaskRunning, store.StatusData{}, store.SenderWorker)})
	s.mu.Unlock()
	if err != nil {
		return
	}
	s.notify()

	w.mu.Lock()
	a.streaming = run.Streaming
	if a.streaming && w.stopping {
		a.interrupted = true
		a.cancel(store.ErrStopped)
	}
	w.mu.Unlock()
	runErr := callHandler(ctx, handler, run)

	w.mu.Lock()
	interrupted := a.interrupted
	w.mu.Unlock()
	s.mu.Lock()
	te = s.tes[j.te]
	if te == nil || te.Attempt != j.attempt || (te.Status != store.TaskRunning && te.Status != store.TaskStopping) {
		s.mu.Unlock()
		return // fenced: someone else decided this attempt's fate
	}
	status, data := store.FinalStatus(te, runErr, interrupted)
	_, err = s.endAttemptLocked(te, status, data, store.SenderWorker)
	s.mu.Unlock()
	if err == nil {
		s.notify()
	}
}

// endAttemptLocked writes how te's attempt ended and appends its status
// event; s.mu is held.
func (s *Store) endAttemptLocked(te *store.TaskExecutionRecord, status store.TaskStatus, data store.StatusData, sender string) ([]store.Event, error) {
	now := s.clock.Now()
	te.Status, te.Failures, te.Interruptions, te.UpdatedAt = status, data.Failures, data.Interruptions, now
	if data.Error != "" {
		te.Error = data.Error
	}
	if status.Finished() {
		te.EndedAt = now
	}
	return s.appendLocked([]store.Event{store.NewStatusEvent(te, status, data, sender)})
}

// LoseWorkers makes this replica's workers act, for every attempt they run
// now, as if their process had died (kill -9): for tests of what happens to
// a task whose worker is lost. The memory store has no leases to expire:
// each attempt ends at once as store.WorkerLost decides (RETRYING, run again
// at once, within the task execution's MaxInterruptions; FAILED after them;
// STOPPED if it was stopping), with its status event, as the Postgres
// store's reaper ends it once its lease has expired. The attempts' contexts
// are cancelled (the reaper cancels their jobs) and nothing their bodies
// return is recorded. The workers go on taking new attempts. It returns how
// many attempts it ended.
func (s *Store) LoseWorkers() int {
	w := s.workers
	s.mu.Lock()
	w.mu.Lock()
	lost := make(map[int64]*attempt, len(w.running))
	for id, a := range w.running {
		a.abandoned = true
		lost[id] = a
		delete(w.running, id)
	}
	w.mu.Unlock()
	n := 0
	for id, a := range lost {
		te := s.tes[id]
		if te == nil || te.Attempt != a.attempt {
			continue
		}
		var status store.TaskStatus
		var data store.StatusData
		switch te.Status {
		case store.TaskRunning, store.TaskStopping:
			status, data = store.WorkerLost(te, errWorkerLost.Error())
		case store.TaskQueued, store.TaskRetrying:
			// Lost before it started, as the Postgres reaper ends a dead
			// dispatch.
			status, data = store.WorkerLostBeforeStart(te)
		default:
			continue // already ended
		}
		if _, err := s.endAttemptLocked(te, status, data, store.SenderReaper); err == nil {
			n++
		}
	}
	s.mu.Unlock()
	for _, a := range lost {
		a.cancel(errWorkerLost)
	}
	s.notify()
	s.disp.kick()
	return n
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

// ReportProgress records an operator's progress.
func (s *Store) ReportProgress(_ context.Context, id int64, attemptNo int, r store.Report) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	te := s.tes[id]
	if te == nil {
		return fmt.Errorf("%w: id %d", store.ErrTaskExecutionNotFound, id)
	}
	if te.Attempt != attemptNo || (te.Status != store.TaskRunning && te.Status != store.TaskStopping) {
		return fmt.Errorf("%w: task execution %d attempt %d is not running", store.ErrConflict, id, attemptNo)
	}
	if r.StatusMessage != "" {
		te.StatusMessage = r.StatusMessage
	}
	if r.Metrics != nil {
		if te.Metrics == nil {
			te.Metrics = map[string]float64{}
		}
		for k, v := range r.Metrics {
			te.Metrics[k] = v
		}
	}
	te.UpdatedAt = s.clock.Now()
	return nil
}
