// The measurements of the Postgres store: the command and the go test
// benchmarks of this directory (benchmark_test.go) run the same code. Each
// measurement works in a fresh schema of its own, dropped afterwards, on the
// pool it is given.

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// waitTimeout bounds every wait of a measurement.
const waitTimeout = 60 * time.Second

var discard = slog.New(slog.DiscardHandler)

// Latency is a distribution of latencies, sorted.
type Latency []time.Duration

// Quantile returns the q-quantile (0.5 for the median).
func (l Latency) Quantile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	i := int(q * float64(len(l)))
	if i >= len(l) {
		i = len(l) - 1
	}
	return l[i]
}

func sorted(l []time.Duration) Latency {
	slices.Sort(l)
	return l
}

// Schema creates a fresh schema name and returns it with a function that
// drops the schema.
func Schema(pool *pgxpool.Pool) (string, func()) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "aiflowbench_" + hex.EncodeToString(b[:])
	return name, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE")
	}
}

// openStore migrates a fresh schema with cfg (Schema and Logger are set here)
// and opens a store on it; closing it drops the schema.
func openStore(ctx context.Context, pool *pgxpool.Pool, cfg *postgres.Config) (*postgres.Store, func(), error) {
	if cfg == nil {
		cfg = &postgres.Config{}
	}
	c := *cfg
	schema, drop := Schema(pool)
	c.Schema, c.Logger = schema, discard
	if _, err := postgres.Migrate(ctx, pool, &c); err != nil {
		drop()
		return nil, nil, err
	}
	st, err := postgres.New(pool, &c)
	if err != nil {
		drop()
		return nil, nil, err
	}
	return st, func() { _ = st.Close(); drop() }, nil
}

// runClient registers wf on a new client of st and starts it; stop stops it.
func runClient(ctx context.Context, st store.Store, wf *aiflow.Workflow) (*aiflow.Client, func(), error) {
	client, err := aiflow.New(&aiflow.Config{Store: st, Logger: discard})
	if err != nil {
		return nil, nil, err
	}
	if err := client.Register(ctx, wf); err != nil {
		return nil, nil, err
	}
	if err := client.Start(ctx); err != nil {
		return nil, nil, err
	}
	return client, func() { _ = client.Stop(context.Background()) }, nil
}

// waitUntil waits until done holds, re-checking on every wake-up of st and
// at least every 20 ms (wake-ups are hints).
func waitUntil(ctx context.Context, st store.Store, what string, done func() (bool, error)) error {
	wake, unsubscribe := st.Subscribe()
	defer unsubscribe()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		ok, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-wake:
		case <-time.After(20 * time.Millisecond):
		case <-deadline.C:
			return fmt.Errorf("timed out after %s waiting for %s", waitTimeout, what)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// keepRunning is a task that waits for an event that never comes, so that
// the executions of a measurement stay RUNNING.
func keepRunning(wf *aiflow.Workflow) {
	wf.Task("keep", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
		OnEvent("never", aiflow.ActionStart)
}

// startExecutions starts n executions of workflow, waits until they run and
// returns their ids in the order they were started.
func startExecutions(ctx context.Context, st store.Store, client *aiflow.Client, workflow string, n int) ([]int64, error) {
	ids := make([]int64, 0, n)
	for range n {
		id, err := client.StartWorkflowExecution(ctx, workflow, nil)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	err := waitUntil(ctx, st, fmt.Sprintf("%d executions running", n), func() (bool, error) {
		xs, err := st.ListExecutions(ctx, store.ExecutionFilter{Statuses: []store.WorkflowStatus{store.WorkflowRunning}, Limit: n})
		return len(xs) == n, err
	})
	return ids, err
}

// EventToStart measures, n times after warmup(n) unmeasured rounds, the time
// from SendEvent to the start of the Func task whose OnEvent rule the event
// meets, one event at a time on an otherwise idle client: the unit of work
// (with the handoff default, it also records RUNNING), then the operator
// called by this process's worker.
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
			return te.Status == aiflow.TaskSuccess, err
		})
		return s.at.Sub(sent), err
	}
	return measure(n, one)
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

// IdleCPU measures the CPU an idle client uses (this process and the
// client's Postgres backends, in % of one core) over d while one execution
// waits for an event that never comes: the cost of polls, heartbeats, leases
// and elections. Linux only (it reads /proc); the process figure includes
// whatever else the calling process does meanwhile.
func IdleCPU(ctx context.Context, pool *pgxpool.Pool, d time.Duration) (process, backends float64, err error) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return 0, 0, errors.New("idle CPU needs /proc")
	}
	app := "aiflow_idle_" + strconv.Itoa(os.Getpid())
	pc := pool.Config()
	pc.ConnConfig.RuntimeParams["application_name"] = app
	own, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return 0, 0, err
	}
	defer own.Close()
	st, closeStore, err := openStore(ctx, own, nil)
	if err != nil {
		return 0, 0, err
	}
	defer closeStore()
	wf := aiflow.NewWorkflow("idle")
	keepRunning(wf)
	client, stop, err := runClient(ctx, st, wf)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	if _, err := startExecutions(ctx, st, client, "idle", 1); err != nil {
		return 0, 0, err
	}
	time.Sleep(2 * time.Second) // the measurement is of the idle state
	pgCPU := func() (float64, error) {
		rows, err := pool.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", app)
		if err != nil {
			return 0, err
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		total := 0.0
		for _, pid := range pids {
			total += procCPU(strconv.Itoa(int(pid)))
		}
		return total, err
	}
	self0 := procCPU("self")
	pg0, err := pgCPU()
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	time.Sleep(d)
	pg1, err := pgCPU()
	if err != nil {
		return 0, 0, err
	}
	wall := time.Since(t0).Seconds()
	return 100 * (procCPU("self") - self0) / wall, 100 * (pg1 - pg0) / wall, nil
}

