package operators

import (
	"context"
	"reflect"
	"runtime"

	"github.com/aiflow-go/aiflow"
)

// FuncOperator runs a Go function as a task. Create it with Func.
type FuncOperator struct {
	aiflow.OperatorDefaults
	fn func(ctx context.Context, tc *aiflow.TaskContext) error
}

// Func returns an operator that calls fn. The task succeeds when fn returns
// nil and fails when it returns an error or panics. fn's context is cancelled
// when the task is stopped, times out or the client shuts down; fn must then
// return. Through tc, fn can send events (to its own workflow execution by
// default), listen to events, write to the task log and report progress.
func Func(fn func(ctx context.Context, tc *aiflow.TaskContext) error) *FuncOperator {
	return &FuncOperator{fn: fn}
}

// Run calls the function.
func (f *FuncOperator) Run(ctx context.Context, tc *aiflow.TaskContext) error {
	if f.fn == nil {
		return errNilFunc
	}
	return f.fn(ctx, tc)
}

// Describe names the function.
func (f *FuncOperator) Describe() string {
	if f.fn == nil {
		return "<nil>"
	}
	if fn := runtime.FuncForPC(reflect.ValueOf(f.fn).Pointer()); fn != nil {
		return fn.Name()
	}
	return "func"
}

type constError string

func (e constError) Error() string { return string(e) }

const errNilFunc = constError("operators: Func: the function is nil")
