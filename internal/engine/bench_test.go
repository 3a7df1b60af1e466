package engine_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aiflow-go/aiflow/internal/engine"
	"github.com/aiflow-go/aiflow/store"
)

// benchIDs hands out ids without I/O.
type benchIDs struct{ x, te int64 }

func (b *benchIDs) NextExecutionID() (int64, error)     { b.x++; return b.x, nil }
func (b *benchIDs) NextTaskExecutionID() (int64, error) { b.te++; return b.te, nil }

// benchWorkflow is a 10-task chain: t0 starts with the execution and restarts
// on "go"; t1..t9 each StartAfter the previous one; "waiter" waits for an
// event that never comes, so executions stay RUNNING.
func benchWorkflow() *engine.Definition {
	d := &engine.Definition{Namespace: "default", Name: "bench", Version: "v1"}
	d.Tasks = append(d.Tasks, &engine.Task{Name: "t0", Rules: []engine.Rule{{Action: engine.ActionRestart, Keys: []string{"go"}}}})
	for i := 1; i < 10; i++ {
		prev := fmt.Sprintf("t%d", i-1)
		d.Tasks = append(d.Tasks, &engine.Task{Name: fmt.Sprintf("t%d", i), Rules: []engine.Rule{{
			Action: engine.ActionStart,
			Keys:   []string{store.StatusKey("bench", prev)},
			Cond: func(_ *store.Event, env engine.Env) (bool, error) {
				s, ok := env.TaskStatus(prev)
				return ok && s == store.TaskSuccess, nil
			},
		}}})
	}
	d.Tasks = append(d.Tasks, &engine.Task{Name: "waiter", Rules: []engine.Rule{{Action: engine.ActionStart, Keys: []string{"never"}}}})
	if err := engine.Compile(d); err != nil {
		panic(err)
	}
	return d
}

