package aiflow_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/memory"
)

// newClient starts a client on a fresh memory store.
func newClient(ctx context.Context, workflows ...*aiflow.Workflow) *aiflow.Client {
	client, err := aiflow.New(&aiflow.Config{Store: memory.New(nil), PollInterval: 50 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	if err := client.Register(ctx, workflows...); err != nil {
		panic(err)
	}
	if err := client.Start(ctx); err != nil {
		panic(err)
	}
	return client
}

// printTasks prints the task executions of an execution, by task and
// sequence number.
func printTasks(ctx context.Context, client *aiflow.Client, id int64) {
	tes, err := client.ListTaskExecutions(ctx, &aiflow.TaskExecutionFilter{ExecutionID: id})
	if err != nil {
		panic(err)
	}
	sort.Slice(tes, func(i, j int) bool {
		if tes[i].Task != tes[j].Task {
			return tes[i].Task < tes[j].Task
		}
		return tes[i].SeqNum < tes[j].SeqNum
	})
	for _, te := range tes {
		fmt.Printf("%s #%d %s\n", te.Task, te.SeqNum, te.Status)
	}
}

// A workflow with two tasks: "report" starts after "extract" succeeded.
func Example() {
	ctx := context.Background()
	wf := aiflow.NewWorkflow("etl")
	extract := wf.Task("extract", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		fmt.Fprintln(tc.Log, "extracting")
		return nil
	}))
	report := wf.Task("report", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		return nil
	}))
	report.StartAfter(extract)

	client := newClient(ctx, wf)
	defer client.Stop(ctx)

	id, err := client.StartWorkflowExecution(ctx, "etl", nil)
	if err != nil {
		panic(err)
	}
	x, err := client.WaitWorkflowExecution(ctx, id)
	if err != nil {
		panic(err)
	}
	fmt.Println("execution", x.Status)
	printTasks(ctx, client, id)
	// Output:
	// execution SUCCESS
	// extract #1 SUCCESS
	// report #1 SUCCESS
}

// A task that waits for an event from outside the workflow: the execution
// stays RUNNING until the event arrives.
func ExampleTask_OnEvent() {
	ctx := context.Background()
	wf := aiflow.NewWorkflow("deploy")
	wf.Task("rollout", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
		OnEvent("model_validated", aiflow.ActionStart)

	client := newClient(ctx, wf)
	defer client.Stop(ctx)

	from, _ := client.LastPosition(ctx)
	id, _ := client.StartWorkflowExecution(ctx, "deploy", nil)
	// Wait until the execution runs: its status change is an event.
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	errRunning := errors.New("running")
	err := client.ListenEvents(waitCtx, &aiflow.EventFilter{After: from, ExecutionID: id}, func(ev aiflow.Event) error {
		if ev.IsWorkflowStatusChange() && ev.Value == string(aiflow.WorkflowRunning) {
			return errRunning
		}
		return nil
	})
	if !errors.Is(err, errRunning) {
		panic(err)
	}
	x, _ := client.GetWorkflowExecution(ctx, id)
	fmt.Println("before the event:", x.Status)
	printTasks(ctx, client, id) // nothing: rollout waits

	// An event sent without an execution reaches every running execution
	// of the namespace whose rules expect its key.
	if _, err := client.SendEvent(ctx, "model_validated", "v42", nil); err != nil {
		panic(err)
	}
	x, _ = client.WaitWorkflowExecution(ctx, id)
	fmt.Println("after the event:", x.Status)
	printTasks(ctx, client, id)
	// Output:
	// before the event: RUNNING
	// after the event: SUCCESS
	// rollout #1 SUCCESS
}

// everyThird is met by every third "tick" event of an execution; it counts
// them in typed per-execution state.
type everyThird struct{}

func (everyThird) ExpectedKeys() []string { return []string{"tick"} }

func (everyThird) IsMet(cc *aiflow.ConditionContext, ev *aiflow.Event) (bool, error) {
	count := aiflow.ValueState[int](cc, "ticks")
	n, _, err := count.Value()
	if err != nil {
		return false, err
	}
	n++
	if err := count.Update(n); err != nil {
		return false, err
	}
	return n%3 == 0, nil
}

// A custom condition with state: the task starts on every third event (here
// the third of five).
func ExampleValueState() {
	ctx := context.Background()
	wf := aiflow.NewWorkflow("batches")
	wf.Task("flush", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
		OnCondition(everyThird{}, aiflow.ActionStart)
	// A batch task sends five "tick" events from inside the execution (they
	// reach only this execution), then ends.
	wf.Task("source", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		for i := 0; i < 5; i++ {
			if _, err := tc.SendEvent(ctx, "tick", fmt.Sprint(i), nil); err != nil {
				return err
			}
		}
		return nil
	}))

	client := newClient(ctx, wf)
	defer client.Stop(ctx)
	id, _ := client.StartWorkflowExecution(ctx, "batches", nil)
	x, _ := client.WaitWorkflowExecution(ctx, id)
	fmt.Println("execution", x.Status)
	printTasks(ctx, client, id)
	// Output:
	// execution SUCCESS
	// flush #1 SUCCESS
	// source #1 SUCCESS
}

