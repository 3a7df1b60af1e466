package aiflowtest_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowtest"
	"github.com/aiflow-go/aiflow/operators"
)

// exampleT stands in for the *testing.T of a test, which examples do not
// have: it runs the cleanups when the example ends and panics on a failure.
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

// A test starts a workflow execution, waits for it to finish and checks the
// events its tasks sent. In a test, pass t to New.
func ExampleNew() {
	t := &exampleT{}
	defer t.done()

	wf := aiflow.NewWorkflow("etl")
	extract := wf.Task("extract", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		_, err := tc.SendEvent(ctx, "extracted", "42 rows", nil)
		return err
	}))
	wf.Task("load", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		_, err := tc.SendEvent(ctx, "loaded", "42 rows", nil)
		return err
	})).StartAfter(extract)

	env := aiflowtest.New(t, nil, wf)
	id, err := env.Client.StartWorkflowExecution(env.Context(), "etl", nil)
	if err != nil {
		panic(err)
	}
	x := env.WaitExecution(id, aiflow.WorkflowSuccess)
	fmt.Println(x.Status)
	for _, ev := range env.RequireEvents(id, "extracted", "loaded") {
		fmt.Println(ev.Key, ev.Value)
	}
	// Output:
	// SUCCESS
	// extracted 42 rows
	// loaded 42 rows
}

// A periodic task runs on every tick of the fake clock that the test moves.
func ExampleEnv_AdvanceToNextTick() {
	t := &exampleT{}
	defer t.done()

	wf := aiflow.NewWorkflow("report")
	wf.Task("hourly", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil }), aiflow.Periodic("@hourly"))

	env := aiflowtest.New(t, nil, wf)
	id, err := env.Client.StartWorkflowExecution(env.Context(), "report", nil)
	if err != nil {
		panic(err)
	}
	env.WaitTaskExecution(id, "hourly", 1, aiflow.TaskSuccess) // the first run starts with the execution
	for seq := 2; seq <= 3; seq++ {
		at := env.AdvanceToNextTick()
		te := env.WaitTaskExecution(id, "hourly", seq, aiflow.TaskSuccess)
		fmt.Println(at.Format("15:04"), te.Task, te.SeqNum, te.Status)
	}
	// Output:
	// 01:00 hourly 2 SUCCESS
	// 02:00 hourly 3 SUCCESS
}

// RunCondition shows what a condition decides on each event, and the state
// it keeps, without a client.
func ExampleRunCondition() {
	// Met when the running sum of "num" values exceeds 10.
	sum := aiflow.NewCondition([]string{"num"}, func(cc *aiflow.ConditionContext, ev *aiflow.Event) (bool, error) {
		st := aiflow.ValueState[int](cc, "sum")
		total, _, err := st.Value()
		if err != nil {
			return false, err
		}
		n, err := strconv.Atoi(ev.Value)
		if err != nil {
			return false, err
		}
		total += n
		return total > 10, st.Update(total)
	})
	events := []aiflow.Event{{Key: "num", Value: "4"}, {Key: "other", Value: "x"}, {Key: "num", Value: "5"}, {Key: "num", Value: "oops"}, {Key: "num", Value: "2"}}
	res := aiflowtest.RunCondition(sum, events, nil)
	for _, d := range res.Decisions {
		fmt.Printf("%s=%s expected=%v met=%v err=%v\n", d.Event.Key, d.Event.Value, d.Expected, d.Met, d.Err != nil)
	}
	fmt.Println("sum:", string(res.State["sum"]))
	// Output:
	// num=4 expected=true met=false err=false
	// other=x expected=false met=false err=false
	// num=5 expected=true met=false err=false
	// num=oops expected=true met=false err=true
	// num=2 expected=true met=true err=false
	// sum: 11
}
