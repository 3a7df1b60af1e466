package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/internal/decisionmodel"
	"github.com/aiflow-go/aiflow/store"
)

// TestDecisionRingsKeepTheOrderOfTheirUnits writes, in two units of work,
// decisions of many rings interleaved (every execution and rule in turn, as
// an event that reaches every execution adds them) and checks that each
// ring keeps its latest store.DecisionsKept decisions in the order they
// were made, next to a start decision kept whole. The reasons alternate, so
// that no decision repeats the one before it.
func TestDecisionRingsKeepTheOrderOfTheirUnits(t *testing.T) {
	reason := func(event int64) string { return fmt.Sprintf("a condition (%d)", event%2) }
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	const executions, rules = 40, 3
	now := time.Now().UTC().Truncate(time.Microsecond)
	var event int64
	// unit records rounds decisions of every ring, round after round.
	unit := func(rounds int, start bool) {
		var ds []store.Decision
		for range rounds {
			event++
			for x := int64(1); x <= executions; x++ {
				for r := 1; r <= rules; r++ {
					ds = append(ds, store.Decision{ExecutionID: x, Task: "t", Rule: r, EventID: event, EventKey: "k",
						Time: now, Outcome: store.DecisionConditionFalse, Reason: reason(event)})
				}
			}
		}
		if start {
			ds = append(ds, store.Decision{ExecutionID: 1, Task: "t", Rule: 1, EventID: event, EventKey: "k",
				Time: now, Outcome: store.DecisionStarted, TaskExecutionID: 7, SeqNum: 1})
		}
		consume(t, s, testOwner, func(store.Batch) *store.Effects { return &store.Effects{Decisions: ds} })
	}
	unit(3, false)
	unit(store.DecisionsKept+4, true) // the first unit's decisions and 4 of this one's drop out
	for x := int64(1); x <= executions; x++ {
		ds, err := s.ListDecisions(context.Background(), x, "t")
		require.NoError(t, err)
		byRule := map[int][]int64{}
		var started int
		for i, d := range ds {
			if i > 0 {
				require.Less(t, ds[i-1].ID, d.ID, "execution %d: decisions in id order", x)
			}
			if d.Outcome == store.DecisionStarted {
				started++
				continue
			}
			require.Equal(t, store.DecisionConditionFalse, d.Outcome)
			require.Equal(t, reason(d.EventID), d.Reason)
			require.Equal(t, 1, d.Count, "no repeat")
			require.True(t, now.Equal(d.Time), "time %v, expected %v", d.Time, now)
			byRule[d.Rule] = append(byRule[d.Rule], d.EventID)
		}
		require.Equal(t, map[bool]int{true: 1, false: 0}[x == 1], started, "execution %d: start decisions", x)
		want := make([]int64, 0, store.DecisionsKept)
		for e := event - store.DecisionsKept + 1; e <= event; e++ {
			want = append(want, e)
		}
		for r := 1; r <= rules; r++ {
			require.Equal(t, want, byRule[r], "execution %d, rule %d: the latest decisions, oldest first", x, r)
		}
	}
}

// TestDecisionRingsCountRepeatsAsAModel writes units of work of random
// decisions (few rings, outcomes and reasons that often repeat, units from
// empty to longer than a ring) and checks after each that every execution's
// decisions are those of a model that applies them one by one: the starts,
// and per ring the last store.DecisionsKept runs of repeats with their count,
// first and latest event, in the order of their latest evaluations.
func TestDecisionRingsCountRepeatsAsAModel(t *testing.T) {
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	rng := rand.New(rand.NewPCG(3, 4))
	m := decisionmodel.New()
	now := time.Now().UTC().Truncate(time.Microsecond)
	var event int64
	for unit := range 60 {
		var ds []store.Decision
		rings := map[[3]any]store.Decision{}
		for range []int{0, 1, 3, 10, 40, 120}[rng.IntN(6)] {
			event++
			d := decisionmodel.RandomDecision(rng, event, now)
			// Every third unit only starts, and every third other one has
			// no start and one entry per ring once folded (the same
			// evaluation repeated): each shape has its own statement.
			ring := [3]any{d.ExecutionID, d.Task, d.Rule}
			if unit%3 == 1 && !d.Outcome.Starts() || unit%3 == 2 && d.Outcome.Starts() {
				continue
			}
			if prev, ok := rings[ring]; ok && unit%3 == 2 {
				key := d.EventKey
				d, d.EventID, d.EventKey = prev, event, key
			}
			rings[ring] = d
			m.Apply(d)
			ds = append(ds, d)
		}
		consume(t, s, testOwner, func(store.Batch) *store.Effects { return &store.Effects{Decisions: ds} })
		for x := int64(1); x <= 4; x++ {
			got, err := s.ListDecisions(context.Background(), x, "")
			require.NoError(t, err)
			for i := range got {
				if i > 0 {
					require.Less(t, got[i-1].ID, got[i].ID, "unit %d, execution %d: in id order", unit, x)
				}
				got[i].ID, got[i].Time = 0, got[i].Time.UTC()
			}
			want := m.Want(x)
			for i := range want {
				want[i].Time = want[i].Time.UTC()
			}
			if len(want) == 0 {
				want = nil
			}
			require.Equal(t, want, got, "unit %d, execution %d", unit, x)
		}
	}
}
