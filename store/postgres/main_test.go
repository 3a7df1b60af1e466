package postgres

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

// testConfig is a config for tests: a fresh schema, short intervals.
func testConfig(t *testing.T, pool *pgxpool.Pool) *Config {
	t.Helper()
	return &Config{
		Schema:            pgtest.SchemaName(t, pool),
		Partitions:        4,
		Logger:            testLogger(t),
		EventPollInterval: 50 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		TaskHeartbeat:     100 * time.Millisecond,
		TaskLeaseTTL:      time.Second,
		// The holder cancels after 750 ms without a renewal: a loaded
		// machine's slow heartbeat does not cancel the tests' attempts.
		TaskStopGrace:     250 * time.Millisecond,
		ReapInterval:      100 * time.Millisecond,
		LeaderTTL:         time.Second,
		ListenerReconnect: 20 * time.Millisecond,
		riverTestOnly:     true,
	}
}

// newTestStore migrates a fresh schema and opens a store on it, closed when
// the test ends. cfg may be nil (testConfig) or adjust testConfig's result.
func newTestStore(t *testing.T, adjust func(*Config)) (*Store, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.Pool(t, 10)
	cfg := testConfig(t, pool)
	if adjust != nil {
		adjust(cfg)
	}
	return openStore(t, pool, cfg), pool
}

func openStore(t *testing.T, pool *pgxpool.Pool, cfg *Config) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Migrate(ctx, pool, cfg)
	require.NoError(t, err)
	s, err := New(ctx, pool, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}
