package conformance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
)

// Executions: stopping every execution of a workflow, deleting one, paging
// through them, and the definition version an execution keeps.

func testStopAllAndDeleteExecutions(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("quick", nil)
	f.task("quick")
	f.keepAlive()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")
	b.waitRun(x1, "quick", 1, aiflow.TaskSuccess)
	b.waitRun(x2, "quick", 1, aiflow.TaskSuccess)

	err := b.client.DeleteWorkflowExecution(b.ctx, x1)
	require.ErrorIs(t, err, aiflow.ErrConflict, "a running execution cannot be deleted")

	ids, err := b.client.StopWorkflowExecutions(b.ctx, "", "w")
	require.NoError(t, err)
	require.Equal(t, []int64{x1, x2}, ids)
	b.waitExecution(x1, aiflow.WorkflowStopped)
	b.waitExecution(x2, aiflow.WorkflowStopped)
	ids, err = b.client.StopWorkflowExecutions(b.ctx, "", "w")
	require.NoError(t, err)
	require.Empty(t, ids)
	_, err = b.client.StopWorkflowExecutions(b.ctx, "", "nope")
	require.ErrorIs(t, err, aiflow.ErrWorkflowNotFound)

	te := b.runs(x1, "quick")[0]
	require.NoError(t, b.client.DeleteWorkflowExecution(b.ctx, x1))
	_, err = b.client.GetWorkflowExecution(b.ctx, x1)
	require.ErrorIs(t, err, aiflow.ErrExecutionNotFound)
	_, err = b.client.GetTaskExecution(b.ctx, te.ID)
	require.ErrorIs(t, err, aiflow.ErrTaskExecutionNotFound)
	require.Empty(t, b.runs(x1, ""))
	err = b.client.DeleteWorkflowExecution(b.ctx, x1)
	require.ErrorIs(t, err, aiflow.ErrExecutionNotFound)

	xs, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(xs, func(x aiflow.WorkflowExecution) bool { return x.ID == x2 }))
	require.False(t, slices.ContainsFunc(xs, func(x aiflow.WorkflowExecution) bool { return x.ID == x1 }))
}

func testExecutionKeepsItsVersion(t *testing.T, b *bed) {
	// Version 1: b starts after a.
	v1 := b.flow("w")
	a := v1.task("a")
	v1.task("b").StartAfter(a)
	v1.witnessTask()
	v1.keepAlive()
	b.register(v1.wf)
	x1 := b.start("w")
	ra1 := b.ctl.waitRun(t, x1, "a", 1, 0)
	first := b.execution(x1).Version
	require.NotEmpty(t, first)

	// Version 2: b waits for an event instead, and runs another operator.
	var v2Runs atomic.Int64
	v2 := b.flow("w")
	v2.task("a")
	v2.funcTask("b", func(context.Context, *aiflow.TaskContext) error {
		v2Runs.Add(1)
		return nil
	}).OnEvent("go", aiflow.ActionStart)
	v2.witnessTask()
	v2.keepAlive()
	b.register(v2.wf)
	x2 := b.start("w")
	second := b.execution(x2).Version
	require.NotEqual(t, first, second, "a changed definition is a new version")
	w, err := b.client.GetWorkflow(b.ctx, "", "w")
	require.NoError(t, err)
	require.Equal(t, second, w.Version, "the workflow shows its latest version")
	vs, err := b.client.ListWorkflowVersions(b.ctx, "", "w")
	require.NoError(t, err)
	require.Len(t, vs, 2)
	require.Equal(t, []string{first, second}, []string{vs[0].Version, vs[1].Version})

	// x1 keeps version 1: b starts after a, and runs version 1's operator.
	ra1.succeed()
	b.ctl.waitRun(t, x1, "b", 1, 0).succeed()
	b.waitRun(x1, "b", 1, aiflow.TaskSuccess)
	require.Zero(t, v2Runs.Load(), "x1's b ran version 1's operator")
	require.Equal(t, first, b.execution(x1).Version)

	// x2 runs version 2: a's success does not start b; the event does.
	b.ctl.waitRun(t, x2, "a", 1, 0).succeed()
	b.waitRun(x2, "a", 1, aiflow.TaskSuccess)
	b.witness(x2)
	require.Empty(t, b.runs(x2, "b"), "version 2's b does not start after a")
	b.sendTo(x2, "go", "")
	b.waitRun(x2, "b", 1, aiflow.TaskSuccess)
	require.EqualValues(t, 1, v2Runs.Load(), "x2's b ran version 2's operator")
}

