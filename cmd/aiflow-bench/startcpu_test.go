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
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("needs /proc")
	}
	ctx := context.Background()
	app := "aiflow_startcpu_" + strconv.Itoa(os.Getpid())
	pc := benchPool(b).Config()
	pc.ConnConfig.RuntimeParams["application_name"] = app
	pc.MinConns = pc.MaxConns // every backend open before the first round, so all are counted
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	// The CPU seconds of each backend of the pool at the first round and at
	// the end (a backend that closes meanwhile is not counted).
	pids := func() []int32 {
		rows, err := benchPool(b).Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", app)
		if err != nil {
			b.Fatal(err)
		}
		p, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	first := map[int32]float64{}
	var self0 float64
	begin := func() {
		for _, pid := range pids() {
			first[pid] = procCPU(strconv.Itoa(int(pid)))
		}
		self0 = procCPU("self")
	}
	const executions = 1000
	rate, err := taskStarts(ctx, pool, executions, b.N, *startsHandoff, begin)
	if err != nil {
		b.Fatal(err)
	}
	self := procCPU("self") - self0
	pg := 0.0
	for _, pid := range pids() {
		if c0, ok := first[pid]; ok {
			pg += procCPU(strconv.Itoa(int(pid))) - c0
		}
	}
	n := float64(executions * b.N)
	b.ReportMetric(rate, "starts/s")
	b.ReportMetric(1e6*self/n, "process-µs/start")
	b.ReportMetric(1e6*pg/n, "backends-µs/start")
}
