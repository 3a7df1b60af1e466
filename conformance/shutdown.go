package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
)

// Shutdown: what Client.Stop does to running tasks.

func testGracefulStop(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("batch")
	f.funcTask("stream", func(ctx context.Context, tc *aiflow.TaskContext) error {
		<-ctx.Done()
		return ctx.Err()
	}, aiflow.Streaming())
	b.register(f.wf)
	x := b.start("w")
	rb := b.ctl.waitRun(t, x, "batch", 1, 0)
	b.waitRun(x, "stream", 1, aiflow.TaskRunning)
	stopped := make(chan error, 1)
	go func() { stopped <- b.client.Stop(context.Background()) }()
	// The streaming task is interrupted at once; the batch task drains.
	te := b.waitRun(x, "stream", 1, aiflow.TaskRetrying)
	require.Equal(t, 1, te.Attempt)
	rb.succeed()
	require.NoError(t, <-stopped)
	require.Equal(t, aiflow.TaskSuccess, b.runs(x, "batch")[0].Status, "a batch task finishes within StopTimeout")
}

// stopTimeout is the StopTimeout of the test of its expiry.
const stopTimeout = 500 * time.Millisecond

func testStopTimeoutCancels(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("batch")
	b.register(f.wf)
	x := b.start("w")
	r := b.ctl.waitRun(t, x, "batch", 1, 0)
	b.waitRun(x, "batch", 1, aiflow.TaskRunning)
	r.allowStop() // once cancelled, the operator returns at once

	began := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- b.client.Stop(context.Background()) }()
	// The batch task is drained first, then cancelled when StopTimeout ends.
	r.waitCancelled(t)
	require.GreaterOrEqual(t, time.Since(began), stopTimeout-50*time.Millisecond, "the task was given StopTimeout to finish")
	select {
	case err := <-stopped:
		require.NoError(t, err, "StopTimeout expiring is the documented path, not an error")
	case <-time.After(waitTimeout):
		t.Fatalf("Stop did not return within %s", waitTimeout)
	}
	// Interrupted, not failed: it ends RETRYING for another client to run.
	te := b.waitRun(x, "batch", 1, aiflow.TaskRetrying, aiflow.TaskFailed, aiflow.TaskSuccess, aiflow.TaskStopped)
	require.Equal(t, aiflow.TaskRetrying, te.Status)
	require.Equal(t, 1, te.Attempt)
	require.Zero(t, te.Failures, "an interrupted attempt is not a failure")
	require.Equal(t, aiflow.WorkflowRunning, b.execution(x).Status)

	// The next client on the store runs it again, as attempt 2 of the same
	// task execution.
	next, err := aiflow.New(&aiflow.Config{
		Store: b.cfg.Store, Logger: b.cfg.Logger, PollInterval: b.cfg.PollInterval, StopTimeout: b.cfg.StopTimeout,
		StopGracePeriod: b.cfg.StopGracePeriod, LeaseTTL: b.cfg.LeaseTTL, ClientID: "next",
	})
	require.NoError(t, err)
	require.NoError(t, next.Register(b.ctx, f.wf))
	require.NoError(t, next.Start(b.ctx))
	t.Cleanup(func() { _ = next.Stop(context.Background()) })
	b.ctl.waitRun(t, x, "batch", 1, 2).succeed()
	te = b.waitRun(x, "batch", 1, aiflow.TaskSuccess)
	require.Equal(t, 2, te.Attempt)
	require.Len(t, b.runs(x, "batch"), 1, "the same task execution, not a new one")
	require.Equal(t, aiflow.WorkflowSuccess, b.waitExecution(x, aiflow.WorkflowSuccess).Status)
	require.NoError(t, next.Stop(b.ctx))
}
