package conformance

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
)

// spreadPlacement returns the store's placement, and skips the test when it
// does not spread executions over several partitions.
func (b *bed) spreadPlacement() store.Placement {
	b.t.Helper()
	pl := b.st.Placement()
	if !pl.Spreads() {
		b.t.Skip("the store does not spread executions over several partitions")
	}
	return pl
}

// partitionsOf waits until the RUNNING status event of each execution is
// listed and checks that every listed status and control event of each
// carries the partition the placement gives it (its workflow's for the
// workflow status events); it returns the partitions of the executions.
func (b *bed) partitionsOf(pl store.Placement, wf string, ids []int64) map[int]int {
	b.t.Helper()
	parts := map[int]int{}
	for _, id := range ids {
		var evs []store.Event
		b.waitFor(fmt.Sprintf("the RUNNING event of execution %d to be listed", id), func() bool {
			var err error
			evs, _, err = b.st.ListEvents(b.ctx, store.EventFilter{ExecutionID: id, Kinds: []store.EventKind{store.KindStatus, store.KindControl}})
			require.NoError(b.t, err)
			for _, ev := range evs {
				if store.IsWorkflowStatusKey(ev.Key) && ev.Value == string(store.WorkflowRunning) {
					return true
				}
			}
			return false
		})
		want := pl.Execution(store.DefaultNamespace, wf, id)
		parts[want]++
		for _, ev := range evs {
			if store.IsWorkflowStatusKey(ev.Key) {
				require.Equal(b.t, pl.Workflow(store.DefaultNamespace, wf), ev.Partition, "%s of execution %d", ev.Key, id)
				continue
			}
			require.Equal(b.t, want, ev.Partition, "%s of execution %d", ev.Key, id)
		}
	}
	return parts
}

// testSpreadExecutionsKeyedEventsAndStopAll checks that the executions of one
// workflow land in several partitions, that an event without execution
// reaches the executions of every partition that expect its key, and that
// stopping every execution of the workflow reaches every partition.
func testSpreadExecutionsKeyedEventsAndStopAll(t *testing.T, b *bed) {
	pl := b.spreadPlacement()
	f := b.flow("spread")
	f.ctl.setAuto("go", nil)
	f.task("go").OnEvent("go", aiflow.ActionStart)
	f.task("hold") // starts with the execution and runs until stopped
	f.keepAlive()
	b.register(f.wf)
	ids := make([]int64, 2*pl.Partitions)
	for i := range ids {
		ids[i] = b.start("spread")
	}
	for _, id := range ids {
		b.waitRun(id, "hold", 1, aiflow.TaskRunning)
		f.ctl.waitRun(t, id, "hold", 1, 0).allowStop() // it returns as soon as it is stopped
	}
	parts := b.partitionsOf(pl, "spread", ids)
	require.Len(t, parts, pl.Partitions, "consecutive executions take the partitions in turn: %v", parts)

	b.send("go", "")
	for _, id := range ids {
		b.waitRun(id, "go", 1, aiflow.TaskSuccess)
	}

	stopped, err := b.client.StopWorkflowExecutions(b.ctx, "", "spread")
	require.NoError(t, err)
	require.ElementsMatch(t, ids, stopped)
	for _, id := range ids {
		b.waitExecution(id, aiflow.WorkflowStopped)
		b.waitRun(id, "hold", 1, aiflow.TaskStopped)
	}
}

