package postgres

import (
	"context"
	"sync"
	"testing"

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

	_, err := New(pool, cfg)
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
	_, err = New(pool, cfg)
	require.ErrorContains(t, err, "created with 4 partitions")
	cfg.Partitions = 0
	s, err := New(pool, cfg)
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
	s, err := New(pool, cfg)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "k"}})
	require.NoError(t, err)
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
	} {
		_, err := c.withDefaults()
		require.Error(t, err, "%+v", c)
		require.Contains(t, err.Error(), "postgres: Config.")
	}
	c, err := (*Config)(nil).withDefaults()
	require.NoError(t, err)
	require.Equal(t, SchemaDefault, c.Schema)
	require.Equal(t, FetchCooldownDefault, c.FetchCooldown)
}
