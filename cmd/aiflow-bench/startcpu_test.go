package main

import (
	"context"
	"flag"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var startsHandoff = flag.Int("starts-handoff", 0, "Config.HandoffMaxWorkers of BenchmarkTaskStartsCPU (0: the store's default)")

// BenchmarkTaskStartsCPU runs BenchmarkTaskStartsBurst's workload and
// reports, besides the rate, the CPU each task start costs in this process
// and in its Postgres backends (from /proc, so Linux only, and with the
// server on this machine): a figure that, unlike the rate, holds on a
// loaded machine.
//
//	go test -run '^$' -bench BenchmarkTaskStartsCPU -benchtime 10x ./cmd/aiflow-bench
//
// -args -starts-handoff N sets the store's Config.HandoffMaxWorkers (1000:
// every start of a round handed off).
func BenchmarkTaskStartsCPU(b *testing.B) {
	if probe(b) {
		return
	}
	m := newCPUMeter(b)
	defer m.pool.Close()
	const executions = 1000
	rate, err := taskStarts(context.Background(), m.pool, executions, b.N, *startsHandoff, m.begin)
	if err != nil {
		b.Fatal(err)
	}
	self, pg := m.end()
	n := float64(executions * b.N)
	b.ReportMetric(rate, "starts/s")
	b.ReportMetric(1e6*self/n, "process-µs/start")
	b.ReportMetric(1e6*pg/n, "backends-µs/start")
}

// BenchmarkScopedEventsAppliedCPU runs BenchmarkScopedEventsApplied's
// workload (1,000 executions of the stateful condition, each event sent to
// one of them) and reports, besides the rate, the CPU each event costs in
// this process and in its Postgres backends, from the first event on (the
// executions' starts are not counted): a figure that holds on a loaded
// machine (see BenchmarkTaskStartsCPU). appends-% is the share of the
// window the appends took: the consumers keep up with the appender, so the
// rate is the appender's (docs/benchmarks.md, "What bounds events applied,
// one execution each").
//
//	go test -run '^$' -bench BenchmarkScopedEventsAppliedCPU -benchtime 20000x ./cmd/aiflow-bench
func BenchmarkScopedEventsAppliedCPU(b *testing.B) {
	if probe(b) {
		return
	}
	m := newCPUMeter(b)
	defer m.pool.Close()
	rate, err := scopedEventsApplied(context.Background(), m.pool, 1000, b.N, m.begin)
	if err != nil {
		b.Fatal(err)
	}
	self, pg := m.end()
	n := float64((b.N + 99) / 100 * 100) // sent in batches of 100
	b.ReportMetric(rate, "events/s")
	// The window is the appends (one batch of 100 at a time, each
	// waiting for its commit) and then the consumers catching up: near
	// 100 %, the rate is the appender's, slowed by what the consumers
	// take from it (CPU, WAL flushes), rather than the consumers'.
	b.ReportMetric(100*float64(lastAppends.Load())*rate/n/1e9, "appends-%")
	b.ReportMetric(1e6*self/n, "process-µs/event")
	b.ReportMetric(1e6*pg/n, "backends-µs/event")
}

// cpuMeter measures the CPU of this process and of the Postgres backends of
// its pool (from /proc: Linux only, with the server on this machine)
// between begin and end.
type cpuMeter struct {
	b     *testing.B
	pool  *pgxpool.Pool
	app   string
	first map[int32]float64
	self0 float64
}

// newCPUMeter opens the pool to measure: every backend opens before begin,
// so that all are counted. It skips the benchmark without /proc.
func newCPUMeter(b *testing.B) *cpuMeter {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("needs /proc")
	}
	m := &cpuMeter{b: b, app: "aiflow_cpu_" + strconv.Itoa(os.Getpid()), first: map[int32]float64{}}
	pc := benchPool(b).Config()
	pc.ConnConfig.RuntimeParams["application_name"] = m.app
	pc.MinConns = pc.MaxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		b.Fatal(err)
	}
	m.pool = pool
	return m
}

// pids are the backends of the pool.
func (m *cpuMeter) pids() []int32 {
	rows, err := benchPool(m.b).Query(context.Background(), "SELECT pid FROM pg_stat_activity WHERE application_name = $1", m.app)
	if err != nil {
		m.b.Fatal(err)
	}
	p, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		m.b.Fatal(err)
	}
	return p
}

func (m *cpuMeter) begin() {
	for _, pid := range m.pids() {
		m.first[pid] = procCPU(strconv.Itoa(int(pid)))
	}
	m.self0 = procCPU("self")
}

// end returns the CPU seconds of this process and of the backends since
// begin (a backend that closed meanwhile is not counted).
func (m *cpuMeter) end() (self, backends float64) {
	self = procCPU("self") - m.self0
	for _, pid := range m.pids() {
		if c0, ok := m.first[pid]; ok {
			backends += procCPU(strconv.Itoa(int(pid))) - c0
		}
	}
	return self, backends
}