// Registration checks every workflow at once and reports every problem.
func ExampleClient_Register() {
	ctx := context.Background()
	other := aiflow.NewWorkflow("other")
	foreign := other.Task("foreign", operators.Bash("true"))

	wf := aiflow.NewWorkflow("broken")
	a := wf.Task("a", nil)
	b := wf.Task("b", operators.Bash("true"))
	wf.Task("b", operators.Bash("true"))
	a.StartAfter(b)
	b.StartAfter(a)
	b.StartAfter(foreign)
	b.OnEvent("", aiflow.ActionStart)

	client, _ := aiflow.New(&aiflow.Config{Store: memory.New(nil)})
	err := client.Register(ctx, wf)
	fmt.Println(errors.Is(err, aiflow.ErrInvalidWorkflow))
	fmt.Println(err)
	// Output:
	// true
	// aiflow: workflow "broken" task "a": operator is nil: expected an Operator such as operators.Bash(...) or operators.Func(...)
	// aiflow: workflow "broken" task "b": rule 2 (start_after): upstream task "foreign" belongs to workflow "other": rules may only depend on tasks of the same workflow
	// aiflow: workflow "broken" task "b": rule 3 (on_event): event key is empty: expected a non-empty key
	// aiflow: workflow "broken" task "b": duplicate task name: each task of a workflow needs its own name
}

// Run blocks until its context ends, then shuts the client down gracefully:
// it stops consuming, interrupts streaming tasks, lets other running tasks
// finish within StopTimeout and cancels the rest. Interrupted tasks end
// RETRYING so that another client runs them again.
func ExampleRun() {
	ctx, cancel := context.WithCancel(context.Background())
	st := memory.New(nil)
	wf := aiflow.NewWorkflow("service")
	wf.Task("serve", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		<-ctx.Done() // a streaming task runs until it is stopped
		return ctx.Err()
	}), aiflow.Streaming())

	done := make(chan error)
	go func() {
		done <- aiflow.Run(ctx, &aiflow.Config{Store: st}, wf)
	}()

	// Another client on the same store (as a command-line tool would be)
	// starts an execution and waits until the task runs.
	admin, _ := aiflow.New(&aiflow.Config{Store: st})
	waitCtx, cancelWait := context.WithTimeout(ctx, 10*time.Second)
	defer cancelWait()
	if err := waitRegistered(waitCtx, admin, "service"); err != nil {
		panic(err)
	}
	from, _ := admin.LastPosition(ctx)
	id, err := admin.StartWorkflowExecution(ctx, "service", nil)
	if err != nil {
		panic(err)
	}
	errRunning := errors.New("running")
	err = admin.ListenEvents(waitCtx, &aiflow.EventFilter{After: from, ExecutionID: id}, func(ev aiflow.Event) error {
		if ev.IsStatusChange() && ev.Value == string(aiflow.TaskRunning) {
			return errRunning
		}
		return nil
	})
	if !errors.Is(err, errRunning) {
		panic(err)
	}

	cancel() // as a SIGTERM would, through signal.NotifyContext
	fmt.Println("Run returned:", <-done)
	tes, _ := admin.ListTaskExecutions(context.Background(), &aiflow.TaskExecutionFilter{ExecutionID: id})
	fmt.Println(tes[0].Task, tes[0].Status)
	// Output:
	// Run returned: <nil>
	// serve RETRYING
}

// waitRegistered waits until a client has recorded workflow in the store
// (aiflow.Run registers its workflows before it starts), looking every 10 ms
// until ctx ends.
func waitRegistered(ctx context.Context, c *aiflow.Client, workflow string) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := c.GetWorkflow(ctx, "", workflow)
		if !errors.Is(err, aiflow.ErrWorkflowNotFound) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for workflow %q to be registered: %w", workflow, ctx.Err())
		case <-tick.C:
		}
	}
}
