// Command schedapp is a client of the schedule failover test: it runs one
// workflow ("tick") on the Postgres schema given, with short leases, until it
// is killed.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/postgres"
)

func main() {
	url := flag.String("url", "", "database URL")
	schema := flag.String("schema", "", "schema")
	id := flag.String("id", "", "client id")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *url, *schema, *id); err != nil {
		fmt.Fprintln(os.Stderr, "schedapp:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url, schema, id string) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := postgres.New(ctx, pool, &postgres.Config{
		Schema: schema, Logger: log, LeaderTTL: time.Second, TaskHeartbeat: 200 * time.Millisecond,
		TaskLeaseTTL: time.Second, ReapInterval: 200 * time.Millisecond, EventPollInterval: 100 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	defer st.Close()
	wf := aiflow.NewWorkflow("tick")
	wf.Task("t", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil }))
	fmt.Println("ready", id)
	return aiflow.Run(ctx, &aiflow.Config{
		Store: st, Logger: log, ClientID: id, LeaseTTL: 2 * time.Second, PollInterval: 100 * time.Millisecond,
	}, wf)
}
