package leader

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow/internal/pgtest"
)

func TestMain(m *testing.M) {
	pgtest.Announce()
	goleak.VerifyTestMain(m, pgtest.LeakOptions()...)
}

func setup(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	pool := pgtest.Pool(t, 6)
	schema := pgtest.SchemaName(t, pool)
	_, err := pool.Exec(context.Background(), "CREATE SCHEMA "+schema+"; CREATE TABLE "+schema+`.aiflow_leader (
		name text PRIMARY KEY, leader_id text NOT NULL, elected_at timestamptz NOT NULL, expires_at timestamptz NOT NULL)`)
	require.NoError(t, err)
	return pool, schema + ".aiflow_leader"
}

func next(t *testing.T, ch <-chan Transition) Transition {
	t.Helper()
	select {
	case tr := <-ch:
		return tr
	case <-time.After(20 * time.Second):
		t.Fatal("no transition")
		return Transition{}
	}
}

func TestOneLeaderAndTakeover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, table := setup(t)
	newElector := func(id string) *Elector {
		e, err := New(Config{Pool: pool, Table: table, Name: "role", ID: id, TTL: 900 * time.Millisecond})
		require.NoError(t, err)
		return e
	}
	a, b := newElector("a"), newElector("b")
	subA, unsubA := a.Subscribe()
	defer unsubA()
	subB, unsubB := b.Subscribe()
	defer unsubB()
	require.False(t, next(t, subA).Leader)
	require.False(t, next(t, subB).Leader)

	require.NoError(t, a.Start(ctx))
	tr := next(t, subA)
	require.True(t, tr.Leader)
	require.False(t, tr.Term.IsZero())
	require.True(t, a.IsLeader())

	require.NoError(t, b.Start(ctx))
	// b cannot take a renewed lease: it stays a follower for several TTLs.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		require.False(t, b.IsLeader())
		select {
		case tr := <-subB:
			t.Fatalf("b changed state while a renewed its lease: %+v", tr)
		case <-time.After(50 * time.Millisecond):
		}
	}

	// a resigns: b takes over, and each sees its transitions in order.
	require.NoError(t, a.Stop(ctx))
	require.False(t, next(t, subA).Leader)
	require.False(t, a.IsLeader())
	require.True(t, next(t, subB).Leader)
	require.True(t, b.IsLeader())
	require.NoError(t, b.Stop(ctx))
	require.False(t, next(t, subB).Leader)
}

func TestLeaderStepsDownWhenReplaced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, table := setup(t)
	a, err := New(Config{Pool: pool, Table: table, Name: "role", ID: "a", TTL: 900 * time.Millisecond})
	require.NoError(t, err)
	sub, unsub := a.Subscribe()
	defer unsub()
	require.False(t, next(t, sub).Leader)
	require.NoError(t, a.Start(ctx))
	defer a.Stop(ctx) //nolint:errcheck
	require.True(t, next(t, sub).Leader)

	// Another client's term replaces a's (as after a's lease had expired).
	_, err = pool.Exec(ctx, "UPDATE "+table+" SET leader_id = 'other', elected_at = now(), expires_at = now() + interval '1 hour'")
	require.NoError(t, err)
	require.False(t, next(t, sub).Leader)
	require.False(t, a.IsLeader())
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	_, err := New(Config{})
	require.ErrorContains(t, err, "Config.Pool")
}
