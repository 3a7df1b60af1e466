package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

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
	require.Equal(t, s.Placement().Execution("default", "wf", 7), out[2].Partition, "the partition of its execution")
	require.NotEqual(t, store.PartitionOf("default", "wf", 4), out[2].Partition, "spread from its workflow's")
	waitReadable(t, s, out[2].Position)

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

func TestListEventsPagingAndFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)
	require.NoError(t, s.AddNamespace(ctx, "other"))
	var in []store.Event
	for i := range 10 {
		ns := store.DefaultNamespace
		if i%2 == 1 {
			ns = "other"
		}
		in = append(in, store.Event{Namespace: ns, Key: "k" + string(rune('0'+i%3)), Value: "v", ExecutionID: int64(i % 2)})
	}
	out, err := s.AppendEvents(ctx, in)
	require.NoError(t, err)
	waitReadable(t, s, out[9].Position)

	// Paging through everything two at a time returns each event once, in order.
	var got []int64
	after := store.Position{}
	for range 10 {
		evs, next, err := s.ListEvents(ctx, store.EventFilter{After: after, Limit: 2})
		require.NoError(t, err)
		if len(evs) == 0 {
			require.Equal(t, after, next)
			break
		}
		for _, ev := range evs {
			got = append(got, ev.ID)
		}
		after = next
	}
	var want []int64
	for _, ev := range out {
		want = append(want, ev.ID)
	}
	require.Equal(t, want, got)

	// A filtered page that is not full continues after the last event examined.
	evs, next, err := s.ListEvents(ctx, store.EventFilter{Namespace: "other", Keys: []string{"k1"}})
	require.NoError(t, err)
	for _, ev := range evs {
		require.Equal(t, "other", ev.Namespace)
		require.Equal(t, "k1", ev.Key)
	}
	require.Len(t, evs, 2) // i = 1, 7
	require.Equal(t, out[9].Position, next)

	evs, _, err = s.ListEvents(ctx, store.EventFilter{ExecutionID: 1, Kinds: []store.EventKind{store.KindUser}, Sender: ""})
	require.NoError(t, err)
	require.Len(t, evs, 5)
	evs, _, err = s.ListEvents(ctx, store.EventFilter{Kinds: []store.EventKind{store.KindStatus}})
	require.NoError(t, err)
	require.Empty(t, evs)
	evs, _, err = s.ListEvents(ctx, store.EventFilter{Since: out[0].Time.Add(time.Hour)})
	require.NoError(t, err)
	require.Empty(t, evs)
}

func TestAppendEventsValidates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)

	_, err := s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "ok"}, {Namespace: "nope", Key: "k"}})
	require.ErrorIs(t, err, store.ErrNamespaceNotFound)
	require.Contains(t, err.Error(), `"nope"`)

	_, err = s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "k", Value: strings.Repeat("x", store.MaxEventValueBytes+1)}})
	require.ErrorIs(t, err, store.ErrEventTooLarge)

	_, err = s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: store.KeyStartExecution}})
	require.ErrorIs(t, err, store.ErrInvalid)

	_, err = s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "k", Value: "a\x00b"}})
	require.ErrorIs(t, err, store.ErrInvalid)

	// Nothing of the failed calls was appended.
	evs, _, err := s.ListEvents(ctx, store.EventFilter{})
	require.NoError(t, err)
	require.Empty(t, evs)
}

func TestAppendEventsTxCommitAndRollback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newTestStore(t, nil)

	// Rolled back: the event never exists.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = s.SendEventTx(ctx, tx, "default", "rolled_back", "v", "app")
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))

	// Committed with the caller's own write: both exist.
	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "CREATE TABLE "+s.schema+".app_data (v text)")
	require.NoError(t, err)
	ev, err := s.SendEventTx(ctx, tx, "default", "committed", "v", "app")
	require.NoError(t, err)
	require.NotZero(t, ev.ID)
	// A validation or namespace error leaves the caller's transaction usable.
	_, err = s.SendEventTx(ctx, tx, "missing_namespace", "k", "v", "app")
	require.ErrorIs(t, err, store.ErrNamespaceNotFound)
	_, err = s.SendEventTx(ctx, tx, "default", store.KeyStopTask, "v", "app")
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = tx.Exec(ctx, "INSERT INTO "+s.schema+".app_data VALUES ('x')")
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	waitReadable(t, s, ev.Position)

	evs, _, err := s.ListEvents(ctx, store.EventFilter{})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, "committed", evs[0].Key)
	require.Equal(t, ev.Position, evs[0].Position)
	require.Equal(t, "app", evs[0].Sender)
}

