// Package aiflowtest helps test programs that use aiflow: a client on the
// memory store with a fake clock in one call ([New]), waits for executions
// and task executions to reach a status, moving the clock to the next
// schedule tick, assertions on the events a workflow sent, and the
// evaluation of one condition against a list of events ([RunCondition]).
//
// A test builds its workflows as the program does, hands them to New and
// drives them through [Env.Client]:
//
//	env := aiflowtest.New(t, nil, buildWorkflow())
//	id, err := env.Client.StartWorkflowExecution(env.Context(), "etl", nil)
//	...
//	env.WaitExecution(id, aiflow.WorkflowSuccess)
//	env.RequireEvents(id, "data_prepared", "model_validated")
//
// Time only moves when the test moves it ([Env.AdvanceToNextTick],
// [Env.Clock]); waits are bounded by real time ([Opts].Timeout). Tasks that
// wait on real time (operators that run processes, pods or jobs, task
// timeouts) run on the real clock instead ([Opts].RealClock). A test of a
// shutdown and a restart stops the client ([Env.Stop]), goes on waiting and
// reading, and starts another one on the same store ([Env.Restart]).
//
// Import rule: aiflowtest imports the root package, store/memory and
// clockwork only.
package aiflowtest

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store/memory"
)

// TB is the part of testing.TB that the package uses; *testing.T and
// *testing.B satisfy it.
type TB interface {
	Cleanup(func())
	Fatalf(format string, args ...any)
	Helper()
	Log(args ...any)
}

// StartDefault is where the fake clock starts when Opts.Start is zero.
var StartDefault = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TimeoutDefault bounds each wait when Opts.Timeout is zero.
const TimeoutDefault = 10 * time.Second

// Opts are the options of New. A nil *Opts means the defaults.
type Opts struct {
	// Start is the fake clock's first time; StartDefault when zero.
	Start time.Time
	// Timeout bounds each wait of the Env, in real time; TimeoutDefault
	// when zero. A wait that times out fails the test.
	Timeout time.Duration
	// Logger receives the client's logs; by default they go to the test's
	// log (tb.Log) at level Warn and above.
	Logger *slog.Logger
	// Config, when set, adjusts the client's configuration before the
	// client is created (Store, Clock and Test.OnTimerArmed are set
	// already; a Test.OnTimerArmed set here is called too).
	Config func(*aiflow.Config)
	// RealClock runs the store and the client on the real clock, for tasks
	// that wait on real time (processes, pods, task timeouts); false (the
	// default) runs them on a fake clock. Env.Clock is then nil, Start is
	// ignored and AdvanceToNextTick fails the test.
	RealClock bool
}

// Env is a started client on a fresh memory store with a fake clock. The
// client stops when the test ends.
type Env struct {
	// Client is the started client.
	Client *aiflow.Client
	// Clock is the fake clock of the client and the store (nil with
	// Opts.RealClock). Moving it fires the timers that fall due (prefer
	// AdvanceToNextTick, which waits for them to be armed).
	Clock *clockwork.FakeClock
	// Store is the memory store.
	Store *memory.Store

	tb      TB
	ctx     context.Context
	timeout time.Duration
	// cfg and workflows make the clients of Restart; reader, never
	// started, reads the store for the waits (after Stop too).
	cfg       aiflow.Config
	workflows []*aiflow.Workflow
	reader    *aiflow.Client

	mu    sync.Mutex
	armed map[string]time.Time
	wake  chan struct{}
}

