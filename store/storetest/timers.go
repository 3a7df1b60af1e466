package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
)

// These tests run on real time (a store may keep its own clock), with
// one-second ticks.

func testScheduleStartsPeriodicExecutions(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("t", nil)
	f.task("t")
	b.register(f.wf)
	s, err := b.client.AddWorkflowSchedule(b.ctx, "w", "interval@0 0 0 1", nil)
	require.NoError(t, err)
	var xs []aiflow.WorkflowExecution
	b.waitFor("two scheduled executions", func() bool {
		var err error
		xs, err = b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
		require.NoError(t, err)
		return len(xs) >= 2
	})
	for _, x := range xs {
		require.Equal(t, aiflow.RunPeriodic, x.RunType)
		require.Equal(t, s.ID, x.ScheduleID)
	}
	require.NoError(t, b.client.PauseWorkflowSchedule(b.ctx, s.ID))
	got, err := b.client.GetWorkflowSchedule(b.ctx, s.ID)
	require.NoError(t, err)
	require.True(t, got.Paused)
	require.False(t, got.LastFireAt.IsZero())
	n, err := b.client.DeleteWorkflowSchedules(b.ctx, "", "w")
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func testScheduleSkipsOverlapAndDisabled(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t") // runs until released: the execution stays RUNNING
	b.register(f.wf)
	_, err := b.client.AddWorkflowSchedule(b.ctx, "w", "interval@0 0 0 1", &aiflow.ScheduleOpts{Overlap: aiflow.OverlapSkip})
	require.NoError(t, err)
	// (A tick missed because the timer ran late is skipped too, with an
	// event of its own: look for the overlap's.)
	b.waitFor("a tick skipped by the overlap policy", func() bool {
		return slices.ContainsFunc(b.events(store.KeyScheduleSkipped), func(ev aiflow.Event) bool {
			return strings.Contains(ev.Value, "overlap policy is skip")
		})
	})
	xs, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
	require.NoError(t, err)
	require.Len(t, xs, 1, "ticks are skipped while an execution runs")

	require.NoError(t, b.client.DisableWorkflow(b.ctx, "", "w"))
	b.ctl.waitRun(t, xs[0].ID, "t", 1, 0).succeed()
	b.waitExecution(xs[0].ID, aiflow.WorkflowSuccess)
	b.waitFor("a tick skipped because the workflow is disabled", func() bool {
		return slices.ContainsFunc(b.events(store.KeyScheduleSkipped), func(ev aiflow.Event) bool {
			return ev.Value == "the workflow is disabled"
		})
	})
	xs, err = b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
	require.NoError(t, err)
	require.Len(t, xs, 1, "a disabled workflow is started by nothing")
}

func testPeriodicTaskRunsDownstreamAfterEachTick(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("tick", nil)
	f.ctl.setAuto("after", nil)
	tick := f.task("tick", aiflow.Periodic("interval@0 0 0 1"))
	f.task("after").StartAfter(tick)
	b.register(f.wf)
	x := b.start("w")
	b.waitRun(x, "after", 3, aiflow.TaskSuccess)
	require.GreaterOrEqual(t, len(b.runs(x, "tick")), 3)
	require.Equal(t, aiflow.WorkflowRunning, b.execution(x).Status, "a periodic task keeps its execution running")
	require.NoError(t, b.client.StopWorkflowExecution(b.ctx, x))
	require.Equal(t, aiflow.WorkflowStopped, b.waitExecution(x, aiflow.WorkflowStopped).Status)
}

func testTriggerWithStateStartsEventExecutions(t *testing.T, b *bed) {
	f := b.flow("target")
	f.ctl.setAuto("t", nil)
	f.task("t")
	b.register(f.wf)
	every2, err := b.client.AddWorkflowTrigger(b.ctx, "target", "every-second", sumTo{limit: 2}, nil)
	require.NoError(t, err)
	witness, err := b.client.AddWorkflowTrigger(b.ctx, "target", "witness", aiflow.EventCondition("witness"), nil)
	require.NoError(t, err)
	count := func(trigger int64) int {
		xs, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "target"})
		require.NoError(t, err)
		n := 0
		for _, x := range xs {
			if x.TriggerID == trigger {
				require.Equal(t, aiflow.RunEvent, x.RunType)
				n++
			}
		}
		return n
	}
	sync := func(n int) { // every earlier event has reached the triggers
		b.send("witness", "")
		b.waitFor("the witness execution", func() bool { return count(witness.ID) == n })
	}
	b.send("n", "1")
	sync(1)
	require.Zero(t, count(every2.ID))
	b.send("n", "1") // the sum is kept per workflow across events
	b.waitFor("the triggered execution", func() bool { return count(every2.ID) == 1 })
	require.NoError(t, b.client.PauseWorkflowTrigger(b.ctx, every2.ID))
	b.send("n", "5")
	sync(2)
	require.Equal(t, 1, count(every2.ID), "a paused trigger is not evaluated")
	require.NoError(t, b.client.ResumeWorkflowTrigger(b.ctx, every2.ID))
	b.send("n", "1")
	b.waitFor("the second triggered execution", func() bool { return count(every2.ID) == 2 })
	list, err := b.client.ListWorkflowTriggers(b.ctx, "", "target")
	require.NoError(t, err)
	require.Len(t, list, 2)
}

// testPruneFirings calls the store directly: firing records are pruned by
// age and rank, and a pruned tick fires again if tried (which is why the
// leader keeps what a later firing may be checked against).
func testPruneFirings(t *testing.T, b *bed) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fire := func(key string, s int) bool {
		b.t.Helper()
		ok, err := b.st.FireTimer(b.ctx, store.Firing{Key: key, At: base.Add(time.Duration(s) * time.Second),
			Event: store.Event{Kind: store.KindUser, Namespace: "default", Key: "probe", Value: key, Sender: "storetest"}})
		require.NoError(t, err)
		return ok
	}
	for s := 1; s <= 4; s++ {
		require.True(t, fire("storetest:live", s))
		require.True(t, fire("storetest:gone", s))
	}
	keep := map[string]int{"storetest:live": 2}
	n, err := b.st.PruneFirings(b.ctx, keep, time.Hour)
	require.NoError(t, err)
	require.Zero(t, n, "records younger than minAge stay")
	require.False(t, fire("storetest:gone", 1))

	n, err = b.st.PruneFirings(b.ctx, keep, 0)
	require.NoError(t, err)
	require.Equal(t, 6, n, "the two oldest of the live key and every record of the other")
	require.False(t, fire("storetest:live", 3), "the latest records of a kept key stay")
	require.False(t, fire("storetest:live", 4))
	require.True(t, fire("storetest:live", 2), "a pruned tick fires again")
	require.True(t, fire("storetest:gone", 4))
	require.Len(t, b.events("probe"), 10)
}
