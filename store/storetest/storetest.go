// Package storetest is the conformance suite of AIFlow for Go: every behaviour
// of the library's semantics (SEMANTICS.md), each as its own test, run through
// the public client against a store. Every backend runs it:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return memory.New(nil) })
//	}
//
// The tests make no timing assumptions: they wait on conditions with
// deadlines, and prove that something did not happen with a witness (a later
// event in the same execution whose effect is visible, so the earlier one has
// been applied).
//
// Import rule: storetest imports the root package, operators, store and the
// test libraries; backends import it from their tests only.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store"
)

// Factory returns a fresh, empty store for one test. The store is closed by
// the suite when the test ends.
type Factory func(t *testing.T) store.Store

// waitTimeout bounds every wait of the suite.
const waitTimeout = 60 * time.Second

// bed is one test's client on a fresh store.
type bed struct {
	t      *testing.T
	ctx    context.Context
	st     store.Store
	client *aiflow.Client
	ctl    *control
	cfg    *aiflow.Config
}

func newBed(t *testing.T, newStore Factory, adjust func(*testing.T, *aiflow.Config)) *bed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitTimeout)
	t.Cleanup(cancel)
	st := newStore(t)
	cfg := &aiflow.Config{
		Store: st, PollInterval: 20 * time.Millisecond, StopTimeout: 2 * time.Second, StopGracePeriod: 2 * time.Second,
		LeaseTTL: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if adjust != nil {
		adjust(t, cfg)
	}
	client, err := aiflow.New(cfg)
	require.NoError(t, err)
	require.NoError(t, client.Start(ctx))
	b := &bed{t: t, ctx: ctx, st: st, client: client, ctl: newControl(), cfg: cfg}
	t.Cleanup(func() {
		b.ctl.releaseAll()
		_ = client.Stop(context.Background())
		_ = st.Close()
	})
	return b
}

func (b *bed) register(wfs ...*aiflow.Workflow) {
	b.t.Helper()
	require.NoError(b.t, b.client.Register(b.ctx, wfs...))
}

func (b *bed) start(wf string) int64 {
	b.t.Helper()
	id, err := b.client.StartWorkflowExecution(b.ctx, wf, nil)
	require.NoError(b.t, err)
	return id
}

func (b *bed) startIn(ns, wf string) int64 {
	b.t.Helper()
	id, err := b.client.StartWorkflowExecution(b.ctx, wf, &aiflow.StartWorkflowOpts{Namespace: ns})
	require.NoError(b.t, err)
	return id
}

func (b *bed) send(key, value string) {
	b.t.Helper()
	_, err := b.client.SendEvent(b.ctx, key, value, nil)
	require.NoError(b.t, err)
}

// waitFor waits until ok holds, re-checking on every store notification and
// at least every 20 ms (workers may change a row without a notification
// reaching this client).
func (b *bed) waitFor(what string, ok func() bool) {
	b.t.Helper()
	wake, unsubscribe := b.st.Subscribe()
	defer unsubscribe()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case <-wake:
		case <-tick.C:
		case <-deadline.C:
			b.t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		case <-b.ctx.Done():
			b.t.Fatalf("test context ended waiting for %s", what)
		}
	}
}

// runs lists the task executions of a task in an execution, by sequence
// number.
func (b *bed) runs(exec int64, task string) []aiflow.TaskExecution {
	b.t.Helper()
	tes, err := b.client.ListTaskExecutions(b.ctx, &aiflow.TaskExecutionFilter{ExecutionID: exec, Task: task})
	require.NoError(b.t, err)
	slices.SortFunc(tes, func(x, y aiflow.TaskExecution) int { return x.SeqNum - y.SeqNum })
	return tes
}

// waitRun waits until run seq of task is in one of statuses and returns it.
func (b *bed) waitRun(exec int64, task string, seq int, statuses ...aiflow.TaskStatus) aiflow.TaskExecution {
	b.t.Helper()
	var out aiflow.TaskExecution
	b.waitFor(fmt.Sprintf("execution %d task %s #%d in %v", exec, task, seq, statuses), func() bool {
		rs := b.runs(exec, task)
		if len(rs) < seq {
			return false
		}
		out = rs[seq-1]
		return slices.Contains(statuses, out.Status)
	})
	return out
}

// waitExecution waits until an execution has one of statuses.
func (b *bed) waitExecution(id int64, statuses ...aiflow.WorkflowStatus) aiflow.WorkflowExecution {
	b.t.Helper()
	var x *aiflow.WorkflowExecution
	b.waitFor(fmt.Sprintf("execution %d in %v", id, statuses), func() bool {
		var err error
		x, err = b.client.GetWorkflowExecution(b.ctx, id)
		require.NoError(b.t, err)
		return slices.Contains(statuses, x.Status)
	})
	return *x
}

func (b *bed) execution(id int64) aiflow.WorkflowExecution {
	b.t.Helper()
	x, err := b.client.GetWorkflowExecution(b.ctx, id)
	require.NoError(b.t, err)
	return *x
}

// eventsN waits until at least n events of key are listed, and returns
// all of them. Listing shows an event once no earlier transaction can still
// commit (the Postgres store's horizon), which another test's open
// transaction can delay: a test that asserts on listed events waits here.
func (b *bed) eventsN(key string, n int) []aiflow.Event {
	b.t.Helper()
	var evs []aiflow.Event
	b.waitFor(fmt.Sprintf("%d %q events to be listed", n, key), func() bool {
		evs = b.events(key)
		return len(evs) >= n
	})
	return evs
}

// events lists the events with key (every event when key is empty).
func (b *bed) events(key string) []aiflow.Event {
	b.t.Helper()
	var out []aiflow.Event
	f := &aiflow.EventFilter{}
	if key != "" {
		f.Keys = []string{key}
	}
	for {
		evs, next, err := b.client.ListEvents(b.ctx, f)
		require.NoError(b.t, err)
		out = append(out, evs...)
		if next == f.After {
			return out
		}
		f.After = next
	}
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// ---- controllable tasks ----

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

// ---- small builders ----

// flow builds a workflow whose tasks are all controlled.
type flow struct {
	wf    *aiflow.Workflow
	ctl   *control
	tasks map[string]*aiflow.Task
}

func (b *bed) flow(name string, opts ...aiflow.WorkflowOption) *flow {
	return &flow{wf: aiflow.NewWorkflow(name, opts...), ctl: b.ctl, tasks: map[string]*aiflow.Task{}}
}

func (f *flow) task(name string, opts ...aiflow.TaskOption) *aiflow.Task {
	t := f.wf.Task(name, f.ctl.op(), opts...)
	f.tasks[name] = t
	return t
}

// funcTask adds a task running fn.
func (f *flow) funcTask(name string, fn func(ctx context.Context, tc *aiflow.TaskContext) error, opts ...aiflow.TaskOption) *aiflow.Task {
	t := f.wf.Task(name, operators.Func(fn), opts...)
	f.tasks[name] = t
	return t
}

var errBoom = errors.New("boom")

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// log reads a task execution's whole log.
func (b *bed) log(id int64) string {
	b.t.Helper()
	data, _, err := b.client.ReadTaskLog(b.ctx, id, 0, 0)
	require.NoError(b.t, err)
	return string(data)
}
