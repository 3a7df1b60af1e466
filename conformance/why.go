package conformance

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
)

// Why: Client.ExplainTask answers which event and rule started each run of a
// task, and the outcome of the latest evaluations of its rules.

// wantValue is met by events "go" whose value is "yes", and describes
// itself.
type wantValue struct{}

func (wantValue) ExpectedKeys() []string { return []string{"go"} }
func (wantValue) Describe() string       { return `the value of "go" is "yes"` }
func (wantValue) IsMet(_ *aiflow.ConditionContext, ev *aiflow.Event) (bool, error) {
	if ev.Value == "fail" {
		return false, errors.New("cannot read the value")
	}
	return ev.Value == "yes", nil
}

// explain waits until ok holds on the explanation of task and returns it.
func (b *bed) explain(exec int64, task, what string, ok func(*aiflow.TaskExplanation) bool) *aiflow.TaskExplanation {
	b.t.Helper()
	var ex *aiflow.TaskExplanation
	b.waitFor(what, func() bool {
		var err error
		ex, err = b.client.ExplainTask(b.ctx, exec, task)
		require.NoError(b.t, err)
		return ok(ex)
	})
	return ex
}

// lastEval returns the latest evaluation of a rule with outcome o.
func lastEval(ex *aiflow.TaskExplanation, rule int, o aiflow.Outcome) *aiflow.Evaluation {
	evs := ex.Rules[rule-1].Evaluations
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Outcome == o {
			return &evs[i]
		}
	}
	return nil
}

func hasEval(rule int, o aiflow.Outcome) func(*aiflow.TaskExplanation) bool {
	return func(ex *aiflow.TaskExplanation) bool { return lastEval(ex, rule, o) != nil }
}

func missed(ex *aiflow.TaskExplanation, o aiflow.Outcome, key string) *aiflow.MissedEvent {
	for i := range ex.Missed {
		if m := &ex.Missed[i]; m.Outcome == o && m.Key == key {
			return m
		}
	}
	return nil
}

func testWhyStartsConditionFalseAndAlive(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("first", nil)
	f.task("first")
	f.task("t").OnCondition(wantValue{}, aiflow.ActionStart).OnEvent("again", aiflow.ActionRestart)
	f.witnessTask()
	b.register(f.wf)
	x := b.start("w")
	b.waitRun(x, "first", 1, aiflow.TaskSuccess)

	ex, err := b.client.ExplainTask(b.ctx, x, "first")
	require.NoError(t, err)
	require.Len(t, ex.Runs, 1)
	require.NotNil(t, ex.Runs[0].StartedBy, "a task without a START rule starts with the execution")
	require.Equal(t, 0, ex.Runs[0].StartedBy.Rule)
	require.Equal(t, aiflow.OutcomeStarted, ex.Runs[0].StartedBy.Outcome)
	require.Equal(t, store.KeyStartExecution, ex.Runs[0].StartedBy.EventKey)
	require.Contains(t, ex.Runs[0].StartedBy.Reason, "no START rule")
	require.Empty(t, ex.Rules)

	b.sendTo(x, "go", "no")
	ex = b.explain(x, "t", "the condition false", hasEval(1, aiflow.OutcomeConditionFalse))
	require.Empty(t, ex.Runs)
	e := lastEval(ex, 1, aiflow.OutcomeConditionFalse)
	require.Equal(t, `the value of "go" is "yes"`, e.Reason, "the condition's own description")
	require.Equal(t, "go", e.EventKey)
	require.Equal(t, []string{"go"}, ex.Rules[0].Keys)
	require.Equal(t, "START", ex.Rules[0].Action)
	require.Contains(t, ex.Summary, "never started")

	yes, err := b.client.SendEvent(b.ctx, "go", "yes", &aiflow.SendEventOpts{ExecutionID: x})
	require.NoError(t, err)
	r1 := b.ctl.waitRun(t, x, "t", 1, 0)
	ex = b.explain(x, "t", "the start", func(ex *aiflow.TaskExplanation) bool { return len(ex.Runs) == 1 })
	require.NotNil(t, ex.Runs[0].StartedBy)
	require.Equal(t, 1, ex.Runs[0].StartedBy.Rule, "started by rule 1")
	require.Equal(t, yes.ID, ex.Runs[0].StartedBy.EventID, "started by the event that met the rule")
	require.Equal(t, ex.Runs[0].TaskExecutionID, ex.Runs[0].StartedBy.TaskExecutionID)

	b.sendTo(x, "go", "yes") // met while the run is alive
	ex = b.explain(x, "t", "a START ignored while alive", hasEval(1, aiflow.OutcomeTaskAlive))
	e = lastEval(ex, 1, aiflow.OutcomeTaskAlive)
	require.Contains(t, e.Reason, "ignored")
	require.Equal(t, 1, e.SeqNum)

	b.sendTo(x, "again", "")
	r1.allowStop()
	ex = b.explain(x, "t", "the restart", func(ex *aiflow.TaskExplanation) bool { return len(ex.Runs) == 2 })
	require.Equal(t, aiflow.OutcomeRestarted, ex.Runs[1].StartedBy.Outcome)
	require.Equal(t, 2, ex.Runs[1].StartedBy.Rule)
	require.Equal(t, "again", ex.Runs[1].StartedBy.EventKey)
	b.ctl.waitRun(t, x, "t", 2, 0).succeed()
	b.waitRun(x, "t", 2, aiflow.TaskSuccess)

	_, err = b.client.ExplainTask(b.ctx, x, "nope")
	require.ErrorIs(t, err, aiflow.ErrTaskNotFound)
	_, err = b.client.ExplainTask(b.ctx, 999999, "t")
	require.ErrorIs(t, err, aiflow.ErrExecutionNotFound)
}

