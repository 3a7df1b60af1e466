package store

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFoldDecisionsKeepsStartsAndTheLatestPerRule(t *testing.T) {
	var ds []Decision
	for i := range 3 * DecisionsKept {
		ds = append(ds, Decision{ExecutionID: 1, Task: "a", Rule: 1, EventID: int64(i), Outcome: DecisionConditionFalse})
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
	}
	short := ds[:5]
	require.Equal(t, short, FoldDecisions(short))
}
