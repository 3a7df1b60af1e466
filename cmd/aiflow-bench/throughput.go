package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// AppendEvents appends user events for about d from goroutines callers, each
// call with batch events in one transaction (NOTIFY included), and returns
// the events appended per second.
func AppendEvents(ctx context.Context, pool *pgxpool.Pool, batch, callers int, d time.Duration) (float64, error) {
	st, closeStore, err := openStore(ctx, pool, nil)
	if err != nil {
		return 0, err
	}
	defer closeStore()
	evs := make([]store.Event, batch)
	for i := range evs {
		evs[i] = store.Event{Namespace: "default", Key: "k", Value: "value", Sender: "bench"}
	}
	var appended atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	t0 := time.Now()
	end := t0.Add(d)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				if _, err := st.AppendEvents(ctx, evs); err != nil {
					errs <- err
					return
				}
				appended.Add(int64(batch))
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(appended.Load()) / time.Since(t0).Seconds(), nil
}

// TaskStarts measures task starts per second sustained over rounds: in each
// round one event starts a Func task in each of executions running
// executions, and the round ends when every task has run and succeeded.
func TaskStarts(ctx context.Context, pool *pgxpool.Pool, executions, rounds int) (float64, error) {
	return taskStarts(ctx, pool, executions, rounds, 0, nil)
}

// taskStarts is TaskStarts with handoff as the store's
// Config.HandoffMaxWorkers (0: its default), calling begin (if not nil) once
// the executions are running, right before the first round.
func taskStarts(ctx context.Context, pool *pgxpool.Pool, executions, rounds, handoff int, begin func()) (float64, error) {
	st, closeStore, err := openStore(ctx, pool, &postgres.Config{MaxWorkers: 200, HandoffMaxWorkers: handoff})
	if err != nil {
		return 0, err
	}
	defer closeStore()
	var started atomic.Int64
	wf := aiflow.NewWorkflow("burst")
	wf.Task("work", operators.Func(func(context.Context, *aiflow.TaskContext) error {
		started.Add(1)
		return nil
	})).OnEvent("go", aiflow.ActionStart)
	keepRunning(wf)
	client, stop, err := runClient(ctx, st, wf)
	if err != nil {
		return 0, err
	}
	defer stop()
	if _, err := startExecutions(ctx, st, client, "burst", executions); err != nil {
		return 0, err
	}
	if begin != nil {
		begin()
	}
	t0 := time.Now()
	for range rounds {
		target := started.Load() + int64(executions)
		if _, err := client.SendEvent(ctx, "go", "", nil); err != nil {
			return 0, err
		}
		if err := waitUntil(ctx, st, "every task started", func() (bool, error) { return started.Load() >= target, nil }); err != nil {
			return 0, err
		}
		if err := waitUntil(ctx, st, "every task finished", func() (bool, error) {
			tes, err := st.ListTaskExecutions(ctx, store.TaskExecutionFilter{Task: "work",
				Statuses: []store.TaskStatus{store.TaskInit, store.TaskQueued, store.TaskRunning}, Limit: 1})
			return len(tes) == 0, err
		}); err != nil {
			return 0, err
		}
	}
	return float64(rounds*executions) / time.Since(t0).Seconds(), nil
}

// EventsApplied measures how many user events per second the consumers of an
// idle client apply: n events, appended in batches of 100, read by every
// partition and matched against executions running executions, none of whose
// rules they meet (the cheapest events: a unit of work that decides nothing
// only moves its cursor). StatefulEventsApplied and ScopedEventsApplied
// measure events that decide.
func EventsApplied(ctx context.Context, pool *pgxpool.Pool, executions, n int) (float64, error) {
	wf := aiflow.NewWorkflow("applied")
	keepRunning(wf)
	return appliedRate(ctx, pool, wf, executions, n, namespaceEvent("noise"), nil, nil)
}

// StatefulEventsApplied measures how many user events per second the
// consumers of an idle client apply when each event makes a decision in
// every execution: n events, appended in batches of 100, each evaluated by a
// stateful condition (OnCondition) of each of executions running executions,
// which counts the events in the execution's state and is not met. Every
// event is thus executions decisions, and every unit of work updates the
// state of every execution of its partition and writes their snapshots. It
// fails unless every execution has counted every event.
func StatefulEventsApplied(ctx context.Context, pool *pgxpool.Pool, executions, n int) (float64, error) {
	wf, c := countingWorkflow("stateful")
	return appliedRate(ctx, pool, wf, executions, n, namespaceEvent(countedKey), nil, func(ids []int64, sent int) error {
		return c.check(ids, func(int) int { return sent })
	})
}

// ScopedEventsApplied measures how many user events per second the
// consumers of an idle client apply when each event makes one decision: the
// workflow of StatefulEventsApplied (a stateful condition counting the events
// in the execution's state, never met) runs in executions running
// executions, and each of the n events, appended in batches of 100, is
// addressed to one of them (its ExecutionID set, as SendEvent with
// SendEventOpts.ExecutionID does), round-robin. It fails unless every
// execution has counted exactly the events sent to it.
func ScopedEventsApplied(ctx context.Context, pool *pgxpool.Pool, executions, n int) (float64, error) {
	return scopedEventsApplied(ctx, pool, executions, n, nil)
}

