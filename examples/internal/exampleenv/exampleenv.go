// Package exampleenv holds what the examples share: opening the store they
// run on (memory, or Postgres when AIFLOW_DATABASE_URL is set, in the schema
// AIFLOW_SCHEMA, "aiflow" by default) and printing an execution's status
// changes.
package exampleenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/memory"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// Environment variables that select the store.
const (
	// DatabaseURLEnv selects Postgres: the examples run on the database it
	// names, on the memory store when it is empty.
	DatabaseURLEnv = "AIFLOW_DATABASE_URL"
	// SchemaEnv is the Postgres schema of the store's tables (created and
	// migrated when needed); postgres.SchemaDefault ("aiflow") when empty.
	// It is the variable the aiflow command reads too.
	SchemaEnv = "AIFLOW_SCHEMA"
)

// OpenStore returns the memory store, or the Postgres store when
// AIFLOW_DATABASE_URL is set (in the schema AIFLOW_SCHEMA, "aiflow" when
// empty, migrated first), and a function that closes it.
func OpenStore(ctx context.Context) (store.Store, func(), error) {
	return OpenStoreWith(ctx, nil)
}

// OpenStoreWith is OpenStore with adjust, when not nil, called on the
// Postgres store's Config before the store opens.
func OpenStoreWith(ctx context.Context, adjust func(*postgres.Config)) (store.Store, func(), error) {
	if url := os.Getenv(DatabaseURLEnv); url != "" {
		return openPostgres(ctx, url, os.Getenv(SchemaEnv), adjust)
	}
	st := memory.New(nil)
	return st, func() { _ = st.Close() }, nil
}

var errDone = errors.New("execution finished")

// RunAndPrint starts an execution of workflow, prints every task status change
// and user event of the execution to out as it happens, and returns the
// execution once it has finished.
func RunAndPrint(ctx context.Context, c *aiflow.Client, workflow string, out io.Writer) (*aiflow.WorkflowExecution, error) {
	return RunAndPrintUntil(ctx, c, workflow, out, nil)
}

// RunAndPrintUntil is RunAndPrint for executions that run until they are
// stopped (streaming tasks): once until returns true for a printed event, it
// stops the execution and goes on printing until it has finished.
func RunAndPrintUntil(ctx context.Context, c *aiflow.Client, workflow string, out io.Writer, until func(aiflow.Event) bool) (*aiflow.WorkflowExecution, error) {
	from, err := c.LastPosition(ctx)
	if err != nil {
		return nil, err
	}
	id, err := c.StartWorkflowExecution(ctx, workflow, nil)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "started workflow execution %d of %s\n", id, workflow)
	stopping := false
	err = c.ListenEvents(ctx, &aiflow.EventFilter{After: from, ExecutionID: id}, func(ev aiflow.Event) error {
		defer func() {
			if until != nil && !stopping && until(ev) {
				stopping = true
				fmt.Fprintf(out, "stopping workflow execution %d\n", id)
				if err := c.StopWorkflowExecution(ctx, id); err != nil {
					fmt.Fprintf(out, "stopping workflow execution %d failed: %v\n", id, err)
				}
			}
		}()
		switch {
		case ev.IsStatusChange():
			fmt.Fprintf(out, "task %s #%d: %s\n", ev.TaskName, ev.SeqNum, ev.Value)
		case ev.IsWorkflowStatusChange():
			fmt.Fprintf(out, "workflow execution %d: %s\n", ev.ExecutionID, ev.Value)
			if aiflow.WorkflowStatus(ev.Value).Finished() {
				return errDone
			}
		case !ev.Internal:
			fmt.Fprintf(out, "event %q = %q from %s\n", ev.Key, ev.Value, ev.Sender)
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		return nil, err
	}
	return c.GetWorkflowExecution(ctx, id)
}
