package postgres

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/store"
)

// BenchmarkScopedUnitWrites measures the writes of a unit of work of
// cmd/aiflow-bench's "events applied, stateful condition, each event to one
// of 1000 executions": each event of the unit reaches its own execution,
// whose stateful condition counts it and is not met, so that the unit writes
// the partition's new position, one snapshot and one decision ring per
// execution (the ring's newest entry repeated), and commits. The rings and
// snapshots exist already. per-unit is the number of executions (and
// events) of a unit: about 25 in that measurement, where each partition's
// consumer keeps up with the appends of 100 events over 4 partitions. It
// writes only the parts the sub-benchmark names, and reports the Postgres
// backend's CPU per unit and per execution (from /proc: the server on this
// machine), so that the parts' costs are the differences.
//
//	go test -run '^$' -bench BenchmarkScopedUnitWrites -benchtime 2000x ./store/postgres
func BenchmarkScopedUnitWrites(b *testing.B) {
	for _, per := range []int{25, 250} {
		for _, parts := range []string{"version", "version+snapshots", "version+rings", "version+snapshots+rings"} {
			b.Run(fmt.Sprintf("per-unit=%d/%s", per, parts), func(b *testing.B) { benchScopedUnit(b, 1000, per, parts) })
		}
	}
}

func benchScopedUnit(b *testing.B, executions, per int, parts string) {
	ctx := context.Background()
	mpool := pgtest.Pool(b, 2)
	cfg := &Config{Schema: pgtest.SchemaName(b, mpool), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := Migrate(ctx, mpool, cfg); err != nil {
		b.Fatal(err)
	}
	mpool.Close()
	// One connection: its backend's CPU is the unit's.
	pool := pgtest.Pool(b, 1)
	s := &Store{schema: quoteIdent(cfg.Schema), pool: pool}
	if _, err := pool.Exec(ctx, s.q("UPDATE {s}.aiflow_partition SET owner = 'bench', lease_until = 'infinity' WHERE partition = 0")); err != nil {
		b.Fatal(err)
	}
	var eventID, version int64
	next := 0
	now := time.Now()
	unit := func(all bool) *store.Effects {
		fx := &store.Effects{}
		n := per
		if all {
			n = executions
		}
		for range n {
			eventID++
			x := int64(next%executions + 1)
			next++
			data := `{"id":` + strconv.FormatInt(x, 10) + `,"ns":"default","wf":"scoped","version":"0123456789abcdef","status":"RUNNING",` +
				`"run_type":"MANUAL","tasks":{"counted":{"status":"","seq":0}},"state":{"counted/ticks":` + strconv.FormatInt(eventID, 10) +
				`},"created_at":"` + now.Format(time.RFC3339Nano) + `"}`
			fx.Snapshots = append(fx.Snapshots, store.Snapshot{Key: "x" + strings.Repeat("0", 3) + strconv.FormatInt(x, 10), Data: []byte(data)})
			fx.Decisions = append(fx.Decisions, store.Decision{ExecutionID: x, Task: "counted", Rule: 1, EventID: eventID, EventKey: "tick",
				Time: now, Outcome: store.DecisionConditionFalse, Reason: `a condition on keys "tick"`})
		}
		fx.Position = store.Position{XID: uint64(eventID), ID: eventID}
		return fx
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var pid int
	err = conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid)
	conn.Release()
	if err != nil {
		b.Fatal(err)
	}
	params := store.ConsumeParams{Partition: 0, Owner: "bench"}
	write := func(fx *store.Effects, parts string) {
		if !strings.Contains(parts, "snapshots") {
			fx.Snapshots = nil
		}
		if !strings.Contains(parts, "rings") {
			fx.Decisions = nil
		}
		err := inUnitTx(ctx, pool, func(tx pgx.Tx) error {
			res, err := s.applyEffects(ctx, tx, params, version, fx)
			version = res.version
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	// Every execution's snapshot and ring exist, as after its start.
	write(unit(true), "snapshots+rings")
	cpu0, cpuOK := backendCPU(pid)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		fx := unit(false)
		b.StartTimer()
		write(fx, parts)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/unit")
	if cpu1, ok := backendCPU(pid); ok && cpuOK {
		us := (cpu1 - cpu0).Seconds() * 1e6 / float64(b.N)
		b.ReportMetric(us, "backend-µs/unit")
		b.ReportMetric(us/float64(per), "backend-µs/execution")
	}
}
