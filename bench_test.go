package aiflow_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/memory"
)

type started struct {
	at time.Time
	te int64
}

// BenchmarkEventToFuncStart measures, on the memory store, the time from
// SendEvent to the start of the Func task whose OnEvent rule the event
// meets, one event at a time on an otherwise idle client. It reports the
// median and 99th percentile.
//
//	go test -run '^$' -bench BenchmarkEventToFuncStart -benchtime 2000x .
func BenchmarkEventToFuncStart(b *testing.B) { eventToFuncStart(b, &aiflow.Config{}) }

// eventToFuncStart runs BenchmarkEventToFuncStart with cfg (its Store set
// here).
func eventToFuncStart(b *testing.B, cfg *aiflow.Config) {
	ctx := context.Background()
	st := memory.New(nil)
	starts := make(chan started, 1)
	wf := aiflow.NewWorkflow("latency")
	wf.Task("work", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		starts <- started{at: time.Now(), te: tc.TaskExecutionID}
		return nil
	})).OnEvent("go", aiflow.ActionStart)
	wf.Task("keep", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
		OnEvent("never", aiflow.ActionStart) // keeps the execution RUNNING
	cfg.Store = st
	client, err := aiflow.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := client.Register(ctx, wf); err != nil {
		b.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer client.Stop(ctx)
	id, err := client.StartWorkflowExecution(ctx, "latency", nil)
	if err != nil {
		b.Fatal(err)
	}
	waitStatus(b, st, func() bool {
		x, err := st.GetExecution(ctx, id)
		return err == nil && x.Status == store.WorkflowRunning
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
		waitStatus(b, st, func() bool {
			te, err := st.GetTaskExecution(ctx, s.te)
			return err == nil && te.Status == store.TaskSuccess
		})
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

func waitStatus(b *testing.B, st store.Store, done func() bool) {
	b.Helper()
	wake, unsubscribe := st.Subscribe()
	defer unsubscribe()
	deadline := time.After(10 * time.Second)
	for !done() {
		select {
		case <-wake:
		case <-time.After(time.Millisecond):
		case <-deadline:
			b.Fatal("timed out waiting for a status")
		}
	}
}
