package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// EventToStart measures, n times after warmup(n) unmeasured rounds, the time
// from SendEvent to the start of the Func task whose OnEvent rule the event
// meets, one event at a time on an otherwise idle client: the unit of work
// (with the handoff default, it also records RUNNING), then the operator
// called by this process's worker. Each round waits until the client is
// idle again (the run's SUCCESS recorded and applied) before the next
// event is sent.
func EventToStart(ctx context.Context, pool *pgxpool.Pool, cfg *postgres.Config, n int) (Latency, error) {
	st, closeStore, err := openStore(ctx, pool, cfg)
	if err != nil {
		return nil, err
	}
	defer closeStore()
	type started struct {
		at time.Time
		te int64
	}
	starts := make(chan started, 1)
	wf := aiflow.NewWorkflow("latency")
	wf.Task("work", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		starts <- started{at: time.Now(), te: tc.TaskExecutionID}
		return nil
	})).OnEvent("go", aiflow.ActionStart)
	keepRunning(wf)
	client, stop, err := runClient(ctx, st, wf)
	if err != nil {
		return nil, err
	}
	defer stop()
	if _, err := startExecutions(ctx, st, client, "latency", 1); err != nil {
		return nil, err
	}
	one := func() (time.Duration, error) {
		sent := time.Now()
		if _, err := client.SendEvent(ctx, "go", "", nil); err != nil {
			return 0, err
		}
		var s started
		select {
		case s = <-starts:
		case <-time.After(waitTimeout):
			return 0, errors.New("the task did not start")
		}
		// The next START is applied after this run's SUCCESS: wait for it.
		err := waitUntil(ctx, st, "the run's success", func() (bool, error) {
			te, err := st.GetTaskExecution(ctx, s.te)
			return te.Status == store.TaskSuccess, err
		})
		if err == nil {
			// The client is idle once its consumer has applied the SUCCESS
			// too: the next event must not wait for that unit of work.
			err = waitApplied(ctx, pool, st)
		}
		return s.at.Sub(sent), err
	}
	return measure(n, one)
}

// appliedPoll is how often waitApplied checks the partitions' positions.
const appliedPoll = 200 * time.Microsecond

// waitApplied waits until every partition of st has consumed every event of
// its own (status events included), checking every appliedPoll: the status
// events that end a run do not always wake the store's subscribers, and
// waiting for the next fallback check (waitUntil's 20 ms) would add idle
// time to every round.
func waitApplied(ctx context.Context, pool *pgxpool.Pool, st *postgres.Store) error {
	s := pgx.Identifier{st.Schema()}.Sanitize()
	q := "SELECT EXISTS (SELECT 1 FROM " + s + ".aiflow_partition p WHERE EXISTS (SELECT 1 FROM " + s +
		".aiflow_event e WHERE e.partition = p.partition AND (e.xid, e.id) > (p.pos_xid, p.pos_id)))"
	deadline := time.Now().Add(waitTimeout)
	for {
		var behind bool
		if err := pool.QueryRow(ctx, q).Scan(&behind); err != nil || !behind {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for every partition to apply its events", waitTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(appliedPoll):
		}
	}
}

type noopArgs struct{}

func (noopArgs) Kind() string { return "bench_noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	started chan time.Time
}

func (w *noopWorker) Work(context.Context, *river.Job[noopArgs]) error {
	w.started <- time.Now()
	return nil
}

// RiverInsertToWork measures River's own latency from Insert to the start of
// Work, n jobs one at a time after a warm-up as EventToStart's, with the
// store's default River settings (fetch cooldown, poll interval, workers):
// the floor EventToStart is compared with.
func RiverInsertToWork(ctx context.Context, pool *pgxpool.Pool, n int) (Latency, error) {
	schema, drop := Schema(pool)
	defer drop()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return nil, err
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: schema})
	if err != nil {
		return nil, err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, err
	}
	w := &noopWorker{started: make(chan time.Time, 1)}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Schema: schema, Logger: discard, Workers: workers,
		FetchCooldown: postgres.FetchCooldownDefault, FetchPollInterval: postgres.FetchPollIntervalDefault,
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: postgres.MaxWorkersDefault}},
	})
	if err != nil {
		return nil, err
	}
	if err := client.Start(ctx); err != nil {
		return nil, err
	}
	defer client.Stop(context.Background()) //nolint:errcheck
	one := func() (time.Duration, error) {
		sent := time.Now()
		if _, err := client.Insert(ctx, noopArgs{}, nil); err != nil {
			return 0, err
		}
		select {
		case at := <-w.started:
			return at.Sub(sent), nil
		case <-time.After(waitTimeout):
			return 0, errors.New("the River job did not start")
		}
	}
	return measure(n, one)
}

// measure calls one warmup(n) times, then n times, and returns the n
// latencies it returned.
func measure(n int, one func() (time.Duration, error)) (Latency, error) {
	for range warmup(n) {
		if _, err := one(); err != nil {
			return nil, err
		}
	}
	lat := make([]time.Duration, 0, n)
	for range n {
		d, err := one()
		if err != nil {
			return nil, err
		}
		lat = append(lat, d)
	}
	return sorted(lat), nil
}

// warmup is how many unmeasured rounds come before n measured ones: the
// pool's connections open and each statement is prepared on each of them as
// the load spreads over them.
func warmup(n int) int { return min(n/10, 50) }