// testSpreadTriggerStartsOnePerFiring checks that a trigger, evaluated in its
// workflow's partition, starts exactly one execution per firing though the
// executions run in other partitions, and that they run there with the
// trigger's run type.
func testSpreadTriggerStartsOnePerFiring(t *testing.T, b *bed) {
	pl := b.spreadPlacement()
	f := b.flow("fired")
	f.ctl.setAuto("t", nil)
	f.task("t")
	f.keepAlive()
	b.register(f.wf)
	fire, err := b.client.AddWorkflowTrigger(b.ctx, "fired", "fire", aiflow.EventCondition("fire"), nil)
	require.NoError(t, err)
	witness, err := b.client.AddWorkflowTrigger(b.ctx, "fired", "witness", aiflow.EventCondition("witness"), nil)
	require.NoError(t, err)
	list := func(trigger int64) []aiflow.WorkflowExecution {
		xs, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "fired"})
		require.NoError(t, err)
		var out []aiflow.WorkflowExecution
		for _, x := range xs {
			if x.TriggerID == trigger {
				out = append(out, x)
			}
		}
		return out
	}
	firings := 2*pl.Partitions + 1
	for range firings {
		b.send("fire", "")
	}
	// The witness execution exists once the trigger's partition has
	// applied every firing: each firing's execution exists by then (in INIT
	// at least).
	b.send("witness", "")
	b.waitFor("the witness execution", func() bool { return len(list(witness.ID)) == 1 })
	xs := list(fire.ID)
	require.Len(t, xs, firings, "one execution per firing")
	ids := make([]int64, len(xs))
	for i, x := range xs {
		ids[i] = x.ID
		b.waitRun(x.ID, "t", 1, aiflow.TaskSuccess)
		got := b.waitExecution(x.ID, aiflow.WorkflowRunning)
		require.Equal(t, aiflow.RunEvent, got.RunType)
		require.Equal(t, fire.ID, got.TriggerID)
	}
	require.Greater(t, len(b.partitionsOf(pl, "fired", ids)), 1, "the executions of the trigger run in several partitions")
	require.Len(t, list(fire.ID), firings, "and no more")
	require.Len(t, b.eventsN(store.WorkflowStatusKey("fired"), firings+1), firings+1, "one RUNNING status event each")
}

// gatedFlow builds the workflow "gated": a task "go" that the event "go"
// starts, the witness task, and keepAlive.
func (b *bed) gatedFlow() *flow {
	f := b.flow("gated")
	f.ctl.setAuto("go", nil)
	f.task("go").OnEvent("go", aiflow.ActionStart)
	f.witnessTask()
	f.keepAlive()
	return f
}

// startGated starts one execution of "gated" per partition and waits until
// each runs; consecutive executions take the partitions in turn.
func (b *bed) startGated(pl store.Placement) []int64 {
	b.t.Helper()
	ids := make([]int64, pl.Partitions)
	for i := range ids {
		ids[i] = b.start("gated")
		b.waitExecution(ids[i], aiflow.WorkflowRunning)
	}
	return ids
}

// requireGoIgnored checks that the "go" sent while "gated" was disabled
// started nothing in its executions ids, once "gated" was enabled again:
// the witness, sent after the enabling, follows it.
func (b *bed) requireGoIgnored(pl store.Placement, ids []int64) {
	b.t.Helper()
	for _, id := range ids {
		b.witness(id)
		require.Empty(b.t, b.runs(id, "go"), "execution %d (partition %d) ignored the event sent while disabled",
			id, pl.Execution(store.DefaultNamespace, "gated", id))
	}
}

// testSpreadDisabledWorkflowReachesEveryPartition checks that disabling a
// workflow reaches its executions in every partition: the events sent
// afterwards start nothing in any of them, and enabling it again lets the
// next ones do.
func testSpreadDisabledWorkflowReachesEveryPartition(t *testing.T, b *bed) {
	pl := b.spreadPlacement()
	b.register(b.gatedFlow().wf)
	ids := b.startGated(pl)
	require.NoError(t, b.client.DisableWorkflow(b.ctx, "", "gated"))
	b.send("go", "")
	require.NoError(t, b.client.EnableWorkflow(b.ctx, "", "gated"))
	b.requireGoIgnored(pl, ids)
	b.send("go", "")
	for _, id := range ids {
		b.waitRun(id, "go", 1, aiflow.TaskSuccess)
	}
}

