package conformance_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/memory"
)

// These tests run several clients on one memory store (replicas share its
// partitions) and check that partitions are shared, taken over when a client
// stops, and that each decision is applied once.

// counted returns workflows whose single task counts its runs per execution.
func countingWorkflows(n int, runs *sync.Map) []*aiflow.Workflow {
	var out []*aiflow.Workflow
	for i := 0; i < n; i++ {
		wf := aiflow.NewWorkflow(fmt.Sprintf("w%02d", i))
		wf.Task("t", operators.Func(func(_ context.Context, tc *aiflow.TaskContext) error {
			v, _ := runs.LoadOrStore(tc.ExecutionID, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
			return nil
		}))
		out = append(out, wf)
	}
	return out
}

func newMemoryReplica(t *testing.T, st *memory.Store, id string, wfs []*aiflow.Workflow) *aiflow.Client {
	t.Helper()
	c, err := aiflow.New(&aiflow.Config{Store: st, ClientID: id, PollInterval: 20 * time.Millisecond, LeaseTTL: 300 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, c.Register(context.Background(), wfs...))
	require.NoError(t, c.Start(context.Background()))
	return c
}

func waitOwnedPartitions(t *testing.T, c *aiflow.Client, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(c.Owned()) == n }, 10*time.Second, 5*time.Millisecond,
		"client %s owns %v, want %d partitions", c.ID(), c.Owned(), n)
}

func TestMemoryClientsSharePartitionsAndApplyEachDecisionOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := memory.New(&memory.Config{Partitions: 4})
	var runs sync.Map
	wfs := countingWorkflows(12, &runs)
	a := newMemoryReplica(t, st, "a", wfs)
	defer a.Stop(ctx)
	waitOwnedPartitions(t, a, 4)
	b := newMemoryReplica(t, st.Replica(), "b", wfs)
	defer b.Stop(ctx)
	waitOwnedPartitions(t, b, 2)
	waitOwnedPartitions(t, a, 2)

	var ids []int64
	for round := 0; round < 5; round++ {
		for _, wf := range wfs {
			id, err := a.StartWorkflowExecution(ctx, wf.Name(), nil)
			require.NoError(t, err)
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		x, err := b.WaitWorkflowExecution(ctx, id)
		require.NoError(t, err)
		require.Equal(t, aiflow.WorkflowSuccess, x.Status)
		tes, err := a.ListTaskExecutions(ctx, &aiflow.TaskExecutionFilter{ExecutionID: id})
		require.NoError(t, err)
		require.Len(t, tes, 1, "one task execution per execution")
		v, ok := runs.Load(id)
		require.True(t, ok)
		require.EqualValues(t, 1, v.(*atomic.Int64).Load(), "execution %d ran its task once", id)
	}
}

func TestMemoryStoppedClientsPartitionsAreTakenOver(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := memory.New(&memory.Config{Partitions: 4})
	var runs sync.Map
	wfs := countingWorkflows(8, &runs)
	a := newMemoryReplica(t, st, "a", wfs)
	b := newMemoryReplica(t, st.Replica(), "b", wfs)
	defer b.Stop(ctx)
	waitOwnedPartitions(t, a, 2)
	waitOwnedPartitions(t, b, 2)
	require.NoError(t, a.Stop(ctx)) // releases its leases
	waitOwnedPartitions(t, b, 4)
	for _, wf := range wfs {
		id, err := b.StartWorkflowExecution(ctx, wf.Name(), nil)
		require.NoError(t, err)
		x, err := b.WaitWorkflowExecution(ctx, id)
		require.NoError(t, err)
		require.Equal(t, aiflow.WorkflowSuccess, x.Status)
	}
}
