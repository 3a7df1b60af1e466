package postgres_test

import (
	"context"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aiflow-go/aiflow/store/postgres"
)

// Opening the Postgres store: a pool, the migrations (once, at deployment
// or start-up), then the store, which a client takes as its Config.Store.
// The store does not close the pool: the program does, after the store.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL")) // postgres://user@host:5432/db
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	cfg := &postgres.Config{Schema: "aiflow"} // the default schema
	res, err := postgres.Migrate(ctx, pool, cfg)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("applied %d migrations", len(res.Applied))

	st, err := postgres.New(ctx, pool, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	// client, err := aiflow.New(&aiflow.Config{Store: st})
}
