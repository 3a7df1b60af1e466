package postgres

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

func TestAppendAndListEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)

	out, err := s.AppendEvents(ctx, []store.Event{
		{Namespace: "default", Key: "a", Value: "1", Sender: "me"},
		{Namespace: "default", Key: "b", Value: "2"},
		{Kind: store.KindStatus, Namespace: "default", Key: store.StatusKey("wf", "t"), Value: "RUNNING", Workflow: "wf", ExecutionID: 7, TaskName: "t"},
	})
	require.NoError(t, err)
	require.Len(t, out, 3)
	require.True(t, out[0].Position.Less(out[1].Position))
	require.Equal(t, -1, out[0].Partition)
	require.Equal(t, store.PartitionOf("default", "wf", 4), out[2].Partition)

	evs, next, err := s.ListEvents(ctx, store.EventFilter{})
	require.NoError(t, err)
	require.Len(t, evs, 3)
	require.Equal(t, out[2].Position, next)
	require.Equal(t, "a", evs[0].Key)
	require.Equal(t, "me", evs[0].Sender)
	require.Equal(t, int64(7), evs[2].ExecutionID)

	evs, next2, err := s.ListEvents(ctx, store.EventFilter{After: next})
	require.NoError(t, err)
	require.Empty(t, evs)
	require.Equal(t, next, next2)

	last, err := s.LastPosition(ctx)
	require.NoError(t, err)
	require.Equal(t, out[2].Position, last)
}
