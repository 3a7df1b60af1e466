package aiflow_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	goruntime "runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/memory"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// telemetryRounds is the number of rounds of each variant that
// BenchmarkTelemetryCost runs, alternating them.
var telemetryRounds = flag.Int("telemetry-rounds", 4, "rounds of each provider variant in BenchmarkTelemetryCost (alternated: noop, sdk, sdk, noop, ...)")

// telemetryVariants are the variants BenchmarkTelemetryCost alternates;
// each is compared with "noop".
var telemetryVariants = flag.String("telemetry-variants", "noop,sdk",
	`variants of BenchmarkTelemetryCost, comma-separated: "noop", "sdk", "sdk-metrics" (the SDK's meter, no-op tracer), "sdk-traces" (the reverse); one alone to profile it`)

// telemetryVariant is a pair of OpenTelemetry providers a client is built
// with.
type telemetryVariant struct {
	name string
	mp   metric.MeterProvider
	tp   trace.TracerProvider
	stop func()
}

// newTelemetryVariant returns the no-op providers ("noop"), the SDK's
// providers without an exporter ("sdk": a manual metric reader never
// collected, every span sampled, recorded and dropped at its end), or one
// of the SDK's with the other no-op ("sdk-metrics", "sdk-traces").
func newTelemetryVariant(name string) telemetryVariant {
	v := telemetryVariant{name: name, mp: metricnoop.NewMeterProvider(), tp: tracenoop.NewTracerProvider()}
	var stops []func(context.Context) error
	if name == "sdk" || name == "sdk-metrics" {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		v.mp, stops = mp, append(stops, mp.Shutdown)
	}
	if name == "sdk" || name == "sdk-traces" {
		tp := sdktrace.NewTracerProvider()
		v.tp, stops = tp, append(stops, tp.Shutdown)
	}
	v.stop = func() {
		for _, stop := range stops {
			_ = stop(context.Background())
		}
	}
	return v
}

// BenchmarkTelemetryCost measures the cost of the library's instrumentation:
// the same measurement runs on clients built with the no-op providers and
// with the SDK's providers without an exporter, in alternating rounds
// (noop, sdk, sdk, noop, ...; -telemetry-rounds, 4 by default, of each) so
// that both see the same machine, each round on a fresh store (a fresh
// schema on Postgres). It reports the median over the rounds of each
// variant and the SDK's cost in % of the no-op figure (-telemetry-variants
// adds the SDK's meter or tracer alone, to tell their costs apart):
//
//   - event-to-start: b.N events sent one at a time (SendEvent, so with the
//     SDK each event has a send span whose trace the task attempt joins),
//     from SendEvent to the start of the Func task the event starts, p50 and
//     p99 in µs to a tenth (on Postgres after warm-up rounds, as
//     cmd/aiflow-bench does), and the process's CPU time per event (less
//     disturbed by a loaded machine than the latency) and its allocations
//     per event (objects and bytes, which load does not move at all);
//   - events-applied: b.N user events (rounded up to a multiple of 100),
//     each with a traceparent of its own, appended in batches of 100 and
//     read by every partition of a client with 1,000 running executions
//     that expect none of them (so no unit of work begins); events per
//     second;
//   - events-applied-scoped: the same, each event sent to one of the 1,000
//     executions (round-robin), whose stateful condition counts it in the
//     execution's state and is not met: every unit of work writes, and has
//     a span linked to the traces of its events.
//
// Run it on one store at a time, e.g.
//
//	go test -run '^$' -bench 'BenchmarkTelemetryCost/memory' -benchtime 2000x .
//	go test -run '^$' -bench 'BenchmarkTelemetryCost/postgres/event-to-start' -benchtime 300x .
//	go test -run '^$' -bench 'BenchmarkTelemetryCost/postgres/events-applied' -benchtime 20000x .
//	go test -run '^$' -bench 'BenchmarkTelemetryCost/postgres/events-applied-scoped' -benchtime 20000x .
func BenchmarkTelemetryCost(b *testing.B) {
	var pool *pgxpool.Pool // one for every round, opened on first use
	stores := []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"memory", func(*testing.B) store.Store { return memory.New(nil) }},
		{"postgres", func(sub *testing.B) store.Store {
			if pool == nil {
				pool = pgtest.Pool(b, 20) // closed when the whole benchmark ends
			}
			return openBenchPostgres(sub, pool)
		}},
	}
	for _, s := range stores {
		b.Run(s.name+"/event-to-start", func(b *testing.B) {
			p50, p99, cpu := map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
			allocs, bytes := map[string][]float64{}, map[string][]float64{}
			alternate(b, func(v telemetryVariant) {
				lat, perEvent, mem := eventToStart(b, s.open(b), v, b.N, s.name == "postgres")
				p50[v.name] = append(p50[v.name], µs(lat[len(lat)/2]))
				p99[v.name] = append(p99[v.name], µs(lat[len(lat)*99/100]))
				cpu[v.name] = append(cpu[v.name], µs(perEvent))
				allocs[v.name] = append(allocs[v.name], mem.allocs)
				bytes[v.name] = append(bytes[v.name], mem.bytes)
			})
			reportCost(b, "p50-µs", p50)
			reportCost(b, "p99-µs", p99)
			reportCost(b, "cpu-µs/event", cpu)
			reportCost(b, "allocs/event", allocs)
			reportCost(b, "B/event", bytes)
		})
		for _, scoped := range []bool{false, true} {
			name := s.name + "/events-applied"
			if scoped {
				name += "-scoped"
			}
			b.Run(name, func(b *testing.B) {
				rate := map[string][]float64{}
				alternate(b, func(v telemetryVariant) {
					rate[v.name] = append(rate[v.name], eventsApplied(b, s.open(b), v, 1000, b.N, scoped))
				})
				reportCost(b, "events/s", rate)
			})
		}
	}
}

