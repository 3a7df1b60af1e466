package aiflowtest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowtest"
	"github.com/aiflow-go/aiflow/operators"
)

func TestScheduleTicksOnTheFakeClock(t *testing.T) {
	wf := aiflow.NewWorkflow("w")
	wf.Task("t", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil }))
	env := aiflowtest.New(t, &aiflowtest.Opts{Start: time.Date(2030, 5, 1, 9, 30, 0, 0, time.UTC)}, wf)
	s, err := env.Client.AddWorkflowSchedule(env.Context(), "w", "0 * * * *", nil)
	require.NoError(t, err)
	at := env.AdvanceToNextTick()
	require.Equal(t, time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC), at)
	var xs []aiflow.WorkflowExecution
	require.Eventually(t, func() bool {
		xs, err = env.Client.ListWorkflowExecutions(env.Context(), &aiflow.ExecutionFilter{Workflow: "w"})
		require.NoError(t, err)
		return len(xs) == 1
	}, 10*time.Second, 5*time.Millisecond)
	x := env.WaitExecution(xs[0].ID)
	require.Equal(t, aiflow.WorkflowSuccess, x.Status)
	require.Equal(t, s.ID, x.ScheduleID)
	require.Empty(t, env.Events(x.ID), "the workflow sent no user event")
}

func TestRunConditionAllOfKeepsFlagsAndRollsBackErrors(t *testing.T) {
	boom := errors.New("boom")
	failing := aiflow.NewCondition([]string{"b"}, func(*aiflow.ConditionContext, *aiflow.Event) (bool, error) { return false, boom })
	cond := aiflow.AllOf(aiflow.EventCondition("a"), aiflow.AnyOf(aiflow.EventCondition("c"), failing))
	res := aiflowtest.RunCondition(cond, []aiflow.Event{{Key: "a"}, {Key: "b"}, {Key: "c"}, {Key: "z"}}, nil)
	require.Len(t, res.Decisions, 4)
	require.False(t, res.Decisions[0].Met)
	require.ErrorIs(t, res.Decisions[1].Err, boom)
	require.True(t, res.Decisions[2].Met, "a's flag survived b's failed evaluation")
	require.False(t, res.Decisions[3].Expected)
	require.Equal(t, []aiflow.Event{{Key: "c"}}, res.Met())
	require.Len(t, res.State, 1)

	status := aiflow.NewCondition([]string{"s"}, func(cc *aiflow.ConditionContext, _ *aiflow.Event) (bool, error) {
		st, ok := cc.TaskStatus("train")
		return ok && st == aiflow.TaskSuccess && cc.Namespace() == "ml", nil
	})
	res = aiflowtest.RunCondition(status, []aiflow.Event{{Key: "s"}}, &aiflow.ConditionRunOpts{
		Namespace: "ml", TaskStatuses: map[string]aiflow.TaskStatus{"train": aiflow.TaskSuccess},
	})
	require.True(t, res.Decisions[0].Met)
}

func TestRunConditionPanicIsAnError(t *testing.T) {
	cond := aiflow.NewCondition([]string{"k"}, func(*aiflow.ConditionContext, *aiflow.Event) (bool, error) { panic("bug") })
	res := aiflowtest.RunCondition(cond, []aiflow.Event{{Key: "k"}}, nil)
	require.ErrorContains(t, res.Decisions[0].Err, "condition panicked: bug")
}

// On the real clock, a streaming task that a restart interrupts runs again
// in the next client; the waits and the log go on across the stop.
func TestRestartOnTheRealClock(t *testing.T) {
	wf := aiflow.NewWorkflow("w")
	wf.Task("serve", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		_, _ = fmt.Fprintf(tc.Log, "attempt %d serving\n", tc.Attempt)
		<-ctx.Done()
		return ctx.Err()
	}), aiflow.Streaming())
	env := aiflowtest.New(t, &aiflowtest.Opts{RealClock: true, Timeout: 30 * time.Second}, wf)
	require.Nil(t, env.Clock)
	id, te := env.RunTask("w", "serve", aiflow.TaskRunning)
	env.WaitTaskLog(te.ID, `attempt 1 serving`)

	env.Stop()
	te = env.WaitTaskExecution(id, "serve", 1, aiflow.TaskRetrying) // interrupted, to run again

	env.Restart()
	env.WaitTaskLog(te.ID, `attempt 2 serving`)
	te = env.WaitTaskExecution(id, "serve", 1, aiflow.TaskRunning)
	require.Equal(t, 2, te.Attempt)
}
