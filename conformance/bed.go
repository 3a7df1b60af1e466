package conformance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
)

// bed is one test's client on a fresh store.
type bed struct {
	t      *testing.T
	ctx    context.Context
	st     store.Store
	client *aiflow.Client
	// reader is a client on the same store that is never started (nor
	// stopped): the helpers inspect the store through it, so that they
	// work after the test stopped client.
	reader *aiflow.Client
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
	reader, err := aiflow.New(&aiflow.Config{Store: st, Logger: cfg.Logger, TaskLogDir: cfg.TaskLogDir})
	require.NoError(t, err)
	b := &bed{t: t, ctx: ctx, st: st, client: client, reader: reader, ctl: newControl(), cfg: cfg}
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
	b.waitForSeen(what, ok, func() string { return "" })
}

// waitForSeen is waitFor whose failure message ends with what seen says of
// the last check.
func (b *bed) waitForSeen(what string, ok func() bool, seen func() string) {
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
			b.t.Fatalf("timed out after %s waiting for %s; %s", waitTimeout, what, seen())
		case <-b.ctx.Done():
			b.t.Fatalf("test context ended waiting for %s; %s", what, seen())
		}
	}
}

// runs lists the task executions of a task in an execution, by sequence
// number.
func (b *bed) runs(exec int64, task string) []aiflow.TaskExecution {
	b.t.Helper()
	tes, err := b.reader.ListTaskExecutions(b.ctx, &aiflow.TaskExecutionFilter{ExecutionID: exec, Task: task})
	require.NoError(b.t, err)
	slices.SortFunc(tes, func(x, y aiflow.TaskExecution) int { return x.SeqNum - y.SeqNum })
	return tes
}

// waitRun waits until run seq of task is in one of statuses and returns it.
func (b *bed) waitRun(exec int64, task string, seq int, statuses ...aiflow.TaskStatus) aiflow.TaskExecution {
	b.t.Helper()
	var out aiflow.TaskExecution
	var seen []string // the runs of the last check, for the failure message
	b.waitForSeen(fmt.Sprintf("execution %d task %s #%d in %v", exec, task, seq, statuses), func() bool {
		rs := b.runs(exec, task)
		seen = seen[:0]
		for _, r := range rs {
			seen = append(seen, fmt.Sprintf("#%d %s (attempt %d) %s", r.SeqNum, r.Status, r.Attempt, r.Error))
		}
		if len(rs) < seq {
			return false
		}
		out = rs[seq-1]
		return slices.Contains(statuses, out.Status)
	}, func() string { return fmt.Sprintf("runs seen: %v", seen) })
	return out
}

// waitExecution waits until an execution has one of statuses.
func (b *bed) waitExecution(id int64, statuses ...aiflow.WorkflowStatus) aiflow.WorkflowExecution {
	b.t.Helper()
	var x *aiflow.WorkflowExecution
	b.waitFor(fmt.Sprintf("execution %d in %v", id, statuses), func() bool {
		var err error
		x, err = b.reader.GetWorkflowExecution(b.ctx, id)
		require.NoError(b.t, err)
		return slices.Contains(statuses, x.Status)
	})
	return *x
}

func (b *bed) execution(id int64) aiflow.WorkflowExecution {
	b.t.Helper()
	x, err := b.reader.GetWorkflowExecution(b.ctx, id)
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
		evs, next, err := b.reader.ListEvents(b.ctx, f)
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

// witness sends "witness" to an execution and waits until its witness task
// has run once more: every event appended before has been applied to the
// execution by then. It sends through reader, so that it works after the
// test stopped client (another client runs the execution).
func (b *bed) witness(exec int64) {
	b.t.Helper()
	n := len(b.runs(exec, "witness"))
	ns := b.execution(exec).Namespace
	_, err := b.reader.SendEvent(b.ctx, "witness", "", &aiflow.SendEventOpts{ExecutionID: exec, Namespace: ns})
	require.NoError(b.t, err)
	b.waitRun(exec, "witness", n+1, aiflow.TaskSuccess)
}

func statuses(rs []aiflow.TaskExecution) []aiflow.TaskStatus {
	out := make([]aiflow.TaskStatus, len(rs))
	for i, r := range rs {
		out[i] = r.Status
	}
	return out
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
	data, _, err := b.reader.ReadTaskLog(b.ctx, id, 0, 0)
	require.NoError(b.t, err)
	return string(data)
}
