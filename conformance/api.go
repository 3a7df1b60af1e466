package conformance

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
)

// These tests cover the Go API's conveniences: they hold on every store.

// testExecutionIDImpliesNamespace: an event sent to an execution (or as a
// task execution) lands in the execution's namespace without naming it; a
// namespace that contradicts the execution is refused.
func testExecutionIDImpliesNamespace(t *testing.T, b *bed) {
	require.NoError(t, b.client.AddNamespace(b.ctx, "other"))
	f := b.flow("w", aiflow.WithNamespace("other"))
	f.ctl.setAuto("t", nil)
	f.task("t").OnEvent("go", aiflow.ActionStart)
	f.keepAlive()
	b.register(f.wf)
	x := b.startIn("other", "w")
	b.waitExecution(x, aiflow.WorkflowRunning)

	ev, err := b.client.SendEvent(b.ctx, "go", "", &aiflow.SendEventOpts{ExecutionID: x})
	require.NoError(t, err)
	require.Equal(t, "other", ev.Namespace)
	require.Equal(t, "w", ev.Workflow)
	te := b.waitRun(x, "t", 1, aiflow.TaskSuccess)

	ev, err = b.client.SendEvent(b.ctx, "go", "", &aiflow.SendEventOpts{TaskExecutionID: te.ID})
	require.NoError(t, err)
	require.Equal(t, "other", ev.Namespace)
	b.waitRun(x, "t", 2, aiflow.TaskSuccess)

	_, err = b.client.SendEvent(b.ctx, "go", "", &aiflow.SendEventOpts{ExecutionID: x, Namespace: "default"})
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, `SendEventOpts.Namespace "default"`)
	require.ErrorContains(t, err, `namespace "other"`)
}

// testTaskSendOptions: a task's SendEvent takes the client's options: a
// sender of its own, a broadcast, and nothing that names another execution.
func testTaskSendOptions(t *testing.T, b *bed) {
	errs := make(chan error, 1)
	f := b.flow("w")
	f.funcTask("send", func(ctx context.Context, tc *aiflow.TaskContext) error {
		if _, err := tc.SendEvent(ctx, "note", "x", &aiflow.SendEventOpts{Sender: "me"}); err != nil {
			return err
		}
		_, err := tc.SendEvent(ctx, "note", "x", &aiflow.SendEventOpts{ExecutionID: tc.ExecutionID + 1000})
		errs <- err
		return nil
	})
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowSuccess)
	err := <-errs
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, "SendEventOpts.ExecutionID")
	evs := b.eventsN("note", 1)
	require.Len(t, evs, 1)
	require.Equal(t, "me", evs[0].Sender)
	require.Equal(t, x, evs[0].ExecutionID)
}

// testListenStopsAfterMax: ListenEvents returns nil after Max events.
func testListenStopsAfterMax(t *testing.T, b *bed) {
	from, err := b.client.LastPosition(b.ctx)
	require.NoError(t, err)
	for _, v := range []string{"1", "2", "3"} {
		b.send("n", v)
	}
	var got []string
	err = b.client.ListenEvents(b.ctx, &aiflow.EventFilter{After: from, Keys: []string{"n"}, Max: 2}, func(ev aiflow.Event) error {
		got = append(got, ev.Value)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"1", "2"}, got)
}

// testTaskExecutionsInRunOrder: task executions list in run order, and
// SeqNum selects one run.
func testTaskExecutionsInRunOrder(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("a", nil)
	f.ctl.setAuto("b", nil)
	a := f.task("a").OnEvent("again", aiflow.ActionStart)
	f.task("b").StartAfter(a)
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)
	b.send("again", "")
	b.waitRun(x, "b", 1, aiflow.TaskSuccess)
	b.send("again", "")
	b.waitRun(x, "b", 2, aiflow.TaskSuccess)

	tes, err := b.client.ListTaskExecutions(b.ctx, &aiflow.TaskExecutionFilter{ExecutionID: x})
	require.NoError(t, err)
	var order []string
	for _, te := range tes {
		order = append(order, te.Task+"#"+string(rune('0'+te.SeqNum)))
	}
	require.Equal(t, []string{"a#1", "b#1", "a#2", "b#2"}, order)

	second, err := b.client.ListTaskExecutions(b.ctx, &aiflow.TaskExecutionFilter{ExecutionID: x, SeqNum: 2})
	require.NoError(t, err)
	require.Len(t, second, 2)
	for _, te := range second {
		require.Equal(t, 2, te.SeqNum)
	}
	one, err := b.client.ListTaskExecutions(b.ctx, &aiflow.TaskExecutionFilter{ExecutionID: x, Task: "a", SeqNum: 1})
	require.NoError(t, err)
	require.Len(t, one, 1)
	require.Equal(t, tes[0].ID, one[0].ID)
}