func testWhyEvaluationsAreBounded(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t").OnCondition(wantValue{}, aiflow.ActionStart)
	f.witnessTask()
	b.register(f.wf)
	x := b.start("w")
	send := func(value string) int64 {
		ev, err := b.client.SendEvent(b.ctx, "go", value, &aiflow.SendEventOpts{ExecutionID: x})
		require.NoError(t, err)
		return ev.ID
	}
	// The condition is false at every event, for the same reason: one
	// evaluation counts them all.
	n := store.DecisionsKept + 5
	var first, last int64
	for i := range n {
		last = send(fmt.Sprintf("no %d", i))
		if i == 0 {
			first = last
		}
	}
	b.witness(x)
	ex := b.explain(x, "t", "the evaluations", hasEval(1, aiflow.OutcomeConditionFalse))
	evs := ex.Rules[0].Evaluations
	require.Len(t, evs, 1, "repeats are counted in one evaluation")
	require.Equal(t, n, evs[0].Count)
	require.Equal(t, first, evs[0].FirstEventID, "the first of the run")
	require.Equal(t, last, evs[0].EventID, "the latest of the run")
	require.Equal(t, `the value of "go" is "yes"`, evs[0].Reason)
	require.Contains(t, ex.Summary, fmt.Sprint("on event ", last), "the summary names the latest evaluation")

	// Once a run is alive, "yes" and "no" alternate TASK_ALIVE and
	// CONDITION_FALSE: nothing repeats, the latest store.DecisionsKept are
	// kept, after the start.
	started := send("yes")
	r := b.ctl.waitRun(t, x, "t", 1, 0)
	for i := range n {
		last = send([]string{"no", "yes"}[i%2])
	}
	b.witness(x)
	ex = b.explain(x, "t", "the alternating evaluations", func(ex *aiflow.TaskExplanation) bool {
		evs := ex.Rules[0].Evaluations
		return len(evs) > 0 && evs[len(evs)-1].EventID == last
	})
	evs = ex.Rules[0].Evaluations
	require.Len(t, evs, store.DecisionsKept+1, "the start and the latest evaluations")
	require.Equal(t, aiflow.OutcomeStarted, evs[0].Outcome)
	require.Equal(t, started, evs[0].EventID)
	for i := 2; i < len(evs); i++ {
		require.Less(t, evs[i-1].EventID, evs[i].EventID, "oldest first")
		require.NotEqual(t, evs[i-1].Outcome, evs[i].Outcome, "no repeat")
		require.Equal(t, 1, evs[i].Count)
		require.Zero(t, evs[i].FirstEventID)
	}
	r.allowStop()
	require.NoError(t, b.client.StopWorkflowExecution(b.ctx, x))
	b.waitExecution(x, aiflow.WorkflowStopped)
	b.waitFor("every task to finish", func() bool {
		for _, r := range append(b.runs(x, "witness"), b.runs(x, "t")...) {
			if !r.Status.Finished() {
				return false
			}
		}
		return true
	})
	require.NoError(t, b.client.DeleteWorkflowExecution(b.ctx, x))
	ds, err := b.st.ListDecisions(b.ctx, x, "")
	require.NoError(t, err)
	require.Empty(t, ds, "decisions are deleted with their execution")
}

