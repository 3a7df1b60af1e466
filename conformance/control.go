package conformance

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
)

// control runs the tasks of a test: each run of a controlled task registers
// itself and waits for the test to end it, unless its task is automatic.
type control struct {
	mu      sync.Mutex
	cond    *sync.Cond
	runs    map[runKey]*run
	auto    map[string]error // task -> result of automatic runs
	counter map[string]int   // task -> number of runs started
	// done is closed when the test ends: every run, waiting or to come,
	// ends then.
	done     chan struct{}
	doneOnce sync.Once
}

type runKey struct {
	exec int64
	task string
	seq  int
}

// run is one attempt of a controlled task.
type run struct {
	key     runKey
	attempt int
	// result receives the outcome the test chose.
	result chan error
	// cancelled is closed when the attempt's context ended (stop, timeout,
	// shutdown).
	cancelled chan struct{}
	// holdStop keeps the attempt from returning after cancellation until the
	// test releases it (to observe STOPPING).
	holdStop chan struct{}
	tc       *aiflow.TaskContext
}

func newControl() *control {
	c := &control{runs: map[runKey]*run{}, auto: map[string]error{}, counter: map[string]int{}, done: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// releaseAll ends every waiting run and every run to come (cleanup).
func (c *control) releaseAll() { c.doneOnce.Do(func() { close(c.done) }) }

// op returns the operator of a controlled task.
func (c *control) op() aiflow.Operator {
	return operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		c.mu.Lock()
		c.counter[tc.Task]++
		if res, ok := c.auto[tc.Task]; ok {
			c.mu.Unlock()
			return res
		}
		k := runKey{tc.ExecutionID, tc.Task, tc.SeqNum}
		r := &run{key: k, attempt: tc.Attempt, result: make(chan error, 1), cancelled: make(chan struct{}), holdStop: make(chan struct{}), tc: tc}
		c.runs[k] = r
		c.cond.Broadcast()
		c.mu.Unlock()
		select {
		case err := <-r.result:
			return err
		case <-c.done:
			return nil
		case <-ctx.Done():
			close(r.cancelled)
			select {
			case <-r.holdStop:
			case <-c.done:
			}
			return ctx.Err()
		}
	})
}

// setAuto makes the runs of task end at once with err.
func (c *control) setAuto(task string, err error) {
	c.mu.Lock()
	c.auto[task] = err
	c.mu.Unlock()
}

// started counts the runs of task that started (attempts included).
func (c *control) started(task string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counter[task]
}

// waitRun waits until run (exec, task, seq) has started its attempt number
// attempt (1 when 0) and returns it.
func (c *control) waitRun(t *testing.T, exec int64, task string, seq, attempt int) *run {
	t.Helper()
	if attempt == 0 {
		attempt = 1
	}
	k := runKey{exec, task, seq}
	deadline := time.Now().Add(waitTimeout)
	timer := time.AfterFunc(waitTimeout, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if r := c.runs[k]; r != nil && r.attempt >= attempt {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for execution %d task %s #%d attempt %d to start", exec, task, seq, attempt)
		}
		c.cond.Wait()
	}
}

func (r *run) succeed()       { r.result <- nil }
func (r *run) fail(err error) { r.result <- err }
func (r *run) allowStop()     { close(r.holdStop) }
func (r *run) waitCancelled(t *testing.T) {
	t.Helper()
	select {
	case <-r.cancelled:
	case <-time.After(waitTimeout):
		t.Fatalf("run %v was not cancelled", r.key)
	}
}