// BenchmarkApply measures the engine applying events with 1,000 running
// executions of a 10-task workflow. Each iteration applies one event: a
// worker's RUNNING or SUCCESS report (a SUCCESS starts the next task of the
// chain) or, once an execution's chain has run, a "go" event that restarts it.
// Effects are collected per batch of 500 events, as the runtime does.
//
//	go test -run '^$' -bench BenchmarkApply -benchtime 1000000x -cpu 1 ./internal/engine
func BenchmarkApply(b *testing.B) {
	const executions = 1000
	const batch = 500
	eng, ids, next := newBenchEngine(benchWorkflow())
	// pending worker reports, fed back in order
	var queue []store.Event
	tes := map[int64]store.TaskExecutionRecord{}
	collect := func(fx *store.Effects) {
		for _, te := range fx.NewTaskExecutions {
			tes[te.ID] = te
		}
		for _, d := range fx.Dispatches {
			te := tes[d.TaskExecutionID]
			te.Attempt = d.Attempt
			queue = append(queue, store.NewStatusEvent(&te, store.TaskRunning, store.StatusData{}, store.SenderWorker))
			queue = append(queue, store.NewStatusEvent(&te, store.TaskSuccess, store.StatusData{}, store.SenderWorker))
			delete(tes, d.TaskExecutionID)
		}
		for _, ev := range fx.Events {
			// a finished chain: restart it with a "go" to that execution
			if ev.Kind == store.KindStatus && ev.TaskName == "t9" && ev.Value == string(store.TaskQueued) {
				queue = append(queue, store.Event{Kind: store.KindUser, Namespace: "default", Key: "go", ExecutionID: ev.ExecutionID, Workflow: "bench"})
			}
		}
	}
	eng.Begin(ids, nil)
	for i := 1; i <= executions; i++ {
		data, _ := json.Marshal(store.StartExecutionData{RunType: store.RunManual})
		ev := next(store.Event{Kind: store.KindControl, Namespace: "default", Key: store.KeyStartExecution, Workflow: "bench", ExecutionID: int64(i), Data: data})
		if err := eng.Apply(&ev); err != nil {
			b.Fatal(err)
		}
	}
	collect(eng.End())
	if eng.Executions() != executions {
		b.Fatalf("%d executions running, want %d", eng.Executions(), executions)
	}

	b.ReportAllocs()
	b.ResetTimer()
	eng.Begin(ids, nil)
	inBatch := 0
	for i := 0; i < b.N; i++ {
		if len(queue) == 0 {
			b.Fatal("no events left to apply")
		}
		ev := next(queue[0])
		queue = queue[1:]
		if err := eng.Apply(&ev); err != nil {
			b.Fatal(err)
		}
		if inBatch++; inBatch == batch {
			collect(eng.End())
			eng.Begin(ids, nil)
			inBatch = 0
		}
	}
	collect(eng.End())
	b.StopTimer()
	if eng.Executions() != executions {
		b.Fatalf("%d executions running after the run, want %d", eng.Executions(), executions)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// countingWorkflow has the shape of the execution-count curve's workflow
// (cmd/aiflow-bench): "keep" waits for an event that never comes, and
// "counted" has a stateful condition on "tick" that counts the events in the
// execution's state and is never met.
func countingWorkflow() *engine.Definition {
	d := &engine.Definition{Namespace: "default", Name: "curve", Version: "v1"}
	d.Tasks = append(d.Tasks, &engine.Task{Name: "keep", Rules: []engine.Rule{{Action: engine.ActionStart, Keys: []string{"never"}}}})
	d.Tasks = append(d.Tasks, &engine.Task{Name: "counted", Rules: []engine.Rule{{
		Action: engine.ActionStart, Keys: []string{"tick"}, Desc: "a condition on tick",
		Cond: func(_ *store.Event, env engine.Env) (bool, error) {
			n := 0
			if data, ok := env.State("ticks"); ok {
				var err error
				if n, err = strconv.Atoi(string(data)); err != nil {
					return false, err
				}
			}
			env.SetState("ticks", strconv.AppendInt(nil, int64(n+1), 10))
			return false, nil
		},
	}}})
	if err := engine.Compile(d); err != nil {
		panic(err)
	}
	return d
}

// BenchmarkExpectedEvent measures the engine's part of the execution-count
// curve: with a number of running executions of countingWorkflow, each
// iteration applies one "tick" event that every execution evaluates and
// counts; effects are collected per unit of 500 events, as the runtime does.
// It reports the time per decision (one execution evaluating one event).
// -args -executions 1000,10000,100000 adds the curve's largest point.
//
//	go test -run '^$' -bench BenchmarkExpectedEvent -benchtime 1000x -cpu 1 ./internal/engine
func BenchmarkExpectedEvent(b *testing.B) {
	for _, f := range strings.Split(*expectedExecutions, ",") {
		n, err := strconv.Atoi(f)
		if err != nil {
			b.Fatalf("-executions: %v", err)
		}
		b.Run(fmt.Sprintf("executions=%d", n), func(b *testing.B) { benchExpected(b, n) })
	}
}

// expectedExecutions are the points of BenchmarkExpectedEvent.
var expectedExecutions = flag.String("executions", "1000,10000", "running executions of the points of BenchmarkExpectedEvent")

func benchExpected(b *testing.B, executions int) {
	const unit = 500
	eng, ids, next := newBenchEngine(countingWorkflow())
	eng.Begin(ids, nil)
	data, _ := json.Marshal(store.StartExecutionData{RunType: store.RunManual})
	for i := 1; i <= executions; i++ {
		ev := next(store.Event{Kind: store.KindControl, Namespace: "default", Key: store.KeyStartExecution, Workflow: "curve", ExecutionID: int64(i), Data: data})
		if err := eng.Apply(&ev); err != nil {
			b.Fatal(err)
		}
	}
	eng.End()
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	eng.Begin(ids, nil)
	for i := 1; i <= b.N; i++ {
		ev := next(store.Event{Kind: store.KindUser, Namespace: "default", Key: "tick", Value: "v"})
		if err := eng.Apply(&ev); err != nil {
			b.Fatal(err)
		}
		if i%unit == 0 || i == b.N {
			fx := eng.End()
			if len(fx.Snapshots) < executions {
				b.Fatalf("%d snapshots, want %d", len(fx.Snapshots), executions)
			}
			eng.Begin(ids, nil)
		}
	}
	eng.End()
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(executions), "ns/decision")
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N)/float64(executions), "allocs/decision")
}

// newBenchEngine returns an engine of partition 0 running def, the id
// source of its units, and next, which gives an event the next position
// (and a fixed time).
func newBenchEngine(def *engine.Definition) (*engine.Engine, *benchIDs, func(store.Event) store.Event) {
	reg := engine.NewRegistry()
	reg.Add(def)
	var pos int64
	now := time.Unix(1_700_000_000, 0)
	return engine.New(reg, 0), &benchIDs{}, func(ev store.Event) store.Event {
		pos++
		ev.ID, ev.Position, ev.Time = pos, store.Position{XID: uint64(pos), ID: pos}, now
		return ev
	}
}
