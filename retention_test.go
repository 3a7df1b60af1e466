package aiflow_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/memory"
)

// TestRetentionFollowsTheClock: with a fake clock, the leader deletes a
// finished execution and its events only once the clock has passed the
// retention, and keeps a running execution.
func TestRetentionFollowsTheClock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clock := clockwork.NewFakeClockAt(t0)
	st := memory.New(&memory.Config{Clock: clock})
	const retention = 24 * time.Hour
	client, err := aiflow.New(&aiflow.Config{
		Logger: slog.New(slog.NewTextHandler(&tlog{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Store:  st, Clock: clock, StopTimeout: time.Second, StopGracePeriod: time.Second,
		Retention: &aiflow.Retention{Executions: retention, Events: retention},
	})
	require.NoError(t, err)
	done := aiflow.NewWorkflow("done")
	done.Task("work", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil }))
	live := aiflow.NewWorkflow("live")
	live.Task("wait", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).OnEvent("never", aiflow.ActionStart)
	require.NoError(t, client.Register(ctx, done, live))
	require.NoError(t, client.Start(ctx))
	defer func() { _ = client.Stop(context.Background()) }()

	running, err := client.StartWorkflowExecution(ctx, "live", nil)
	require.NoError(t, err)
	x, err := client.StartWorkflowExecution(ctx, "done", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		e, err := client.GetWorkflowExecution(ctx, x)
		return err == nil && e.Status == aiflow.WorkflowSuccess
	}, 30*time.Second, 5*time.Millisecond)
	count := func() int {
		evs, _, err := client.ListEvents(ctx, &aiflow.EventFilter{})
		require.NoError(t, err)
		return len(evs)
	}
	require.Positive(t, count())

	// Before the retention has passed, a dry run finds nothing.
	res, err := client.Prune(ctx, &aiflow.PruneOpts{DryRun: true})
	require.NoError(t, err)
	require.Zero(t, res, "nothing is old yet")

	// A day later, the leader's next prune (about every tenth of the
	// retention) deletes them.
	clock.Advance(retention + time.Minute)
	require.Eventually(t, func() bool {
		clock.Advance(retention / 10)
		_, err := client.GetWorkflowExecution(ctx, x)
		return errors.Is(err, aiflow.ErrNotFound) && count() == 0
	}, 30*time.Second, 10*time.Millisecond, "the finished execution and the consumed events are pruned")
	e, err := client.GetWorkflowExecution(ctx, running)
	require.NoError(t, err, "a running execution is kept")
	require.Equal(t, aiflow.WorkflowRunning, e.Status)
}

func TestRetentionRefusesNegativeDurations(t *testing.T) {
	_, err := aiflow.New(&aiflow.Config{Store: memory.New(nil), Retention: &aiflow.Retention{Events: -time.Hour}})
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, "Config.Retention.Events is -1h0m0s: expected a positive duration, or 0 to keep events forever")

	c, err := aiflow.New(&aiflow.Config{Store: memory.New(nil)})
	require.NoError(t, err)
	_, err = c.Prune(context.Background(), &aiflow.PruneOpts{Retention: &aiflow.Retention{Executions: -1}})
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, "PruneOpts.Retention.Executions is -1ns")
}

// electedStore is a client's view of a memory store whose election it wins
// or never wins (a memory store elects every client), and that counts its
// client's prunes of idempotency keys.
type electedStore struct {
	*memory.Store
	leads  bool
	prunes atomic.Int64
}

func (s *electedStore) Elect(ctx context.Context, owner string) (<-chan bool, error) {
	if s.leads {
		return s.Store.Elect(ctx, owner)
	}
	ch := make(chan bool)
	go func() {
		<-ctx.Done()
		close(ch)
	}()
	return ch, nil
}

func (s *electedStore) PruneIdempotencyKeys(ctx context.Context, before time.Time) (int, error) {
	s.prunes.Add(1)
	return s.Store.PruneIdempotencyKeys(ctx, before)
}

// TestIdempotencyKeysArePrunedByTheLeaderOnly: of two started clients, only
// the elected leader prunes idempotency keys, and only keys older than
// Config.IdempotencyKeyRetention; then a call with the key acts again.
func TestIdempotencyKeysArePrunedByTheLeaderOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clock := clockwork.NewFakeClockAt(t0)
	base := memory.New(&memory.Config{Clock: clock})
	const retention = time.Hour
	start := func(st *electedStore) *aiflow.Client {
		c, err := aiflow.New(&aiflow.Config{Store: st, Clock: clock, IdempotencyKeyRetention: retention,
			Retention: &aiflow.Retention{}, StopTimeout: time.Second, StopGracePeriod: time.Second})
		require.NoError(t, err)
		require.NoError(t, c.Start(ctx))
		t.Cleanup(func() { _ = c.Stop(context.Background()) })
		return c
	}
	leader, follower := &electedStore{Store: base, leads: true}, &electedStore{Store: base.Replica()}
	start(leader)
	other := start(follower)

	first, err := other.SendEvent(ctx, "k", "", &aiflow.SendEventOpts{IdempotencyKey: "once"})
	require.NoError(t, err)
	key := store.IdempotencyKey{Namespace: store.DefaultNamespace, Kind: store.IdempotencySendEvent, Key: "once"}
	require.Eventually(t, func() bool { return leader.prunes.Load() > 0 }, 10*time.Second, 5*time.Millisecond,
		"the leader prunes once it is elected")
	_, ok, err := base.LookupIdempotencyKey(ctx, key)
	require.NoError(t, err)
	require.True(t, ok, "a key younger than the retention is kept")

	require.Eventually(t, func() bool {
		clock.Advance(retention / 10) // the pruner's interval
		_, ok, err := base.LookupIdempotencyKey(ctx, key)
		require.NoError(t, err)
		return !ok
	}, 10*time.Second, 5*time.Millisecond, "the key is pruned after the retention")
	require.GreaterOrEqual(t, clock.Since(t0), retention, "not before the retention has passed")
	require.Zero(t, follower.prunes.Load(), "a client that does not lead prunes no idempotency keys")
	again, err := other.SendEvent(ctx, "k", "", &aiflow.SendEventOpts{IdempotencyKey: "once"})
	require.NoError(t, err)
	require.NotEqual(t, first.ID, again.ID, "a pruned key acts again")
}
