package main

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// CurvePoint is the cost of an event with a number of running executions
// (one point of the execution-count curve).
type CurvePoint struct {
	// Executions is the number of running executions of the workflow.
	Executions int
	// Expected is the mean time per event, from the first append to the
	// moment every partition has applied the last one, of events that the
	// stateful condition of every execution expects (and counts in its
	// state): the median of the rounds (ExpectedRounds, each sending
	// ExpectedEvents events to the same executions, after one unmeasured
	// warm-up round).
	Expected       time.Duration
	ExpectedRounds []time.Duration
	ExpectedEvents int
	// Unexpected is the same for events that no rule of any execution
	// expects; UnexpectedEvents is how many were sent.
	Unexpected       time.Duration
	UnexpectedEvents int
	// Starting is how long starting the executions took, until every one
	// ran (StartWorkflowExecutions, up to 10,000 a call).
	Starting time.Duration
}

// perSecond returns the events per second of a mean time per event.
func perSecond(d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(time.Second) / float64(d)
}

// curveEvents returns how many events a point of the curve sends that every
// execution expects: about work decisions in all, between store.DefaultMaxEvents
// (or most, if fewer) and most. Every point sends at least a full unit of work's
// events, so that what a unit pays once per touched execution (its snapshot
// and its decision ring) is shared by as many events at every point.
func curveEvents(executions, most, work int) int {
	return max(min(store.DefaultMaxEvents, most), min(most, work/max(executions, 1)))
}

// ExecutionCurve measures one point of the execution-count curve: with
// executions running executions of one workflow (the counting workflow of
// StatefulEventsApplied), once the partitions have applied their starts,
// unexpected events that no rule expects, then rounds (at least 1) of
// expected events that the stateful condition of every execution counts in
// its state, each kind appended in batches of 100 and timed until the
// partitions concerned have consumed past the last one; the point's
// expected cost is the median round's. One more round before them is not
// timed: the first expected event of a unit makes each execution's first
// decision record and grows the buffers a unit of that size needs, which
// later rounds, like a running system, reuse. It fails unless every execution
// counted every expected event. The executions are spread
// over the partitions (store.Placement), so the time is until every
// partition has consumed past the last expected event.
func ExecutionCurve(ctx context.Context, pool *pgxpool.Pool, executions, expected, unexpected, rounds int) (CurvePoint, error) {
	return executionCurve(ctx, pool, executions, expected, unexpected, rounds, nil)
}

// executionCurve is ExecutionCurve; window, if not nil, is called as the
// measured rounds of expected events open (after the executions started,
// the unexpected events and the warm-up round were applied), and what it
// returns as they close (once every partition consumed past the last
// expected event of the last round),
// so that a benchmark can measure the windows alone (CPU, allocations, a
// profile).
func executionCurve(ctx context.Context, pool *pgxpool.Pool, executions, expected, unexpected, rounds int, window func() func()) (CurvePoint, error) {
	rounds = max(rounds, 1)
	p := CurvePoint{Executions: executions}
	st, closeStore, err := openStore(ctx, pool, nil)
	if err != nil {
		return p, err
	}
	defer closeStore()
	wf, c := countingWorkflow("curve")
	client, stop, err := runClient(ctx, st, wf)
	if err != nil {
		return p, err
	}
	defer stop()
	t0 := time.Now()
	ids, err := startMany(ctx, st, client, wf.Name(), executions)
	if err != nil {
		return p, err
	}
	p.Starting = time.Since(t0)
	// The executions run once their rows say so, before the partitions
	// have applied their starts: wait for that, or the first events timed
	// would carry the starts' backlog.
	if err := caughtUp(ctx, pool, st, waitTimeout+time.Duration(executions)*10*time.Millisecond); err != nil {
		return p, err
	}
	p.UnexpectedEvents, p.Unexpected, err = timeEvents(ctx, pool, st, unexpected, waitTimeout, nil,
		func(int) store.Event { return store.Event{Namespace: "default", Key: "noise", Value: "v"} })
	if err != nil {
		return p, err
	}
	// Allow 50 µs per decision on a loaded machine (3.5 on a quiet one, 16
	// under a load of 24 on 2 cores).
	budget := waitTimeout + time.Duration(expected)*time.Duration(executions)*50*time.Microsecond
	// Every partition: the executions are spread over them (store.Placement)
	// and each reads the counted key for those it holds.
	// Each execution records its count once it reaches the number of
	// expected events sent (see counts).
	c.from.Store(int64((rounds + 1) * roundEvents(expected)))
	closeWindow := func() {}
	for i := range rounds + 1 {
		if i == 1 && window != nil {
			closeWindow = window()
		}
		var d time.Duration
		p.ExpectedEvents, d, err = timeEvents(ctx, pool, st, expected, budget, nil,
			func(int) store.Event { return store.Event{Namespace: "default", Key: countedKey, Value: "v"} })
		if err != nil {
			closeWindow()
			return p, err
		}
		if i > 0 {
			p.ExpectedRounds = append(p.ExpectedRounds, d)
		}
	}
	closeWindow()
	p.Expected = sorted(slices.Clone(p.ExpectedRounds)).Quantile(0.5)
	return p, c.check(ids, func(int) int { return (rounds + 1) * p.ExpectedEvents })
}

// caughtUp appends an event that no rule expects and waits, for at most
// timeout, until every partition of st has consumed past it: until the
// partitions have applied what was appended before it.
func caughtUp(ctx context.Context, pool *pgxpool.Pool, st *postgres.Store, timeout time.Duration) error {
	out, err := st.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "noise", Value: "caught-up"}})
	if err != nil {
		return err
	}
	return waitConsumedWithin(ctx, pool, st, timeout, nil, out[0].Position)
}

// appendBatch is the number of events timeEvents appends at a time.
const appendBatch = 100

// roundEvents returns the number of events timeEvents sends when asked
// for n: n rounded up to a multiple of appendBatch.
func roundEvents(n int) int { return max(appendBatch, (n+appendBatch-1)/appendBatch*appendBatch) }

// lastAppends is how long the appends of the latest timeEvents took (from
// its first append to the return of its last), in nanoseconds: the rest of
// its time is the consumers catching up after the last append. The CPU
// benchmarks report its share of the window.
var lastAppends atomic.Int64

// timeEvents appends n events (rounded up to a multiple of 100), the i-th
// built by event(i), in batches of 100, waits (at most timeout) until every
// partition of st has consumed past the last one, and returns how many it
// sent and the mean time per event.
func timeEvents(ctx context.Context, pool *pgxpool.Pool, st *postgres.Store, n int, timeout time.Duration, parts []int,
	event func(i int) store.Event) (int, time.Duration, error) {
	const batch = appendBatch
	sent := roundEvents(n)
	evs := make([]store.Event, sent)
	for i := range evs {
		evs[i] = event(i)
	}
	t0 := time.Now()
	var last store.Position
	for i := 0; i < sent; i += batch {
		out, err := st.AppendEvents(ctx, evs[i:i+batch])
		if err != nil {
			return 0, 0, err
		}
		last = out[len(out)-1].Position
	}
	lastAppends.Store(int64(time.Since(t0)))
	if err := waitConsumedWithin(ctx, pool, st, timeout, parts, last); err != nil {
		return 0, 0, err
	}
	return sent, time.Since(t0) / time.Duration(sent), nil
}
