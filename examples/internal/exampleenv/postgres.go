package exampleenv

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// openPostgres connects to url, applies the migrations into schema (the
// default schema, "aiflow", when empty) and opens the Postgres store with
// adjust, when not nil, applied to its Config.
func openPostgres(ctx context.Context, url, schema string, adjust func(*postgres.Config)) (store.Store, func(), error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", DatabaseURLEnv, err)
	}
	if _, err := postgres.Migrate(ctx, pool, &postgres.Config{Schema: schema}); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("%s=%q: %w", SchemaEnv, schema, err)
	}
	cfg := &postgres.Config{Schema: schema}
	if adjust != nil {
		adjust(cfg)
	}
	st, err := postgres.New(ctx, pool, cfg)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return st, func() {
		_ = st.Close()
		pool.Close()
	}, nil
}
