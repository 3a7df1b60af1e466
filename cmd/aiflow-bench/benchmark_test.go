package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// The benchmarks of the Postgres store run the measurements of bench.go, as
// the command does; see docs/benchmarks.md.

func benchPool(b *testing.B) *pgxpool.Pool {
	b.Helper()
	return pgtest.Pool(b, 20)
}

// probe reports whether this run of a benchmark is the single iteration go
// test runs before the b.N asked for with -benchtime Nx (N > 1), so that a
// benchmark whose setup is long (a large log, thousands of executions,
// worker processes) does nothing in it rather than everything twice.
func probe(b *testing.B) bool {
	if b.N != 1 {
		return false
	}
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(f.Value.String(), "x"))
	return strings.HasSuffix(f.Value.String(), "x") && err == nil && n > 1
}

func reportLatency(b *testing.B, lat Latency) {
	b.ReportMetric(float64(lat.Quantile(0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat.Quantile(0.99).Microseconds())/1000, "p99-ms")
}

// BenchmarkEventToFuncStart measures, on the Postgres store with its default
// settings, the time from SendEvent to the start of the Func task whose
// OnEvent rule the event meets, one event at a time on an otherwise idle
// client (the unit of work, which with handoff also records RUNNING, then the
// operator called by this process's worker). It reports the median and 99th
// percentile.
//
//	go test -run '^$' -bench BenchmarkEventToFuncStart -benchtime 500x ./cmd/aiflow-bench
func BenchmarkEventToFuncStart(b *testing.B) {
	for _, parts := range []int{1, 4, 8, 16} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			lat, err := EventToStart(context.Background(), benchPool(b), &postgres.Config{Partitions: parts}, b.N)
			if err != nil {
				b.Fatal(err)
			}
			reportLatency(b, lat)
		})
	}
}

// BenchmarkRiverInsertToWork measures River's own latency from Insert to the
// start of Work, one job at a time, with the store's default River settings
// (fetch cooldown, poll interval): the floor the store's event-to-start
// latency is compared with.
//
//	go test -run '^$' -bench BenchmarkRiverInsertToWork -benchtime 500x ./cmd/aiflow-bench
func BenchmarkRiverInsertToWork(b *testing.B) {
	lat, err := RiverInsertToWork(context.Background(), benchPool(b), b.N)
	if err != nil {
		b.Fatal(err)
	}
	reportLatency(b, lat)
}

// BenchmarkAppendEvents measures appending user events from 2 goroutines, one
// per transaction (AppendEvents with one event, NOTIFY included) and in
// batches of 100, for 100 ms per iteration.
//
//	go test -run '^$' -bench BenchmarkAppendEvents -benchtime 30x ./cmd/aiflow-bench
func BenchmarkAppendEvents(b *testing.B) {
	for _, size := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			rate, err := AppendEvents(context.Background(), benchPool(b), size, 2, time.Duration(b.N)*100*time.Millisecond)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(rate, "events/s")
		})
	}
}

// BenchmarkIdleCPU measures the CPU an idle client uses (its Go process and
// its Postgres backends, in % of one core) while one execution waits for an
// event that never comes: the cost of polls, heartbeats, leases and
// elections. Each iteration is one second. Linux only (reads /proc).
//
//	go test -run '^$' -bench BenchmarkIdleCPU -benchtime 10x ./cmd/aiflow-bench
func BenchmarkIdleCPU(b *testing.B) {
	process, backends, err := IdleCPU(context.Background(), benchPool(b), time.Duration(b.N)*time.Second)
	if err != nil {
		b.Skip(err)
	}
	b.ReportMetric(process, "process-%core")
	b.ReportMetric(backends, "backends-%core")
}

// BenchmarkTaskStartsBurst measures task starts per second: 1,000 running
// executions each start a Func task on the same event; each iteration sends
// the event and waits until every task has run (and succeeded).
//
//	go test -run '^$' -bench BenchmarkTaskStartsBurst -benchtime 5x ./cmd/aiflow-bench
func BenchmarkTaskStartsBurst(b *testing.B) {
	if probe(b) {
		return
	}
	rate, err := TaskStarts(context.Background(), benchPool(b), 1000, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rate, "starts/s")
}

// BenchmarkEventsApplied measures how many user events per second the
// consumers of an idle client apply (read by every partition, matched
// against 1,000 running executions, none of whose rules they meet: the
// cheapest events), sending them in batches of 100.
// BenchmarkStatefulEventsApplied measures events that decide.
//
//	go test -run '^$' -bench BenchmarkEventsApplied -benchtime 50000x ./cmd/aiflow-bench
func BenchmarkEventsApplied(b *testing.B) {
	if probe(b) {
		return
	}
	rate, err := EventsApplied(context.Background(), benchPool(b), 1000, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rate, "events/s")
}

// BenchmarkStatefulEventsApplied measures how many user events per second
// the consumers of an idle client apply when every event is evaluated by a
// stateful condition of each of 1,000 running executions, which updates the
// execution's state (a count of the events) and is not met, sending them in
// batches of 100. It fails unless every execution counted every event.
// BenchmarkScopedEventsApplied sends each event to one execution.
//
//	go test -run '^$' -bench BenchmarkStatefulEventsApplied -benchtime 5000x ./cmd/aiflow-bench
func BenchmarkStatefulEventsApplied(b *testing.B) {
	if probe(b) {
		return
	}
	rate, err := StatefulEventsApplied(context.Background(), benchPool(b), 1000, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rate, "events/s")
}

