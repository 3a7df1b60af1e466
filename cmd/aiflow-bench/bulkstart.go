package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
)

// BulkStartFigures are the figures of BulkStarts.
type BulkStartFigures struct {
	N        int     // executions started in bulk
	Created  float64 // executions/s until the StartWorkflowExecutions calls returned (each in INIT)
	Running  float64 // executions/s until every one was RUNNING
	OneByOne float64 // executions/s until RUNNING, started one StartWorkflowExecution call at a time (N/10 of them)
}

// BulkStarts measures starting n executions of a workflow with
// Client.StartWorkflowExecutions (in calls of at most
// aiflow.MaxStartExecutions), on a running client: how fast the calls create
// them, and how fast they all run (the client's consumers apply their start
// events). For comparison it starts n/10 executions one
// StartWorkflowExecution call at a time, as before there was a bulk call.
func BulkStarts(ctx context.Context, pool *pgxpool.Pool, n int) (BulkStartFigures, error) {
	f := BulkStartFigures{N: n}
	st, closeStore, err := openStore(ctx, pool, nil)
	if err != nil {
		return f, err
	}
	defer closeStore()
	wf := aiflow.NewWorkflow("bulk")
	keepRunning(wf)
	client, stop, err := runClient(ctx, st, wf)
	if err != nil {
		return f, err
	}
	defer stop()

	one := max(n/10, 1)
	t0 := time.Now()
	if _, err := startExecutions(ctx, st, client, "bulk", one); err != nil {
		return f, err
	}
	f.OneByOne = float64(one) / time.Since(t0).Seconds()

	inputs := make([]string, n)
	t0 = time.Now()
	for i := 0; i < n; i += aiflow.MaxStartExecutions {
		if _, err := client.StartWorkflowExecutions(ctx, "bulk", inputs[i:min(n, i+aiflow.MaxStartExecutions)], nil); err != nil {
			return f, err
		}
	}
	f.Created = float64(n) / time.Since(t0).Seconds()
	err = waitUntil(ctx, st, fmt.Sprintf("%d executions running", n), func() (bool, error) {
		xs, err := st.ListExecutions(ctx, store.ExecutionFilter{Statuses: []store.WorkflowStatus{store.WorkflowInit}, Limit: 1})
		return len(xs) == 0, err
	})
	if err != nil {
		return f, err
	}
	f.Running = float64(n) / time.Since(t0).Seconds()
	return f, nil
}

// rows writes the figures as rows of the report's table.
func (f BulkStartFigures) rows(t table) {
	t.row(fmt.Sprintf("bulk starts, %d executions until RUNNING (StartWorkflowExecutions)", f.N), fmt.Sprintf("%.0f executions/s", f.Running), ">= 2,000/s", f.Running >= 2000)
	t.row("bulk starts: calls returned (executions in INIT) / one call per execution", fmt.Sprintf("%.0f / %.0f executions/s", f.Created, f.OneByOne), "", false)
}