// testListExecutionPages pages through executions as the dashboard does:
// newest first, each page after the last id of the one before, and bounded
// by creation time.
func testListExecutionPages(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("quick", nil)
	f.task("quick")
	b.register(f.wf)
	var ids []int64
	for range 5 {
		ids = append(ids, b.start("w"))
	}
	slices.Reverse(ids) // newest first
	var got []int64
	var before int64
	for {
		page, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w", BeforeID: before, Limit: 2})
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), 2)
		if len(page) == 0 {
			break
		}
		for _, x := range page {
			got = append(got, x.ID)
		}
		before = page[len(page)-1].ID
	}
	require.Equal(t, ids, got)

	mid := b.execution(ids[2])
	after, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w", CreatedAfter: mid.CreatedAt})
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(after, func(x aiflow.WorkflowExecution) bool { return x.ID == mid.ID }))
	for _, x := range after {
		require.False(t, x.CreatedAt.Before(mid.CreatedAt), "execution %d created %v, before %v", x.ID, x.CreatedAt, mid.CreatedAt)
	}
	earlier, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w", CreatedBefore: mid.CreatedAt})
	require.NoError(t, err)
	for _, x := range earlier {
		require.True(t, x.CreatedAt.Before(mid.CreatedAt), "execution %d created %v, not before %v", x.ID, x.CreatedAt, mid.CreatedAt)
	}
	require.Len(t, after, len(ids)-len(earlier))
}

// testStartManyExecutions: StartWorkflowExecutions starts one execution per
// input, returns their ids in the order of the inputs, and each runs with its
// input; a call that fails starts none.
func testStartManyExecutions(t *testing.T, b *bed) {
	f := b.flow("w")
	var inputs sync.Map // execution id -> input its task saw
	f.funcTask("a", func(_ context.Context, tc *aiflow.TaskContext) error {
		inputs.Store(tc.ExecutionID, tc.Input)
		return nil
	})
	f.keepAlive()
	b.register(f.wf)

	in := make([]string, 25)
	for i := range in {
		in[i] = fmt.Sprintf(`{"n":%d}`, i)
	}
	in[3] = "" // no input
	ids, err := b.client.StartWorkflowExecutions(b.ctx, "w", in, nil)
	require.NoError(t, err)
	require.Len(t, ids, len(in))
	require.True(t, slices.IsSorted(ids), "ids in the order of the inputs: %v", ids)
	for i, id := range ids {
		x := b.execution(id)
		require.Equal(t, in[i], x.Input)
		require.Equal(t, "w", x.Workflow)
	}
	for i, id := range ids {
		b.waitRun(id, "a", 1, aiflow.TaskSuccess)
		got, _ := inputs.Load(id)
		require.Equal(t, in[i], got, "execution %d", id)
		b.waitExecution(id, aiflow.WorkflowRunning)
	}

	before, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
	require.NoError(t, err)
	_, err = b.client.StartWorkflowExecutions(b.ctx, "w", nil, nil)
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, "inputs")
	_, err = b.client.StartWorkflowExecutions(b.ctx, "w", make([]string, aiflow.MaxStartExecutions+1), nil)
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	_, err = b.client.StartWorkflowExecutions(b.ctx, "w", []string{"ok", strings.Repeat("x", aiflow.MaxInputBytes+1)}, nil)
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, "inputs[1]")
	_, err = b.client.StartWorkflowExecutions(b.ctx, "nope", []string{"", ""}, nil)
	require.ErrorIs(t, err, aiflow.ErrWorkflowNotFound)
	_, err = b.client.StartWorkflowExecutions(b.ctx, "w", []string{""}, &aiflow.StartWorkflowExecutionsOpts{Namespace: "nowhere"})
	require.Error(t, err)
	require.NoError(t, b.client.DisableWorkflow(b.ctx, "", "w"))
	_, err = b.client.StartWorkflowExecutions(b.ctx, "w", []string{""}, nil)
	require.ErrorIs(t, err, aiflow.ErrWorkflowDisabled)
	require.NoError(t, b.client.EnableWorkflow(b.ctx, "", "w"))
	after, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
	require.NoError(t, err)
	require.Len(t, after, len(before), "a call that failed started nothing")
}
