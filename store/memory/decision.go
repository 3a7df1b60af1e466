package memory

import (
	"context"
	"slices"

	"github.com/aiflow-go/aiflow/store"
)

// decisionLog holds the engine's decisions per execution.
type decisionLog struct {
	next int64
	byX  map[int64][]store.Decision
}

// record appends a unit of work's decisions (store.FoldDecisions of them)
// and drops, per (execution, task, rule), the oldest that do not start a
// task execution beyond store.DecisionsKept. The first of a key that
// repeats the newest held (store.Decision.Repeats) is counted in it: that
// one moves to the end with the new id. Called with the store's lock held.
func (l *decisionLog) record(ds []store.Decision) {
	if len(ds) == 0 {
		return
	}
	if l.byX == nil {
		l.byX = map[int64][]store.Decision{}
	}
	touched := map[int64]bool{}
	for _, d := range store.FoldDecisions(ds) {
		l.next++
		d.ID = l.next
		list := l.byX[d.ExecutionID]
		if !d.Outcome.Starts() {
			touched[d.ExecutionID] = true
			if i := newest(list, &d); i >= 0 && d.Repeats(&list[i]) {
				prev := list[i]
				prev.Absorb(&d)
				d = prev
				list = slices.Delete(list, i, i+1)
			}
		}
		l.byX[d.ExecutionID] = append(list, d)
	}
	for x := range touched {
		l.byX[x] = prune(l.byX[x])
	}
}

// newest returns the index in ds of the newest decision of d's task and
// rule that did not start a task execution, or -1.
func newest(ds []store.Decision, d *store.Decision) int {
	for i := len(ds) - 1; i >= 0; i-- {
		if p := &ds[i]; p.Task == d.Task && p.Rule == d.Rule && !p.Outcome.Starts() {
			return i
		}
	}
	return -1
}

// prune keeps the start decisions and the last store.DecisionsKept others
// per (task, rule) of one execution's decisions.
func prune(ds []store.Decision) []store.Decision {
	type key struct {
		task string
		rule int
	}
	count := map[key]int{}
	for i := range ds {
		if !ds[i].Outcome.Starts() {
			count[key{ds[i].Task, ds[i].Rule}]++
		}
	}
	return slices.DeleteFunc(ds, func(d store.Decision) bool {
		if d.Outcome.Starts() {
			return false
		}
		k := key{d.Task, d.Rule}
		n := count[k]
		count[k] = n - 1
		return n > store.DecisionsKept
	})
}

// ListDecisions returns the decisions about a task of an execution (every
// task when task is empty), oldest first.
func (s *Store) ListDecisions(_ context.Context, executionID int64, task string) ([]store.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Decision
	for _, d := range s.decisions.byX[executionID] {
		if task == "" || d.Task == task {
			out = append(out, d)
		}
	}
	return out, nil
}
