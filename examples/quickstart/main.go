// Command quickstart runs the seed system's quickstart workflow: task1 and
// task2 are shell commands that start with the execution, task3 runs after
// both succeeded and sends the event "key", and task4 starts on that event.
// It prints every status change and exits 0 once the execution has succeeded.
//
// It runs on the in-memory store; set AIFLOW_DATABASE_URL to run it on
// Postgres instead, in the schema AIFLOW_SCHEMA ("aiflow" when unset).
//
//	go run ./examples/quickstart
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

// EventKey is the event task3 sends and task4 waits for.
const EventKey = "key"

// Workflow declares the quickstart workflow.
func Workflow() *aiflow.Workflow {
	wf := aiflow.NewWorkflow("quickstart_workflow")
	task1 := wf.Task("task1", operators.Bash("echo I am the 1st task."))
	task2 := wf.Task("task2", operators.Bash("echo I am the 2nd task."))
	task3 := wf.Task("task3", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		fmt.Fprintf(tc.Log, "Sending event with key: %s\n", EventKey)
		_, err := tc.SendEvent(ctx, EventKey, "This is a custom message.", nil)
		return err
	}))
	task4 := wf.Task("task4", operators.Bash("echo I am the 4th task."))
	task3.StartAfter(task1, task2)
	task4.OnEvent(EventKey, aiflow.ActionStart)
	return wf
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	status, err := run(ctx, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
	if status != aiflow.WorkflowSuccess {
		os.Exit(1)
	}
}

// run starts one execution of the workflow, prints its status changes to out
// and returns its final status.
func run(ctx context.Context, out io.Writer) (aiflow.WorkflowStatus, error) {
	st, closeStore, err := exampleenv.OpenStore(ctx)
	if err != nil {
		return "", err
	}
	defer closeStore()

	client, err := aiflow.New(&aiflow.Config{Store: st})
	if err != nil {
		return "", err
	}
	wf := Workflow()
	if err := client.Register(ctx, wf); err != nil {
		return "", err
	}
	if err := client.Start(ctx); err != nil {
		return "", err
	}
	defer client.Stop(context.WithoutCancel(ctx))

	x, err := exampleenv.RunAndPrint(ctx, client, wf.Name(), out)
	if err != nil {
		return "", err
	}
	return x.Status, nil
}
