package aiflow_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// countingStore counts the units of work of a Postgres store: every Consume
// (a consumer that woke, or polled, and read the log) and the events they
// handed to the engine.
type countingStore struct {
	*postgres.Store
	consumes atomic.Int64
	read     atomic.Int64
}

func (s *countingStore) Consume(ctx context.Context, p store.ConsumeParams, fn store.BatchFunc) (store.ConsumeResult, error) {
	s.consumes.Add(1)
	res, err := s.Store.Consume(ctx, p, fn)
	s.read.Add(int64(res.Events))
	return res, err
}

// BenchmarkUserEventRouting measures, on Postgres with 4 partitions, what a
// user event costs the consumers when the rules of one workflow only (in one
// partition) expect its key, while each of the other partitions holds a
// workflow expecting another key: b.N events appended in batches of 100,
// each counted by the stateful condition (never met) of one running
// execution. It reports the events applied per second (until that execution
// has counted them all), the units of work run per event by all the
// partitions (the wake-ups that read the log, polls included), and the
// events the partitions read per event.
//
//	go test -run '^$' -bench BenchmarkUserEventRouting -benchtime 20000x .
func BenchmarkUserEventRouting(b *testing.B) {
	pgtest.Require(b)
	ctx := context.Background()
	pool := pgtest.Pool(b, 20)
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := &postgres.Config{Schema: pgtest.SchemaName(b, pool), Partitions: 4, Logger: discard}
	if _, err := postgres.Migrate(ctx, pool, cfg); err != nil {
		b.Fatal(err)
	}
	pst, err := postgres.New(ctx, pool, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pst.Close()
	st := &countingStore{Store: pst}
	client, err := aiflow.New(&aiflow.Config{Store: st, Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	// One workflow per partition, each counting the events of its own key.
	var mu sync.Mutex
	counted := map[string]int{}
	names := make([]string, 4)
	for i := 0; names[0] == "" || names[1] == "" || names[2] == "" || names[3] == ""; i++ {
		name := fmt.Sprintf("routed-%d", i)
		if p := store.PartitionOf(store.DefaultNamespace, name, 4); names[p] == "" {
			names[p] = name
		}
	}
	for p, name := range names {
		key := fmt.Sprintf("key-%d", p)
		wf := aiflow.NewWorkflow(name)
		wf.Task("keep", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
			OnEvent("never", aiflow.ActionStart)
		wf.Task("counted", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
			OnCondition(aiflow.NewCondition([]string{key}, func(cc *aiflow.ConditionContext, _ *aiflow.Event) (bool, error) {
				st := aiflow.ValueState[int](cc, "n")
				n, _, err := st.Value()
				if err != nil {
					return false, err
				}
				n++
				mu.Lock()
				counted[name] = max(counted[name], n)
				mu.Unlock()
				return false, st.Update(n)
			}), aiflow.ActionStart)
		if err := client.Register(ctx, wf); err != nil {
			b.Fatal(err)
		}
	}
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer client.Stop(ctx)
	for _, name := range names {
		if _, err := client.StartWorkflowExecution(ctx, name, nil); err != nil {
			b.Fatal(err)
		}
	}
	waitStatus(b, st, func() bool {
		xs, err := st.ListExecutions(ctx, store.ExecutionFilter{Statuses: []store.WorkflowStatus{store.WorkflowRunning}})
		return err == nil && len(xs) == len(names)
	})

	const batch = 100
	sent := (b.N + batch - 1) / batch * batch
	evs := make([]store.Event, batch)
	for i := range evs {
		evs[i] = store.Event{Kind: store.KindUser, Namespace: store.DefaultNamespace, Key: "key-0", Value: "v", Sender: "bench"}
	}
	c0, r0 := st.consumes.Load(), st.read.Load()
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < sent; i += batch {
		if _, err := st.AppendEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		mu.Lock()
		n := counted[names[0]]
		mu.Unlock()
		if n >= sent {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("counted %d of %d events", n, sent)
		}
		time.Sleep(time.Millisecond) // a benchmark's poll, not a test's synchronisation
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(st.consumes.Load()-c0)/float64(sent), "units/event")
	b.ReportMetric(float64(st.read.Load()-r0)/float64(sent), "read/event")
}