// testSpreadEventRightAfterAStart checks that an event sent right after an
// execution was started reaches it, whichever partition it runs in: the
// partition that starts it may not have read the event's key before.
func testSpreadEventRightAfterAStart(t *testing.T, b *bed) {
	pl := b.spreadPlacement()
	f := b.flow("eager")
	f.ctl.setAuto("go", nil)
	f.task("go").OnEvent("go", aiflow.ActionStart)
	f.keepAlive()
	b.register(f.wf)
	ids := make([]int64, 2*pl.Partitions)
	for i := range ids {
		ids[i] = b.start("eager")
		b.send("go", "")
	}
	for _, id := range ids {
		b.waitRun(id, "go", 1, aiflow.TaskSuccess)
	}
}

// testSpreadTogglingReachesClientsThatRegisterNothing checks that disabling
// a workflow reaches its executions even in the partitions consumed, at the
// time, by a client that registers no workflow of the namespace: the client
// that takes those partitions over with the workflow registered finds it
// disabled, so the events sent meanwhile start nothing.
func testSpreadTogglingReachesClientsThatRegisterNothing(t *testing.T, b *bed) {
	pl := b.spreadPlacement()
	probe := b.flow("probe")
	probe.keepAlive()
	b.register(b.gatedFlow().wf, probe.wf)
	ids := b.startGated(pl)
	require.NoError(t, b.client.Stop(b.ctx))

	// A client that registers nothing consumes every partition while the
	// workflow is disabled. The executions of probe it is asked to start
	// fail (not registered there); once one has failed in each partition,
	// each partition has read past the disabling.
	bystander := b.otherClient("bystander")
	require.NoError(t, b.reader.DisableWorkflow(b.ctx, "", "gated"))
	probed := map[int]bool{}
	for len(probed) < pl.Partitions {
		id, err := b.reader.StartWorkflowExecution(b.ctx, "probe", nil)
		require.NoError(t, err)
		require.Equal(t, aiflow.WorkflowFailed, b.waitExecution(id, aiflow.WorkflowFailed, aiflow.WorkflowRunning).Status)
		probed[pl.Execution(store.DefaultNamespace, "probe", id)] = true
	}
	require.NoError(t, bystander.Stop(b.ctx))

	// The next client registers the workflow and takes every partition.
	next := b.otherClient("next", b.gatedFlow().wf)
	_, err := next.SendEvent(b.ctx, "go", "", nil)
	require.NoError(t, err)
	require.NoError(t, next.EnableWorkflow(b.ctx, "", "gated"))
	b.requireGoIgnored(pl, ids)
}

// testSpreadTriggerSeesAddressedEvents checks that an event addressed to an
// execution reaches it and the triggers that expect its key, in the
// partition of their workflow, which is not the execution's.
func testSpreadTriggerSeesAddressedEvents(t *testing.T, b *bed) {
	pl := b.spreadPlacement()
	src := b.flow("src")
	src.ctl.setAuto("on", nil)
	src.task("on").OnEvent("go", aiflow.ActionStart)
	tgt := b.flow("tgt")
	tgt.ctl.setAuto("t", nil)
	tgt.task("t")
	b.register(src.wf, tgt.wf)
	tr, err := b.client.AddWorkflowTrigger(b.ctx, "tgt", "on-go", aiflow.EventCondition("go"), nil)
	require.NoError(t, err)
	// Consecutive executions take the partitions in turn: one of two is
	// outside tgt's.
	x := b.start("src")
	if pl.Execution(store.DefaultNamespace, "src", x) == pl.Workflow(store.DefaultNamespace, "tgt") {
		x = b.start("src")
	}
	require.NotEqual(t, pl.Workflow(store.DefaultNamespace, "tgt"), pl.Execution(store.DefaultNamespace, "src", x))
	b.waitExecution(x, aiflow.WorkflowRunning)
	b.sendTo(x, "go", "")
	b.waitRun(x, "on", 1, aiflow.TaskSuccess)
	var xs []aiflow.WorkflowExecution
	b.waitFor("the triggered execution of tgt", func() bool {
		xs, err = b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "tgt"})
		require.NoError(t, err)
		return len(xs) >= 1
	})
	require.Len(t, xs, 1)
	require.Equal(t, aiflow.RunEvent, xs[0].RunType)
	require.Equal(t, tr.ID, xs[0].TriggerID)
}
