package aiflow_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/memory"
)

// TestTriggerAddedBeforeStart: a trigger is added between Register and
// Start, also on the workflow's first deployment (not stored yet), so that
// no event is consumed before the client evaluates it (the kill fault test
// lost trigger decisions to processes that added their trigger after
// Start, the only order that worked on a fresh store).
func TestTriggerAddedBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := aiflow.NewWorkflow("w")
	w.Task("t", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil }))
	client, err := aiflow.New(&aiflow.Config{Store: memory.New(nil), PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, client.Register(ctx, w))
	_, err = client.AddWorkflowTrigger(ctx, "w", "on-go", aiflow.NewCondition([]string{"go"},
		func(*aiflow.ConditionContext, *aiflow.Event) (bool, error) { return true, nil }), nil)
	require.NoError(t, err, "a trigger of a registered workflow is added before Start")
	require.NoError(t, client.Start(ctx))
	defer func() { require.NoError(t, client.Stop(context.Background())) }()
	_, err = client.SendEvent(ctx, "go", "", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		xs, err := client.ListWorkflowExecutions(ctx, &aiflow.ExecutionFilter{Workflow: "w"})
		return err == nil && len(xs) == 1 && xs[0].RunType == aiflow.RunEvent
	}, 20*time.Second, 5*time.Millisecond, "the trigger started an execution")
}
