package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

// These tests hold the horizon back with an unrelated write transaction on
// another connection, as any transaction on the server may. Events committed
// meanwhile are not readable until it ends (late commits are never skipped);
// once it ends, readers must take them up at once, not at their next poll:
// the polls are an hour apart here, so only the horizon watcher can wake
// them in time. The store-level tests run in PollOnly mode, so that no
// listener's catch-up after connecting can wake the reader instead.
//
// They do not run in parallel: while they hold the horizon, the other tests
// of the package, which read the log right after writing it, would wait.

// holdHorizon begins a transaction that holds an xid, which keeps every
// event committed after it above the horizon until it ends. The returned
// function rolls it back.
func holdHorizon(t *testing.T, pool *pgxpool.Pool) (release func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	var xid uint64
	require.NoError(t, tx.QueryRow(ctx, "SELECT pg_current_xact_id()").Scan(&xid))
	done := false
	release = func() {
		if !done {
			done = true
			require.NoError(t, tx.Rollback(ctx))
		}
	}
	t.Cleanup(release)
	return release
}

// horizonPromptly bounds the wait for a wake-up once the horizon has passed:
// well below the hour between polls, and generous for a loaded machine and
// for other transactions on a shared server.
const horizonPromptly = 15 * time.Second

func TestConsumeWokenWhenTheHorizonPassesItsEvents(t *testing.T) {
	ctx := context.Background()
	s, pool := newTestStore(t, func(c *Config) { c.PollOnly, c.EventPollInterval = true, time.Hour })
	claimAll(t, s, testOwner)
	wake, unsubscribe := s.SubscribePartition(0)
	defer unsubscribe()

	release := holdHorizon(t, pool)
	_, err := s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "k"}})
	require.NoError(t, err)
	waitWake(t, wake, "the local append")
	drain(wake)
	res := consume(t, s, testOwner, func(b store.Batch) *store.Effects {
		require.Empty(t, b.Events(), "an event committed after an open transaction is not readable before it ends")
		return nil
	})
	require.Zero(t, res.Events)
	require.EqualValues(t, 1, s.hub.awaits.Load(), "the reader saw the event waiting above the horizon")

	release()
	select {
	case <-wake:
	case <-time.After(horizonPromptly):
		t.Fatalf("the consumer was not woken within %s of the horizon passing its event", horizonPromptly)
	}
	res = consume(t, s, testOwner, func(b store.Batch) *store.Effects {
		require.Len(t, b.Events(), 1)
		return &store.Effects{}
	})
	require.Equal(t, 1, res.Events)
	eventually(t, func() bool {
		s.hub.mu.Lock()
		defer s.hub.mu.Unlock()
		return len(s.hub.awaiting) == 0
	}, "nothing is awaited any more: the watcher stops checking")
}

func TestListEventsWokenWhenTheHorizonPassesItsEvents(t *testing.T) {
	ctx := context.Background()
	s, pool := newTestStore(t, func(c *Config) { c.PollOnly, c.EventPollInterval = true, time.Hour })
	wake, unsubscribe := s.Subscribe()
	defer unsubscribe()

	release := holdHorizon(t, pool)
	_, err := s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "k"}})
	require.NoError(t, err)
	evs, _, err := s.ListEvents(ctx, store.EventFilter{})
	require.NoError(t, err)
	require.Empty(t, evs)
	drain(wake)
	release()
	select {
	case <-wake:
	case <-time.After(horizonPromptly):
		t.Fatalf("the listener was not woken within %s of the horizon passing its event", horizonPromptly)
	}
	evs, _, err = s.ListEvents(ctx, store.EventFilter{})
	require.NoError(t, err)
	require.Len(t, evs, 1)
}