func TestLateCommitIsNeverSkipped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newTestStore(t, nil)
	claimAll(t, s, testOwner)

	// A writer appends inside its transaction and holds it open...
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	late, err := s.SendEventTx(ctx, tx, "default", "late", "", "writer")
	require.NoError(t, err)

	// ...while later events commit.
	early, err := s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "after1"}, {Namespace: "default", Key: "after2"}})
	require.NoError(t, err)
	require.True(t, late.Position.Less(early[0].Position), "the open transaction's xid is older")

	// Readers see none of them yet: the open transaction holds the horizon.
	evs, next, err := s.ListEvents(ctx, store.EventFilter{})
	require.NoError(t, err)
	require.Empty(t, evs)
	res := consume(t, s, testOwner, func(b store.Batch) *store.Effects {
		require.Empty(t, b.Events())
		return &store.Effects{}
	})
	require.Zero(t, res.Events)

	require.NoError(t, tx.Commit(ctx))

	// Once it commits, every reader gets the late event first, then the
	// others; nothing is skipped or repeated.
	var listed []string
	eventually(t, func() bool {
		evs, n, err := s.ListEvents(ctx, store.EventFilter{After: next})
		require.NoError(t, err)
		for _, ev := range evs {
			listed = append(listed, ev.Key)
		}
		next = n
		return len(listed) >= 3
	}, "the events become readable")
	require.Equal(t, []string{"late", "after1", "after2"}, listed)

	var consumed []string
	eventually(t, func() bool {
		consume(t, s, testOwner, func(b store.Batch) *store.Effects {
			for _, ev := range b.Events() {
				consumed = append(consumed, ev.Key)
			}
			return &store.Effects{}
		})
		return len(consumed) >= 3
	}, "the consumer reads the events")
	require.Equal(t, []string{"late", "after1", "after2"}, consumed)
}

func TestLateXIDAfterReaderMovedOn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newTestStore(t, nil)

	// A transaction opens but writes nothing yet (it has no xid).
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, "SELECT 1")
	require.NoError(t, err)

	first, err := s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "first"}})
	require.NoError(t, err)
	var next store.Position
	eventually(t, func() bool {
		evs, n, err := s.ListEvents(ctx, store.EventFilter{})
		require.NoError(t, err)
		next = n
		return len(evs) == 1
	}, "the first event is readable")
	require.Equal(t, first[0].Position, next)

	// It appends only now, after the reader moved past "first".
	_, err = s.SendEventTx(ctx, tx, "default", "second", "", "")
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	eventually(t, func() bool {
		evs, _, err := s.ListEvents(ctx, store.EventFilter{After: next})
		require.NoError(t, err)
		return len(evs) == 1 && evs[0].Key == "second"
	}, "the late event is listed after the reader's position")
}

func TestLastPositionHonoursHorizon(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newTestStore(t, nil)
	out, err := s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "a"}})
	require.NoError(t, err)
	eventually(t, func() bool {
		p, err := s.LastPosition(ctx)
		require.NoError(t, err)
		return p == out[0].Position
	}, "LastPosition reaches the committed event")

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = s.SendEventTx(ctx, tx, "default", "open", "", "")
	require.NoError(t, err)
	_, err = s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "b"}})
	require.NoError(t, err)
	p, err := s.LastPosition(ctx)
	require.NoError(t, err)
	require.Equal(t, out[0].Position, p, "events above the horizon are not yet listable")
	require.NoError(t, tx.Rollback(ctx))

	// Listening from the position sees the later event once the horizon moves.
	eventually(t, func() bool {
		evs, _, err := s.ListEvents(ctx, store.EventFilter{After: p})
		require.NoError(t, err)
		return len(evs) == 1 && evs[0].Key == "b"
	}, "the later event is listed")
}

// waitReadable waits until the horizon has passed pos: transactions held open
// anywhere on the server (other tests) hold it back for a while.
func waitReadable(t *testing.T, s *Store, pos store.Position) {
	t.Helper()
	eventually(t, func() bool {
		p, err := s.LastPosition(context.Background())
		require.NoError(t, err)
		return !p.Less(pos)
	}, "the horizon passes the appended events")
}
