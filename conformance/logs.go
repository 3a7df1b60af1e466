package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
)

// logRetention is the TaskLogRetention of the retention test: long enough to
// read a finished task's log before it goes.
const logRetention = 2 * time.Second

func testProgressWhileStopping(t *testing.T, b *bed) {
	f := b.flow("w")
	f.funcTask("saver", func(ctx context.Context, tc *aiflow.TaskContext) error {
		<-ctx.Done()
		// A stopping operator reports how it stopped (a savepoint).
		return tc.ReportStatus(context.WithoutCancel(ctx), "saved at s3://savepoints/1")
	})
	b.register(f.wf)
	x := b.start("w")
	b.waitRun(x, "saver", 1, aiflow.TaskRunning)
	require.NoError(t, b.client.StopTaskExecution(b.ctx, x, "saver"))
	te := b.waitRun(x, "saver", 1, aiflow.TaskStopped)
	require.Equal(t, "saved at s3://savepoints/1", te.StatusMessage)
}

func testTimeoutRetriesShareTheLog(t *testing.T, b *bed) {
	f := b.flow("w")
	f.funcTask("slow", func(ctx context.Context, tc *aiflow.TaskContext) error {
		fmt.Fprintf(tc.Log, "attempt %d started\n", tc.Attempt)
		<-ctx.Done()
		return nil
	}, aiflow.WithTimeout(100*time.Millisecond), aiflow.WithRetry(aiflow.RetryPolicy{MaxAttempts: 2}))
	b.register(f.wf)
	x := b.start("w")
	te := b.waitRun(x, "slow", 1, aiflow.TaskFailed)
	require.Equal(t, 2, te.Attempt)
	require.Equal(t, 2, te.Failures)
	require.Contains(t, te.Error, "timed out after 100ms")
	var seen []string
	for _, ev := range b.eventsN(store.StatusKey("w", "slow"), 5) {
		seen = append(seen, ev.Value)
	}
	require.Equal(t, []string{"QUEUED", "RUNNING", "RETRYING", "RUNNING", "FAILED"}, seen)
	require.Equal(t, "attempt 1 started\nattempt 2 started\n", b.log(te.ID), "one log per task execution, every attempt in it")
}

func testLogRetention(t *testing.T, b *bed) {
	f := b.flow("w")
	f.funcTask("done", func(_ context.Context, tc *aiflow.TaskContext) error {
		fmt.Fprintln(tc.Log, "finished work")
		return nil
	})
	f.funcTask("running", func(ctx context.Context, tc *aiflow.TaskContext) error {
		fmt.Fprintln(tc.Log, "still working")
		<-ctx.Done()
		return nil
	})
	b.register(f.wf)
	x := b.start("w")
	done := b.waitRun(x, "done", 1, aiflow.TaskSuccess)
	require.Equal(t, "finished work\n", b.log(done.ID), "kept until the retention has passed")
	running := b.waitRun(x, "running", 1, aiflow.TaskRunning)
	b.waitFor("the running task's log", func() bool { return b.log(running.ID) == "still working\n" })
	b.waitFor("the finished task's log to be pruned", func() bool { return b.log(done.ID) == "" })
	ended, err := b.client.GetTaskExecution(b.ctx, done.ID)
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(ended.EndedAt), logRetention-100*time.Millisecond, "not before the retention")
	require.Equal(t, "still working\n", b.log(running.ID), "the log of a running task is kept")
}

func testLogDir(t *testing.T, b *bed) {
	f := b.flow("w")
	f.funcTask("twice", func(_ context.Context, tc *aiflow.TaskContext) error {
		fmt.Fprintf(tc.Log, "attempt %d\n", tc.Attempt)
		if tc.Attempt == 1 {
			return errors.New("first attempt fails")
		}
		return nil
	}, aiflow.WithRetry(aiflow.RetryPolicy{MaxAttempts: 2}))
	b.register(f.wf)
	x := b.start("w")
	te := b.waitRun(x, "twice", 1, aiflow.TaskSuccess)
	require.Equal(t, "attempt 1\nattempt 2\n", b.log(te.ID))
	part, next, err := b.client.ReadTaskLog(b.ctx, te.ID, 8, 3)
	require.NoError(t, err)
	require.Equal(t, "1\na", string(part))
	require.EqualValues(t, 11, next)

	path := aiflow.TaskLogPath(b.cfg.TaskLogDir, &te)
	require.True(t, strings.HasSuffix(path, fmt.Sprintf("/default/w/%d/twice/1.log", x)), path)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "attempt 1\nattempt 2\n", string(data))
	inStore, _, err := b.st.ReadTaskLog(b.ctx, te.ID, 0, 0)
	require.NoError(t, err)
	require.Empty(t, inStore, "the log is in the directory, not in the store")
	_, _, err = b.client.ReadTaskLog(b.ctx, 1<<40, 0, 0)
	require.ErrorIs(t, err, aiflow.ErrTaskExecutionNotFound)
}
