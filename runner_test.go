package aiflow_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/memory"
)

// unreachableReads is a memory store whose GetExecution fails, as a dropped
// connection does, while failures is above zero.
type unreachableReads struct {
	*memory.Store
	failures atomic.Int32
}

func (s *unreachableReads) GetExecution(ctx context.Context, id int64) (store.WorkflowExecutionRecord, error) {
	if s.failures.Add(-1) >= 0 {
		return store.WorkflowExecutionRecord{}, errors.New("postgres: get execution: unexpected EOF")
	}
	return s.Store.GetExecution(ctx, id)
}

// TestStoreUnreachableBeforeTheBodyIsNotTheTasksFailure: a task without a
// retry policy whose worker cannot read its execution for a moment (the
// fault tests caught it during a Postgres restart) runs its body once the
// store answers again, and succeeds: the store's failure is not the task's.
func TestStoreUnreachableBeforeTheBodyIsNotTheTasksFailure(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := &unreachableReads{Store: memory.New(nil)}
	var ran atomic.Int32
	w := aiflow.NewWorkflow("w")
	w.Task("once", operators.Func(func(context.Context, *aiflow.TaskContext) error {
		ran.Add(1)
		return nil
	}))
	client, err := aiflow.New(&aiflow.Config{Store: st, PollInterval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	require.NoError(t, client.Register(ctx, w))
	require.NoError(t, client.Start(ctx))
	defer func() { require.NoError(t, client.Stop(context.Background())) }()
	st.failures.Store(3) // the worker's first reads
	id, err := client.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return ran.Load() == 1 }, 10*time.Second, 5*time.Millisecond, "the body runs")
	st.failures.Store(0)
	x, err := client.WaitWorkflowExecution(ctx, id)
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowSuccess, x.Status)
	require.EqualValues(t, 1, ran.Load())
}
