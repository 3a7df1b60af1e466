package conformance

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
)

// Routing: which executions an event reaches.

func testScopedEvents(t *testing.T, b *bed) {
	// TaskContext.SendEvent without options: the event reaches only the
	// sending task's execution.
	f := b.flow("w")
	f.funcTask("sender", func(ctx context.Context, tc *aiflow.TaskContext) error {
		_, err := tc.SendEvent(ctx, "ping", "from the task", nil)
		return err
	}).OnEvent("cast", aiflow.ActionStart)
	f.ctl.setAuto("receiver", nil)
	f.task("receiver").OnEvent("ping", aiflow.ActionStart)
	f.witnessTask()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")
	b.waitExecution(x1, aiflow.WorkflowRunning)
	b.waitExecution(x2, aiflow.WorkflowRunning)
	b.sendTo(x1, "cast", "") // runs x1's sender, which sends "ping"
	sender := b.waitRun(x1, "sender", 1, aiflow.TaskSuccess)
	b.waitRun(x1, "receiver", 1, aiflow.TaskSuccess)
	b.witness(x2)
	require.Empty(t, b.runs(x2, "receiver"), "an event sent from a task reaches only its execution")
	require.Empty(t, b.runs(x2, "sender"))
	var pings []aiflow.Event
	b.waitFor("the ping event to be listed", func() bool { pings = b.events("ping"); return len(pings) == 1 })
	ev := pings[0]
	require.Equal(t, "from the task", ev.Value)
	require.Equal(t, x1, ev.ExecutionID)
	require.Equal(t, "w", ev.Workflow)
	require.Equal(t, "sender", ev.TaskName)
	require.Equal(t, sender.ID, ev.TaskExecutionID)
	require.Equal(t, 1, ev.SeqNum)
	require.Equal(t, fmt.Sprintf("%d_sender_1", x1), ev.Sender)
	require.False(t, ev.Broadcast)
}

func testStatusChangesStayInTheirExecution(t *testing.T, b *bed) {
	f := b.flow("w")
	a := f.task("a")
	f.ctl.setAuto("b", nil)
	f.task("b").StartAfter(a)
	f.witnessTask()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")
	ra1, ra2 := b.ctl.waitRun(t, x1, "a", 1, 0), b.ctl.waitRun(t, x2, "a", 1, 0)
	ra1.succeed()
	b.waitRun(x1, "b", 1, aiflow.TaskSuccess)
	b.witness(x2)
	require.Empty(t, b.runs(x2, "b"), "a's SUCCESS in x1 does not start b in x2")
	require.Equal(t, aiflow.TaskRunning, b.runs(x2, "a")[0].Status)
	ra2.succeed()
	b.waitRun(x2, "b", 1, aiflow.TaskSuccess)
	b.witness(x1)
	require.Len(t, b.runs(x1, "b"), 1, "a's SUCCESS in x2 does not start b in x1 again")
}

func testNamespaceWideEvents(t *testing.T, b *bed) {
	require.NoError(t, b.client.AddNamespace(b.ctx, "other"))
	mk := func(name string, opts ...aiflow.WorkflowOption) *aiflow.Workflow {
		f := b.flow(name, opts...)
		f.ctl.setAuto("on", nil)
		f.task("on").OnEvent("ping", aiflow.ActionStart)
		f.witnessTask()
		return f.wf
	}
	b.register(mk("w"), mk("deaf"), mk("far", aiflow.WithNamespace("other")))
	x1, x2 := b.start("w"), b.start("w")
	deaf := b.start("deaf")
	far := b.startIn("other", "far")
	for _, x := range []int64{x1, x2, deaf, far} {
		b.waitExecution(x, aiflow.WorkflowRunning)
	}
	require.NoError(t, b.client.DisableWorkflow(b.ctx, "", "deaf"))
	b.send("ping", "") // no execution: the namespace's running executions
	b.waitRun(x1, "on", 1, aiflow.TaskSuccess)
	b.waitRun(x2, "on", 1, aiflow.TaskSuccess)
	b.witness(deaf)
	b.witness(far)
	require.Empty(t, b.runs(deaf, "on"), "executions of disabled workflows are not reached")
	require.Empty(t, b.runs(far, "on"), "events never cross namespaces")
}

func testBroadcastFromTask(t *testing.T, b *bed) {
	f := b.flow("w")
	var sends atomic.Int64
	f.funcTask("caster", func(ctx context.Context, tc *aiflow.TaskContext) error {
		if sends.Add(1) == 1 { // only the first execution's task broadcasts
			_, err := tc.SendEvent(ctx, "ping", "all", &aiflow.SendEventOpts{ToNamespace: true})
			return err
		}
		return nil
	}).OnEvent("cast", aiflow.ActionStart)
	f.ctl.setAuto("on", nil)
	f.task("on").OnEvent("ping", aiflow.ActionStart)
	f.witnessTask()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")
	b.waitExecution(x1, aiflow.WorkflowRunning)
	b.waitExecution(x2, aiflow.WorkflowRunning)
	_, err := b.client.SendEvent(b.ctx, "cast", "", &aiflow.SendEventOpts{ExecutionID: x1})
	require.NoError(t, err)
	b.waitRun(x1, "on", 1, aiflow.TaskSuccess)
	b.waitRun(x2, "on", 1, aiflow.TaskSuccess)
	ev := b.eventsN("ping", 1)[0]
	require.True(t, ev.Broadcast)
	require.Equal(t, x1, ev.ExecutionID, "the sender's context is kept")
}

func testDisabledWorkflow(t *testing.T, b *bed) {
	f := b.flow("w")
	a := f.task("a")
	f.task("b").StartAfter(a)
	b.register(f.wf)
	x := b.start("w")
	ra := b.ctl.waitRun(t, x, "a", 1, 0)
	require.NoError(t, b.client.DisableWorkflow(b.ctx, "", "w"))
	w, err := b.client.GetWorkflow(b.ctx, "", "w")
	require.NoError(t, err)
	require.False(t, w.Enabled)
	_, err = b.client.StartWorkflowExecution(b.ctx, "w", nil)
	require.ErrorIs(t, err, aiflow.ErrWorkflowDisabled)
	ra.succeed() // the running execution goes on: b still starts after a
	b.ctl.waitRun(t, x, "b", 1, 0).succeed()
	require.Equal(t, aiflow.WorkflowSuccess, b.waitExecution(x, aiflow.WorkflowSuccess).Status)
	require.NoError(t, b.client.EnableWorkflow(b.ctx, "", "w"))
	b.start("w")
}
