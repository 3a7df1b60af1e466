package engine_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/aiflow-go/aiflow/internal/engine"
	"github.com/aiflow-go/aiflow/store"
)

// fuzzDef declares a workflow with every kind of rule.
func fuzzDef() *engine.Definition {
	return def("w",
		&engine.Task{Name: "a", Rules: []engine.Rule{{Action: engine.ActionRestart, Keys: []string{"ra"}}}},
		&engine.Task{Name: "b", Retry: engine.RetryPolicy{MaxAttempts: 2}, Rules: []engine.Rule{
			{Action: engine.ActionStart, Keys: []string{"sb"}},
			{Action: engine.ActionStop, Keys: []string{"xb"}},
		}},
		&engine.Task{Name: "c", Rules: []engine.Rule{statusRule(engine.ActionStart, "w", map[string]store.TaskStatus{"a": store.TaskSuccess, "b": store.TaskSuccess})}},
		&engine.Task{Name: "d", Rules: []engine.Rule{statusRule(engine.ActionStop, "w", map[string]store.TaskStatus{"c": store.TaskRunning})}},
	)
}

// world plays the backend and the workers around an engine, as the memory
// store does: it applies effects, decides stop outcomes, and reports attempts.
type world struct {
	h      *harness
	tes    map[int64]*store.TaskExecutionRecord
	queue  []store.Event // events waiting to be applied
	done   map[int64]bool
	execs  []int64 // started, in order; ids are never reused
	trace  []string
	issues []string
}

func (w *world) effects(fx *store.Effects) {
	seen := map[string]int{}
	for _, te := range fx.NewTaskExecutions {
		k := fmt.Sprintf("%d/%s", te.ExecutionID, te.Task)
		max := 0
		for _, o := range w.tes {
			if o.ExecutionID == te.ExecutionID && o.Task == te.Task && o.SeqNum > max {
				max = o.SeqNum
			}
		}
		if te.SeqNum != max+1 {
			w.issues = append(w.issues, fmt.Sprintf("%s: seq %d after %d", k, te.SeqNum, max))
		}
		if w.done[te.ExecutionID] {
			w.issues = append(w.issues, fmt.Sprintf("%s: created in finished execution", k))
		}
		seen[k]++
		c := te
		w.tes[te.ID] = &c
	}
	for _, d := range fx.Dispatches {
		te := w.tes[d.TaskExecutionID]
		if te.Status == store.TaskInit {
			te.Status = store.TaskQueued
		}
		te.Attempt = d.Attempt
	}
	for _, st := range fx.Stops {
		te := w.tes[st.TaskExecutionID]
		switch te.Status {
		case store.TaskInit, store.TaskQueued, store.TaskRetrying:
			te.Status = store.TaskStopped
			te.Attempt++
			w.queue = append(w.queue, store.NewStatusEvent(te, store.TaskStopped, store.StatusData{}, store.SenderEngine))
		case store.TaskRunning:
			te.Status = store.TaskStopping
			w.queue = append(w.queue, store.NewStatusEvent(te, store.TaskStopping, store.StatusData{}, store.SenderEngine))
		}
	}
	for _, ev := range fx.Events {
		if ev.Sender == store.SenderEngine && ev.Kind == store.KindStatus {
			w.queue = append(w.queue, ev) // the consumer reads its own events back
		}
	}
	for _, u := range fx.ExecutionUpdates {
		if u.Status.Finished() {
			w.done[u.ID] = true
		}
	}
	// Never two dispatched runs of one task alive at once.
	alive := map[string][]int{}
	for _, te := range w.tes {
		switch te.Status {
		case store.TaskQueued, store.TaskRunning, store.TaskRetrying, store.TaskStopping:
			k := fmt.Sprintf("%d/%s", te.ExecutionID, te.Task)
			alive[k] = append(alive[k], te.SeqNum)
		}
	}
	for k, seqs := range alive {
		if len(seqs) > 1 {
			w.issues = append(w.issues, fmt.Sprintf("%s: runs %v alive at once", k, seqs))
		}
	}
	data, _ := json.Marshal(fx)
	w.trace = append(w.trace, string(data))
}

