package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/store"
)

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, 4)
	cfg := testConfig(t, pool)
	cfg.Partitions = 0 // the default

	_, err := New(ctx, pool, cfg)
	require.ErrorContains(t, err, "run postgres.Migrate first")
	var all []int
	for v := 1; v <= LatestVersion(); v++ {
		all = append(all, v)
	}
	st, err := ReadMigrationStatus(ctx, pool, cfg)
	require.NoError(t, err)
	require.Equal(t, &MigrationStatus{Schema: cfg.Schema, Latest: LatestVersion(), Pending: all}, st)

	res, err := Migrate(ctx, pool, cfg)
	require.NoError(t, err)
	require.Equal(t, LatestVersion(), res.Version)
	require.Equal(t, all, res.Applied, "every migration is applied in order")
	st, err = ReadMigrationStatus(ctx, pool, cfg)
	require.NoError(t, err)
	require.Equal(t, LatestVersion(), st.Version)
	require.Empty(t, st.Pending)
	require.Len(t, st.Applied, LatestVersion())
	require.Equal(t, "send_event", st.Applied[2].Name)
	require.Equal(t, PartitionsDefault, st.Partitions)
	require.Equal(t, PartitionsDefault, res.Partitions)
	require.Positive(t, res.RiverVersion)

	// Again: nothing to do.
	res, err = Migrate(ctx, pool, cfg)
	require.NoError(t, err)
	require.Empty(t, res.Applied)
	require.Equal(t, LatestVersion(), res.Version)

	// The number of partitions is fixed by the first migration.
	cfg.Partitions = 3
	_, err = Migrate(ctx, pool, cfg)
	require.ErrorContains(t, err, "created with 4 partitions")
	_, err = New(ctx, pool, cfg)
	require.ErrorContains(t, err, "created with 4 partitions")
	cfg.Partitions = 0
	s, err := New(ctx, pool, cfg)
	require.NoError(t, err)
	require.Equal(t, PartitionsDefault, s.Partitions())
	require.NoError(t, s.Close())
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, 2)
	cfg := testConfig(t, pool)
	const processes = 4
	var wg sync.WaitGroup
	results := make([]*MigrateResult, processes)
	errs := make([]error, processes)
	for i := range processes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := pgtest.Pool(t, 3) // each "process" has its own pool
			results[i], errs[i] = Migrate(ctx, p, cfg)
		}()
	}
	wg.Wait()
	applied := 0
	for i := range processes {
		require.NoError(t, errs[i])
		require.Equal(t, LatestVersion(), results[i].Version)
		applied += len(results[i].Applied)
	}
	require.Equal(t, LatestVersion(), applied, "each migration is applied once")
	s, err := New(ctx, pool, cfg)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "k"}})
	require.NoError(t, err)
}

// migrationLocks counts the advisory locks on schema's migration key, held
// (granted) or waited for.
func migrationLocks(t *testing.T, pool *pgxpool.Pool, schema string) (held, waiting int) {
	t.Helper()
	err := pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted)
		FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int4::oid AND objid = $2::int4::oid AND objsubid = 2`,
		lockKey(schema), lockMigrate).Scan(&held, &waiting)
	require.NoError(t, err)
	return held, waiting
}

// TestMigrateWaitsForTheLockAndLeavesNone: Migrate waits while another
// transaction holds the migration lock (the lock is transaction-level, so a
// transaction can hold it), goes on when that transaction ends, and leaves no
// lock behind.
func TestMigrateWaitsForTheLockAndLeavesNone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, 4)
	cfg := testConfig(t, pool)

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", lockKey(cfg.Schema), lockMigrate)
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		_, err := Migrate(ctx, pool, cfg)
		done <- err
	}()
	eventually(t, func() bool {
		_, waiting := migrationLocks(t, pool, cfg.Schema)
		return waiting == 1
	}, "Migrate waits for the lock")
	select {
	case err := <-done:
		t.Fatalf("Migrate returned (%v) while another transaction held the lock", err)
	default:
	}
	require.NoError(t, tx.Rollback(ctx))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("Migrate did not finish after the lock was released")
	}
	held, waiting := migrationLocks(t, pool, cfg.Schema)
	require.Zero(t, held, "no lock is left behind")
	require.Zero(t, waiting)
	st, err := ReadMigrationStatus(ctx, pool, cfg)
	require.NoError(t, err)
	require.Empty(t, st.Pending)
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for _, c := range []*Config{
		{Schema: "bad-name"},
		{Schema: "1abc"},
		{Partitions: -1},
		{FetchCooldown: -1},
		{TaskHeartbeat: 10, TaskLeaseTTL: 5},
		{MaxWorkers: 20000},
		{HandoffMaxWorkers: -2},
	} {
		_, err := c.withDefaults()
		require.Error(t, err, "%+v", c)
		require.Contains(t, err.Error(), "postgres: Config.")
	}
	c, err := (*Config)(nil).withDefaults()
	require.NoError(t, err)
	require.Equal(t, SchemaDefault, c.Schema)
	require.Equal(t, FetchCooldownDefault, c.FetchCooldown)
	require.Equal(t, HandoffMaxWorkersDefault, c.HandoffMaxWorkers)
	c, err = (&Config{HandoffMaxWorkers: -1}).withDefaults()
	require.NoError(t, err)
	require.Equal(t, -1, c.HandoffMaxWorkers, "-1 turns handoff off")
}
