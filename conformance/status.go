package conformance

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
)

// The status of a workflow execution, derived from its tasks' runs.

func testExecutionSuccess(t *testing.T, b *bed) {
	f := b.flow("w")
	a := f.task("a")
	f.task("b").StartAfter(a)
	b.register(f.wf)
	x := b.start("w")
	// The execution exists when the call returns: INIT until the engine
	// handles its start (the running client may have done so already).
	first := b.execution(x)
	require.Contains(t, []aiflow.WorkflowStatus{aiflow.WorkflowInit, aiflow.WorkflowRunning}, first.Status)
	require.Equal(t, "w", first.Workflow)
	require.Equal(t, aiflow.RunManual, first.RunType)
	require.True(t, first.EndedAt.IsZero())
	b.ctl.waitRun(t, x, "a", 1, 0).succeed()
	b.ctl.waitRun(t, x, "b", 1, 0).succeed()
	got := b.waitExecution(x, aiflow.WorkflowSuccess, aiflow.WorkflowFailed, aiflow.WorkflowStopped)
	require.Equal(t, aiflow.WorkflowSuccess, got.Status)
	require.False(t, got.EndedAt.IsZero())
	require.Equal(t, aiflow.RunManual, got.RunType)
}

func testExecutionFailedOrderIndependent(t *testing.T, b *bed) {
	// t1 is declared first; its failure while t2 runs does not end the
	// execution; when t2 ends, the execution is FAILED. And the reverse.
	for _, failFirst := range []bool{true, false} {
		name := fmt.Sprintf("w%v", failFirst)
		f := b.flow(name)
		f.task("t1")
		f.task("t2")
		b.register(f.wf)
		x := b.start(name)
		r1, r2 := b.ctl.waitRun(t, x, "t1", 1, 0), b.ctl.waitRun(t, x, "t2", 1, 0)
		first, second := r1, r2
		if !failFirst {
			first, second = r2, r1
		}
		first.fail(errBoom)
		b.waitRun(x, first.key.task, 1, aiflow.TaskFailed)
		require.Equal(t, aiflow.WorkflowRunning, b.execution(x).Status, "a task is still alive")
		second.succeed()
		require.Equal(t, aiflow.WorkflowFailed, b.waitExecution(x, aiflow.WorkflowFailed, aiflow.WorkflowSuccess).Status)
	}
}

func testNoHang(t *testing.T, b *bed) {
	f := b.flow("w")
	up := f.task("up")
	f.task("down").StartAfter(up)
	b.register(f.wf)
	x := b.start("w")
	b.ctl.waitRun(t, x, "up", 1, 0).fail(errBoom)
	got := b.waitExecution(x, aiflow.WorkflowFailed, aiflow.WorkflowSuccess)
	require.Equal(t, aiflow.WorkflowFailed, got.Status, "down can never start: the execution ends FAILED instead of hanging")
	require.Empty(t, b.runs(x, "down"))
}

func testWaitingKeepsRunning(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("first")
	f.task("deploy").OnEvent("model_validated", aiflow.ActionStart)
	f.witnessTask()
	b.register(f.wf)
	x := b.start("w")
	b.ctl.waitRun(t, x, "first", 1, 0).succeed()
	b.waitRun(x, "first", 1, aiflow.TaskSuccess)
	b.witness(x)
	require.Equal(t, aiflow.WorkflowRunning, b.execution(x).Status, "deploy waits for an event from outside")
	b.send("model_validated", "v1")
	b.ctl.waitRun(t, x, "deploy", 1, 0).succeed()
	require.Equal(t, aiflow.WorkflowSuccess, b.waitExecution(x, aiflow.WorkflowSuccess).Status)
}

func testStreamingKeepsRunning(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("stream", aiflow.Streaming())
	f.ctl.setAuto("batch", nil)
	f.task("batch")
	f.witnessTask()
	b.register(f.wf)
	x := b.start("w")
	r := b.ctl.waitRun(t, x, "stream", 1, 0)
	b.waitRun(x, "batch", 1, aiflow.TaskSuccess)
	b.witness(x)
	require.Equal(t, aiflow.WorkflowRunning, b.execution(x).Status)
	require.True(t, b.runs(x, "stream")[0].Streaming)
	r.allowStop()
	require.NoError(t, b.client.StopWorkflowExecution(b.ctx, x))
	b.waitRun(x, "stream", 1, aiflow.TaskStopped)
	require.Equal(t, aiflow.WorkflowStopped, b.execution(x).Status)
}

func testStoppedOnRequest(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("a")
	f.task("b")
	f.task("later").OnEvent("never", aiflow.ActionStart)
	b.register(f.wf)
	x := b.start("w")
	ra, rb := b.ctl.waitRun(t, x, "a", 1, 0), b.ctl.waitRun(t, x, "b", 1, 0)
	ra.allowStop()
	rb.allowStop()
	require.NoError(t, b.client.StopWorkflowExecution(b.ctx, x))
	got := b.waitExecution(x, aiflow.WorkflowStopped)
	require.Contains(t, got.Note, "stop request")
	b.waitRun(x, "a", 1, aiflow.TaskStopped)
	b.waitRun(x, "b", 1, aiflow.TaskStopped)
	err := b.client.StopWorkflowExecution(b.ctx, x)
	require.ErrorIs(t, err, aiflow.ErrExecutionFinished)
}

func testFinishedIgnoresEvents(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("a", nil)
	f.task("a").OnEvent("again", aiflow.ActionStart)
	f.witnessTask()
	b.register(f.wf)
	x := b.start("w")
	b.send("again", "")
	b.waitRun(x, "a", 1, aiflow.TaskSuccess)
	b.witness(x) // both tasks have run: the execution settles
	b.waitExecution(x, aiflow.WorkflowSuccess)
	other := b.start("w") // a running execution, as a witness
	b.waitExecution(other, aiflow.WorkflowRunning)
	_, err := b.client.SendEvent(b.ctx, "again", "", &aiflow.SendEventOpts{ExecutionID: x})
	require.NoError(t, err)
	b.send("again", "")
	b.waitRun(other, "a", 1, aiflow.TaskSuccess)
	require.Len(t, b.runs(x, "a"), 1, "a finished execution ignores events")
	require.Equal(t, aiflow.WorkflowSuccess, b.execution(x).Status)
}
