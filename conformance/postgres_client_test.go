package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// These tests run the whole library (engine, runtime, client) on the
// Postgres store alone, for what only a shared database has: clients that
// restart on it, and replicas that share it.

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func clientConfig(t *testing.T) *postgres.Config {
	return &postgres.Config{
		Logger:            slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		EventPollInterval: 100 * time.Millisecond,
		FetchPollInterval: 100 * time.Millisecond,
		TaskHeartbeat:     200 * time.Millisecond,
		TaskLeaseTTL:      2 * time.Second,
		ReapInterval:      200 * time.Millisecond,
		LeaderTTL:         time.Second,
	}
}

// openClient opens a store on schema (migrating it) and a started client on
// it with workflows, both stopped when the test ends.
func openClient(t *testing.T, pool *pgxpool.Pool, cfg *postgres.Config, id string, workflows ...*aiflow.Workflow) (*aiflow.Client, *postgres.Store) {
	t.Helper()
	ctx := context.Background()
	_, err := postgres.Migrate(ctx, pool, cfg)
	require.NoError(t, err)
	st, err := postgres.New(ctx, pool, cfg)
	require.NoError(t, err)
	c, err := aiflow.New(&aiflow.Config{Store: st, ClientID: id, Logger: cfg.Logger, PollInterval: 200 * time.Millisecond, LeaseTTL: 2 * time.Second})
	require.NoError(t, err)
	require.NoError(t, c.Register(ctx, workflows...))
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(sctx)
		require.NoError(t, st.Close())
	})
	return c, st
}

func waitExecution(t *testing.T, c *aiflow.Client, id int64) *aiflow.WorkflowExecution {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	x, err := c.WaitWorkflowExecution(ctx, id)
	require.NoError(t, err)
	return x
}

func TestClientRunsQuickstartWorkflow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, 10)
	cfg := clientConfig(t)
	cfg.Schema = pgtest.SchemaName(t, pool)

	wf := aiflow.NewWorkflow("quickstart")
	t1 := wf.Task("task1", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil }))
	t2 := wf.Task("task2", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil }))
	t3 := wf.Task("task3", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		_, err := tc.SendEvent(ctx, "key", "hello", nil)
		return err
	}))
	t4 := wf.Task("task4", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil }))
	t3.StartAfter(t1, t2)
	t4.OnEvent("key", aiflow.ActionStart)
	c, _ := openClient(t, pool, cfg, "c1", wf)

	id, err := c.StartWorkflowExecution(ctx, "quickstart", nil)
	require.NoError(t, err)
	x := waitExecution(t, c, id)
	require.Equal(t, aiflow.WorkflowSuccess, x.Status)
	tes, err := c.ListTaskExecutions(ctx, &aiflow.TaskExecutionFilter{ExecutionID: id})
	require.NoError(t, err)
	require.Len(t, tes, 4, "each task ran exactly once")
	for _, te := range tes {
		require.Equal(t, aiflow.TaskSuccess, te.Status, te.Task)
		require.Equal(t, 1, te.SeqNum)
		require.Equal(t, 1, te.Attempt)
	}
}

func TestClientStopsAndRestartsStreamingTask(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, 10)
	cfg := clientConfig(t)
	cfg.Schema = pgtest.SchemaName(t, pool)
	var runs atomic.Int32
	wf := aiflow.NewWorkflow("streams")
	wf.Task("stream", operators.Func(func(ctx context.Context, _ *aiflow.TaskContext) error {
		runs.Add(1)
		<-ctx.Done()
		return ctx.Err()
	}), aiflow.Streaming()).
		OnEvent("restart", aiflow.ActionRestart).
		OnEvent("stop", aiflow.ActionStop)
	c, _ := openClient(t, pool, cfg, "c1", wf)
	id, err := c.StartWorkflowExecution(ctx, "streams", nil)
	require.NoError(t, err)

	waitTask := func(seq int, status aiflow.TaskStatus) {
		t.Helper()
		require.Eventually(t, func() bool {
			tes, err := c.ListTaskExecutions(ctx, &aiflow.TaskExecutionFilter{ExecutionID: id})
			require.NoError(t, err)
			return len(tes) >= seq && tes[seq-1].Status == status
		}, 30*time.Second, 10*time.Millisecond, "stream #%d %s", seq, status)
	}
	waitTask(1, aiflow.TaskRunning)
	_, err = c.SendEvent(ctx, "restart", "", nil)
	require.NoError(t, err)
	waitTask(1, aiflow.TaskStopped)
	waitTask(2, aiflow.TaskRunning)
	_, err = c.SendEvent(ctx, "stop", "", nil)
	require.NoError(t, err)
	waitTask(2, aiflow.TaskStopped)
	require.Equal(t, int32(2), runs.Load())
	// Nothing is alive and nothing can start the task again: the execution
	// has finished.
	x := waitExecution(t, c, id)
	require.Equal(t, aiflow.WorkflowSuccess, x.Status)
}

