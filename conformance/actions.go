package conformance

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
)

// Actions: what START, STOP and RESTART do to a task that is alive or not.

func testStartIgnoredWhileAlive(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t").OnEvent("go", aiflow.ActionStart)
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)
	b.send("go", "")
	r := b.ctl.waitRun(t, x, "t", 1, 0)
	b.waitRun(x, "t", 1, aiflow.TaskRunning)
	b.send("go", "")
	b.witness(x)
	rs := b.runs(x, "t")
	require.Len(t, rs, 1, "a START while alive is ignored")
	require.True(t, containsAll(rs[0].Note, "START", "ignored", "RUNNING"), "the reason is visible: %q", rs[0].Note)
	r.succeed()
	b.waitRun(x, "t", 1, aiflow.TaskSuccess)
	b.send("go", "")
	b.ctl.waitRun(t, x, "t", 2, 0).succeed()
}

func testStoppingIsAlive(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t").OnEvent("go", aiflow.ActionStart).OnEvent("halt", aiflow.ActionStop)
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)
	b.send("go", "")
	r := b.ctl.waitRun(t, x, "t", 1, 0)
	b.waitRun(x, "t", 1, aiflow.TaskRunning)
	b.send("halt", "")
	r.waitCancelled(t) // the operator holds on: the run stays STOPPING
	b.waitRun(x, "t", 1, aiflow.TaskStopping)
	b.send("go", "")
	b.witness(x)
	rs := b.runs(x, "t")
	require.Len(t, rs, 1, "STOPPING counts as alive: no second run beside it")
	require.Contains(t, rs[0].Note, "STOPPING")
	r.allowStop()
	b.waitRun(x, "t", 1, aiflow.TaskStopped)
	b.send("go", "")
	b.ctl.waitRun(t, x, "t", 2, 0).succeed()
}

func testRestartWaitsForStop(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t").OnEvent("again", aiflow.ActionRestart)
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	r1 := b.ctl.waitRun(t, x, "t", 1, 0)
	b.waitRun(x, "t", 1, aiflow.TaskRunning)
	b.send("again", "")
	r1.waitCancelled(t)
	b.witness(x)
	rs := b.runs(x, "t")
	require.Len(t, rs, 2)
	require.Equal(t, aiflow.TaskStopping, rs[0].Status)
	require.Equal(t, aiflow.TaskInit, rs[1].Status, "the new run waits in INIT while the old one stops")
	require.Equal(t, 1, b.ctl.started("t"), "the new run has not started")
	b.send("again", "") // a second RESTART while one is pending is ignored
	b.witness(x)
	require.Len(t, b.runs(x, "t"), 2)
	r1.allowStop()
	b.ctl.waitRun(t, x, "t", 2, 0)
	rs = b.runs(x, "t")
	require.Equal(t, aiflow.TaskStopped, rs[0].Status)
	require.Len(t, rs, 2)
}

func testStopNonAliveNoOp(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("never").OnEvent("go", aiflow.ActionStart).OnEvent("halt", aiflow.ActionStop)
	f.task("done").OnEvent("halt", aiflow.ActionStop)
	f.task("keep").OnEvent("halt", aiflow.ActionStop)
	f.witnessTask()
	b.register(f.wf)
	x := b.start("w")
	b.ctl.waitRun(t, x, "done", 1, 0).succeed()
	b.waitRun(x, "done", 1, aiflow.TaskSuccess)
	keep := b.ctl.waitRun(t, x, "keep", 1, 0)
	keep.allowStop()
	b.send("halt", "") // STOP on a task that never ran and one that finished: nothing
	b.waitRun(x, "keep", 1, aiflow.TaskStopped)
	b.witness(x)
	require.Empty(t, b.runs(x, "never"))
	require.Equal(t, aiflow.TaskSuccess, b.runs(x, "done")[0].Status)
	require.Equal(t, aiflow.WorkflowRunning, b.execution(x).Status, "the execution goes on")
	b.send("go", "")
	b.ctl.waitRun(t, x, "never", 1, 0).succeed()
}

func testStopQueued(t *testing.T, b *bed) {
	// The client's workers are held (heldWorkers): a dispatched run stays
	// QUEUED until the test releases them. A STOP reaching it ends it
	// STOPPED, and the worker that gets its job late does not run it.
	held := b.cfg.Store.(*heldWorkers)
	f := b.flow("w")
	f.task("t").OnEvent("go", aiflow.ActionStart).OnEvent("halt", aiflow.ActionStop)
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)
	require.NoError(t, b.client.StopTaskExecution(b.ctx, x, "t")) // nothing alive: a no-op
	b.send("go", "")
	b.waitRun(x, "t", 1, aiflow.TaskQueued)
	b.send("halt", "")
	te := b.waitRun(x, "t", 1, aiflow.TaskStopped, aiflow.TaskRunning)
	require.Equal(t, aiflow.TaskStopped, te.Status, "no worker runs: the QUEUED run is stopped at once")

	require.NoError(t, held.release(b.ctx))
	b.witness(x) // the workers run: the witness's run went through them
	require.Zero(t, b.ctl.started("t"), "the stopped run's job is not run")
	te = b.runs(x, "t")[0]
	require.Equal(t, aiflow.TaskStopped, te.Status)
	var seen []string
	for _, ev := range b.eventsN(store.StatusKey("w", "t"), 2) {
		seen = append(seen, ev.Value)
	}
	require.Equal(t, []string{"QUEUED", "STOPPED"}, seen, "the run never ran")
	// The task can start again.
	b.send("go", "")
	b.ctl.waitRun(t, x, "t", 2, 0).succeed()
	b.waitRun(x, "t", 2, aiflow.TaskSuccess)
}