// alternate runs one round of each variant -telemetry-rounds times, in
// the order of -telemetry-variants in even rounds and the reverse in odd
// ones.
func alternate(b *testing.B, round func(v telemetryVariant)) {
	b.Helper()
	b.StopTimer()
	names := strings.Split(*telemetryVariants, ",")
	for r := range *telemetryRounds {
		order := slices.Clone(names)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, name := range order {
			v := newTelemetryVariant(strings.TrimSpace(name))
			round(v)
			v.stop()
		}
	}
}

// reportCost reports the median of each variant's figures and each
// variant's cost: how much worse its median is than the no-op one, in %.
func reportCost(b *testing.B, unit string, figures map[string][]float64) {
	b.Helper()
	median := func(xs []float64) float64 {
		if len(xs) == 0 {
			return 0
		}
		xs = slices.Clone(xs)
		slices.Sort(xs)
		if len(xs)%2 == 1 {
			return xs[len(xs)/2]
		}
		return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
	}
	b.ReportMetric(0, "ns/op") // the timer does not run: the figures are these
	noop := median(figures["noop"])
	for _, name := range slices.Sorted(maps.Keys(figures)) {
		m := median(figures[name])
		b.ReportMetric(m, name+"-"+unit)
		b.Logf("%s %s: %v", name, unit, figures[name])
		if name == "noop" || noop == 0 || m == 0 {
			continue
		}
		cost := (m - noop) / noop * 100
		if strings.HasSuffix(unit, "/s") {
			cost = (noop - m) / noop * 100 // fewer events per second is the cost
		}
		b.ReportMetric(cost, name+"-cost-%("+unit+")")
	}
}