func testWhyPoison(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t").OnCondition(wantValue{}, aiflow.ActionStart)
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)
	b.sendTo(x, "go", "fail")
	ex := b.explain(x, "t", "the poison decision", hasEval(1, aiflow.OutcomeConditionFailed))
	require.Contains(t, lastEval(ex, 1, aiflow.OutcomeConditionFailed).Reason, "cannot read the value")
}

func testWhyWorkflowDisabled(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t").OnEvent("go", aiflow.ActionStart)
	f.witnessTask()
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)
	require.NoError(t, b.client.DisableWorkflow(b.ctx, "", "w"))
	b.send("go", "")
	ex := b.explain(x, "t", "the disabled decision", hasEval(1, aiflow.OutcomeWorkflowDisabled))
	require.Empty(t, ex.Runs)
	require.False(t, ex.WorkflowEnabled)
	require.Contains(t, ex.Summary, "disabled")
}

func testWhyMissedEvents(t *testing.T, b *bed) {
	require.NoError(t, b.client.AddNamespace(b.ctx, "other"))
	f := b.flow("w")
	f.task("t").OnEvent("go", aiflow.ActionStart)
	f.witnessTask()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")
	b.waitExecution(x1, aiflow.WorkflowRunning)
	b.waitExecution(x2, aiflow.WorkflowRunning)
	b.sendTo(x2, "go", "")
	_, err := b.client.SendEvent(b.ctx, "go", "", &aiflow.SendEventOpts{Namespace: "other"})
	require.NoError(t, err)
	b.send("og", "") // a near miss: no rule of t expects it
	ex := b.explain(x1, "t", "the missed events", func(ex *aiflow.TaskExplanation) bool {
		return missed(ex, aiflow.OutcomeOtherExecution, "go") != nil && missed(ex, aiflow.OutcomeOtherNamespace, "go") != nil &&
			missed(ex, aiflow.OutcomeKeyNotExpected, "og") != nil
	})
	require.Empty(t, ex.Runs)
	require.Equal(t, x2, missed(ex, aiflow.OutcomeOtherExecution, "go").ExecutionID)
	require.Contains(t, missed(ex, aiflow.OutcomeOtherExecution, "go").Reason, fmt.Sprint(x2))
	require.Equal(t, "other", missed(ex, aiflow.OutcomeOtherNamespace, "go").Namespace)
	require.Contains(t, missed(ex, aiflow.OutcomeKeyNotExpected, "og").Reason, `"go"`)

	require.NoError(t, b.client.StopWorkflowExecution(b.ctx, x1))
	b.waitExecution(x1, aiflow.WorkflowStopped)
	b.send("go", "late")
	ex = b.explain(x1, "t", "the event after the end", func(ex *aiflow.TaskExplanation) bool {
		return missed(ex, aiflow.OutcomeExecutionNotRunning, "go") != nil
	})
	require.Equal(t, aiflow.WorkflowStopped, ex.ExecutionStatus)
	require.Contains(t, missed(ex, aiflow.OutcomeExecutionNotRunning, "go").Reason, "STOPPED")
	// x2 did get the namespace-wide "go".
	b.waitRun(x2, "t", 1, aiflow.TaskQueued, aiflow.TaskRunning)
}