// New returns a started client, on a fresh memory store with a fake clock,
// running workflows. It fails the test if the workflows do not register or
// the client does not start.
func New(tb TB, opts *Opts, workflows ...*aiflow.Workflow) *Env {
	tb.Helper()
	if opts == nil {
		opts = &Opts{}
	}
	start := opts.Start
	if start.IsZero() {
		start = StartDefault
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	var clock clockwork.Clock = clockwork.NewRealClock()
	e := &Env{tb: tb, ctx: ctx, timeout: opts.Timeout, armed: map[string]time.Time{}, wake: make(chan struct{}, 1)}
	if !opts.RealClock {
		e.Clock = clockwork.NewFakeClockAt(start)
		clock = e.Clock
	}
	st := memory.New(&memory.Config{Clock: clock})
	e.Store = st
	if e.timeout <= 0 {
		e.timeout = TimeoutDefault
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cfg := &aiflow.Config{
		Store: st, Clock: clock, Logger: logger, PollInterval: time.Hour,
		StopTimeout: time.Second, StopGracePeriod: time.Second,
	}
	if opts.Config != nil {
		opts.Config(cfg)
	}
	cfg.Store, cfg.Clock = st, clock
	onArmed := cfg.Test.OnTimerArmed
	cfg.Test.OnTimerArmed = func(timer string, at time.Time) {
		e.onArmed(timer, at)
		if onArmed != nil {
			onArmed(timer, at)
		}
	}
	reader, err := aiflow.New(&aiflow.Config{Store: st, Clock: clock, Logger: logger})
	if err != nil {
		tb.Fatalf("aiflowtest: %v", err)
	}
	e.cfg, e.workflows, e.reader = *cfg, workflows, reader
	tb.Cleanup(func() {
		if e.Client != nil {
			_ = e.Client.Stop(context.Background())
		}
		_ = st.Close()
	})
	e.start()
	return e
}

// start creates, registers and starts a client (Client).
func (e *Env) start() {
	e.tb.Helper()
	cfg := e.cfg
	c, err := aiflow.New(&cfg)
	if err != nil {
		e.tb.Fatalf("aiflowtest: %v", err)
	}
	if err := c.Register(e.ctx, e.workflows...); err != nil {
		e.tb.Fatalf("aiflowtest: register: %v", err)
	}
	e.Client = c
	if err := c.Start(e.ctx); err != nil {
		e.tb.Fatalf("aiflowtest: start: %v", err)
	}
}

// Stop stops Client as a process that shuts down does: streaming tasks are
// interrupted at once, the others within the client's StopTimeout (they end
// RETRYING, to run again). Client refuses calls afterwards, but the Env's
// waits, WaitTaskLog and Events go on reading the store. It fails the test
// if the stop fails.
func (e *Env) Stop() {
	e.tb.Helper()
	if err := e.Client.Stop(e.ctx); err != nil {
		e.tb.Fatalf("aiflowtest: stop: %v", err)
	}
}

// Restart stops Client if it runs and starts a new one on the same store,
// with the same configuration and workflows, as a process started again
// would; Client is the new one. It fails the test if the new client does
// not start.
func (e *Env) Restart() {
	e.tb.Helper()
	e.Stop()
	e.start()
}

// Context returns a context that ends with the test.
func (e *Env) Context() context.Context { return e.ctx }

func (e *Env) onArmed(timer string, at time.Time) {
	e.mu.Lock()
	if at.IsZero() {
		delete(e.armed, timer)
	} else {
		e.armed[timer] = at
	}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// waitFor waits until ok holds, looking again on every change of the
// store and every 10 ms of real time (a worker may change a row without an
// event), and fails the test after the Env's timeout.
func (e *Env) waitFor(what string, ok func() (bool, error)) {
	e.tb.Helper()
	wake, unsubscribe := e.Store.Subscribe()
	defer unsubscribe()
	deadline := time.NewTimer(e.timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		done, err := ok()
		if err != nil {
			e.tb.Fatalf("aiflowtest: waiting for %s: %v", what, err)
		}
		if done {
			return
		}
		select {
		case <-wake:
		case <-tick.C:
		case <-deadline.C:
			e.tb.Fatalf("aiflowtest: timed out after %s waiting for %s", e.timeout, what)
		}
	}
}

// WaitExecution waits until workflow execution id has one of statuses (any
// finished status when none is given) and returns it. It fails the test if
// the execution does not get there within the timeout.
func (e *Env) WaitExecution(id int64, statuses ...aiflow.WorkflowStatus) *aiflow.WorkflowExecution {
	e.tb.Helper()
	var x *aiflow.WorkflowExecution
	e.waitFor(fmt.Sprintf("workflow execution %d in %s", id, describe(statuses, "a finished status")), func() (bool, error) {
		var err error
		x, err = e.reader.GetWorkflowExecution(e.ctx, id)
		if err != nil {
			return false, err
		}
		if len(statuses) == 0 {
			return x.Status.Finished(), nil
		}
		return slices.Contains(statuses, x.Status), nil
	})
	return x
}

// WaitTaskExecution waits until run seq (1 for the first) of task in
// workflow execution executionID exists and has one of statuses (any
// finished status when none is given), and returns it. It fails the test if
// the run does not get there within the timeout.
func (e *Env) WaitTaskExecution(executionID int64, task string, seq int, statuses ...aiflow.TaskStatus) *aiflow.TaskExecution {
	e.tb.Helper()
	var te *aiflow.TaskExecution
	what := fmt.Sprintf("run %d of task %q in workflow execution %d in %s", seq, task, executionID, describe(statuses, "a finished status"))
	e.waitFor(what, func() (bool, error) {
		tes, err := e.reader.ListTaskExecutions(e.ctx, &aiflow.TaskExecutionFilter{ExecutionID: executionID, Task: task, SeqNum: seq})
		if err != nil || len(tes) == 0 {
			return false, err
		}
		te = &tes[0]
		if len(statuses) == 0 {
			return te.Status.Finished(), nil
		}
		return slices.Contains(statuses, te.Status), nil
	})
	return te
}

// RunTask starts an execution of workflow (in the default namespace,
// without input) and waits until the first run of task in it has one of
// statuses (any finished status when none is given). It returns the
// execution's id and the run, and fails the test if the execution does not
// start or the run does not get there within the timeout.
func (e *Env) RunTask(workflow, task string, statuses ...aiflow.TaskStatus) (int64, *aiflow.TaskExecution) {
	e.tb.Helper()
	id, err := e.Client.StartWorkflowExecution(e.ctx, workflow, nil)
	if err != nil {
		e.tb.Fatalf("aiflowtest: start an execution of %s: %v", workflow, err)
	}
	return id, e.WaitTaskExecution(id, task, 1, statuses...)
}

// WaitTaskLog waits until the log of task execution taskExecutionID (as
// Client.ReadTaskLog reads it) matches the regular expression pattern, and
// returns the log. It fails the test if the log does not match within the
// timeout.
func (e *Env) WaitTaskLog(taskExecutionID int64, pattern string) string {
	e.tb.Helper()
	re, err := regexp.Compile(pattern)
	if err != nil {
		e.tb.Fatalf("aiflowtest: WaitTaskLog: %v", err)
	}
	var log string
	e.waitFor(fmt.Sprintf("the log of task execution %d to match %q", taskExecutionID, pattern), func() (bool, error) {
		data, _, err := e.reader.ReadTaskLog(e.ctx, taskExecutionID, 0, 0)
		log = string(data)
		return err == nil && re.MatchString(log), err
	})
	return log
}

func describe[S ~string](statuses []S, none string) string {
	if len(statuses) == 0 {
		return none
	}
	parts := make([]string, len(statuses))
	for i, s := range statuses {
		parts[i] = string(s)
	}
	return strings.Join(parts, " or ")
}

// AdvanceToNextTick moves the fake clock to the next tick of the armed
// timers (workflow schedules and periodic tasks of running executions), and
// returns that time. It waits until a timer is armed for a time after the
// clock's, so a test may call it right after starting an execution or
// adding a schedule. The tick's execution or run starts right after: wait
// for it with WaitExecution or WaitTaskExecution.
func (e *Env) AdvanceToNextTick() time.Time {
	e.tb.Helper()
	if e.Clock == nil {
		e.tb.Fatalf("aiflowtest: AdvanceToNextTick needs the fake clock: Opts.RealClock is set")
	}
	deadline := time.NewTimer(e.timeout)
	defer deadline.Stop()
	for {
		now := e.Clock.Now()
		var next time.Time
		e.mu.Lock()
		for _, at := range e.armed {
			if at.After(now) && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
		e.mu.Unlock()
		if !next.IsZero() {
			e.Clock.Advance(next.Sub(now))
			return next
		}
		select {
		case <-e.wake:
		case <-deadline.C:
			e.tb.Fatalf("aiflowtest: timed out after %s waiting for a timer to be armed after %s (is a schedule added or a periodic task running?)", e.timeout, now)
		}
	}
}

// Events lists the user events (the library's own left out) that workflow
// execution executionID sent, from its tasks or through
// SendEventOpts.ExecutionID, in log order; every user event of the log when
// executionID is 0.
func (e *Env) Events(executionID int64) []aiflow.Event {
	e.tb.Helper()
	var out []aiflow.Event
	f := &aiflow.EventFilter{ExecutionID: executionID, UserOnly: true}
	for {
		evs, next, err := e.reader.ListEvents(e.ctx, f)
		if err != nil {
			e.tb.Fatalf("aiflowtest: list events: %v", err)
		}
		out = append(out, evs...)
		if next == f.After {
			return out
		}
		f.After = next
	}
}

// RequireEvents waits until the user events of workflow execution
// executionID (see Events) have exactly keys, in that order, and returns
// them. It fails the test, listing the keys it saw, if they do not within
// the timeout (more events, other keys, another order).
func (e *Env) RequireEvents(executionID int64, keys ...string) []aiflow.Event {
	e.tb.Helper()
	var evs []aiflow.Event
	var got []string
	deadline := time.Now().Add(e.timeout)
	for {
		evs = e.Events(executionID)
		got = got[:0]
		for _, ev := range evs {
			got = append(got, ev.Key)
		}
		if slices.Equal(got, keys) {
			return evs
		}
		if len(got) > len(keys) || !slices.Equal(got, keys[:len(got)]) || time.Now().After(deadline) {
			e.tb.Fatalf("aiflowtest: workflow execution %d sent events %q, want %q", executionID, got, keys)
		}
		e.waitFor(fmt.Sprintf("more events of workflow execution %d (have %q, want %q)", executionID, got, keys), func() (bool, error) {
			return len(e.Events(executionID)) > len(got), nil
		})
	}
}

// tbWriter sends log lines to tb.Log.
type tbWriter struct{ tb TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
