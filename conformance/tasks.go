package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
)

// Tasks: attempts, retries, timeouts, sequence numbers, final statuses, logs
// and progress.

func testRetries(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("flaky", aiflow.WithRetry(aiflow.RetryPolicy{MaxAttempts: 3}))
	f.task("broken", aiflow.WithRetry(aiflow.RetryPolicy{MaxAttempts: 2}))
	b.register(f.wf)
	x := b.start("w")
	b.ctl.waitRun(t, x, "flaky", 1, 1).fail(errBoom)
	b.waitRun(x, "flaky", 1, aiflow.TaskRetrying, aiflow.TaskRunning)
	b.ctl.waitRun(t, x, "flaky", 1, 2).fail(errBoom)
	b.ctl.waitRun(t, x, "flaky", 1, 3).succeed()
	te := b.waitRun(x, "flaky", 1, aiflow.TaskSuccess)
	require.Equal(t, 3, te.Attempt)
	require.Equal(t, 2, te.Failures)
	require.Len(t, b.runs(x, "flaky"), 1, "retries are attempts of one task execution")

	b.ctl.waitRun(t, x, "broken", 1, 1).fail(errBoom)
	b.ctl.waitRun(t, x, "broken", 1, 2).fail(errors.New("still broken"))
	te = b.waitRun(x, "broken", 1, aiflow.TaskFailed)
	require.Equal(t, 2, te.Failures)
	require.Contains(t, te.Error, "still broken")
	var seen []string
	for _, ev := range b.eventsN(store.StatusKey("w", "flaky"), 7) {
		seen = append(seen, ev.Value)
	}
	require.Equal(t, []string{"QUEUED", "RUNNING", "RETRYING", "RUNNING", "RETRYING", "RUNNING", "SUCCESS"}, seen)
	require.Equal(t, aiflow.WorkflowFailed, b.waitExecution(x, aiflow.WorkflowFailed).Status)
}

func testRetryBackoff(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t", aiflow.WithRetry(aiflow.RetryPolicy{MaxAttempts: 2, InitialBackoff: 300 * time.Millisecond}))
	b.register(f.wf)
	x := b.start("w")
	b.ctl.waitRun(t, x, "t", 1, 1).fail(errBoom)
	failedAt := time.Now()
	b.ctl.waitRun(t, x, "t", 1, 2).succeed()
	require.GreaterOrEqual(t, time.Since(failedAt), 250*time.Millisecond, "the second attempt waited for the backoff")
	b.waitRun(x, "t", 1, aiflow.TaskSuccess)
}

func testTimeout(t *testing.T, b *bed) {
	f := b.flow("w")
	f.funcTask("slow", func(ctx context.Context, _ *aiflow.TaskContext) error {
		<-ctx.Done()
		return nil // even if the operator returns nil, a timed-out attempt fails
	}, aiflow.WithTimeout(100*time.Millisecond))
	b.register(f.wf)
	x := b.start("w")
	te := b.waitRun(x, "slow", 1, aiflow.TaskFailed)
	require.Contains(t, te.Error, "timed out after 100ms")
}

func testErrorsAndPanics(t *testing.T, b *bed) {
	f := b.flow("w")
	f.funcTask("errs", func(context.Context, *aiflow.TaskContext) error { return errors.New("disk full") })
	f.funcTask("panics", func(context.Context, *aiflow.TaskContext) error { panic("nil map") })
	b.register(f.wf)
	x := b.start("w")
	require.Contains(t, b.waitRun(x, "errs", 1, aiflow.TaskFailed).Error, "disk full")
	require.Contains(t, b.waitRun(x, "panics", 1, aiflow.TaskFailed).Error, "panicked: nil map")
}

func testDenseSequenceNumbers(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("t", nil)
	f.task("t").OnEvent("go", aiflow.ActionStart)
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)
	for i := 1; i <= 5; i++ {
		require.NoError(t, b.client.StartTaskExecution(b.ctx, x, "t"))
		b.waitRun(x, "t", i, aiflow.TaskSuccess)
	}
	rs := b.runs(x, "t")
	require.Len(t, rs, 5)
	ids := map[int64]bool{}
	for i, r := range rs {
		require.Equal(t, i+1, r.SeqNum)
		require.False(t, ids[r.ID], "ids are unique")
		ids[r.ID] = true
	}
}

func testLogsAndProgress(t *testing.T, b *bed) {
	f := b.flow("w")
	reported := make(chan struct{})
	f.funcTask("chatty", func(ctx context.Context, tc *aiflow.TaskContext) error {
		fmt.Fprintln(tc.Log, "line one")
		fmt.Fprintln(tc.Log, "line two")
		if err := tc.ReportStatus(ctx, "halfway"); err != nil {
			return err
		}
		if err := tc.ReportMetrics(ctx, map[string]float64{"rows": 42}); err != nil {
			return err
		}
		close(reported)
		<-ctx.Done()
		return nil
	})
	b.register(f.wf)
	x := b.start("w")
	select {
	case <-reported:
	case <-time.After(waitTimeout):
		t.Fatalf("the task did not report within %s", waitTimeout)
	}
	te := b.runs(x, "chatty")[0]
	require.Equal(t, "halfway", te.StatusMessage)
	require.Equal(t, 42.0, te.Metrics["rows"])
	require.NoError(t, b.client.StopWorkflowExecution(b.ctx, x))
	b.waitRun(x, "chatty", 1, aiflow.TaskStopped)
	b.waitFor("the task log", func() bool {
		data, _, err := b.client.ReadTaskLog(b.ctx, te.ID, 0, 0)
		require.NoError(t, err)
		return strings.Contains(string(data), "line one\nline two\n")
	})
	part, next, err := b.client.ReadTaskLog(b.ctx, te.ID, 5, 3)
	require.NoError(t, err)
	require.Equal(t, "one", string(part))
	require.EqualValues(t, 8, next)
}

func testLateReportsRefused(t *testing.T, b *bed) {
	f := b.flow("w")
	kept := make(chan *aiflow.TaskContext, 1)
	f.funcTask("t", func(ctx context.Context, tc *aiflow.TaskContext) error {
		if err := tc.ReportStatus(ctx, "working"); err != nil {
			return err
		}
		kept <- tc
		return nil
	})
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	var tc *aiflow.TaskContext
	select {
	case tc = <-kept:
	case <-time.After(waitTimeout):
		t.Fatalf("the task did not run within %s", waitTimeout)
	}
	te := b.waitRun(x, "t", 1, aiflow.TaskSuccess)
	// The operator reports after its run ended: refused, and nothing changes.
	err := tc.ReportStatus(b.ctx, "late")
	require.ErrorIs(t, err, aiflow.ErrConflict)
	err = tc.ReportMetrics(b.ctx, map[string]float64{"late": 1})
	require.ErrorIs(t, err, aiflow.ErrConflict)
	got, gerr := b.client.GetTaskExecution(b.ctx, te.ID)
	require.NoError(t, gerr)
	require.Equal(t, aiflow.TaskSuccess, got.Status, "a finished status is final")
	require.Equal(t, "working", got.StatusMessage)
	require.NotContains(t, got.Metrics, "late")
	require.Equal(t, te.EndedAt, got.EndedAt)
}
