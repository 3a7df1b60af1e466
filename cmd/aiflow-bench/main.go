// Command aiflow-bench measures the Postgres store on the machine it runs on
// and prints every figure of docs/benchmarks.md in one run, next to its
// target: event to operator start (p50, p99), River's own insert-to-work
// latency with the same River settings, append throughput, events applied per
// second with running executions (events no rule meets; events each sent to
// one execution, whose stateful condition evaluates them and updates its
// state; and, for information, events that the stateful condition of every
// execution evaluates), task starts per second, and the idle CPU of a client
// and its Postgres backends.
//
//	go run ./cmd/aiflow-bench -database-url postgres://postgres@127.0.0.1:5432/test
//
// Each measurement works in a fresh schema that it drops afterwards. -quick
// runs every measurement briefly (a smoke run, figures not meaningful).
// Run it on a quiet machine: figures taken while other work runs are up to
// three times worse.
//
// The same measurements run as go test benchmarks, one at a time:
//
//	go test -run '^$' -bench BenchmarkEventToFuncStart -benchtime 500x ./cmd/aiflow-bench
//
// Import rule: aiflow-bench imports the root package, operators, store,
// store/postgres, pgx and River; being a command, nothing imports it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	url := flag.String("database-url", os.Getenv("AIFLOW_DATABASE_URL"), "Postgres URL (default $AIFLOW_DATABASE_URL)")
	quick := flag.Bool("quick", false, "run every measurement briefly (smoke run)")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "aiflow-bench: no database: pass -database-url or set AIFLOW_DATABASE_URL, for example postgres://postgres@127.0.0.1:5432/test")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg, err := pgxpool.ParseConfig(*url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "aiflow-bench: -database-url %q: %v\n", *url, err)
		os.Exit(2)
	}
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aiflow-bench:", err)
		os.Exit(1)
	}
	defer pool.Close()
	sizes := Full
	if *quick {
		sizes = Quick
	}
	if _, err := Run(ctx, pool, sizes, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "aiflow-bench:", err)
		pool.Close()
		os.Exit(1)
	}
}
