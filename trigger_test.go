package aiflow_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
)

// countEvery is met by every second event it sees, counting in per-workflow
// state.
type countEvery struct{ key string }

func (c countEvery) ExpectedKeys() []string { return []string{c.key} }
func (c countEvery) IsMet(cc *aiflow.ConditionContext, _ *aiflow.Event) (bool, error) {
	st := aiflow.ValueState[int](cc, "count")
	n, _, err := st.Value()
	if err != nil {
		return false, err
	}
	n++
	return n%2 == 0, st.Update(n)
}

func TestTriggers(t *testing.T) {
	t.Parallel()
	b := newTimerBed(t, nil, nil, quickWorkflow("target"))
	tr, err := b.client.AddWorkflowTrigger(b.ctx, "target", "every-second", countEvery{"ping"}, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"ping"}, tr.Keys)
	// A witness trigger: when its execution exists, every earlier event has
	// been applied to the workflow's triggers.
	witness, err := b.client.AddWorkflowTrigger(b.ctx, "target", "witness", aiflow.EventCondition("witness"), nil)
	require.NoError(t, err)
	sync := func(n int) []aiflow.WorkflowExecution {
		t.Helper()
		_, err := b.client.SendEvent(b.ctx, "witness", "", nil)
		require.NoError(t, err)
		var xs []aiflow.WorkflowExecution
		b.waitFor("the witness execution", func() bool {
			xs = b.executions("target")
			w := 0
			for _, x := range xs {
				if x.TriggerID == witness.ID {
					w++
				}
			}
			return w == n
		})
		var out []aiflow.WorkflowExecution
		for _, x := range xs {
			if x.TriggerID == tr.ID {
				out = append(out, x)
			}
		}
		return out
	}
	ping := func(n int) {
		for i := 0; i < n; i++ {
			_, err := b.client.SendEvent(b.ctx, "ping", "", nil)
			require.NoError(t, err)
		}
	}

	ping(4)
	xs := sync(1)
	require.Len(t, xs, 2, "every second event starts an execution; the count is shared across executions")
	for _, x := range xs {
		require.Equal(t, aiflow.RunEvent, x.RunType)
	}

	require.NoError(t, b.client.PauseWorkflowTrigger(b.ctx, tr.ID))
	ping(3)
	require.Len(t, sync(2), 2, "a paused trigger is not evaluated")
	require.NoError(t, b.client.ResumeWorkflowTrigger(b.ctx, tr.ID))
	ping(1)
	require.Len(t, sync(3), 2, "paused events did not count: 5 counted so far")
	ping(1)
	require.Len(t, sync(4), 3)

	require.NoError(t, b.client.DisableWorkflow(b.ctx, "", "target"))
	ping(2)
	b.waitFor("the skipped trigger", func() bool { return len(b.events(aiflow.KeyTriggerSkipped)) == 1 })
	require.NoError(t, b.client.EnableWorkflow(b.ctx, "", "target"))

	list, err := b.client.ListWorkflowTriggers(b.ctx, "", "target")
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.NoError(t, b.client.DeleteWorkflowTrigger(b.ctx, tr.ID))
	ping(2)
	require.Len(t, sync(5), 3, "a deleted trigger is not evaluated")
	n, err := b.client.DeleteWorkflowTriggers(b.ctx, "", "target")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = b.client.GetWorkflowTrigger(b.ctx, witness.ID)
	require.ErrorIs(t, err, aiflow.ErrNotFound)
}

func TestTriggerSeesEventsFromOtherWorkflowsExecutions(t *testing.T) {
	t.Parallel()
	source := aiflow.NewWorkflow("source")
	source.Task("send", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		_, err := tc.SendEvent(ctx, "trigger_workflow", "go", nil) // scoped to source's own execution
		return err
	}))
	b := newTimerBed(t, nil, nil, source, quickWorkflow("target"))
	_, err := b.client.AddWorkflowTrigger(b.ctx, "target", "on-trigger", aiflow.EventCondition("trigger_workflow"), nil)
	require.NoError(t, err)
	_, err = b.client.StartWorkflowExecution(b.ctx, "source", nil)
	require.NoError(t, err)
	xs := b.waitExecutions("target", 1)
	require.Equal(t, aiflow.RunEvent, xs[0].RunType)
}

func TestTriggerValidation(t *testing.T) {
	t.Parallel()
	b := newTimerBed(t, nil, nil, quickWorkflow("target"))
	_, err := b.client.AddWorkflowTrigger(b.ctx, "target", "", aiflow.EventCondition("x"), nil)
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	_, err = b.client.AddWorkflowTrigger(b.ctx, "target", "t", nil, nil)
	require.ErrorContains(t, err, "condition is nil")
	_, err = b.client.AddWorkflowTrigger(b.ctx, "target", "t", aiflow.EventCondition("aiflow.x"), nil)
	require.ErrorContains(t, err, "reserved")
	_, err = b.client.AddWorkflowTrigger(b.ctx, "nope", "t", aiflow.EventCondition("x"), nil)
	require.ErrorIs(t, err, aiflow.ErrWorkflowNotFound)
	first, err := b.client.AddWorkflowTrigger(b.ctx, "target", "t", aiflow.EventCondition("x"), nil)
	require.NoError(t, err)
	again, err := b.client.AddWorkflowTrigger(b.ctx, "target", "t", aiflow.EventCondition("x"), nil)
	require.NoError(t, err)
	require.Equal(t, first.ID, again.ID, "adding an existing trigger returns it")
}
