package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/postgres"
)

func benchStore(b *testing.B, cfg *postgres.Config) (*postgres.Store, *pgxpool.Pool) {
	b.Helper()
	pool := pgtest.Pool(b, 20)
	if cfg == nil {
		cfg = &postgres.Config{}
	}
	cfg.Schema = pgtest.SchemaName(b, pool)
	cfg.Logger = slog.New(slog.DiscardHandler)
	ctx := context.Background()
	if _, err := postgres.Migrate(ctx, pool, cfg); err != nil {
		b.Fatal(err)
	}
	st, err := postgres.New(pool, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st, pool
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkEventToFuncStart measures, on the Postgres store with its default
// settings, the time from SendEvent to the start of the Func task whose
// OnEvent rule the event meets, one event at a time on an otherwise idle
// client (consume, River insert, River fetch, RUNNING recorded, operator
// called). It reports the median and 99th percentile.
//
//	go test -run '^$' -bench BenchmarkEventToFuncStart -benchtime 500x ./store/postgres
func BenchmarkEventToFuncStart(b *testing.B) {
	for _, parts := range []int{1, 4, 8, 16} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			benchEventToFuncStart(b, &postgres.Config{Partitions: parts})
		})
	}
}

func benchEventToFuncStart(b *testing.B, cfg *postgres.Config) {
	ctx := context.Background()
	st, _ := benchStore(b, cfg)
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
	wf.Task("keep", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
		OnEvent("never", aiflow.ActionStart) // keeps the execution RUNNING
	client, err := aiflow.New(&aiflow.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := client.Register(ctx, wf); err != nil {
		b.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer client.Stop(ctx) //nolint:errcheck
	id, err := client.StartWorkflowExecution(ctx, "latency", nil)
	if err != nil {
		b.Fatal(err)
	}
	wait(b, st, func() bool {
		x, err := st.GetExecution(ctx, id)
		return err == nil && x.Status == aiflow.WorkflowRunning
	})

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sent := time.Now()
		if _, err := client.SendEvent(ctx, "go", "", nil); err != nil {
			b.Fatal(err)
		}
		s := <-starts
		lat = append(lat, s.at.Sub(sent))
		// The next START is applied after this run's SUCCESS: wait for it.
		wait(b, st, func() bool {
			te, err := st.GetTaskExecution(ctx, s.te)
			return err == nil && te.Status == aiflow.TaskSuccess
		})
	}
	b.StopTimer()
	reportLatency(b, lat)
}

func wait(b *testing.B, st store.Store, done func() bool) {
	b.Helper()
	wake, unsubscribe := st.Subscribe()
	defer unsubscribe()
	deadline := time.After(20 * time.Second)
	for !done() {
		select {
		case <-wake:
		case <-time.After(20 * time.Millisecond): // wake-ups are hints
		case <-deadline:
			b.Fatal("timed out waiting")
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

// BenchmarkRiverInsertToWork measures River's own latency from Insert to the
// start of Work, one job at a time, with the store's default River settings
// (fetch cooldown, poll interval): the floor the store's event-to-start
// latency is compared with.
//
//	go test -run '^$' -bench BenchmarkRiverInsertToWork -benchtime 500x ./store/postgres
func BenchmarkRiverInsertToWork(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.Pool(b, 20)
	schema := pgtest.SchemaName(b, pool)
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		b.Fatal(err)
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		b.Fatal(err)
	}
	w := &noopWorker{started: make(chan time.Time, 1)}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Schema: schema, Logger: slog.New(slog.DiscardHandler), Workers: workers,
		FetchCooldown: postgres.FetchCooldownDefault, FetchPollInterval: postgres.FetchPollIntervalDefault,
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: postgres.MaxWorkersDefault}},
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer client.Stop(ctx) //nolint:errcheck
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sent := time.Now()
		if _, err := client.Insert(ctx, noopArgs{}, nil); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-w.started).Sub(sent))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkAppendEvents measures appending user events, one per transaction
// (AppendEvents with one event, NOTIFY included) and in batches of 100.
//
//	go test -run '^$' -bench BenchmarkAppendEvents ./store/postgres
func BenchmarkAppendEvents(b *testing.B) {
	for _, size := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			ctx := context.Background()
			st, _ := benchStore(b, nil)
			evs := make([]store.Event, size)
			for i := range evs {
				evs[i] = store.Event{Namespace: "default", Key: "k", Value: "value", Sender: "bench"}
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := st.AppendEvents(ctx, evs); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkIdleCPU measures the CPU an idle client uses (its Go process and
// its Postgres backends, in % of one core) while one execution waits for an
// event that never comes: the cost of polls, heartbeats, leases and
// elections. Each iteration is one second. Linux only (reads /proc).
//
//	go test -run '^$' -bench BenchmarkIdleCPU -benchtime 10x ./store/postgres
func BenchmarkIdleCPU(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("needs /proc")
	}
	ctx := context.Background()
	app := "aiflow_idle_" + strconv.Itoa(os.Getpid())
	pool := pgtest.Pool(b, 20)
	pc := pool.Config()
	pc.ConnConfig.RuntimeParams["application_name"] = app
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	cfg := &postgres.Config{Schema: pgtest.SchemaName(b, pool), Logger: slog.New(slog.DiscardHandler)}
	if _, err := postgres.Migrate(ctx, pool, cfg); err != nil {
		b.Fatal(err)
	}
	st, err := postgres.New(pool, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	wf := aiflow.NewWorkflow("idle")
	wf.Task("wait", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).OnEvent("never", aiflow.ActionStart)
	client, err := aiflow.New(&aiflow.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := client.Register(ctx, wf); err != nil {
		b.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer client.Stop(ctx) //nolint:errcheck
	if _, err := client.StartWorkflowExecution(ctx, "idle", nil); err != nil {
		b.Fatal(err)
	}
	time.Sleep(2 * time.Second) // settle: the measurement is of the idle state

	backends := func() float64 {
		rows, err := pool.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", app)
		if err != nil {
			b.Fatal(err)
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			b.Fatal(err)
		}
		total := 0.0
		for _, pid := range pids {
			total += procCPU(strconv.Itoa(int(pid)))
		}
		return total
	}
	self0, pg0, t0 := procCPU("self"), backends(), time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		time.Sleep(time.Second)
	}
	b.StopTimer()
	wall := time.Since(t0).Seconds()
	b.ReportMetric(100*(procCPU("self")-self0)/wall, "process-%core")
	b.ReportMetric(100*(backends()-pg0)/wall, "backends-%core")
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

// BenchmarkTaskStartsBurst measures task starts per second: 1,000 running
// executions each start a Func task on the same event; each iteration sends
// the event and waits until every task has run (and succeeded).
//
//	go test -run '^$' -bench BenchmarkTaskStartsBurst -benchtime 3x ./store/postgres
func BenchmarkTaskStartsBurst(b *testing.B) {
	ctx := context.Background()
	st, _ := benchStore(b, &postgres.Config{MaxWorkers: 200})
	const executions = 1000
	var started atomic.Int64
	wf := aiflow.NewWorkflow("burst")
	wf.Task("work", operators.Func(func(context.Context, *aiflow.TaskContext) error {
		started.Add(1)
		return nil
	})).OnEvent("go", aiflow.ActionStart)
	wf.Task("keep", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
		OnEvent("never", aiflow.ActionStart)
	client, err := aiflow.New(&aiflow.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := client.Register(ctx, wf); err != nil {
		b.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer client.Stop(ctx) //nolint:errcheck
	for range executions {
		if _, err := client.StartWorkflowExecution(ctx, "burst", nil); err != nil {
			b.Fatal(err)
		}
	}
	wait(b, st, func() bool {
		xs, err := st.ListExecutions(ctx, store.ExecutionFilter{Statuses: []store.WorkflowStatus{store.WorkflowRunning}, Limit: executions})
		return err == nil && len(xs) == executions
	})
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		target := started.Load() + executions
		if _, err := client.SendEvent(ctx, "go", "", nil); err != nil {
			b.Fatal(err)
		}
		wait(b, st, func() bool { return started.Load() >= target })
		wait(b, st, func() bool {
			tes, err := st.ListTaskExecutions(ctx, store.TaskExecutionFilter{Task: "work",
				Statuses: []store.TaskStatus{store.TaskInit, store.TaskQueued, store.TaskRunning}, Limit: 1})
			return err == nil && len(tes) == 0
		})
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*executions)/time.Since(t0).Seconds(), "starts/s")
}

// BenchmarkEventsApplied measures how many user events per second the
// consumers of an idle client apply (read by every partition, matched
// against 1,000 running executions, none of whose rules they meet), sending
// them in batches of 100.
//
//	go test -run '^$' -bench BenchmarkEventsApplied -benchtime 20000x ./store/postgres
func BenchmarkEventsApplied(b *testing.B) {
	ctx := context.Background()
	st, pool := benchStore(b, nil)
	const executions = 1000
	wf := aiflow.NewWorkflow("applied")
	wf.Task("keep", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
		OnEvent("never", aiflow.ActionStart)
	client, err := aiflow.New(&aiflow.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := client.Register(ctx, wf); err != nil {
		b.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer client.Stop(ctx) //nolint:errcheck
	for range executions {
		if _, err := client.StartWorkflowExecution(ctx, "applied", nil); err != nil {
			b.Fatal(err)
		}
	}
	wait(b, st, func() bool {
		xs, err := st.ListExecutions(ctx, store.ExecutionFilter{Statuses: []store.WorkflowStatus{store.WorkflowRunning}, Limit: executions})
		return err == nil && len(xs) == executions
	})
	evs := make([]store.Event, 100)
	for i := range evs {
		evs[i] = store.Event{Namespace: "default", Key: "noise", Value: "v"}
	}
	b.ResetTimer()
	t0 := time.Now()
	var last store.Position
	for sent := 0; sent < b.N; sent += len(evs) {
		out, err := st.AppendEvents(ctx, evs)
		if err != nil {
			b.Fatal(err)
		}
		last = out[len(out)-1].Position
	}
	// Every partition has consumed past the last event.
	wait(b, st, func() bool {
		var behind int
		err := pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{st.Schema()}.Sanitize()+
			".aiflow_partition WHERE (pos_xid, pos_id) < ($1::xid8, $2::bigint)", last.XID, last.ID).Scan(&behind)
		return err == nil && behind == 0
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "events/s")
}