// BenchmarkScopedEventsApplied measures how many user events per second the
// consumers of an idle client apply when each event makes one decision: the
// stateful condition of BenchmarkStatefulEventsApplied runs in 1,000
// running executions, and each event is sent to one of them (its ExecutionID
// set), round-robin, in batches of 100. It fails unless every execution
// counted exactly the events sent to it.
//
//	go test -run '^$' -bench BenchmarkScopedEventsApplied -benchtime 20000x ./cmd/aiflow-bench
func BenchmarkScopedEventsApplied(b *testing.B) {
	if probe(b) {
		return
	}
	rate, err := ScopedEventsApplied(context.Background(), benchPool(b), 1000, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rate, "events/s")
}

// curveSizes and scalingProcesses are the points BenchmarkEventCostByExecutions
// and BenchmarkScaling measure; the long form of the curve passes
// -args -curve 10,1000,10000,100000 (outside CI).
var (
	curveSizes       = flag.String("curve", "10,1000,10000", "running executions of the points of BenchmarkEventCostByExecutions")
	scalingProcesses = flag.String("processes", "1,2,3", "numbers of worker processes of BenchmarkScaling")
)

// BenchmarkEventCostByExecutions measures the execution-count curve: with
// each number of running executions of one workflow (-curve), the mean time
// per event (and its inverse, the events each partition applies per second)
// of b.N events that no rule expects and of b.N events that the stateful
// condition of every execution expects and counts in its state, each kind
// appended in batches of 100 (b.N is rounded up to a multiple of 100).
//
//	go test -run '^$' -bench BenchmarkEventCostByExecutions -benchtime 100x -timeout 30m ./cmd/aiflow-bench
//	go test -run '^$' -bench BenchmarkEventCostByExecutions -benchtime 100x -timeout 2h ./cmd/aiflow-bench \
//		-args -curve 10,1000,10000,100000
func BenchmarkEventCostByExecutions(b *testing.B) {
	sizes, err := parseInts("-curve", *curveSizes)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("executions=%d", n), func(b *testing.B) { benchCurve(b, n) })
	}
}

func benchCurve(b *testing.B, executions int) {
	if probe(b) {
		return
	}
	m, err := curveMetrics(benchPool(b), executions, b.N)
	report(b, m, err)
}

// curveMetrics measures a point of the curve with n events of each kind
// and returns the benchmark's metrics.
func curveMetrics(pool *pgxpool.Pool, executions, n int) (map[string]float64, error) {
	p, err := ExecutionCurve(context.Background(), pool, executions, n, n, 1)
	return map[string]float64{
		"expected-ms/event":   float64(p.Expected.Microseconds()) / 1000,
		"expected-events/s":   perSecond(p.Expected),
		"unexpected-ms/event": float64(p.Unexpected.Microseconds()) / 1000,
		"unexpected-events/s": perSecond(p.Unexpected),
	}, err
}

// report reports metrics m, or fails b with err.
func report(b *testing.B, m map[string]float64, err error) {
	if err != nil {
		b.Fatal(err)
	}
	for unit, v := range m {
		b.ReportMetric(v, unit)
	}
}

// BenchmarkScaling measures one workflow with 1, 2 and 3 processes
// (-processes): worker processes (this test binary run again, see
// worker.go) share a schema of 6 partitions and run 1,000 executions of the
// workflow, each limited to Full's CPU (a control group of its own where
// the machine allows it); b.N events, each sent to one execution and
// counted by its stateful condition, appended in one transaction, then 3
// rounds of an event starting a task in every
// execution. It reports the events applied and task starts per second, and
// the share of the events that the busiest worker counted (1 when one
// worker applies them all; 1/processes when they are evenly spread).
//
//	go test -run '^$' -bench BenchmarkScaling -benchtime 20000x -timeout 30m ./cmd/aiflow-bench
func BenchmarkScaling(b *testing.B) {
	procs, err := parseInts("-processes", *scalingProcesses)
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range procs {
		b.Run(fmt.Sprintf("processes=%d", k), func(b *testing.B) {
			benchScaling(b, k, ScalingSetup{Executions: 1000, Events: b.N, Rounds: 3, Partitions: 6, Conns: 20, WorkerCPU: Full.Scaling.WorkerCPU})
		})
	}
}

func benchScaling(b *testing.B, processes int, s ScalingSetup) {
	if probe(b) {
		return
	}
	m, err := scalingMetrics(benchPool(b), processes, s)
	report(b, m, err)
}

// scalingMetrics measures one workflow with processes worker processes and
// returns the benchmark's metrics.
func scalingMetrics(pool *pgxpool.Pool, processes int, s ScalingSetup) (map[string]float64, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p, err := Scaling(context.Background(), pool, exe, processes, s)
	var most, all int64
	for _, n := range p.Counted {
		most, all = max(most, n), all+n
	}
	share := 0.0
	if all > 0 {
		share = float64(most) / float64(all)
	}
	return map[string]float64{"applied-events/s": p.EventsApplied, "starts/s": p.TaskStarts, "busiest-share": share}, err
}
