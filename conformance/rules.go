package conformance

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
)

// Rules: what starts, stops and restarts a task, and which rule wins.

func testStartAfterLatestRuns(t *testing.T, b *bed) {
	f := b.flow("w")
	a, u := f.task("a"), f.task("b")
	f.task("c").StartAfter(a, u)
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")

	ra, rb := b.ctl.waitRun(t, x, "a", 1, 0), b.ctl.waitRun(t, x, "b", 1, 0)
	ra.succeed()
	b.waitRun(x, "a", 1, aiflow.TaskSuccess)
	b.witness(x)
	require.Empty(t, b.runs(x, "c"), "c waits while b runs")
	rb.succeed()
	b.ctl.waitRun(t, x, "c", 1, 0).succeed()
	b.waitRun(x, "c", 1, aiflow.TaskSuccess)

	// a runs again: while a's latest run is RUNNING, b succeeding again does
	// not start c.
	require.NoError(t, b.client.RestartTaskExecution(b.ctx, x, "a"))
	ra2 := b.ctl.waitRun(t, x, "a", 2, 0)
	require.NoError(t, b.client.RestartTaskExecution(b.ctx, x, "b"))
	b.ctl.waitRun(t, x, "b", 2, 0).succeed()
	b.waitRun(x, "b", 2, aiflow.TaskSuccess)
	b.witness(x)
	require.Len(t, b.runs(x, "c"), 1, "a's latest run is RUNNING: c does not start")
	// Once a's latest run succeeds too, c runs again.
	ra2.succeed()
	b.ctl.waitRun(t, x, "c", 2, 0).succeed()
	b.waitRun(x, "c", 2, aiflow.TaskSuccess)
}

func testOnTaskStatus(t *testing.T, b *bed) {
	f := b.flow("w")
	job := f.task("job")
	f.task("alarm").OnTaskStatus(map[*aiflow.Task]aiflow.TaskStatus{job: aiflow.TaskFailed}, aiflow.ActionStart)
	f.task("watch").OnTaskStatus(map[*aiflow.Task]aiflow.TaskStatus{job: aiflow.TaskFailed}, aiflow.ActionStop)
	b.register(f.wf)
	x := b.start("w")
	watch := b.ctl.waitRun(t, x, "watch", 1, 0) // no START rule: starts with the execution
	watch.allowStop()
	b.ctl.waitRun(t, x, "job", 1, 0).fail(errBoom)
	b.waitRun(x, "watch", 1, aiflow.TaskStopped)
	b.ctl.waitRun(t, x, "alarm", 1, 0).succeed()
	b.waitRun(x, "alarm", 1, aiflow.TaskSuccess)
	require.Equal(t, aiflow.WorkflowFailed, b.waitExecution(x, aiflow.WorkflowFailed).Status)
}

func testOnEvent(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t").
		OnEvent("start", aiflow.ActionStart).
		OnEvent("stop", aiflow.ActionStop).
		OnEvent("restart", aiflow.ActionRestart)
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)
	require.Empty(t, b.runs(x, "t"), "a task with a START rule waits for it")

	b.send("start", "")
	r1 := b.ctl.waitRun(t, x, "t", 1, 0)
	b.send("restart", "")
	r1.waitCancelled(t)
	r1.allowStop()
	r2 := b.ctl.waitRun(t, x, "t", 2, 0)
	require.Equal(t, aiflow.TaskStopped, b.runs(x, "t")[0].Status)
	b.send("stop", "")
	r2.waitCancelled(t)
	r2.allowStop()
	b.waitRun(x, "t", 2, aiflow.TaskStopped)
	// RESTART of a task that is not alive starts it.
	b.send("restart", "")
	b.ctl.waitRun(t, x, "t", 3, 0).succeed()
	b.waitRun(x, "t", 3, aiflow.TaskSuccess)
}

// sumTo is met once the values of "n" events add up to at least limit; it
// keeps the sum in the execution's state "sum".
type sumTo struct{ limit int }

func (sumTo) ExpectedKeys() []string { return []string{"n"} }
func (c sumTo) IsMet(cc *aiflow.ConditionContext, ev *aiflow.Event) (bool, error) {
	st := aiflow.ValueState[int](cc, "sum")
	sum, _, err := st.Value()
	if err != nil {
		return false, err
	}
	var v int
	if _, err := fmt.Sscan(ev.Value, &v); err != nil {
		return false, err
	}
	sum += v
	return sum >= c.limit, st.Update(sum)
}

func testConditionStatePerExecution(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t").OnCondition(sumTo{limit: 10}, aiflow.ActionStart)
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")
	send := func(x int64, v string) {
		_, err := b.client.SendEvent(b.ctx, "n", v, &aiflow.SendEventOpts{ExecutionID: x})
		require.NoError(t, err)
	}
	send(x1, "6")
	send(x2, "6")
	b.witness(x1)
	b.witness(x2)
	require.Empty(t, b.runs(x1, "t"))
	send(x1, "4") // x1 reaches 10; x2 stays at 6
	b.ctl.waitRun(t, x1, "t", 1, 0).succeed()
	b.witness(x2)
	require.Empty(t, b.runs(x2, "t"), "state is per execution")
	send(x2, "3")
	b.witness(x2)
	require.Empty(t, b.runs(x2, "t"))
	send(x2, "1")
	b.ctl.waitRun(t, x2, "t", 1, 0).succeed()
}

// countingCondition counts its evaluations (outside the engine's state, to
// observe them) and is met when met is true.
type countingCondition struct {
	key   string
	met   bool
	calls *atomic.Int64
}

func (c countingCondition) ExpectedKeys() []string { return []string{c.key} }
func (c countingCondition) IsMet(cc *aiflow.ConditionContext, _ *aiflow.Event) (bool, error) {
	c.calls.Add(1)
	return c.met, nil
}

func testFirstMetRuleWins(t *testing.T, b *bed) {
	var first, second, third atomic.Int64
	f := b.flow("w")
	f.task("t").
		OnCondition(countingCondition{key: "go", met: false, calls: &first}, aiflow.ActionStart).
		OnCondition(countingCondition{key: "go", met: true, calls: &second}, aiflow.ActionStart).
		OnCondition(countingCondition{key: "go", met: true, calls: &third}, aiflow.ActionStop)
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)
	b.send("go", "")
	b.ctl.waitRun(t, x, "t", 1, 0)
	b.witness(x)
	require.EqualValues(t, 1, first.Load(), "rules are evaluated in declaration order")
	require.EqualValues(t, 1, second.Load(), "the first met rule decides")
	require.EqualValues(t, 0, third.Load(), "rules after the first met one are not evaluated")
	require.Equal(t, aiflow.TaskRunning, b.runs(x, "t")[0].Status, "the STOP rule did not run")
}

func testTasksWithoutStartRule(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("plain")
	f.task("stoponly").OnEvent("s", aiflow.ActionStop)
	f.task("restartonly").OnEvent("r", aiflow.ActionRestart)
	f.task("waits").OnEvent("go", aiflow.ActionStart)
	f.witnessTask()
	b.register(f.wf)
	x := b.start("w")
	for _, task := range []string{"plain", "stoponly", "restartonly"} {
		b.ctl.waitRun(t, x, task, 1, 0)
	}
	b.witness(x)
	require.Empty(t, b.runs(x, "waits"), "a task with a START rule does not start with the execution")
}
