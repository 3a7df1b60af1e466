package operators_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowtest"
	"github.com/aiflow-go/aiflow/operators"
)

// exampleT stands in for the *testing.T that aiflowtest takes in tests.
type exampleT struct {
	mu       sync.Mutex
	cleanups []func()
}

func (t *exampleT) Cleanup(f func())                  { t.mu.Lock(); t.cleanups = append(t.cleanups, f); t.mu.Unlock() }
func (t *exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (t *exampleT) Helper()                           {}
func (t *exampleT) Log(...any)                        {}
func (t *exampleT) done() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// runOnce runs wf's one execution on a test client and prints the log of
// task's first run.
func runOnce(wf *aiflow.Workflow, task string) {
	t := &exampleT{}
	defer t.done()
	env := aiflowtest.New(t, nil, wf)
	id, err := env.Client.StartWorkflowExecution(env.Context(), wf.Name(), nil)
	if err != nil {
		panic(err)
	}
	x := env.WaitExecution(id)
	te := env.WaitTaskExecution(id, task, 1)
	log, _, err := env.Client.ReadTaskLog(env.Context(), te.ID, 0, 0)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s %s\n%s", x.Status, te.Status, log)
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
