package aiflow_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store/memory"
)

// TestStatusKeysNameTheStatusEvents lists a finished execution's status
// events by the keys TaskStatusKey and WorkflowStatusKey build.
func TestStatusKeysNameTheStatusEvents(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := aiflow.NewWorkflow("w")
	w.Task("t", noop())
	client, err := aiflow.New(&aiflow.Config{Store: memory.New(nil)})
	require.NoError(t, err)
	require.NoError(t, client.Register(ctx, w))
	require.NoError(t, client.Start(ctx))
	defer func() { require.NoError(t, client.Stop(context.Background())) }()
	id, err := client.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	x, err := client.WaitWorkflowExecution(ctx, id)
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowSuccess, x.Status)

	require.Equal(t, "aiflow.task_status.w.t", aiflow.TaskStatusKey("w", "t"))
	evs, _, err := client.ListEvents(ctx, &aiflow.EventFilter{Keys: []string{aiflow.TaskStatusKey("w", "t")}})
	require.NoError(t, err)
	require.NotEmpty(t, evs)
	for _, ev := range evs {
		require.True(t, ev.IsStatusChange(), "%+v", ev)
	}
	require.Equal(t, string(aiflow.TaskSuccess), evs[len(evs)-1].Value)

	evs, _, err = client.ListEvents(ctx, &aiflow.EventFilter{Keys: []string{aiflow.WorkflowStatusKey("w")}})
	require.NoError(t, err)
	require.NotEmpty(t, evs)
	require.True(t, evs[len(evs)-1].IsWorkflowStatusChange())
	require.Equal(t, string(aiflow.WorkflowSuccess), evs[len(evs)-1].Value)
}
