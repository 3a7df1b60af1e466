package postgres

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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
// them). It reports the time per execution.
//
//	go test -run '^$' -bench BenchmarkDecisionRings -benchtime 5x ./store/postgres
func BenchmarkDecisionRings(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, events := range []int{1, 20, 500} {
			b.Run(fmt.Sprintf("executions=%d/events=%d", n, events), func(b *testing.B) { benchRings(b, n, events) })
		}
	}
}

func benchRings(b *testing.B, executions, events int) {
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
			for x := 1; x <= executions; x++ {
				ds = append(ds, store.Decision{ExecutionID: int64(x), Task: "counted", Rule: 1, EventID: eventID, EventKey: "tick",
					Time: now, Outcome: store.DecisionConditionFalse, Reason: `a condition on keys "tick"`})
			}
		}
		return ds
	}
	write := func(ds []store.Decision) {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return sendBatch(ctx, tx, s.decisionWrites(ds)) })
		if err != nil {
			b.Fatal(err)
		}
	}
	write(unit())
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ds := unit()
		b.StartTimer()
		write(ds)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(executions), "µs/execution")
}
