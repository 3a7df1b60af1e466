package aiflow_test

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/memory"
)

// TestCallsAfterStopReturnErrStopped: once stopped, a client refuses every
// call with ErrStopped instead of acting (or answering) as if it ran.
func TestCallsAfterStopReturnErrStopped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	wf := aiflow.NewWorkflow("w")
	wf.Task("t", noop())
	c, err := aiflow.New(&aiflow.Config{Store: memory.New(nil)})
	require.NoError(t, err)
	require.NoError(t, c.Register(ctx, wf))
	require.NoError(t, c.Start(ctx))
	x, err := c.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	require.NoError(t, c.Stop(ctx))

	_, err = c.StartWorkflowExecution(ctx, "w", nil)
	require.ErrorIs(t, err, aiflow.ErrStopped)
	_, err = c.SendEvent(ctx, "k", "v", nil)
	require.ErrorIs(t, err, aiflow.ErrStopped)
	_, err = c.ListWorkflows(ctx, "")
	require.ErrorIs(t, err, aiflow.ErrStopped)
	_, err = c.GetWorkflowExecution(ctx, x)
	require.ErrorIs(t, err, aiflow.ErrStopped)
	_, _, err = c.ListEvents(ctx, nil)
	require.ErrorIs(t, err, aiflow.ErrStopped)
	require.ErrorIs(t, c.StopWorkflowExecution(ctx, x), aiflow.ErrStopped)
	require.ErrorIs(t, c.Register(ctx, wf), aiflow.ErrStopped)
	require.ErrorIs(t, c.AddNamespace(ctx, "n"), aiflow.ErrStopped)
	require.NoError(t, c.Stop(ctx), "a second Stop does nothing")
}

// TestInvalidNamespaceIsInvalid: a namespace that is not a valid name is
// refused as invalid (it cannot exist), not reported missing.
func TestInvalidNamespaceIsInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := aiflow.New(&aiflow.Config{Store: memory.New(nil)})
	require.NoError(t, err)
	for _, ns := range []string{"a\x00b", "\xff", "bad ns"} {
		_, err := c.ListWorkflows(ctx, ns)
		require.ErrorIs(t, err, aiflow.ErrInvalid, "%q", ns)
		require.NotErrorIs(t, err, aiflow.ErrNotFound)
		_, err = c.SendEvent(ctx, "k", "v", &aiflow.SendEventOpts{Namespace: ns})
		require.ErrorIs(t, err, aiflow.ErrInvalid, "%q", ns)
		_, err = c.StartWorkflowExecution(ctx, "w", &aiflow.StartWorkflowOpts{Namespace: ns})
		require.ErrorIs(t, err, aiflow.ErrInvalid, "%q", ns)
		_, err = c.GetWorkflow(ctx, ns, "w")
		require.ErrorIs(t, err, aiflow.ErrInvalid, "%q", ns)
		_, _, err = c.ListEvents(ctx, &aiflow.EventFilter{Namespace: ns})
		require.ErrorIs(t, err, aiflow.ErrInvalid, "%q", ns)
		require.ErrorIs(t, c.DeleteNamespace(ctx, ns), aiflow.ErrInvalid, "%q", ns)
	}
}

func TestIdempotencyKeyRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, err := aiflow.New(&aiflow.Config{Store: memory.New(nil), IdempotencyKeyRetention: -time.Second})
	require.ErrorIs(t, err, aiflow.ErrInvalid)

	// A started client prunes keys older than the retention.
	clock := clockwork.NewFakeClock()
	st := memory.New(&memory.Config{Clock: clock})
	c, err := aiflow.New(&aiflow.Config{Store: st, Clock: clock, IdempotencyKeyRetention: time.Hour})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	first, err := c.SendEvent(ctx, "k", "", &aiflow.SendEventOpts{IdempotencyKey: "once"})
	require.NoError(t, err)
	key := store.IdempotencyKey{Namespace: store.DefaultNamespace, Kind: store.IdempotencySendEvent, Key: "once"}
	_, ok, err := st.LookupIdempotencyKey(ctx, key)
	require.NoError(t, err)
	require.True(t, ok)
	require.Eventually(t, func() bool {
		clock.Advance(10 * time.Minute) // the pruner's interval is a tenth of the retention
		_, ok, err := st.LookupIdempotencyKey(ctx, key)
		require.NoError(t, err)
		return !ok
	}, 10*time.Second, 5*time.Millisecond, "the key is pruned after the retention")
	again, err := c.SendEvent(ctx, "k", "", &aiflow.SendEventOpts{IdempotencyKey: "once"})
	require.NoError(t, err)
	require.NotEqual(t, first.ID, again.ID, "a pruned key acts again")
}
