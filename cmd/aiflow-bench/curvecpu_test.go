package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var curveProfile = flag.String("curve-profile", "", "file name prefix of BenchmarkCurveCPU's profiles of each point's expected events "+
	"(PREFIX-N.cpu, and PREFIX-N.allocs-0 / -1, the allocation profiles at the window's start and end: go tool pprof -base)")

// BenchmarkCurveCPU measures a point of the execution-count curve (-curve,
// as BenchmarkEventCostByExecutions) by what each decision (one execution
// evaluating one expected event) costs over the expected events' window:
// the CPU of this process (getrusage) and of its Postgres backends (from
// /proc, so Linux only, with the server on this machine), the heap objects
// and bytes allocated, and the garbage collections; and the server's WAL
// (bytes per decision, full-page images) and checkpoints in the window. Unlike the time per
// event, these hold on a loaded machine; per decision, a curve that grows
// less than linearly falls.
//
//	go test -run '^$' -bench BenchmarkCurveCPU -benchtime 500x -timeout 30m ./cmd/aiflow-bench -args -curve 1000,10000,100000
//
// -curve-profile PREFIX also writes the window's CPU profile and its
// allocations (see the flag).
func BenchmarkCurveCPU(b *testing.B) {
	sizes, err := parseInts("-curve", *curveSizes)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("executions=%d", n), func(b *testing.B) { benchCurveCPU(b, n) })
	}
}

func benchCurveCPU(b *testing.B, executions int) {
	if probe(b) {
		return
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("needs /proc")
	}
	ctx := context.Background()
	app := "aiflow_curvecpu_" + strconv.Itoa(os.Getpid())
	pc := benchPool(b).Config()
	pc.ConnConfig.RuntimeParams["application_name"] = app
	pc.MinConns = pc.MaxConns // every backend open before the window, so all are counted
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	backends := func() map[int32]float64 {
		rows, err := benchPool(b).Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", app)
		if err != nil {
			b.Fatal(err)
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			b.Fatal(err)
		}
		out := make(map[int32]float64, len(pids))
		for _, pid := range pids {
			out[pid] = procCPU(strconv.Itoa(int(pid)))
		}
		return out
	}
	samples := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	read := func() [3]float64 {
		metrics.Read(samples)
		return [3]float64{float64(samples[0].Value.Uint64()), float64(samples[1].Value.Uint64()), float64(samples[2].Value.Uint64())}
	}
	// The server's WAL and checkpoints (of every database: on a shared
	// server others' writes count too).
	server := func() [3]float64 {
		var v [3]float64
		err := benchPool(b).QueryRow(ctx, `SELECT w.wal_bytes::float8, w.wal_fpi::float8,
			(c.checkpoints_timed + c.checkpoints_req)::float8 FROM pg_stat_wal w, pg_stat_bgwriter c`).Scan(&v[0], &v[1], &v[2])
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	var self, pg float64
	var alloc, wal [3]float64
	window := func() func() {
		prefix := ""
		if *curveProfile != "" {
			prefix = fmt.Sprintf("%s-%d", *curveProfile, executions)
			writeAllocs(b, prefix+".allocs-0")
			f, err := os.Create(prefix + ".cpu")
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
		}
		pg0, self0, alloc0, wal0 := backends(), procCPU("self"), read(), server()
		return func() {
			self, alloc, wal = procCPU("self")-self0, read(), server()
			for pid, c := range backends() {
				if c0, ok := pg0[pid]; ok {
					pg += c - c0
				}
			}
			for i := range alloc {
				alloc[i] -= alloc0[i]
				wal[i] -= wal0[i]
			}
			if prefix != "" {
				pprof.StopCPUProfile()
				writeAllocs(b, prefix+".allocs-1")
			}
		}
	}
	p, err := executionCurve(ctx, pool, executions, b.N, b.N, 1, window)
	if err != nil {
		b.Fatal(err)
	}
	n := float64(p.ExpectedEvents) * float64(executions)
	b.ReportMetric(float64(p.Expected.Microseconds())/1000, "expected-ms/event")
	b.ReportMetric(1e9*self/n, "process-ns/decision")
	b.ReportMetric(1e9*pg/n, "backends-ns/decision")
	b.ReportMetric(alloc[0]/n, "allocs/decision")
	b.ReportMetric(alloc[1]/n, "B/decision")
	b.ReportMetric(alloc[2], "gc-cycles")
	b.ReportMetric(wal[0]/n, "wal-B/decision")
	b.ReportMetric(wal[1], "wal-fpi")
	b.ReportMetric(wal[2], "checkpoints")
}

// writeAllocs writes the allocation profile (every allocation since the
// start, as sampled) to name.
func writeAllocs(b *testing.B, name string) {
	runtime.GC() // the profile is as of the last collection
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}
