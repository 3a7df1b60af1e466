package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
)

// Operations that the command line and the HTTP handler expose: sending as a
// task execution, counting events, stopping every execution, deleting one.

func testSendAsTaskExecution(t *testing.T, b *bed) {
	f := b.flow("w")
	f.funcTask("sender", func(ctx context.Context, tc *aiflow.TaskContext) error {
		<-ctx.Done()
		return nil
	}, aiflow.Streaming())
	f.ctl.setAuto("receiver", nil)
	f.task("receiver").OnEvent("ping", aiflow.ActionStart)
	f.witnessTask()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")
	te := b.waitRun(x1, "sender", 1, aiflow.TaskRunning)
	b.waitRun(x2, "sender", 1, aiflow.TaskRunning)

	ev, err := b.client.SendEvent(b.ctx, "ping", "1", &aiflow.SendEventOpts{TaskExecutionID: te.ID})
	require.NoError(t, err)
	require.Equal(t, x1, ev.ExecutionID)
	require.Equal(t, "w", ev.Workflow)
	require.Equal(t, "sender", ev.TaskName)
	require.Equal(t, te.ID, ev.TaskExecutionID)
	require.Equal(t, 1, ev.SeqNum)
	require.Equal(t, fmt.Sprintf("%d_sender_1", x1), ev.Sender)
	require.False(t, ev.Broadcast)
	b.waitRun(x1, "receiver", 1, aiflow.TaskSuccess)
	b.witness(x2)
	require.Empty(t, b.runs(x2, "receiver"), "an event sent as a task execution reaches only its execution")

	// The whole namespace on request.
	_, err = b.client.SendEvent(b.ctx, "ping", "2", &aiflow.SendEventOpts{TaskExecutionID: te.ID, ToNamespace: true})
	require.NoError(t, err)
	b.waitRun(x1, "receiver", 2, aiflow.TaskSuccess)
	b.waitRun(x2, "receiver", 1, aiflow.TaskSuccess)

	// Inconsistent context is refused.
	_, err = b.client.SendEvent(b.ctx, "ping", "", &aiflow.SendEventOpts{TaskExecutionID: te.ID, ExecutionID: x2})
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	_, err = b.client.SendEvent(b.ctx, "ping", "", &aiflow.SendEventOpts{TaskExecutionID: te.ID + 1_000_000})
	require.ErrorIs(t, err, aiflow.ErrTaskExecutionNotFound)

	// Counting: two "ping" events were appended (the refused ones were not).
	b.waitFor("the ping events to be listed", func() bool { return len(b.events("ping")) == 2 })
	n, err := b.client.CountEvents(b.ctx, &aiflow.EventFilter{Keys: []string{"ping"}})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = b.client.CountEvents(b.ctx, &aiflow.EventFilter{Keys: []string{"ping"}, After: ev.Position})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = b.client.CountEvents(b.ctx, &aiflow.EventFilter{Keys: []string{"ping"}, Sender: "nobody"})
	require.NoError(t, err)
	require.Zero(t, n)
}

func testStopAllAndDeleteExecutions(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("quick", nil)
	f.task("quick")
	f.keepAlive()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")
	b.waitRun(x1, "quick", 1, aiflow.TaskSuccess)
	b.waitRun(x2, "quick", 1, aiflow.TaskSuccess)

	err := b.client.DeleteWorkflowExecution(b.ctx, x1)
	require.ErrorIs(t, err, aiflow.ErrConflict, "a running execution cannot be deleted")

	ids, err := b.client.StopWorkflowExecutions(b.ctx, "", "w")
	require.NoError(t, err)
	require.Equal(t, []int64{x1, x2}, ids)
	b.waitExecution(x1, aiflow.WorkflowStopped)
	b.waitExecution(x2, aiflow.WorkflowStopped)
	ids, err = b.client.StopWorkflowExecutions(b.ctx, "", "w")
	require.NoError(t, err)
	require.Empty(t, ids)
	_, err = b.client.StopWorkflowExecutions(b.ctx, "", "nope")
	require.ErrorIs(t, err, aiflow.ErrWorkflowNotFound)

	te := b.runs(x1, "quick")[0]
	require.NoError(t, b.client.DeleteWorkflowExecution(b.ctx, x1))
	_, err = b.client.GetWorkflowExecution(b.ctx, x1)
	require.ErrorIs(t, err, aiflow.ErrExecutionNotFound)
	_, err = b.client.GetTaskExecution(b.ctx, te.ID)
	require.ErrorIs(t, err, aiflow.ErrTaskExecutionNotFound)
	require.Empty(t, b.runs(x1, ""))
	err = b.client.DeleteWorkflowExecution(b.ctx, x1)
	require.ErrorIs(t, err, aiflow.ErrExecutionNotFound)

	xs, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(xs, func(x aiflow.WorkflowExecution) bool { return x.ID == x2 }))
	require.False(t, slices.ContainsFunc(xs, func(x aiflow.WorkflowExecution) bool { return x.ID == x1 }))
}
