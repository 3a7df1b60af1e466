package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/storetest"
)

// TestConformance runs the conformance suite on the Postgres store, each test
// on a schema of its own (the suite closes the store).
func TestConformance(t *testing.T) {
	pgtest.Require(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		pool := pgtest.Pool(t, 10)
		cfg := testConfig(t, pool)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := Migrate(ctx, pool, cfg)
		require.NoError(t, err)
		s, err := New(ctx, pool, cfg)
		require.NoError(t, err)
		return s
	})
}