// procCPU returns the user+system CPU seconds of /proc/<pid>.
func procCPU(pid string) float64 {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // USER_HZ
}

// TaskStarts measures task starts per second sustained over rounds: in each
// round one event starts a Func task in each of executions running
// executions, and the round ends when every task has run and succeeded.
func TaskStarts(ctx context.Context, pool *pgxpool.Pool, executions, rounds int) (float64, error) {
	st, closeStore, err := openStore(ctx, pool, &postgres.Config{MaxWorkers: 200})
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
	return appliedRate(ctx, pool, wf, executions, n, namespaceEvent("noise"), nil)
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
	return appliedRate(ctx, pool, wf, executions, n, namespaceEvent(countedKey), func(ids []int64, sent int) error {
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
	wf, c := countingWorkflow("scoped")
	event := func(i int, ids []int64) store.Event {
		return store.Event{Namespace: "default", Key: countedKey, Value: "v", Workflow: "scoped", ExecutionID: ids[i%len(ids)]}
	}
	return appliedRate(ctx, pool, wf, executions, n, event, func(ids []int64, sent int) error {
		// Execution k of ids is sent events k, k+len(ids), ...
		return c.check(ids, func(k int) int { return (sent - k + len(ids) - 1) / len(ids) })
	})
}

// countedKey is the key of the events the counting workflow counts.
const countedKey = "tick"

// counts records, for each execution, the highest count of events its
// condition reached.
type counts struct {
	mu sync.Mutex
	m  map[int64]int
}

// countingWorkflow returns a workflow whose executions stay running and
// count, in a ValueState, the events with key countedKey they evaluate, with
// a condition that is never met, and the counts they reach.
func countingWorkflow(name string) (*aiflow.Workflow, *counts) {
	c := &counts{m: map[int64]int{}}
	wf := aiflow.NewWorkflow(name)
	keepRunning(wf)
	wf.Task("counted", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
		OnCondition(aiflow.ActionStart, aiflow.NewCondition([]string{countedKey}, func(cc *aiflow.ConditionContext, _ *aiflow.Event) (bool, error) {
			st := aiflow.ValueState[int](cc, "ticks")
			ticks, _, err := st.Value()
			if err != nil {
				return false, err
			}
			ticks++
			if err := st.Update(ticks); err != nil {
				return false, err
			}
			c.mu.Lock()
			c.m[cc.ExecutionID()] = max(c.m[cc.ExecutionID()], ticks)
			c.mu.Unlock()
			return false, nil
		}))
	return wf, c
}

// check fails unless the k-th execution of ids counted want(k) events and no
// other execution counted any.
func (c *counts) check(ids []int64, want func(k int) int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, id := range ids {
		if got, w := c.m[id], want(k); got != w {
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
// event from i and the ids of the executions, waits until every partition
// has consumed past the last one and returns the events applied per second;
// check, if not nil, then verifies what the events did, given the ids and
// the number of events sent.
func appliedRate(ctx context.Context, pool *pgxpool.Pool, wf *aiflow.Workflow, executions, n int,
	event func(i int, ids []int64) store.Event, check func(ids []int64, sent int) error) (float64, error) {
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
	const batch = 100
	sent := (n + batch - 1) / batch * batch
	evs := make([]store.Event, sent)
	for i := range evs {
		evs[i] = event(i, ids)
	}
	t0 := time.Now()
	var last store.Position
	for i := 0; i < sent; i += batch {
		out, err := st.AppendEvents(ctx, evs[i:i+batch])
		if err != nil {
			return 0, err
		}
		last = out[len(out)-1].Position
	}
	// Every partition has consumed past the last event.
	err = waitUntil(ctx, st, "every partition past the last event", func() (bool, error) {
		var behind int
		err := pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{st.Schema()}.Sanitize()+
			".aiflow_partition WHERE (pos_xid, pos_id) < ($1::xid8, $2::bigint)", last.XID, last.ID).Scan(&behind)
		return behind == 0, err
	})
	if err != nil {
		return 0, err
	}
	rate := float64(sent) / time.Since(t0).Seconds()
	if check != nil {
		if err := check(ids, sent); err != nil {
			return 0, err
		}
	}
	return rate, nil
}
