package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/storetest"
)

// Behind PgBouncer in transaction mode, each transaction (or statement
// outside one) may run on another server connection: nothing may rely on
// session state (prepared statements, SET, LISTEN, session advisory locks).
// txModePool imitates that: the simple protocol (no prepared statements, as
// PgBouncer before 1.21 requires), and every connection's session state is
// discarded whenever it goes back to the pool (DISCARD ALL: settings, session
// advisory locks, LISTEN, prepared statements), so that nothing one use of
// the pool leaves in the session is there for the next. A connection whose
// reset fails is closed.
func txModePool(t *testing.T, maxConns int32) *pgxpool.Pool {
	t.Helper()
	pgtest.Require(t)
	cfg, err := pgxpool.ParseConfig(pgtest.URL())
	require.NoError(t, err)
	cfg.MaxConns = maxConns
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	cfg.AfterRelease = func(c *pgx.Conn) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.Exec(ctx, "DISCARD ALL")
		return err == nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// TestConformanceTransactionPooling runs the conformance suite in PollOnly
// mode on a pool that keeps no session state (txModePool), as behind
// PgBouncer in transaction mode. It also runs it without handoff, so that
// River's fetch runs every attempt.
func TestConformanceTransactionPooling(t *testing.T) {
	pgtest.Require(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		pool := txModePool(t, 10)
		cfg := testConfig(t, pool)
		cfg.PollOnly = true
		cfg.HandoffMaxWorkers = -1
		cfg.EventPollInterval = 20 * time.Millisecond
		cfg.FetchPollInterval = 20 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := Migrate(ctx, pool, cfg)
		require.NoError(t, err)
		s, err := New(ctx, pool, cfg)
		require.NoError(t, err)
		return s
	})
}
