// Command event_trigger runs the seed system's event trigger sample: a task of
// event_trigger_workflow_1 sends the event "trigger_workflow", and a workflow
// trigger on event_trigger_workflow_2 starts an execution of it (run type
// EVENT) when that event arrives.
//
//	go run ./examples/event_trigger
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/examples/internal/exampleenv"
	"github.com/aiflow-go/aiflow/operators"
)

// EventKey is the event that triggers the second workflow.
const EventKey = "trigger_workflow"

// Workflows declares both workflows.
func Workflows() (first, second *aiflow.Workflow) {
	first = aiflow.NewWorkflow("event_trigger_workflow_1")
	first.Task("task_1", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		_, err := tc.SendEvent(ctx, EventKey, "go", nil)
		return err
	}))
	second = aiflow.NewWorkflow("event_trigger_workflow_2")
	second.Task("task_1", operators.Bash("echo I was started by an event."))
	return first, second
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	x, err := run(ctx, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "event_trigger:", err)
		os.Exit(1)
	}
	if x.Status != aiflow.WorkflowSuccess {
		os.Exit(1)
	}
}

// run starts the first workflow and returns the execution of the second one
// that its event triggered, once finished.
func run(ctx context.Context, out io.Writer) (*aiflow.WorkflowExecution, error) {
	st, closeStore, err := exampleenv.OpenStore(ctx)
	if err != nil {
		return nil, err
	}
	defer closeStore()
	client, err := aiflow.New(&aiflow.Config{Store: st})
	if err != nil {
		return nil, err
	}
	first, second := Workflows()
	if err := client.Register(ctx, first, second); err != nil {
		return nil, err
	}
	// Triggers are added between Register and Start, so that the client
	// evaluates them on every event it consumes.
	trigger, err := client.AddWorkflowTrigger(ctx, second.Name(), "on_"+EventKey, aiflow.EventCondition(EventKey), nil)
	if err != nil {
		return nil, err
	}
	if err := client.Start(ctx); err != nil {
		return nil, err
	}
	defer client.Stop(context.WithoutCancel(ctx))
	fmt.Fprintf(out, "trigger %d on %q starts %s\n", trigger.ID, EventKey, second.Name())

	from, err := client.LastPosition(ctx)
	if err != nil {
		return nil, err
	}
	x1, err := exampleenv.RunAndPrint(ctx, client, first.Name(), out)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "%s finished: %s\n", first.Name(), x1.Status)

	// Find the execution the trigger started and wait for it.
	var id int64
	found := fmt.Errorf("found")
	err = client.ListenEvents(ctx, &aiflow.EventFilter{After: from}, func(ev aiflow.Event) error {
		if ev.IsWorkflowStatusChange() && ev.Workflow == second.Name() {
			id = ev.ExecutionID
			return found
		}
		return nil
	})
	if err != found {
		return nil, err
	}
	x2, err := client.WaitWorkflowExecution(ctx, id)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "%s execution %d (run type %s, trigger %d) finished: %s\n", second.Name(), x2.ID, x2.RunType, x2.TriggerID, x2.Status)
	return x2, nil
}
