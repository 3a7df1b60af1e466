package postgres

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

func TestNamespacesAndWorkflows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)

	require.NoError(t, s.AddNamespace(ctx, "team"))
	require.ErrorIs(t, s.AddNamespace(ctx, "team"), store.ErrAlreadyExists)
	require.ErrorIs(t, s.AddNamespace(ctx, "bad name"), store.ErrInvalid)
	nss, err := s.ListNamespaces(ctx)
	require.NoError(t, err)
	require.Len(t, nss, 2)
	require.Equal(t, "default", nss[0].Name)
	require.Equal(t, "team", nss[1].Name)

	_, err = s.RegisterWorkflow(ctx, store.WorkflowRecord{Namespace: "nope", Name: "wf", Version: "v1"})
	require.ErrorIs(t, err, store.ErrNamespaceNotFound)
	w, err := s.RegisterWorkflow(ctx, store.WorkflowRecord{Namespace: "team", Name: "wf", Version: "v1", Definition: []byte(`{"tasks":[]}`)})
	require.NoError(t, err)
	require.True(t, w.Enabled)
	require.Equal(t, store.PartitionOf("team", "wf", s.Partitions()), w.Partition)
	require.NoError(t, s.SetWorkflowEnabled(ctx, "team", "wf", false,
		store.Event{Kind: store.KindControl, Namespace: "team", Key: store.KeyDisableWorkflow, Workflow: "wf"}))
	w, err = s.RegisterWorkflow(ctx, store.WorkflowRecord{Namespace: "team", Name: "wf", Version: "v2", Definition: []byte(`{"v":2}`)})
	require.NoError(t, err)
	require.False(t, w.Enabled, "registering keeps the enabled flag")
	require.Equal(t, "v2", w.Version)
	_, err = s.RegisterWorkflow(ctx, store.WorkflowRecord{Namespace: "team", Name: "wf", Version: "v1", Definition: []byte(`{"tasks":[]}`)})
	require.NoError(t, err)
	vs, err := s.ListWorkflowVersions(ctx, "team", "wf")
	require.NoError(t, err)
	require.Len(t, vs, 2)
	require.Equal(t, "v1", vs[0].Version)
	require.Equal(t, "v2", vs[1].Version)
	got, err := s.GetWorkflow(ctx, "team", "wf")
	require.NoError(t, err)
	require.Equal(t, "v1", got.Version, "the registered version is current again")
	_, err = s.GetWorkflow(ctx, "team", "missing")
	require.ErrorIs(t, err, store.ErrWorkflowNotFound)
	_, err = s.ListWorkflowVersions(ctx, "team", "missing")
	require.ErrorIs(t, err, store.ErrWorkflowNotFound)
	ws, err := s.ListWorkflows(ctx, "")
	require.NoError(t, err)
	require.Len(t, ws, 1)
	ws, err = s.ListWorkflows(ctx, "default")
	require.NoError(t, err)
	require.Empty(t, ws)
	err = s.SetWorkflowEnabled(ctx, "team", "missing", true, store.Event{Kind: store.KindControl, Namespace: "team", Key: store.KeyEnableWorkflow, Workflow: "missing"})
	require.ErrorIs(t, err, store.ErrWorkflowNotFound)

	// Executions and the rules of deletion.
	require.ErrorIs(t, s.DeleteNamespace(ctx, "team"), store.ErrNamespaceNotEmpty)
	require.ErrorIs(t, s.DeleteNamespace(ctx, "default"), store.ErrConflict)
	require.ErrorIs(t, s.DeleteNamespace(ctx, "nope"), store.ErrNamespaceNotFound)
	ids, err := s.AllocateExecutionIDs(ctx, 3)
	require.NoError(t, err)
	require.Len(t, ids, 3)
	_, err = s.CreateExecution(ctx, store.WorkflowExecutionRecord{ID: ids[0], Namespace: "team", Workflow: "wf", RunType: store.RunManual},
		store.Event{Kind: store.KindControl, Namespace: "team", Key: store.KeyStartExecution, Workflow: "wf", ExecutionID: ids[0]})
	require.NoError(t, err)
	_, err = s.CreateExecution(ctx, store.WorkflowExecutionRecord{ID: ids[1], Namespace: "team", Workflow: "missing"},
		store.Event{Kind: store.KindControl, Namespace: "team", Key: store.KeyStartExecution, Workflow: "missing", ExecutionID: ids[1]})
	require.ErrorIs(t, err, store.ErrWorkflowNotFound)
	xs, err := s.ListExecutions(ctx, store.ExecutionFilter{Namespace: "team", Statuses: []store.WorkflowStatus{store.WorkflowInit}})
	require.NoError(t, err)
	require.Len(t, xs, 1)
	require.Equal(t, store.RunManual, xs[0].RunType)
	_, err = s.GetExecution(ctx, ids[1])
	require.ErrorIs(t, err, store.ErrExecutionNotFound)
	require.ErrorIs(t, s.DeleteWorkflow(ctx, "team", "wf"), store.ErrConflict)

	_, err = s.pool.Exec(ctx, s.q("UPDATE {s}.aiflow_workflow_execution SET status = 'SUCCESS'"))
	require.NoError(t, err)
	require.NoError(t, s.AppendTaskLog(ctx, 42, []byte("x")))
	require.NoError(t, s.DeleteWorkflow(ctx, "team", "wf"))
	require.ErrorIs(t, s.DeleteWorkflow(ctx, "team", "wf"), store.ErrWorkflowNotFound)
	xs, err = s.ListExecutions(ctx, store.ExecutionFilter{})
	require.NoError(t, err)
	require.Empty(t, xs)
	require.NoError(t, s.DeleteNamespace(ctx, "team"))
}

func TestTaskExecutionRecordsRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	te := newTE(t, s, 7, "t")
	te.Streaming, te.Timeout, te.MaxAttempts, te.Note = true, 1500000000, 3, "n"
	consume(t, s, testOwner, func(store.Batch) *store.Effects {
		return &store.Effects{NewTaskExecutions: []store.TaskExecutionRecord{te}}
	})
	got := getTE(t, s, te.ID)
	require.Equal(t, te.ExecutionID, got.ExecutionID)
	require.True(t, got.Streaming)
	require.Equal(t, te.Timeout, got.Timeout)
	require.Equal(t, 3, got.MaxAttempts)
	require.Equal(t, "n", got.Note)
	require.Nil(t, got.Metrics)
	require.True(t, got.StartedAt.IsZero())
	list, err := s.ListTaskExecutions(ctx, store.TaskExecutionFilter{ExecutionID: 7, Statuses: []store.TaskStatus{store.TaskInit}})
	require.NoError(t, err)
	require.Len(t, list, 1)
	list, err = s.ListTaskExecutions(ctx, store.TaskExecutionFilter{Task: "other"})
	require.NoError(t, err)
	require.Empty(t, list)
	_, err = s.GetTaskExecution(ctx, 123456789)
	require.ErrorIs(t, err, store.ErrTaskExecutionNotFound)
}