// testScheduleForms: "@every" ticks like an interval, and the crontab
// forms (a bare line, a descriptor) are stored as given.
func testScheduleForms(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("t", nil)
	f.task("t")
	b.register(f.wf)
	s, err := b.client.AddWorkflowSchedule(b.ctx, "w", aiflow.Every(time.Second), nil)
	require.NoError(t, err)
	require.Equal(t, "@every 1s", s.Expression)
	b.waitFor("two executions started by @every", func() bool {
		xs, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
		require.NoError(t, err)
		return len(xs) >= 2
	})
	require.NoError(t, b.client.DeleteWorkflowSchedule(b.ctx, s.ID))
	for _, expr := range []string{"@hourly", "*/5 * * * *", "cron@0 3 * * 1"} {
		s, err := b.client.AddWorkflowSchedule(b.ctx, "w", expr, nil)
		require.NoError(t, err, expr)
		got, err := b.client.GetWorkflowSchedule(b.ctx, s.ID)
		require.NoError(t, err)
		require.Equal(t, expr, got.Expression)
	}
	_, err = b.client.AddWorkflowSchedule(b.ctx, "w", "@often", nil)
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, "@every <duration>")
}

// testPeriodicEvery: a periodic task ticks on "@every".
func testPeriodicEvery(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("tick", nil)
	f.task("tick", aiflow.Periodic("@every 1s"))
	b.register(f.wf)
	x := b.start("w")
	// Every tick restarts the task: under load a run can outlast the
	// second and be restarted before it succeeds, so count the runs that
	// succeeded, whatever their numbers.
	var seen []aiflow.TaskStatus
	b.waitForSeen("two runs of task tick in SUCCESS", func() bool {
		seen = seen[:0]
		for _, r := range b.runs(x, "tick") {
			seen = append(seen, r.Status)
		}
		return countOf(seen, aiflow.TaskSuccess) >= 2
	}, func() string { return fmt.Sprintf("runs seen: %v", seen) })
	require.NoError(t, b.client.StopWorkflowExecution(b.ctx, x))
	b.waitExecution(x, aiflow.WorkflowStopped)
}

// countOf counts the elements of s equal to v.
func countOf[T comparable](s []T, v T) int {
	n := 0
	for _, e := range s {
		if e == v {
			n++
		}
	}
	return n
}

// testClientRun: Client.Run runs the client until its context ends, then
// stops it; a client that Run stopped cannot start again.
func testClientRun(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("t", nil)
	f.task("t")
	b.register(f.wf)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- b.client.Run(ctx) }() // the bed's client is started: Run refuses
	require.ErrorIs(t, <-done, aiflow.ErrConflict)
	require.NoError(t, b.client.Stop(b.ctx)) // one client runs the store's tasks: Run's

	cfg := *b.cfg
	cfg.ClientID = "run"
	c, err := aiflow.New(&cfg)
	require.NoError(t, err)
	require.NoError(t, c.Register(b.ctx, f.wf))
	go func() { done <- c.Run(ctx) }()
	x, err := c.StartWorkflowExecution(b.ctx, "w", nil)
	require.NoError(t, err)
	b.waitExecution(x, aiflow.WorkflowSuccess)
	cancel()
	require.NoError(t, <-done)
	require.ErrorIs(t, c.Start(b.ctx), aiflow.ErrConflict, "Run stopped the client")
}

// testExecutionInput: the input given at start is stored with the
// execution and seen by its tasks (TaskContext.Input, AIFLOW_INPUT) and its
// conditions; executions started without one have none.
func testExecutionInput(t *testing.T, b *bed) {
	seen := make(chan string, 2)
	f := b.flow("w")
	f.funcTask("read", func(_ context.Context, tc *aiflow.TaskContext) error {
		seen <- tc.Input
		seen <- tc.TaskEnvMap()[aiflow.EnvInput]
		return nil
	})
	f.ctl.setAuto("cond", nil)
	f.task("cond").OnCondition(aiflow.NewCondition([]string{"check"}, func(cc *aiflow.ConditionContext, ev *aiflow.Event) (bool, error) {
		return cc.Input() == ev.Value, nil
	}), aiflow.ActionStart)
	b.register(f.wf)
	const input = `{"date":"2026-01-01","rows":3}`
	x, err := b.client.StartWorkflowExecution(b.ctx, "w", &aiflow.StartWorkflowOpts{Input: input})
	require.NoError(t, err)
	require.Equal(t, input, <-seen)
	require.Equal(t, input, <-seen)
	got := b.execution(x)
	require.Equal(t, input, got.Input)
	b.waitExecution(x, aiflow.WorkflowRunning)
	_, err = b.client.SendEvent(b.ctx, "check", "not the input", &aiflow.SendEventOpts{ExecutionID: x})
	require.NoError(t, err)
	_, err = b.client.SendEvent(b.ctx, "check", input, &aiflow.SendEventOpts{ExecutionID: x})
	require.NoError(t, err)
	b.waitRun(x, "cond", 1, aiflow.TaskSuccess)
	b.waitExecution(x, aiflow.WorkflowSuccess)
	require.Len(t, b.runs(x, "cond"), 1, "met by the event carrying the input only")
	xs, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
	require.NoError(t, err)
	require.Equal(t, input, xs[0].Input)

	y := b.start("w")
	require.Equal(t, "", <-seen)
	require.Equal(t, "", <-seen)
	require.Empty(t, b.execution(y).Input)

	_, err = b.client.StartWorkflowExecution(b.ctx, "w", &aiflow.StartWorkflowOpts{Input: strings.Repeat("x", aiflow.MaxInputBytes+1)})
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, "StartWorkflowOpts.Input")
}
