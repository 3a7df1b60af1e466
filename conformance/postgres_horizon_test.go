package conformance_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/operators"
)

// TestPostgresTaskStartsPromptlyAfterTheHorizonPasses runs the whole library:
// an event sent while an unrelated transaction is open (holding back the
// horizon of the event log) starts its task promptly once that transaction
// ends, with the consumers' and the store's polls an hour apart, so that
// only the store's horizon watcher can wake them in time. It does not run in
// parallel: while it holds the horizon, other tests would wait.
func TestPostgresTaskStartsPromptlyAfterTheHorizonPasses(t *testing.T) {
	pgtest.Require(t)
	ctx := context.Background()
	pool := pgtest.Pool(t, 10)
	cfg := postgresConfig(t, pool)
	cfg.EventPollInterval = time.Hour
	s := openPostgresStore(t, pool, cfg)

	started := make(chan time.Time, 1)
	wf := aiflow.NewWorkflow("w")
	wf.Task("t", operators.Func(func(context.Context, *aiflow.TaskContext) error {
		started <- time.Now()
		return nil
	})).OnEvent("go", aiflow.ActionStart)
	wf.Task("keep", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).OnEvent("never", aiflow.ActionStart)
	c, err := aiflow.New(&aiflow.Config{Store: s, Logger: cfg.Logger,
		PollInterval: time.Hour, LeaseTTL: 3 * time.Second})
	require.NoError(t, err)
	require.NoError(t, c.Register(ctx, wf))
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(sctx))
	})
	x, err := c.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	waitRunning(t, c, x)

	// The listener's catch-up after connecting wakes every consumer: let the
	// store's LISTEN session be there before the transaction begins.
	eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE query LIKE 'LISTEN %' AND strpos(query, $1) > 0`, cfg.Schema).Scan(&n))
		return n >= 1
	}, "the listener connects")

	// Hold the horizon: a transaction that holds an xid keeps every event
	// committed after it unreadable until it ends.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	var xid uint64
	require.NoError(t, tx.QueryRow(ctx, "SELECT pg_current_xact_id()").Scan(&xid))
	released := false
	release := func() {
		if !released {
			released = true
			require.NoError(t, tx.Rollback(ctx))
		}
	}
	t.Cleanup(release)

	_, err = c.SendEvent(ctx, "go", "", nil)
	require.NoError(t, err)
	eventually(t, func() bool { _, waiting := s.HorizonHolder(); return waiting }, "a reader finds the event waiting above the horizon")
	select {
	case <-started:
		t.Fatal("the task started before the open transaction ended")
	default:
	}
	at := time.Now()
	release()
	const promptly = 15 * time.Second // well below the hour between polls
	select {
	case st := <-started:
		t.Logf("the task started %s after the transaction ended", st.Sub(at))
	case <-time.After(promptly):
		t.Fatalf("the task did not start within %s of the transaction's end (polls are an hour apart)", promptly)
	}
}
