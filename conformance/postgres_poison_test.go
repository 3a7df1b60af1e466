package conformance_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// eventually waits up to 20 s for cond, checking it every 5 ms.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 20*time.Second, 5*time.Millisecond, msg)
}

// openPostgresStore is openPostgres for a test that needs the Postgres store
// itself; the store is closed when the test ends.
func openPostgresStore(t *testing.T, pool *pgxpool.Pool, cfg *postgres.Config) *postgres.Store {
	t.Helper()
	s := openPostgres(t, pool, cfg).(*postgres.Store)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// explodingCondition panics on events whose value is "bad", counting its
// calls on them, and is met otherwise.
type explodingCondition struct{ bad *atomic.Int64 }

func (explodingCondition) ExpectedKeys() []string { return []string{"n"} }
func (c explodingCondition) IsMet(_ *aiflow.ConditionContext, ev *aiflow.Event) (bool, error) {
	if ev.Value == "bad" {
		c.bad.Add(1)
		panic("condition bug")
	}
	return true, nil
}

// recordedAttempts is the largest count of failed attempts recorded in any
// partition of the schema.
func recordedAttempts(t *testing.T, pool *pgxpool.Pool, schema string) int {
	t.Helper()
	var n int
	err := pool.QueryRow(context.Background(), `SELECT coalesce(max((f->>'attempts')::int), 0)
		FROM `+schema+`.aiflow_partition, jsonb_array_elements(coalesce(failures, '[]')) AS f`).Scan(&n)
	require.NoError(t, err)
	return n
}

// TestPostgresPoisonBoundHoldsAcrossClients: the failed attempts at applying
// an event are counted with the partition, so a client that takes the
// partition over (here after the first one stopped) goes on counting instead
// of starting again: with a bound equal to what the first client reached,
// the second skips the event as poison without evaluating the condition
// again.
func TestPostgresPoisonBoundHoldsAcrossClients(t *testing.T) {
	pgtest.Require(t)
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, 10)
	cfg := postgresConfig(t, pool)
	s1 := openPostgresStore(t, pool, cfg)

	newClient := func(s *postgres.Store, id string, attempts int, bad *atomic.Int64) *aiflow.Client {
		wf := aiflow.NewWorkflow("w")
		wf.Task("t", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
			OnCondition(explodingCondition{bad}, aiflow.ActionStart)
		c, err := aiflow.New(&aiflow.Config{Store: s, ClientID: id, Logger: cfg.Logger, PollInterval: 50 * time.Millisecond,
			LeaseTTL: 2 * time.Second, PoisonAttempts: attempts})
		require.NoError(t, err)
		require.NoError(t, c.Register(ctx, wf))
		require.NoError(t, c.Start(ctx))
		return c
	}
	stop := func(c *aiflow.Client) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(sctx))
	}

	var bad1 atomic.Int64
	c1 := newClient(s1, "first", 1000, &bad1)
	x, err := c1.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	waitRunning(t, c1, x)
	_, err = c1.SendEvent(ctx, "n", "bad", &aiflow.SendEventOpts{ExecutionID: x})
	require.NoError(t, err)
	eventually(t, func() bool { return recordedAttempts(t, pool, cfg.Schema) >= 2 }, "the first client records failed attempts")
	stop(c1)
	reached := recordedAttempts(t, pool, cfg.Schema)

	// Another process on the same schema.
	cfg2 := *cfg
	s2 := openPostgresStore(t, pool, &cfg2)
	var bad2 atomic.Int64
	c2 := newClient(s2, "second", reached, &bad2)
	defer stop(c2)
	var poison []aiflow.Event
	eventually(t, func() bool {
		evs, _, err := c2.ListEvents(ctx, &aiflow.EventFilter{Keys: []string{store.KeyPoisonEvent}})
		require.NoError(t, err)
		poison = evs
		return len(evs) == 1
	}, "the event is skipped as poison")
	require.Contains(t, poison[0].Value, "condition panicked: condition bug")
	require.Equal(t, x, poison[0].ExecutionID)
	require.Zero(t, bad2.Load(), "the second client went on from the first one's count")
	// The execution goes on after the skipped event.
	_, err = c2.SendEvent(ctx, "n", "good", &aiflow.SendEventOpts{ExecutionID: x})
	require.NoError(t, err)
	eventually(t, func() bool {
		tes, err := c2.ListTaskExecutions(ctx, &aiflow.TaskExecutionFilter{ExecutionID: x, Task: "t"})
		require.NoError(t, err)
		return len(tes) == 1 && tes[0].Status == aiflow.TaskSuccess
	}, "the task starts on the next event")
}
