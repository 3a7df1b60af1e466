package operators_test

import (
	"context"
	"fmt"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/memory"
)

// runOnce runs wf's one execution on a client on the memory store and
// prints the log of task's first run.
func runOnce(wf *aiflow.Workflow, task string) {
	ctx := context.Background()
	client, err := aiflow.New(&aiflow.Config{Store: memory.New(nil)})
	if err != nil {
		panic(err)
	}
	if err := client.Register(ctx, wf); err != nil {
		panic(err)
	}
	if err := client.Start(ctx); err != nil {
		panic(err)
	}
	defer client.Stop(ctx)
	id, err := client.StartWorkflowExecution(ctx, wf.Name(), nil)
	if err != nil {
		panic(err)
	}
	x, err := client.WaitWorkflowExecution(ctx, id)
	if err != nil {
		panic(err)
	}
	tes, err := client.ListTaskExecutions(ctx, &aiflow.TaskExecutionFilter{ExecutionID: id, Task: task, SeqNum: 1})
	if err != nil || len(tes) != 1 {
		panic(fmt.Sprint(tes, err))
	}
	log, _, err := client.ReadTaskLog(ctx, tes[0].ID, 0, 0)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s %s\n%s", x.Status, tes[0].Status, log)
}

// A Bash task runs a shell command; its output goes to the task's log, and
// the task's context is in its environment (AIFLOW_*).
func ExampleBash() {
	wf := aiflow.NewWorkflow("shell")
	wf.Task("hello", operators.Bash(`echo "hello from $AIFLOW_TASK"`))
	runOnce(wf, "hello")
	// Output:
	// SUCCESS SUCCESS
	// hello from hello
}

// A Func task runs Go code in the client's process.
func ExampleFunc() {
	wf := aiflow.NewWorkflow("code")
	wf.Task("compute", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		fmt.Fprintf(tc.Log, "attempt %d of %s\n", tc.Attempt, tc.Task)
		return tc.ReportStatus(ctx, "done")
	}))
	runOnce(wf, "compute")
	// Output:
	// SUCCESS SUCCESS
	// attempt 1 of compute
}
