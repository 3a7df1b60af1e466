package conformance

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
)

// Replay: a workflow's changed definition replayed over the recorded log
// shows what the change would have done.

func testReplayShowsAChangedCondition(t *testing.T, b *bed) {
	mk := func(cond aiflow.Condition) *aiflow.Workflow {
		f := b.flow("w")
		f.ctl.setAuto("first", nil)
		f.task("first") // starts with the execution
		f.ctl.setAuto("a", nil)
		f.task("a").OnCondition(aiflow.ActionStart, cond)
		f.witnessTask()
		return f.wf
	}
	b.register(mk(valueIs("go", "yes")))
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)
	no, err := b.client.SendEvent(b.ctx, "go", "no", &aiflow.SendEventOpts{ExecutionID: x})
	require.NoError(t, err)
	yes, err := b.client.SendEvent(b.ctx, "go", "yes", &aiflow.SendEventOpts{ExecutionID: x})
	require.NoError(t, err)
	b.waitRun(x, "a", 1, aiflow.TaskSuccess)
	b.witness(x)
	// The replay reads the listed log: wait until the runs' last statuses
	// are listed.
	b.eventsN(store.StatusKey("w", "a"), 3)
	b.eventsN(store.StatusKey("w", "witness"), 3)
	b.eventsN(store.StatusKey("w", "first"), 3)

	replay := func(wf *aiflow.Workflow, opts *aiflow.ReplayOpts) *aiflow.ReplayReport {
		t.Helper()
		rep, err := aiflow.Replay(b.ctx, b.st, wf, opts)
		require.NoError(t, err)
		return rep
	}
	runOf := func(rep *aiflow.ReplayReport, task string, seq int) aiflow.ReplayRun {
		t.Helper()
		require.Len(t, rep.Executions, 1)
		require.Equal(t, x, rep.Executions[0].ID)
		for _, r := range rep.Executions[0].Runs {
			if r.Task == task && r.SeqNum == seq {
				return r
			}
		}
		t.Fatalf("no run %s #%d in %+v", task, seq, rep.Executions[0].Runs)
		return aiflow.ReplayRun{}
	}

	// The definition that ran: the replay agrees with the record.
	same := replay(mk(valueIs("go", "yes")), nil)
	require.Zero(t, same.Differences, "%+v", same)
	a := runOf(same, "a", 1)
	require.NotNil(t, a.Replayed)
	require.NotNil(t, a.Recorded)
	require.Equal(t, yes.ID, a.Replayed.StartedBy.EventID)
	require.Equal(t, aiflow.TaskSuccess, a.Recorded.Status)
	require.Equal(t, same.Executions[0].Status, same.Executions[0].ReplayStatus, "the execution ends as it really did")
	first := runOf(same, "first", 1)
	require.Equal(t, first.Recorded.StartedBy.EventID, first.Replayed.StartedBy.EventID, "started by the execution's start request")
	require.Equal(t, aiflow.TaskSuccess, first.Recorded.Status)

	// A condition that is never met: a would not have started.
	never := replay(mk(valueIs("go", "never")), nil)
	require.Equal(t, 1, never.Differences)
	a = runOf(never, "a", 1)
	require.Nil(t, a.Replayed)
	require.Contains(t, a.Difference, "would not start")
	require.Contains(t, a.Difference, "rule 1 on event", "the record says what really started it")

	// A condition met by the earlier event: a would have started sooner.
	sooner := replay(mk(valueIs("go", "no")), nil)
	require.Equal(t, 1, sooner.Differences)
	a = runOf(sooner, "a", 1)
	require.Equal(t, no.ID, a.Replayed.StartedBy.EventID)
	require.Equal(t, yes.ID, a.Recorded.StartedBy.EventID)
	require.Contains(t, a.Difference, "really started by rule 1 on event")
	require.True(t, slices.ContainsFunc(sooner.Decisions, func(d aiflow.ReplayDecision) bool {
		return d.Task == "a" && d.Outcome == aiflow.OutcomeStarted && d.EventID == no.ID
	}))

	// A stretch that ends before the "yes" event.
	early := replay(mk(valueIs("go", "yes")), &aiflow.ReplayOpts{To: no.Position})
	require.Nil(t, runOf(early, "a", 1).Replayed)
	// A stretch that begins after the execution's start replays nothing.
	late := replay(mk(valueIs("go", "yes")), &aiflow.ReplayOpts{From: no.Position})
	require.Empty(t, late.Executions)

	// Through the client: the registered definition.
	rep, err := b.client.Replay(b.ctx, "w", nil)
	require.NoError(t, err)
	require.Zero(t, rep.Differences)
	_, err = b.client.Replay(b.ctx, "nope", nil)
	require.ErrorIs(t, err, aiflow.ErrWorkflowNotFound)
}