// openBenchPostgres migrates a fresh schema (dropped when the benchmark
// ends) and opens a store on it with the store's defaults.
func openBenchPostgres(b *testing.B, pool *pgxpool.Pool) store.Store {
	b.Helper()
	ctx := context.Background()
	cfg := &postgres.Config{Schema: pgtest.SchemaName(b, pool), Logger: slog.New(slog.DiscardHandler)}
	if _, err := postgres.Migrate(ctx, pool, cfg); err != nil {
		b.Fatal(err)
	}
	st, err := postgres.New(ctx, pool, cfg)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// benchClient starts a client of st with v's providers and wf; it stops
// with the benchmark's round (the returned function).
func benchClient(b *testing.B, st store.Store, v telemetryVariant, wf *aiflow.Workflow) (*aiflow.Client, func()) {
	b.Helper()
	ctx := context.Background()
	c, err := aiflow.New(&aiflow.Config{Store: st, MeterProvider: v.mp, TracerProvider: v.tp, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Register(ctx, wf); err != nil {
		b.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	return c, func() { _ = c.Stop(ctx); _ = st.Close() }
}

// startRunning starts n executions of workflow, waits until they run and
// returns their ids.
func startRunning(b *testing.B, st store.Store, c *aiflow.Client, workflow string, n int) []int64 {
	b.Helper()
	ctx := context.Background()
	ids := make([]int64, n)
	for i := range ids {
		id, err := c.StartWorkflowExecution(ctx, workflow, nil)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = id
	}
	waitFor(b, st, fmt.Sprintf("%d executions running", n), func() bool {
		xs, err := st.ListExecutions(ctx, store.ExecutionFilter{Statuses: []store.WorkflowStatus{store.WorkflowRunning}, Limit: n})
		return err == nil && len(xs) == n
	})
	return ids
}

// µs returns d in microseconds, to a tenth.
func µs(d time.Duration) float64 { return float64(d/100) / 10 }

// memPerEvent is what the process allocated per event: objects and bytes
// (figures that a loaded machine does not move).
type memPerEvent struct{ allocs, bytes float64 }

// eventToStart sends n events one at a time (after min(n/10, 50) unmeasured
// ones when warm) and returns the sorted latencies from SendEvent to the
// start of the task each one starts, and the process's CPU time and
// allocations per measured event (the whole process's: the client's, the
// store's and this loop's, which waits for each run's success).
func eventToStart(b *testing.B, st store.Store, v telemetryVariant, n int, warm bool) ([]time.Duration, time.Duration, memPerEvent) {
	b.Helper()
	ctx := context.Background()
	starts := make(chan started, 1)
	wf := aiflow.NewWorkflow("latency")
	wf.Task("work", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		starts <- started{at: time.Now(), te: tc.TaskExecutionID}
		return nil
	})).OnEvent("go", aiflow.ActionStart)
	wf.Task("keep", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
		OnEvent("never", aiflow.ActionStart) // keeps the execution RUNNING
	c, stop := benchClient(b, st, v, wf)
	defer stop()
	startRunning(b, st, c, "latency", 1)
	skip := 0
	if warm {
		skip = min(n/10, 50)
	}
	lat := make([]time.Duration, 0, n)
	var cpu0 time.Duration
	var ms0, ms1 goruntime.MemStats
	for i := range skip + n {
		if i == skip {
			goruntime.ReadMemStats(&ms0)
			cpu0 = aiflow.ProcessCPU()
		}
		sent := time.Now()
		if _, err := c.SendEvent(ctx, "go", "", nil); err != nil {
			b.Fatal(err)
		}
		var s started
		select {
		case s = <-starts:
		case <-time.After(time.Minute):
			b.Fatal("the task did not start")
		}
		if i >= skip {
			lat = append(lat, s.at.Sub(sent))
		}
		// The next START is applied after this run's SUCCESS: wait for it.
		waitFor(b, st, "the run's success", func() bool {
			te, err := st.GetTaskExecution(ctx, s.te)
			return err == nil && te.Status == store.TaskSuccess
		})
	}
	perEvent := (aiflow.ProcessCPU() - cpu0) / time.Duration(n)
	goruntime.ReadMemStats(&ms1)
	mem := memPerEvent{allocs: float64(ms1.Mallocs-ms0.Mallocs) / float64(n), bytes: float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(n)}
	slices.Sort(lat)
	return lat, perEvent, mem
}

// eventsApplied runs executions running executions, appends n user events
// (rounded up to a multiple of 100; each with a traceparent of its own, as
// if sent in traced requests) in batches of 100 that no rule meets, and
// returns the events per second until every partition has applied them.
// Unscoped, no execution expects the events' key; scoped, each event is
// sent to one execution (round-robin), whose stateful condition counts it
// and is not met (the count is checked at the end).
func eventsApplied(b *testing.B, st store.Store, v telemetryVariant, executions, n int, scoped bool) float64 {
	b.Helper()
	ctx := context.Background()
	const key = "noise"
	var counted atomic.Int64
	wf := aiflow.NewWorkflow("applied")
	wf.Task("keep", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
		OnEvent("never", aiflow.ActionStart)
	if scoped {
		wf.Task("counted", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
			OnCondition(aiflow.NewCondition([]string{key}, func(cc *aiflow.ConditionContext, _ *aiflow.Event) (bool, error) {
				st := aiflow.ValueState[int](cc, "n")
				seen, _, err := st.Value()
				if err == nil {
					err = st.Update(seen + 1)
				}
				counted.Add(1)
				return false, err
			}), aiflow.ActionStart)
	}
	c, stop := benchClient(b, st, v, wf)
	defer stop()
	ids := startRunning(b, st, c, "applied", executions)
	const batch = 100
	sent := (n + batch - 1) / batch * batch
	evs := make([]store.Event, sent)
	for i := range evs {
		evs[i] = store.Event{Namespace: "default", Key: key, Value: "v", TraceParent: randomTraceParent()}
		if scoped {
			evs[i].Workflow, evs[i].ExecutionID = "applied", ids[i%len(ids)]
		}
	}
	waitApplied(b, st)
	t0 := time.Now()
	for i := 0; i < sent; i += batch {
		if _, err := st.AppendEvents(ctx, evs[i:i+batch]); err != nil {
			b.Fatal(err)
		}
	}
	waitApplied(b, st)
	if scoped {
		// The Postgres store's lag counts only the events below its read
		// horizon: right after the appends it can read 0 before the
		// consumers have read any of them.
		waitFor(b, st, fmt.Sprintf("the conditions to count the %d events", sent), func() bool { return counted.Load() >= int64(sent) })
	}
	return float64(sent) / time.Since(t0).Seconds()
}

// waitApplied waits until no partition of st has an event left to apply.
func waitApplied(b *testing.B, st store.Store) {
	b.Helper()
	lr := st.(store.LagReader)
	waitFor(b, st, "every event applied", func() bool {
		lags, err := lr.PartitionLag(context.Background())
		if err != nil {
			return false
		}
		for _, l := range lags {
			if l.Events > 0 {
				return false
			}
		}
		return true
	})
}

func randomTraceParent() string {
	var id [24]byte
	_, _ = rand.Read(id[:])
	h := hex.EncodeToString(id[:])
	return fmt.Sprintf("00-%s-%s-01", h[:32], h[32:])
}

// waitFor waits until done holds, checking it on every wake-up of st and
// at least every millisecond on the memory store, every 20 ms on others
// (whose checks are queries), for at most five minutes (a loaded machine
// is slow).
func waitFor(b *testing.B, st store.Store, what string, done func() bool) {
	b.Helper()
	poll := 20 * time.Millisecond
	if _, ok := st.(*memory.Store); ok {
		poll = time.Millisecond
	}
	wake, unsubscribe := st.Subscribe()
	defer unsubscribe()
	deadline := time.After(5 * time.Minute)
	for !done() {
		select {
		case <-wake:
		case <-time.After(poll):
		case <-deadline:
			b.Fatalf("timed out waiting for %s", what)
		}
	}
}
