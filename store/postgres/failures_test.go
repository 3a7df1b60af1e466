package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

func TestRecordFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	_, err := s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "k"}})
	require.NoError(t, err)

	// readBatch reads the next batch of partition 0 and commits nothing. It
	// waits for the batch to hold an event: an event is read once no earlier
	// transaction on the server can still commit (the horizon), and other
	// tests' transactions may hold that back.
	readBatch := func() (version int64, evs []store.Event, failures []store.FailedApplication) {
		t.Helper()
		require.Eventually(t, func() bool {
			consume(t, s, testOwner, func(b store.Batch) *store.Effects {
				version, evs, failures = b.Version(), b.Events(), b.(store.FailuresBatch).Failures()
				return nil
			})
			return len(evs) > 0
		}, 10*time.Second, 5*time.Millisecond, "an event to read")
		return version, evs, failures
	}
	version, evs, failures := readBatch()
	require.Len(t, evs, 1)
	require.Empty(t, failures)
	params := store.ConsumeParams{Partition: 0, Owner: testOwner}
	id := evs[0].ID

	got, err := s.RecordFailure(ctx, params, version, store.FailedApplication{EventID: id, Target: "execution:1", Error: "first"})
	require.NoError(t, err)
	require.Equal(t, []store.FailedApplication{{EventID: id, Target: "execution:1", Attempts: 1, Error: "first"}}, got)
	got, err = s.RecordFailure(ctx, params, version, store.FailedApplication{EventID: id, Target: "execution:1", Attempts: 99, Error: "second"})
	require.NoError(t, err)
	require.Equal(t, []store.FailedApplication{{EventID: id, Target: "execution:1", Attempts: 2, Error: "second"}}, got,
		"one more attempt, whatever Attempts says; the last error")
	_, err = s.RecordFailure(ctx, params, version, store.FailedApplication{EventID: id, Target: "execution:2", Error: "other"})
	require.NoError(t, err)

	// The next batch carries them; the version did not move.
	v2, _, failures := readBatch()
	require.Equal(t, version, v2, "recording a failure is not a commit of the partition")
	require.Equal(t, []store.FailedApplication{
		{EventID: id, Target: "execution:1", Attempts: 2, Error: "second"},
		{EventID: id, Target: "execution:2", Attempts: 1, Error: "other"},
	}, failures)

	// Only the owner, at the version read, records.
	_, err = s.RecordFailure(ctx, store.ConsumeParams{Partition: 0, Owner: "someone-else"}, version, store.FailedApplication{EventID: id, Target: "execution:1"})
	require.ErrorIs(t, err, store.ErrNotOwner)
	_, err = s.RecordFailure(ctx, params, version-1, store.FailedApplication{EventID: id, Target: "execution:1"})
	require.ErrorIs(t, err, store.ErrConflict)
	require.NotErrorIs(t, err, store.ErrNotOwner)
	_, err = s.RecordFailure(ctx, store.ConsumeParams{Partition: 99, Owner: testOwner}, version, store.FailedApplication{EventID: id, Target: "x"})
	require.ErrorIs(t, err, store.ErrInvalid)

	// A unit that moves the position forgets them.
	consume(t, s, testOwner, func(store.Batch) *store.Effects { return &store.Effects{} })
	_, err = s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "k"}})
	require.NoError(t, err)
	_, evs, failures = readBatch()
	require.Len(t, evs, 1)
	require.NotEqual(t, id, evs[0].ID)
	require.Empty(t, failures)
}
