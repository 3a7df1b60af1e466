package conformance_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/conformance"
	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// TestPostgres runs the conformance suite on the Postgres store, each test
// on a schema of its own (the suite closes the store).
func TestPostgres(t *testing.T) {
	pgtest.Require(t)
	conformance.Run(t, func(t *testing.T) store.Store {
		pool := pgtest.Pool(t, 10)
		return openPostgres(t, pool, postgresConfig(t, pool))
	})
}

// TestPostgresTransactionPooling runs the conformance suite in PollOnly mode
// on a pool that keeps no session state (txModePool), as behind PgBouncer in
// transaction mode. It also runs it without handoff, so that River's fetch
// runs every attempt.
func TestPostgresTransactionPooling(t *testing.T) {
	pgtest.Require(t)
	conformance.Run(t, func(t *testing.T) store.Store {
		pool := txModePool(t, 10)
		cfg := postgresConfig(t, pool)
		cfg.PollOnly = true
		cfg.HandoffMaxWorkers = -1
		cfg.EventPollInterval = 20 * time.Millisecond
		cfg.FetchPollInterval = 20 * time.Millisecond
		return openPostgres(t, pool, cfg)
	})
}

// postgresConfig is the store's config for the suite: a fresh schema and
// short intervals, so that leases, heartbeats and elections play out within
// a test.
func postgresConfig(t *testing.T, pool *pgxpool.Pool) *postgres.Config {
	t.Helper()
	return &postgres.Config{
		Schema:            pgtest.SchemaName(t, pool),
		Partitions:        4,
		Logger:            slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		EventPollInterval: 50 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		TaskHeartbeat:     100 * time.Millisecond,
		// Three seconds, not one: a holder cancels its attempt once it has
		// gone TaskLeaseTTL minus TaskStopGrace without proving its lease, and
		// at one second a stall of 600 ms on a loaded 2-core machine (CI runs
		// packages side by side) cancelled attempts that the tests control.
		TaskLeaseTTL:      3 * time.Second,
		ReapInterval:      100 * time.Millisecond,
		LeaderTTL:         time.Second,
		ListenerReconnect: 20 * time.Millisecond,
	}
}

// openPostgres migrates cfg's schema and opens the store on it.
func openPostgres(t *testing.T, pool *pgxpool.Pool, cfg *postgres.Config) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := postgres.Migrate(ctx, pool, cfg)
	require.NoError(t, err)
	s, err := postgres.New(ctx, pool, cfg)
	require.NoError(t, err)
	return s
}

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

// testWriter sends the store's log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
