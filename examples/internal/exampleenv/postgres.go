package exampleenv

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// openPostgres connects to url, applies the migrations (into the default
// schema, "aiflow") and opens the Postgres store.
func openPostgres(ctx context.Context, url string) (store.Store, func(), error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", DatabaseURLEnv, err)
	}
	if _, err := postgres.Migrate(ctx, pool, nil); err != nil {
		pool.Close()
		return nil, nil, err
	}
	st, err := postgres.New(pool, nil)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return st, func() {
		_ = st.Close()
		pool.Close()
	}, nil
}
