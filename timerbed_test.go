package aiflow_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/memory"
)

// The test bed of the schedule, periodic-task and trigger tests: a client on
// a memory store with a fake clock, and waits on the timers it arms.

type tlog struct{ t *testing.T }

func (w *tlog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// timerBed is a client on a memory store with a fake clock, reporting armed
// timers.
type timerBed struct {
	t      *testing.T
	ctx    context.Context
	clock  *clockwork.FakeClock
	st     *memory.Store
	client *aiflow.Client

	mu    sync.Mutex
	armed map[string]time.Time
	cond  chan struct{}
}

func newTimerBed(t *testing.T, st *memory.Store, clock *clockwork.FakeClock, workflows ...*aiflow.Workflow) *timerBed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	if clock == nil {
		clock = clockwork.NewFakeClockAt(t0)
	}
	if st == nil {
		st = memory.New(&memory.Config{Clock: clock})
	}
	b := &timerBed{t: t, ctx: ctx, clock: clock, st: st, armed: map[string]time.Time{}, cond: make(chan struct{}, 1)}
	client, err := aiflow.New(&aiflow.Config{
		Logger: slog.New(slog.NewTextHandler(&tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Store:  st, Clock: clock, PollInterval: time.Hour, StopTimeout: time.Second, StopGracePeriod: time.Second,
		Test: aiflow.TestConfig{OnTimerArmed: b.onArmed},
	})
	require.NoError(t, err)
	require.NoError(t, client.Register(ctx, workflows...))
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() { _ = client.Stop(context.Background()) })
	b.client = client
	return b
}

func (b *timerBed) onArmed(timer string, at time.Time) {
	b.mu.Lock()
	b.armed[timer] = at
	b.mu.Unlock()
	select {
	case b.cond <- struct{}{}:
	default:
	}
}

// waitArmed waits until timer is armed at a time after after (or, with a
// zero after, dropped) and returns that time.
func (b *timerBed) waitArmed(timer string, after time.Time, dropped bool) time.Time {
	b.t.Helper()
	for {
		b.mu.Lock()
		at, ok := b.armed[timer]
		b.mu.Unlock()
		if ok && ((dropped && at.IsZero()) || (!dropped && at.After(after))) {
			return at
		}
		select {
		case <-b.cond:
		case <-b.ctx.Done():
			b.t.Fatalf("timer %s not armed after %s (dropped=%v): last %v", timer, after, dropped, at)
		}
	}
}

// advanceTo moves the fake clock to at.
func (b *timerBed) advanceTo(at time.Time) {
	if d := at.Sub(b.clock.Now()); d > 0 {
		b.clock.Advance(d)
	}
}

// waitFor waits until ok holds, re-checking whenever the store changes.
func (b *timerBed) waitFor(what string, ok func() bool) {
	b.t.Helper()
	wake, unsubscribe := b.st.Subscribe()
	defer unsubscribe()
	for !ok() {
		select {
		case <-wake:
		case <-time.After(20 * time.Millisecond): // a worker may update a row without an event
		case <-b.ctx.Done():
			b.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (b *timerBed) executions(wf string) []aiflow.WorkflowExecution {
	xs, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: wf})
	require.NoError(b.t, err)
	// oldest first
	for i, j := 0, len(xs)-1; i < j; i, j = i+1, j-1 {
		xs[i], xs[j] = xs[j], xs[i]
	}
	return xs
}

func (b *timerBed) waitExecutions(wf string, n int) []aiflow.WorkflowExecution {
	b.t.Helper()
	var xs []aiflow.WorkflowExecution
	b.waitFor(fmt.Sprintf("%d executions of %s", n, wf), func() bool {
		xs = b.executions(wf)
		return len(xs) >= n
	})
	require.Len(b.t, xs, n)
	return xs
}

func (b *timerBed) events(key string) []aiflow.Event {
	evs, _, err := b.client.ListEvents(b.ctx, &aiflow.EventFilter{Keys: []string{key}})
	require.NoError(b.t, err)
	return evs
}

func quickWorkflow(name string) *aiflow.Workflow {
	wf := aiflow.NewWorkflow(name)
	wf.Task("t", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil }))
	return wf
}
