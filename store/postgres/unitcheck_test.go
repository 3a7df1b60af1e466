package postgres

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

// The checks of a unit of work's writes fail the unit inside its one
// pipelined batch, before the COMMIT that rides with it: nothing of the unit
// is committed, and the store's error says which check failed.
func TestUnitChecksFailBeforeTheCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	exec, err := s.AllocateExecutionIDs(ctx, 1)
	require.NoError(t, err)

	// nothingCommitted checks that partition 0 is still at version 0 and
	// that the unit's task execution and event do not exist.
	nothingCommitted := func(te int64, key string) {
		t.Helper()
		var version int64
		require.NoError(t, pool.QueryRow(ctx, s.q("SELECT version FROM {s}.aiflow_partition WHERE partition = 0")).Scan(&version))
		require.Zero(t, version)
		_, err := s.GetTaskExecution(ctx, te)
		require.ErrorIs(t, err, store.ErrNotFound)
		var n int
		require.NoError(t, pool.QueryRow(ctx, s.q("SELECT count(*) FROM {s}.aiflow_event WHERE key = $1"), key).Scan(&n))
		require.Zero(t, n)
	}
	unit := func(te store.TaskExecutionRecord, ev store.Event, during func()) error {
		_, err := s.Consume(ctx, store.ConsumeParams{Partition: 0, Owner: testOwner}, func(_ context.Context, b store.Batch) (*store.Effects, error) {
			during()
			return &store.Effects{
				Position:          store.Position{XID: b.Position().XID, ID: b.Position().ID + 1},
				NewTaskExecutions: []store.TaskExecutionRecord{te},
				Dispatches:        []store.Dispatch{{TaskExecutionID: te.ID, Attempt: 1}},
				Events:            []store.Event{ev},
			}, nil
		})
		return err
	}

	t.Run("the partition's version moved", func(t *testing.T) {
		te := newTE(t, s, exec[0], "moved")
		err := unit(te, store.Event{Namespace: store.DefaultNamespace, Key: "moved"}, func() {
			_, err := pool.Exec(ctx, s.q("UPDATE {s}.aiflow_partition SET version = version + 1 WHERE partition = 0"))
			require.NoError(t, err)
		})
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = pool.Exec(ctx, s.q("UPDATE {s}.aiflow_partition SET version = 0 WHERE partition = 0"))
		require.NoError(t, err)
		nothingCommitted(te.ID, "moved")
	})
	t.Run("a namespace is missing", func(t *testing.T) {
		te := newTE(t, s, exec[0], "nowhere")
		err := unit(te, store.Event{Namespace: "nowhere", Key: "nowhere"}, func() {})
		require.ErrorIs(t, err, store.ErrNamespaceNotFound)
		require.ErrorContains(t, err, `"nowhere"`)
		nothingCommitted(te.ID, "nowhere")
	})
	t.Run("a task execution exists", func(t *testing.T) {
		te := newTE(t, s, exec[0], "twice")
		dispatch(t, s, te) // commits version 1
		_, err := pool.Exec(ctx, s.q("UPDATE {s}.aiflow_partition SET version = 0 WHERE partition = 0"))
		require.NoError(t, err)
		err = unit(te, store.Event{Namespace: store.DefaultNamespace, Key: "twice"}, func() {})
		require.ErrorIs(t, err, store.ErrAlreadyExists)
		require.ErrorContains(t, err, "task execution ")
		var version int64
		require.NoError(t, pool.QueryRow(ctx, s.q("SELECT version FROM {s}.aiflow_partition WHERE partition = 0")).Scan(&version))
		require.Zero(t, version)
	})
}