// act turns one fuzz byte into an event: a worker report, a user event, a
// request or a new execution.
func (w *world) act(b byte) {
	ids := make([]int64, 0, len(w.tes))
	for id := range w.tes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	pick := func() *store.TaskExecutionRecord {
		if len(ids) == 0 {
			return nil
		}
		return w.tes[ids[int(b>>3)%len(ids)]]
	}
	exec := int64(1)
	if len(w.execs) > 0 {
		exec = w.execs[int(b>>4)%len(w.execs)]
	}
	switch b % 8 {
	case 0: // a worker starts an attempt
		if te := pick(); te != nil && (te.Status == store.TaskQueued || te.Status == store.TaskRetrying) {
			te.Status = store.TaskRunning
			w.queue = append(w.queue, store.NewStatusEvent(te, store.TaskRunning, store.StatusData{}, store.SenderWorker))
		}
	case 1, 2: // a worker ends an attempt: success, or failure
		if te := pick(); te != nil && (te.Status == store.TaskRunning || te.Status == store.TaskStopping) {
			var err error
			if b%8 == 2 {
				err = fmt.Errorf("boom")
			}
			s, d := store.FinalStatus(te, err, false)
			te.Status, te.Failures = s, d.Failures
			w.queue = append(w.queue, store.NewStatusEvent(te, s, d, store.SenderWorker))
		}
	case 3:
		w.queue = append(w.queue, user([]string{"ra", "sb", "xb"}[int(b>>3)%3], exec))
	case 4:
		w.queue = append(w.queue, user([]string{"ra", "sb", "xb"}[int(b>>3)%3], 0)) // namespace-wide
	case 5:
		key := []string{store.KeyStartTask, store.KeyStopTask, store.KeyRestartTask}[int(b>>3)%3]
		w.queue = append(w.queue, control(key, exec, []string{"a", "b", "c", "d"}[int(b>>5)%4]))
	case 6:
		if len(w.execs) >= 4 {
			return
		}
		id := int64(len(w.execs) + 1)
		w.execs = append(w.execs, id)
		data, _ := json.Marshal(store.StartExecutionData{RunType: store.RunManual})
		w.queue = append(w.queue, store.Event{Kind: store.KindControl, Namespace: "default", Key: store.KeyStartExecution, Workflow: "w", ExecutionID: id, Data: data})
	case 7:
		w.queue = append(w.queue, control(store.KeyStopExecution, exec, ""))
	}
}

// run plays ops and returns the effects trace and the invariant violations.
func runWorld(t *testing.T, ops []byte) ([]string, []string) {
	h := newHarness(t, fuzzDef())
	w := &world{h: h, tes: map[int64]*store.TaskExecutionRecord{}, done: map[int64]bool{}}
	for i, b := range ops {
		w.act(b)
		// apply what is queued in batches of one to three events
		n := min(len(w.queue), int(b%3)+1)
		if i == len(ops)-1 {
			n = len(w.queue)
		}
		if n == 0 {
			continue
		}
		batch := w.queue[:n]
		w.queue = slices.Clone(w.queue[n:])
		w.effects(h.apply(batch...))
	}
	return w.trace, w.issues
}

func FuzzEngine(f *testing.F) {
	f.Add([]byte{6, 0, 1, 3, 11, 0, 1, 2, 5, 7})
	f.Add([]byte{6, 22, 38, 0, 8, 1, 9, 3, 19, 35, 0, 1, 2, 2, 1, 4, 12, 20, 5, 13, 21, 7, 6, 0, 1})
	f.Add([]byte("start the engine and stop it again, restart a and b"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 400 {
			ops = ops[:400]
		}
		trace1, issues := runWorld(t, ops)
		if len(issues) > 0 {
			t.Fatalf("invariants broken: %v", issues)
		}
		trace2, _ := runWorld(t, ops)
		if !slices.Equal(trace1, trace2) {
			t.Fatalf("the same events gave different decisions")
		}
	})
}