// scopedEventsApplied is ScopedEventsApplied calling begin (if not nil) once
// the executions are running, right before the first event.
func scopedEventsApplied(ctx context.Context, pool *pgxpool.Pool, executions, n int, begin func()) (float64, error) {
	wf, c := countingWorkflow("scoped")
	event := func(i int, ids []int64) store.Event {
		return store.Event{Namespace: "default", Key: countedKey, Value: "v", Workflow: "scoped", ExecutionID: ids[i%len(ids)]}
	}
	return appliedRate(ctx, pool, wf, executions, n, event, begin, func(ids []int64, sent int) error {
		// Execution k of ids is sent events k, k+len(ids), ...
		return c.check(ids, func(k int) int { return (sent - k + len(ids) - 1) / len(ids) })
	})
}

// countedKey is the key of the events the counting workflow counts.
const countedKey = "tick"

// counts records, for each execution, the highest count of events its
// condition reached, from the count in from on (lower counts are not
// recorded: with every execution counting every event, recording each count
// under one lock in one map cost the curve's measurement more than the
// engine's evaluations did at 100,000 executions).
type counts struct {
	mu   sync.Mutex
	m    map[int64]int
	from atomic.Int64
}

// countingWorkflow returns a workflow whose executions stay running and
// count, in a ValueState, the events with key countedKey they evaluate, with
// a condition that is never met, and the counts they reach.
func countingWorkflow(name string) (*aiflow.Workflow, *counts) {
	c := &counts{m: map[int64]int{}}
	wf := aiflow.NewWorkflow(name)
	keepRunning(wf)
	countTicks(wf, func(execution int64, ticks int) {
		if int64(ticks) < c.from.Load() {
			return
		}
		c.mu.Lock()
		c.m[execution] = max(c.m[execution], ticks)
		c.mu.Unlock()
	})
	return wf, c
}

// countTicks adds to wf the task "counted", whose stateful condition counts
// the events with key countedKey in the execution's state (a ValueState),
// tells seen each new count, and is never met.
func countTicks(wf *aiflow.Workflow, seen func(execution int64, ticks int)) {
	wf.Task("counted", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
		OnCondition(aiflow.NewCondition([]string{countedKey}, func(cc *aiflow.ConditionContext, _ *aiflow.Event) (bool, error) {
			st := aiflow.ValueState[int](cc, "ticks")
			ticks, _, err := st.Value()
			if err != nil {
				return false, err
			}
			ticks++
			if err := st.Update(ticks); err != nil {
				return false, err
			}
			seen(cc.ExecutionID(), ticks)
			return false, nil
		}), aiflow.ActionStart)
}

// check fails unless the k-th execution of ids counted want(k) events and no
// other execution counted any.
func (c *counts) check(ids []int64, want func(k int) int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	from := int(c.from.Load())
	for k, id := range ids {
		got, w := c.m[id], want(k)
		switch {
		case got == 0 && from > 1 && w != 0:
			return fmt.Errorf("execution %d counted fewer than %d events, expected %d", id, from, w)
		case got != w:
			return fmt.Errorf("execution %d counted %d events, expected %d", id, got, w)
		}
	}
	if len(c.m) > len(ids) {
		return fmt.Errorf("%d executions counted events, expected at most %d", len(c.m), len(ids))
	}
	return nil
}

// namespaceEvent returns the event builder of appliedRate for events with
// key sent to the whole namespace.
func namespaceEvent(key string) func(int, []int64) store.Event {
	return func(int, []int64) store.Event {
		return store.Event{Namespace: "default", Key: key, Value: "v"}
	}
}

// appliedRate runs wf in executions running executions, appends n events
// (rounded up to a multiple of 100) in batches of 100, the i-th built by
// event from i and the ids of the executions, waits until every
// partition has consumed past the last one and returns the events applied
// per second; begin, if not nil, is called right before the first event;
// check, if not nil, then verifies what the events did, given the ids and
// the number of events sent.
func appliedRate(ctx context.Context, pool *pgxpool.Pool, wf *aiflow.Workflow, executions, n int,
	event func(i int, ids []int64) store.Event, begin func(), check func(ids []int64, sent int) error) (float64, error) {
	st, closeStore, err := openStore(ctx, pool, nil)
	if err != nil {
		return 0, err
	}
	defer closeStore()
	client, stop, err := runClient(ctx, st, wf)
	if err != nil {
		return 0, err
	}
	defer stop()
	ids, err := startExecutions(ctx, st, client, wf.Name(), executions)
	if err != nil {
		return 0, err
	}
	// Every partition: the workflow's executions are spread over them
	// (store.Placement), so each reads the events its executions expect
	// (those that hold none move past them when next woken, up to 100 ms
	// later, which the figure includes).
	if begin != nil {
		begin()
	}
	sent, per, err := timeEvents(ctx, pool, st, n, waitTimeout, nil, func(i int) store.Event { return event(i, ids) })
	if err != nil {
		return 0, err
	}
	rate := perSecond(per)
	if check != nil {
		if err := check(ids, sent); err != nil {
			return 0, err
		}
	}
	return rate, nil
}
