package store

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFoldDecisionsKeepsStartsAndTheLatestPerRule(t *testing.T) {
	var ds []Decision
	for i := range 3 * DecisionsKept {
		// Reasons alternate: no decision repeats the one before it.
		ds = append(ds, Decision{ExecutionID: 1, Task: "a", Rule: 1, EventID: int64(i), Outcome: DecisionConditionFalse,
			Reason: fmt.Sprint(i % 2)})
		if i == 0 {
			ds = append(ds, Decision{ExecutionID: 1, Task: "a", Rule: 2, EventID: 0, Outcome: DecisionStarted})
			ds = append(ds, Decision{ExecutionID: 2, Task: "a", Rule: 1, EventID: 0, Outcome: DecisionConditionFalse})
		}
	}
	out := FoldDecisions(ds)
	require.Len(t, out, DecisionsKept+2)
	require.Equal(t, DecisionStarted, out[0].Outcome, "a start is kept, in its place")
	require.Equal(t, int64(2), out[1].ExecutionID, "another execution's decisions are bounded on their own")
	for i, d := range out[2:] {
		require.Equal(t, int64(2*DecisionsKept+i), d.EventID, "the latest evaluations, in order")
		require.Equal(t, 1, d.Count)
		require.Equal(t, d.EventID, d.FirstEventID)
	}
}

func TestFoldDecisionsCountsRepeats(t *testing.T) {
	d := func(event int64, o DecisionOutcome, reason string) Decision {
		return Decision{ExecutionID: 1, Task: "a", Rule: 1, EventID: event, EventKey: fmt.Sprint("k", event), Outcome: o, Reason: reason}
	}
	ds := []Decision{
		d(1, DecisionConditionFalse, "c"), d(2, DecisionConditionFalse, "c"), d(3, DecisionConditionFalse, "c"),
		{ExecutionID: 2, Task: "a", Rule: 1, EventID: 4, Outcome: DecisionConditionFalse, Reason: "c"},
		d(5, DecisionConditionFalse, "c"),
		d(6, DecisionTaskAlive, "alive"), d(7, DecisionConditionFalse, "c"), d(8, DecisionConditionFalse, "other"),
	}
	out := FoldDecisions(ds)
	require.Len(t, out, 5)
	require.Equal(t, int64(2), out[0].ExecutionID, "the run of four comes after, at its latest event")
	run := out[1]
	require.Equal(t, 4, run.Count, "four evaluations of the rule in a row (another execution's between them aside)")
	require.Equal(t, int64(1), run.FirstEventID)
	require.Equal(t, int64(5), run.EventID, "the latest evaluation's event")
	require.Equal(t, "k5", run.EventKey)
	for i, want := range []int64{6, 7, 8} {
		require.Equal(t, want, out[2+i].EventID, "an outcome or reason that changes is a decision of its own")
		require.Equal(t, 1, out[2+i].Count)
	}
}