func TestClientRetriesFailedAttempt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, 10)
	cfg := clientConfig(t)
	cfg.Schema = pgtest.SchemaName(t, pool)
	var attempts atomic.Int32
	wf := aiflow.NewWorkflow("retries")
	wf.Task("flaky", operators.Func(func(context.Context, *aiflow.TaskContext) error {
		if attempts.Add(1) == 1 {
			return errors.New("first attempt fails")
		}
		return nil
	}), aiflow.WithRetry(aiflow.RetryPolicy{MaxAttempts: 3}))
	c, _ := openClient(t, pool, cfg, "c1", wf)
	id, err := c.StartWorkflowExecution(ctx, "retries", nil)
	require.NoError(t, err)
	x := waitExecution(t, c, id)
	require.Equal(t, aiflow.WorkflowSuccess, x.Status)
	tes, err := c.ListTaskExecutions(ctx, &aiflow.TaskExecutionFilter{ExecutionID: id})
	require.NoError(t, err)
	require.Len(t, tes, 1)
	require.Equal(t, 2, tes[0].Attempt)
	require.Equal(t, 1, tes[0].Failures)
	require.Equal(t, aiflow.TaskSuccess, tes[0].Status)
}

func TestReplicasShareOneDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, 16)
	cfg := clientConfig(t)
	cfg.Schema = pgtest.SchemaName(t, pool)
	var mu sync.Mutex
	ran := map[string]int{} // "execution/task" -> runs
	newWorkflow := func() *aiflow.Workflow {
		wf := aiflow.NewWorkflow("chain")
		var prev *aiflow.Task
		for i := range 3 {
			task := wf.Task(fmt.Sprintf("t%d", i), operators.Func(func(_ context.Context, tc *aiflow.TaskContext) error {
				mu.Lock()
				ran[fmt.Sprintf("%d/%s", tc.ExecutionID, tc.Task)]++
				mu.Unlock()
				return nil
			}))
			if prev != nil {
				task.StartAfter(prev)
			}
			prev = task
		}
		return wf
	}
	a, _ := openClient(t, pool, cfg, "replica-a", newWorkflow())
	b, _ := openClient(t, pool, cfg, "replica-b", newWorkflow())
	require.Eventually(t, func() bool {
		return len(a.Owned())+len(b.Owned()) == postgres.PartitionsDefault && len(a.Owned()) > 0 && len(b.Owned()) > 0
	}, 30*time.Second, 20*time.Millisecond, "the replicas share the partitions")

	var ids []int64
	for i := range 10 {
		c := a
		if i%2 == 1 {
			c = b
		}
		id, err := c.StartWorkflowExecution(ctx, "chain", nil)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	for _, id := range ids {
		require.Equal(t, aiflow.WorkflowSuccess, waitExecution(t, a, id).Status)
		tes, err := a.ListTaskExecutions(ctx, &aiflow.TaskExecutionFilter{ExecutionID: id})
		require.NoError(t, err)
		require.Len(t, tes, 3, "no task execution created twice")
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, ran, 30)
	for k, n := range ran {
		require.Equal(t, 1, n, "%s ran %d times", k, n)
	}
}
