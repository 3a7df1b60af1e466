package conformance

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
)

// Conditions: the built-in AllOf, AnyOf and TaskStatusCondition, each
// evaluated by the engine of a running client, and a condition that panics
// or errs, which is skipped and recorded.

// sendTo sends a user event to one execution.
func (b *bed) sendTo(exec int64, key, value string) {
	b.t.Helper()
	_, err := b.client.SendEvent(b.ctx, key, value, &aiflow.SendEventOpts{ExecutionID: exec})
	require.NoError(b.t, err)
}

// valueIs is met by events with key whose value is want.
func valueIs(key, want string) aiflow.Condition {
	return aiflow.NewCondition([]string{key}, func(_ *aiflow.ConditionContext, ev *aiflow.Event) (bool, error) {
		return ev.Value == want, nil
	})
}

func testAllOf(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("t", nil)
	f.ctl.setAuto("u", nil)
	f.task("t").OnCondition(aiflow.AllOf(valueIs("a", "ok"), valueIs("b", "ok")), aiflow.ActionStart)
	// The same keys in the other order: if the two rules shared their
	// flags, u would be met by "a" alone.
	f.task("u").OnCondition(aiflow.AllOf(valueIs("b", "ok"), valueIs("a", "ok")), aiflow.ActionStart)
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")
	b.waitExecution(x1, aiflow.WorkflowRunning)
	b.waitExecution(x2, aiflow.WorkflowRunning)

	b.sendTo(x1, "a", "ok")
	b.witness(x1)
	require.Empty(t, b.runs(x1, "t"), "AllOf waits for every condition")
	require.Empty(t, b.runs(x1, "u"), "each rule keeps flags of its own")

	// A flag follows its condition's latest evaluation: "a" is no longer
	// met, so "b" alone does not complete the set.
	b.sendTo(x1, "a", "no")
	b.sendTo(x1, "b", "ok")
	b.witness(x1)
	require.Empty(t, b.runs(x1, "t"), "a's flag went back to false")
	require.Empty(t, b.runs(x1, "u"))

	b.sendTo(x1, "a", "ok")
	b.waitRun(x1, "t", 1, aiflow.TaskSuccess)
	b.waitRun(x1, "u", 1, aiflow.TaskSuccess)

	// The flags are not reset when the rule fires: while both stay met,
	// every further expected event meets it again.
	b.sendTo(x1, "b", "ok")
	b.waitRun(x1, "t", 2, aiflow.TaskSuccess)
	b.waitRun(x1, "u", 2, aiflow.TaskSuccess)
	// Until one of them is no longer met.
	b.sendTo(x1, "b", "no")
	b.sendTo(x1, "a", "ok")
	b.witness(x1)
	require.Len(t, b.runs(x1, "t"), 2, "b's flag went back to false")
	require.Len(t, b.runs(x1, "u"), 2)

	// The flags are per execution: x2 saw none of x1's events.
	b.sendTo(x2, "b", "ok")
	b.witness(x2)
	require.Empty(t, b.runs(x2, "t"), "AllOf state is per execution")
	require.Empty(t, b.runs(x2, "u"))
	b.sendTo(x2, "a", "ok")
	b.waitRun(x2, "t", 1, aiflow.TaskSuccess)
	b.waitRun(x2, "u", 1, aiflow.TaskSuccess)
}

func testAnyOf(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("t", nil)
	f.task("t").OnCondition(aiflow.AnyOf(
		valueIs("a", "ok"),
		aiflow.EventCondition("b"),
		valueIs("a", "also"), // a second condition on the same key
	), aiflow.ActionStart)
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)

	b.sendTo(x, "a", "no")
	b.witness(x)
	require.Empty(t, b.runs(x, "t"), "no condition expecting a is met")
	b.sendTo(x, "a", "also")
	b.waitRun(x, "t", 1, aiflow.TaskSuccess)
	b.sendTo(x, "b", "")
	b.waitRun(x, "t", 2, aiflow.TaskSuccess)
	b.sendTo(x, "a", "ok")
	b.waitRun(x, "t", 3, aiflow.TaskSuccess)
	// AnyOf keeps nothing: an unmet event after met ones is not met.
	b.sendTo(x, "a", "no")
	b.witness(x)
	require.Len(t, b.runs(x, "t"), 3)
}

