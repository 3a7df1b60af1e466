package aiflow_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/memory"
)

// TestRestartsWhileOneWaitsAreCoalesced sends several RESTARTs while the
// first one waits for the old run to stop: they give exactly one new run,
// whose note says the later ones were ignored, and it starts once the old
// run has stopped.
func TestRestartsWhileOneWaitsAreCoalesced(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	release := make(chan struct{})
	var started atomic.Int32
	w := aiflow.NewWorkflow("w")
	// Each run keeps running until stopped, then stays STOPPING until the
	// test releases it.
	w.Task("t", operators.Func(func(ctx context.Context, _ *aiflow.TaskContext) error {
		started.Add(1)
		<-ctx.Done()
		<-release
		return nil
	})).OnEvent("again", aiflow.ActionRestart)
	// witness starts on an event sent after the RESTARTs: once it exists,
	// the execution has applied them all.
	w.Task("witness", noop()).OnEvent("witness", aiflow.ActionStart)
	client, err := aiflow.New(&aiflow.Config{Store: memory.New(nil), PollInterval: 20 * time.Millisecond, StopTimeout: 100 * time.Millisecond, StopGracePeriod: time.Minute})
	require.NoError(t, err)
	require.NoError(t, client.Register(ctx, w))
	require.NoError(t, client.Start(ctx))
	defer func() { require.NoError(t, client.Stop(context.Background())) }()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	id, err := client.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	runs := func(task string) []aiflow.TaskExecution {
		tes, err := client.ListTaskExecutions(ctx, &aiflow.TaskExecutionFilter{ExecutionID: id, Task: task})
		require.NoError(t, err)
		return tes
	}
	bySeq := func(tes []aiflow.TaskExecution, seq int) aiflow.TaskExecution {
		for _, te := range tes {
			if te.SeqNum == seq {
				return te
			}
		}
		t.Fatalf("no run %d in %+v", seq, tes)
		return aiflow.TaskExecution{}
	}
	send := func(key string) {
		_, err := client.SendEvent(ctx, key, "", nil)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { r := runs("t"); return len(r) == 1 && r[0].Status == aiflow.TaskRunning }, 30*time.Second, 5*time.Millisecond)

	for range 4 {
		send("again")
	}
	send("witness")
	require.Eventually(t, func() bool { return len(runs("witness")) == 1 }, 30*time.Second, 5*time.Millisecond)
	tes := runs("t")
	require.Len(t, tes, 2, "four RESTARTs while the first waits give one new run")
	require.Equal(t, aiflow.TaskStopping, bySeq(tes, 1).Status)
	second := bySeq(tes, 2)
	require.Equal(t, aiflow.TaskInit, second.Status, "the new run waits for the old one to stop")
	require.True(t, strings.Contains(second.Note, "a restart is already waiting for the previous run to stop"), "note: %q", second.Note)
	require.EqualValues(t, 1, started.Load())

	close(release)
	require.Eventually(t, func() bool {
		r := runs("t")
		return len(r) == 2 && bySeq(r, 1).Status == aiflow.TaskStopped && bySeq(r, 2).Status == aiflow.TaskRunning
	}, 30*time.Second, 5*time.Millisecond)
	// RUNNING is recorded before the body runs: wait for the body itself.
	require.Eventually(t, func() bool { return started.Load() == 2 }, 30*time.Second, 5*time.Millisecond)
	require.EqualValues(t, 2, started.Load(), "the new run's body ran once")
	require.Len(t, runs("t"), 2)
}
