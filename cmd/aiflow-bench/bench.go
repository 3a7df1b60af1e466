// The measurements of the Postgres store: the command and the go test
// benchmarks of this directory (benchmark_test.go) run the same code. Each
// measurement works in a fresh schema of its own, dropped afterwards, on the
// pool it is given.

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// waitTimeout bounds every wait of a measurement.
const waitTimeout = 60 * time.Second

var discard = slog.New(slog.DiscardHandler)

// Latency is a distribution of latencies, sorted.
type Latency []time.Duration

// Quantile returns the q-quantile (0.5 for the median).
func (l Latency) Quantile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	i := int(q * float64(len(l)))
	if i >= len(l) {
		i = len(l) - 1
	}
	return l[i]
}

func sorted(l []time.Duration) Latency {
	slices.Sort(l)
	return l
}

// Schema creates a fresh schema name and returns it with a function that
// drops the schema.
func Schema(pool *pgxpool.Pool) (string, func()) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "aiflowbench_" + hex.EncodeToString(b[:])
	return name, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE")
	}
}

// openStore migrates a fresh schema with cfg (Schema and Logger are set here)
// and opens a store on it; closing it drops the schema.
func openStore(ctx context.Context, pool *pgxpool.Pool, cfg *postgres.Config) (*postgres.Store, func(), error) {
	if cfg == nil {
		cfg = &postgres.Config{}
	}
	c := *cfg
	schema, drop := Schema(pool)
	c.Schema, c.Logger = schema, discard
	if _, err := postgres.Migrate(ctx, pool, &c); err != nil {
		drop()
		return nil, nil, err
	}
	st, err := postgres.New(ctx, pool, &c)
	if err != nil {
		drop()
		return nil, nil, err
	}
	return st, func() { _ = st.Close(); drop() }, nil
}

// runClient registers wf on a new client of st and starts it; stop stops it.
func runClient(ctx context.Context, st store.Store, wf *aiflow.Workflow) (*aiflow.Client, func(), error) {
	client, err := aiflow.New(&aiflow.Config{Store: st, Logger: discard})
	if err != nil {
		return nil, nil, err
	}
	if err := client.Register(ctx, wf); err != nil {
		return nil, nil, err
	}
	if err := client.Start(ctx); err != nil {
		return nil, nil, err
	}
	return client, func() { _ = client.Stop(context.Background()) }, nil
}

// waitUntil waits until done holds, re-checking on every wake-up of st and
// at least every 20 ms (wake-ups are hints), for at most waitTimeout.
func waitUntil(ctx context.Context, st store.Store, what string, done func() (bool, error)) error {
	return waitWithin(ctx, st, waitTimeout, what, done)
}

// waitWithin is waitUntil with a timeout of its own.
func waitWithin(ctx context.Context, st store.Store, timeout time.Duration, what string, done func() (bool, error)) error {
	wake, unsubscribe := st.Subscribe()
	defer unsubscribe()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		ok, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-wake:
		case <-time.After(20 * time.Millisecond):
		case <-deadline.C:
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// keepRunning is a task that waits for an event that never comes, so that
// the executions of a measurement stay RUNNING.
func keepRunning(wf *aiflow.Workflow) {
	wf.Task("keep", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
		OnEvent("never", aiflow.ActionStart)
}

// startCallers is how many goroutines start executions at once.
const startCallers = 8

// startMany, when set (by bulkstart.go, which comes with the bulk start
// API), starts n executions of workflow at once and returns their ids;
// startExecutions then uses it in place of one call per execution.
var startMany func(ctx context.Context, client *aiflow.Client, workflow string, n int) ([]int64, error)

// startExecutions starts n executions of workflow (with startMany if set,
// otherwise one call each from startCallers goroutines), waits until they
// all run and returns their ids.
func startExecutions(ctx context.Context, st *postgres.Store, client *aiflow.Client, workflow string, n int) ([]int64, error) {
	if startMany != nil {
		ids, err := startMany(ctx, client, workflow, n)
		if err != nil {
			return nil, err
		}
		return ids, waitRunning(ctx, st, workflow, n)
	}
	ids := make([]int64, n)
	errs := make(chan error, startCallers)
	var wg sync.WaitGroup
	for c := range startCallers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < n; i += startCallers {
				id, err := client.StartWorkflowExecution(ctx, workflow, nil)
				if err != nil {
					errs <- err
					return
				}
				ids[i] = id
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return ids, waitRunning(ctx, st, workflow, n)
}

// waitRunning waits until n executions of workflow run.
func waitRunning(ctx context.Context, st *postgres.Store, workflow string, n int) error {
	// Starting takes about 10 ms an execution on a loaded machine.
	return waitWithin(ctx, st, waitTimeout+time.Duration(n)*10*time.Millisecond, fmt.Sprintf("%d executions running", n), func() (bool, error) {
		running, err := countRunning(ctx, st, workflow)
		return running == n, err
	})
}

// countRunning returns the number of RUNNING executions of workflow.
func countRunning(ctx context.Context, st *postgres.Store, workflow string) (int, error) {
	var n int
	err := st.Pool().QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{st.Schema()}.Sanitize()+
		".aiflow_workflow_execution WHERE workflow = $1 AND status = $2", workflow, string(store.WorkflowRunning)).Scan(&n)
	return n, err
}
