package engine_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/internal/engine"
	"github.com/aiflow-go/aiflow/store"
)

// TestDecisionsAreRecordedWithTheEffects: every start says which event and
// rule (or the execution's start) made it, and every evaluated rule its
// outcome, with the rule's description when the condition was false.
func TestDecisionsAreRecordedWithTheEffects(t *testing.T) {
	d := &engine.Definition{Namespace: "default", Name: "w", Version: "v1", Tasks: []*engine.Task{
		{Name: "first"},
		{Name: "t", Rules: []engine.Rule{{
			Action: engine.ActionStart, Keys: []string{"go"}, Desc: `value is "yes"`,
			Cond: func(ev *store.Event, _ engine.Env) (bool, error) { return ev.Value == "yes", nil },
		}}},
	}}
	h := newHarness(t, d)
	fx := h.start("w", 1)
	require.Len(t, fx.Decisions, 1)
	start := fx.Decisions[0]
	require.Equal(t, store.DecisionStarted, start.Outcome)
	require.Equal(t, "first", start.Task)
	require.Equal(t, 0, start.Rule)
	require.Equal(t, store.KeyStartExecution, start.EventKey)
	require.Equal(t, fx.NewTaskExecutions[0].ID, start.TaskExecutionID)

	no := user("go", 1)
	no.Value = "no"
	fx = h.apply(no)
	require.Equal(t, []store.Decision{{ExecutionID: 1, Task: "t", Rule: 1, EventID: h.pos, EventKey: "go", Time: h.now,
		Outcome: store.DecisionConditionFalse, Reason: `value is "yes"`, Count: 1, FirstEventID: h.pos}}, fx.Decisions)

	// The same evaluation again, twice in one unit: counted in one
	// decision, which names the latest event and the first.
	first := h.pos + 1
	fx = h.apply(no, no)
	require.Len(t, fx.Decisions, 1)
	require.Equal(t, 2, fx.Decisions[0].Count)
	require.Equal(t, first, fx.Decisions[0].FirstEventID)
	require.Equal(t, h.pos, fx.Decisions[0].EventID)

	yes := user("go", 1)
	yes.Value = "yes"
	fx = h.apply(yes, yes)
	require.Len(t, fx.Decisions, 2)
	require.Equal(t, store.DecisionStarted, fx.Decisions[0].Outcome)
	require.Equal(t, 1, fx.Decisions[0].Rule)
	require.Equal(t, 1, fx.Decisions[0].SeqNum)
	require.Equal(t, store.DecisionTaskAlive, fx.Decisions[1].Outcome, "a START while the run is alive")
	require.Contains(t, fx.Decisions[1].Reason, "ignored")
}
