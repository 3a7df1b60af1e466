package engine

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

// TestDecisionFoldMatchesStoreFold checks that the engine's bound on the
// decisions of a unit, applied as they are made, keeps what
// store.FoldDecisions keeps at the end: every start decision and the last
// store.DecisionsKept others of each (execution, task, rule), runs of
// repeats counted in one, in order.
func TestDecisionFoldMatchesStoreFold(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	outcomes := []store.DecisionOutcome{store.DecisionConditionFalse, store.DecisionConditionFalse,
		store.DecisionStarted, store.DecisionTaskAlive, store.DecisionRestarted, store.DecisionStopRequested}
	for _, n := range []int{0, 1, 19, 20, 21, 500, 5000, 40000} {
		var all []store.Decision
		var f decisionFold
		f.reset()
		fx := &store.Effects{}
		for i := range n {
			d := store.Decision{ExecutionID: int64(rng.IntN(30)), Task: []string{"a", "b"}[rng.IntN(2)], Rule: rng.IntN(3),
				EventID: int64(i), Outcome: outcomes[rng.IntN(len(outcomes))], Reason: []string{"", "", "", "r"}[rng.IntN(4)]}
			all = append(all, d)
			f.add(fx, d)
		}
		f.compact(fx)
		want := store.FoldDecisions(all)
		if len(want) == 0 {
			want = nil
		}
		if !reflect.DeepEqual(fx.Decisions, want) {
			t.Fatalf("%d decisions: folded as made %d, at the end %d", n, len(fx.Decisions), len(want))
		}
	}
}

// TestDecisionFoldRepeatsMatchStoreFold checks the path of Engine.decide:
// decisions about executions (addFor), repeats counted in place with their
// event written at the unit's end (repeat, materialize), against
// store.FoldDecisions of every decision as made.
func TestDecisionFoldRepeatsMatchStoreFold(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	outcomes := []store.DecisionOutcome{store.DecisionConditionFalse, store.DecisionConditionFalse, store.DecisionConditionFalse,
		store.DecisionStarted, store.DecisionTaskAlive, store.DecisionRestarted, store.DecisionStopRequested}
	at := time.Unix(1_700_000_000, 0)
	for _, n := range []int{0, 1, 19, 20, 21, 500, 5000, 40000} {
		for _, events := range []int{1, 7, 200} {
			var all []store.Decision
			var f decisionFold
			f.last = rng.IntN(100)
			f.reset()
			fx := &store.Effects{}
			xs := make([]*Execution, 30)
			for i := range xs {
				xs[i] = &Execution{ID: int64(i + 1)}
			}
			evs := make([]store.Event, events)
			for i := range evs {
				evs[i] = store.Event{ID: int64(100 + i), Key: []string{"k", "l"}[i%2], Time: at.Add(time.Duration(i) * time.Second)}
			}
			per := max(n/events, 1)
			for i := range n {
				if i%per == 0 {
					f.applying()
				}
				ev := &evs[min(i/per, events-1)]
				x := xs[rng.IntN(len(xs))]
				task, rule := []string{"a", "b"}[rng.IntN(2)], rng.IntN(3)
				o, reason := outcomes[rng.IntN(len(outcomes))], []string{"", "", "", "r"}[rng.IntN(4)]
				d := store.Decision{ExecutionID: x.ID, Task: task, Rule: rule, EventID: ev.ID, EventKey: ev.Key, Time: ev.Time,
					Outcome: o, Reason: reason, Count: 1, FirstEventID: ev.ID}
				withTE := rng.IntN(5) == 0
				if withTE {
					d.TaskExecutionID, d.SeqNum = 7, 1
				}
				all = append(all, d)
				if !withTE && f.repeat(x, fx, task, rule, ev, o, reason) {
					continue
				}
				f.addFor(x, fx, &d)
			}
			f.materialize(fx)
			f.compact(fx)
			f.end(fx)
			want := store.FoldDecisions(all)
			if len(want) == 0 {
				want = nil
			}
			if !reflect.DeepEqual(fx.Decisions, want) {
				t.Fatalf("%d decisions on %d events: folded as made %d, at the end %d", n, events, len(fx.Decisions), len(want))
			}
		}
	}
}