func testTaskStatusCondition(t *testing.T, b *bed) {
	f := b.flow("w")
	a, c := f.task("a"), f.task("c")
	f.ctl.setAuto("t", nil)
	f.task("t").OnCondition(aiflow.TaskStatusCondition(map[*aiflow.Task]aiflow.TaskStatus{a: aiflow.TaskFailed, c: aiflow.TaskSuccess}), aiflow.ActionStart)
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")

	// c succeeds first: a's latest run is RUNNING, so t waits.
	b.ctl.waitRun(t, x1, "c", 1, 0).succeed()
	b.waitRun(x1, "c", 1, aiflow.TaskSuccess)
	b.witness(x1)
	require.Empty(t, b.runs(x1, "t"), "a is still RUNNING")
	// a fails: both statuses hold, read from the execution on a's change.
	b.ctl.waitRun(t, x1, "a", 1, 0).fail(errBoom)
	b.waitRun(x1, "t", 1, aiflow.TaskSuccess)

	// c runs again: while its latest run is RUNNING the condition does not
	// hold; when that run succeeds it holds again and t runs again.
	require.NoError(t, b.client.RestartTaskExecution(b.ctx, x1, "c"))
	rc2 := b.ctl.waitRun(t, x1, "c", 2, 0)
	b.waitRun(x1, "c", 2, aiflow.TaskRunning)
	b.witness(x1)
	require.Len(t, b.runs(x1, "t"), 1)
	rc2.succeed()
	b.waitRun(x1, "t", 2, aiflow.TaskSuccess)

	// Other statuses do not meet it, and x2 is untouched by x1's changes.
	b.ctl.waitRun(t, x2, "a", 1, 0).succeed()
	b.ctl.waitRun(t, x2, "c", 1, 0).succeed()
	b.waitRun(x2, "a", 1, aiflow.TaskSuccess)
	b.waitRun(x2, "c", 1, aiflow.TaskSuccess)
	b.witness(x2)
	require.Empty(t, b.runs(x2, "t"), "a SUCCESS is not the FAILED the condition waits for")
}

// explodes panics on events whose value is "bad" and is met otherwise.
type explodes struct{ calls *sync.Map }

func (explodes) ExpectedKeys() []string { return []string{"n"} }
func (c explodes) IsMet(cc *aiflow.ConditionContext, ev *aiflow.Event) (bool, error) {
	if ev.Value == "bad" {
		panic("condition bug")
	}
	if ev.Value == "err" {
		return false, errors.New("cannot decide")
	}
	return true, nil
}

func testPoisonCondition(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("t", nil)
	f.task("t").OnCondition(explodes{}, aiflow.ActionStart)
	f.witnessTask()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")
	b.waitExecution(x1, aiflow.WorkflowRunning)
	b.waitExecution(x2, aiflow.WorkflowRunning)
	send := func(x int64, v string) {
		_, err := b.client.SendEvent(b.ctx, "n", v, &aiflow.SendEventOpts{ExecutionID: x})
		require.NoError(t, err)
	}
	send(x1, "bad")
	send(x1, "err")
	send(x2, "good") // other executions are not stalled for long
	b.waitRun(x2, "t", 1, aiflow.TaskSuccess)
	send(x1, "good") // x1 goes on after the skipped events
	b.waitRun(x1, "t", 1, aiflow.TaskSuccess)
	var poison []aiflow.Event
	b.waitFor("two poison records", func() bool {
		poison = b.events(store.KeyPoisonEvent)
		return len(poison) == 2
	})
	require.Contains(t, poison[0].Value, "condition panicked: condition bug")
	require.Contains(t, poison[1].Value, "cannot decide")
	for _, p := range poison {
		require.Equal(t, x1, p.ExecutionID)
	}
}
