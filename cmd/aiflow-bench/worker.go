// The worker processes of the scaling measurement (scaling.go): this program
// (the command, or the test binary of this directory) re-executed with
// workerEnv set runs one client of the scaling workflow on a schema the
// measurement prepared, until its standard input closes.

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// workerEnv names the environment variable that makes this program a worker
// of the scaling measurement; its value is the worker's workerConfig, as
// JSON.
const workerEnv = "AIFLOW_BENCH_WORKER"

// workerConfig is what a worker process is told.
type workerConfig struct {
	URL      string        `json:"url"`       // the database
	Schema   string        `json:"schema"`    // migrated by the measurement
	LeaseTTL time.Duration `json:"lease_ttl"` // aiflow.Config.LeaseTTL: claims come every third of it
	Conns    int32         `json:"conns"`     // connections of the pool (pgxpool's default if 0)
}

// runWorkerIfAsked runs this process as a worker and exits, if workerEnv
// is set; otherwise it returns.
func runWorkerIfAsked() {
	spec, ok := os.LookupEnv(workerEnv)
	if !ok {
		return
	}
	if err := worker(spec, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "aiflow-bench worker:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// worker runs a client of the scaling workflow: it writes "ready <client
// id>" once the client has started, runs until in closes (or SIGTERM), then
// stops the client and writes "stats <task bodies run> <events counted>".
func worker(spec string, in io.Reader, out io.Writer) error {
	var cfg workerConfig
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		return fmt.Errorf("%s %q: expected a JSON worker configuration: %w", workerEnv, spec, err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return err
	}
	if cfg.Conns > 0 {
		pc.MaxConns = cfg.Conns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return err
	}
	defer pool.Close()
	st, err := postgres.New(ctx, pool, &postgres.Config{Schema: cfg.Schema, Logger: discard, MaxWorkers: 200})
	if err != nil {
		return err
	}
	defer st.Close() //nolint:errcheck
	var ran, counted atomic.Int64
	client, err := aiflow.New(&aiflow.Config{Store: st, Logger: discard, LeaseTTL: cfg.LeaseTTL})
	if err != nil {
		return err
	}
	if err := client.Register(ctx, scalingWorkflow(&ran, &counted)); err != nil {
		return err
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "ready %s\n", client.ID())
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(in))
		close(closed)
	}()
	select {
	case <-closed:
	case <-ctx.Done():
	}
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopCancel()
	if err := client.Stop(stopCtx); err != nil {
		return err
	}
	fmt.Fprintf(out, "stats %d %d\n", ran.Load(), counted.Load())
	return nil
}

// scalingWorkflow is the workflow of the scaling measurement: its
// executions stay running (keepRunning); the task "work" starts on the
// event "go" and counts its runs in ran; the task "counted" counts the
// events with key countedKey in the execution's state (countTicks), and in
// counted.
func scalingWorkflow(ran, counted *atomic.Int64) *aiflow.Workflow {
	wf := aiflow.NewWorkflow(scalingName)
	keepRunning(wf)
	wf.Task("work", operators.Func(func(context.Context, *aiflow.TaskContext) error {
		ran.Add(1)
		return nil
	})).OnEvent("go", aiflow.ActionStart)
	countTicks(wf, func(int64, int) { counted.Add(1) })
	return wf
}

// scalingName is the name of the scaling workflow.
const scalingName = "scaling"
