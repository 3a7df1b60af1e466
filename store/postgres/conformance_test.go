package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/postgres"
	"github.com/aiflow-go/aiflow/store/storetest"
)

// TestConformance runs the conformance suite on the Postgres store, a fresh
// schema per test.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		pool := pgtest.Pool(t, 10)
		cfg := clientConfig(t)
		cfg.Schema = pgtest.SchemaName(t, pool)
		cfg.EventPollInterval = 50 * time.Millisecond
		cfg.FetchPollInterval = 50 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := postgres.Migrate(ctx, pool, cfg)
		require.NoError(t, err)
		st, err := postgres.New(pool, cfg)
		require.NoError(t, err)
		return st
	})
}
