package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

type job struct {
	te        int64
	attempt   int
	notBefore time.Time
}

// workers runs dispatched attempts in goroutines.
type workers struct {
	s   *Store
	max int

	mu       sync.Mutex
	pending  []job // dispatched, not started (no workers yet, or at the bound)
	handler  store.TaskHandler
	ctx      context.Context // cancelled by stop after the drain
	cancel   context.CancelFunc
	stopping bool
	running  map[int64]*attempt // by task execution id
	wg       sync.WaitGroup
	timers   map[*timer]struct{}
}

type attempt struct {
	attempt     int
	cancel      context.CancelCauseFunc
	interrupted bool
	streaming   bool
}

type timer struct{ stop func() bool }

var errStopRequested = errors.New("aiflow: task execution stopped")

func newWorkers(s *Store, max int) *workers {
	return &workers{s: s, max: max, running: map[int64]*attempt{}, timers: map[*timer]struct{}{}}
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
		return fmt.Errorf("%w: workers already started", store.ErrConflict)
	}
	w.handler = params.Handler
	w.ctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	w.stopping = false
	w.mu.Unlock()
	w.kick()
	return nil
}

// StopWorkers stops taking work, drains until ctx ends, then cancels.
func (s *Store) StopWorkers(ctx context.Context) error { return s.workers.stop(ctx) }

func (w *workers) stop(ctx context.Context) error {
	w.mu.Lock()
	if w.handler == nil {
		w.mu.Unlock()
		return nil
	}
	w.stopping = true
	for t := range w.timers {
		t.stop()
	}
	clear(w.timers)
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
	w.cancel()
	w.handler = nil
	w.mu.Unlock()
	return err
}

// enqueue is called with the store's mutex held.
func (w *workers) enqueue(j job) {
	w.mu.Lock()
	w.pending = append(w.pending, j)
	w.mu.Unlock()
}

// cancelRunning is called with the store's mutex held when a RUNNING task
// execution is asked to stop.
func (w *workers) cancelRunning(te int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if a := w.running[te]; a != nil {
		a.cancel(errStopRequested)
	}
}

// kick starts pending attempts that are due.
func (w *workers) kick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.handler == nil || w.stopping {
		return
	}
	now := w.s.clock.Now()
	list := w.pending
	w.pending = nil
	var keep []job
	for _, j := range list {
		switch {
		case w.max > 0 && len(w.running) >= w.max:
			keep = append(keep, j)
		case j.notBefore.After(now):
			w.schedule(j, j.notBefore.Sub(now))
		default:
			w.start(j)
		}
	}
	w.pending = append(keep, w.pending...)
}

func (w *workers) schedule(j job, d time.Duration) {
	t := &timer{}
	tm := w.s.clock.AfterFunc(d, func() {
		w.mu.Lock()
		delete(w.timers, t)
		if w.stopping || w.handler == nil {
			w.mu.Unlock()
			return
		}
		j.notBefore = time.Time{}
		w.pending = append(w.pending, j)
		w.mu.Unlock()
		w.kick()
	})
	t.stop = tm.Stop
	w.timers[t] = struct{}{}
}

// start runs one attempt; w.mu is held.
func (w *workers) start(j job) {
	ctx, cancel := context.WithCancelCause(w.ctx)
	a := &attempt{attempt: j.attempt, cancel: cancel}
	if _, busy := w.running[j.te]; busy {
		// The previous attempt has not returned yet; try again later.
		w.pending = append(w.pending, j)
		cancel(nil)
		return
	}
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
		w.kick()
	}()
}

func (w *workers) run(ctx context.Context, j job, a *attempt, handler store.TaskHandler) {
	s := w.s
	// RUNNING, fenced by the attempt.
	s.mu.Lock()
	te := s.tes[j.te]
	if te == nil || te.Attempt != j.attempt || (te.Status != store.TaskQueued && te.Status != store.TaskRetrying) {
		s.mu.Unlock()
		return
	}
	now := s.clock.Now()
	te.Status, te.StartedAt, te.UpdatedAt, te.Error = store.TaskRunning, now, now, ""
	run := &store.TaskRun{TaskExecutionRecord: cloneTE(te)}
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
	now = s.clock.Now()
	te.Status, te.Failures, te.UpdatedAt = status, data.Failures, now
	if data.Error != "" {
		te.Error = data.Error
	}
	if status.Finished() {
		te.EndedAt = now
	}
	_, err = s.appendLocked([]store.Event{store.NewStatusEvent(te, status, data, store.SenderWorker)})
	s.mu.Unlock()
	if err == nil {
		s.notify()
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

// ReportProgress records an operator's progress.
func (s *Store) ReportProgress(_ context.Context, id int64, attemptNo int, r store.Report) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	te := s.tes[id]
	if te == nil {
		return fmt.Errorf("%w: id %d", store.ErrTaskExecutionNotFound, id)
	}
	if te.Attempt != attemptNo || te.Status != store.TaskRunning {
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
