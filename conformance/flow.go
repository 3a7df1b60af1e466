package conformance

import (
	"context"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
)

// flow builds a workflow whose tasks are all controlled.
type flow struct {
	wf    *aiflow.Workflow
	ctl   *control
	tasks map[string]*aiflow.Task
}

func (b *bed) flow(name string, opts ...aiflow.WorkflowOption) *flow {
	return &flow{wf: aiflow.NewWorkflow(name, opts...), ctl: b.ctl, tasks: map[string]*aiflow.Task{}}
}

func (f *flow) task(name string, opts ...aiflow.TaskOption) *aiflow.Task {
	t := f.wf.Task(name, f.ctl.op(), opts...)
	f.tasks[name] = t
	return t
}

// funcTask adds a task running fn.
func (f *flow) funcTask(name string, fn func(ctx context.Context, tc *aiflow.TaskContext) error, opts ...aiflow.TaskOption) *aiflow.Task {
	t := f.wf.Task(name, operators.Func(fn), opts...)
	f.tasks[name] = t
	return t
}

// keepAlive adds a task waiting for an event that never comes, which keeps
// the execution RUNNING after its other tasks have finished.
func (f *flow) keepAlive() {
	f.task("keep").OnEvent("never", aiflow.ActionStart)
}

// witnessTask adds a task that starts on the event "witness"; witness uses it.
func (f *flow) witnessTask() {
	f.ctl.setAuto("witness", nil)
	f.task("witness").OnEvent("witness", aiflow.ActionStart)
}
