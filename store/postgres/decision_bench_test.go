package postgres

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/store"
)

// BenchmarkDecisionRings measures what a unit of work pays for the decisions
// of the execution-count curve (cmd/aiflow-bench): every one of a number of
// executions evaluated one rule on each of the unit's events, and the
// condition was false. Each iteration writes one unit's decisions in a
// transaction of their own; the rings exist already (a first unit wrote
// them). It reports the time per execution. With the same reason at every
// event (the curve's case) every evaluation repeats the ring's newest entry
// and is counted in it; alternate=true alternates two reasons, so that
// nothing repeats and every ring fills its store.DecisionsKept entries (the
// costliest case of a ring).
//
//	go test -run '^$' -bench BenchmarkDecisionRings -benchtime 5x ./store/postgres
func BenchmarkDecisionRings(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, events := range []int{1, 20, 500} {
			b.Run(fmt.Sprintf("executions=%d/events=%d", n, events), func(b *testing.B) { benchRings(b, n, events, false) })
		}
		b.Run(fmt.Sprintf("executions=%d/events=20/alternate=true", n), func(b *testing.B) { benchRings(b, n, 20, true) })
	}
}

func benchRings(b *testing.B, executions, events int, alternate bool) {
	ctx := context.Background()
	pool := pgtest.Pool(b, 2)
	cfg := &Config{Schema: pgtest.SchemaName(b, pool), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := Migrate(ctx, pool, cfg); err != nil {
		b.Fatal(err)
	}
	s := &Store{schema: quoteIdent(cfg.Schema), pool: pool}
	var eventID int64
	now := time.Now()
	unit := func() []store.Decision {
		ds := make([]store.Decision, 0, executions*min(events, store.DecisionsKept))
		for e := range events {
			eventID++
			if e < events-store.DecisionsKept {
				continue // the engine's fold drops them
			}
			reason := `a condition on keys "tick"`
			if alternate && eventID%2 == 0 {
				reason = `a condition on keys "tick" (even)`
			}
			for x := 1; x <= executions; x++ {
				ds = append(ds, store.Decision{ExecutionID: int64(x), Task: "counted", Rule: 1, EventID: eventID, EventKey: "tick",
					Time: now, Outcome: store.DecisionConditionFalse, Reason: reason})
			}
		}
		return ds
	}
	// Every unit on one connection, whose backend's CPU is read from /proc
	// when the server runs on this machine (the figure noise moves least).
	conn, err := pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	var pid int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		b.Fatal(err)
	}
	write := func(ds []store.Decision) {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return sendBatch(ctx, tx, s.decisionWrites(ds)) })
		if err != nil {
			b.Fatal(err)
		}
	}
	write(unit())
	cpu0, cpuOK := backendCPU(pid)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ds := unit()
		b.StartTimer()
		write(ds)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(executions), "µs/execution")
	if cpu1, ok := backendCPU(pid); ok && cpuOK {
		b.ReportMetric((cpu1-cpu0).Seconds()*1e6/float64(b.N)/float64(executions), "backend-µs/execution")
	}
}

// backendCPU returns the user and system CPU time of process pid, read
// from /proc (false where there is none, or the server is elsewhere).
func backendCPU(pid int) (time.Duration, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * time.Second / 100, true // USER_HZ, 100 on Linux
}
