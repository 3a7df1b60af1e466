package engine

import (
	"math/rand/v2"
	"reflect"
	"testing"

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
