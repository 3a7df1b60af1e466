package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

func TestClaimPartitionsFairShare(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil) // 4 partitions

	a, err := s.ClaimPartitions(ctx, "a", time.Minute)
	require.NoError(t, err)
	require.Equal(t, []int{0, 1, 2, 3}, a)

	// A second owner gets nothing until the first gives back its surplus.
	b, err := s.ClaimPartitions(ctx, "b", time.Minute)
	require.NoError(t, err)
	require.Empty(t, b)
	a, err = s.ClaimPartitions(ctx, "a", time.Minute)
	require.NoError(t, err)
	require.Equal(t, []int{0, 1}, a)
	b, err = s.ClaimPartitions(ctx, "b", time.Minute)
	require.NoError(t, err)
	require.Equal(t, []int{2, 3}, b)

	// Only the holder may consume.
	_, err = s.Consume(ctx, store.ConsumeParams{Partition: 2, Owner: "a"}, func(context.Context, store.Batch) (*store.Effects, error) {
		t.Fatal("the batch function of a non-owner ran")
		return nil, nil
	})
	require.ErrorIs(t, err, store.ErrNotOwner)
	_, err = s.Consume(ctx, store.ConsumeParams{Partition: 9, Owner: "a"}, nil)
	require.ErrorIs(t, err, store.ErrInvalid)

	// Releasing hands everything to the remaining owner.
	require.NoError(t, s.ReleasePartitions(ctx, "b"))
	a, err = s.ClaimPartitions(ctx, "a", time.Minute)
	require.NoError(t, err)
	require.Equal(t, []int{0, 1, 2, 3}, a)
}

func TestClaimPartitionsTakesOverExpiredLeases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newTestStore(t, nil)
	_, err := s.ClaimPartitions(ctx, "dead", time.Minute)
	require.NoError(t, err)
	// The owner dies: its client row and leases expire.
	_, err = pool.Exec(ctx, s.q(`UPDATE {s}.aiflow_partition SET lease_until = now() - interval '1 second';
		UPDATE {s}.aiflow_client SET expires_at = now() - interval '1 second'`))
	require.NoError(t, err)
	got, err := s.ClaimPartitions(ctx, "alive", time.Minute)
	require.NoError(t, err)
	require.Equal(t, []int{0, 1, 2, 3}, got)
	_, err = s.Consume(ctx, store.ConsumeParams{Partition: 0, Owner: "dead"}, func(context.Context, store.Batch) (*store.Effects, error) {
		return &store.Effects{}, nil
	})
	require.ErrorIs(t, err, store.ErrNotOwner)
}

func TestConsumeLeaseLostDuringBatchCommitsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	_, err := s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "k"}})
	require.NoError(t, err)
	eventually(t, func() bool {
		n := 0
		res, err := s.Consume(ctx, store.ConsumeParams{Partition: 0, Owner: testOwner}, func(_ context.Context, b store.Batch) (*store.Effects, error) {
			n = len(b.Events())
			if n == 0 {
				return nil, nil
			}
			// Another client takes the partition while the batch runs.
			_, err := pool.Exec(ctx, s.q(`UPDATE {s}.aiflow_partition SET owner = 'thief', lease_until = now() + interval '1 minute' WHERE partition = 0`))
			require.NoError(t, err)
			return &store.Effects{Position: b.Events()[0].Position, Events: []store.Event{{Namespace: "default", Key: "decided"}}}, nil
		})
		if n == 0 {
			require.NoError(t, err)
			return false
		}
		require.ErrorIs(t, err, store.ErrNotOwner)
		require.Equal(t, 1, res.Events)
		return true
	}, "the event is consumed")
	var version int64
	var pos store.Position
	require.NoError(t, pool.QueryRow(ctx, s.q("SELECT version, pos_id FROM {s}.aiflow_partition WHERE partition = 0")).Scan(&version, &pos.ID))
	require.Zero(t, version)
	require.Zero(t, pos.ID)
	evs, _, err := s.ListEvents(ctx, store.EventFilter{Keys: []string{"decided"}})
	require.NoError(t, err)
	require.Empty(t, evs)
}

func TestConsumeAppliesEffects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	_, err := s.RegisterWorkflow(ctx, store.WorkflowRecord{Namespace: "default", Name: "wf", Version: "v1"})
	require.NoError(t, err)
	ids, err := s.AllocateExecutionIDs(ctx, 1)
	require.NoError(t, err)
	x := store.WorkflowExecutionRecord{ID: ids[0], Namespace: "default", Workflow: "wf", Version: "v1", RunType: store.RunManual}
	_, err = s.CreateExecution(ctx, x, store.Event{Kind: store.KindControl, Namespace: "default", Key: store.KeyStartExecution, Workflow: "wf", ExecutionID: x.ID})
	require.NoError(t, err)
	got, err := s.GetExecution(ctx, x.ID)
	require.NoError(t, err)
	require.Equal(t, store.WorkflowInit, got.Status)
	_, err = s.CreateExecution(ctx, x, store.Event{Kind: store.KindControl, Namespace: "default", Key: store.KeyStartExecution, Workflow: "wf", ExecutionID: x.ID})
	require.ErrorIs(t, err, store.ErrAlreadyExists)

	te := newTE(t, s, x.ID, "t1")
	now := time.Now()
	running := x
	running.Status, running.CreatedAt, running.UpdatedAt = store.WorkflowRunning, now, now
	res := consume(t, s, testOwner, func(b store.Batch) *store.Effects {
		snaps, err := b.Snapshots(ctx)
		require.NoError(t, err)
		require.Empty(t, snaps)
		return &store.Effects{
			NewExecutions:     []store.WorkflowExecutionRecord{running},
			NewTaskExecutions: []store.TaskExecutionRecord{te},
			TaskNotes:         []store.TaskNote{{TaskExecutionID: te.ID, Note: "first"}, {TaskExecutionID: te.ID, Note: "why"}},
			Snapshots:         []store.Snapshot{{Key: "a\x00b", Data: []byte("1")}, {Key: "gone", Data: []byte("x")}, {Key: "gone", Delete: true}},
			Events:            []store.Event{{Kind: store.KindStatus, Namespace: "default", Key: store.WorkflowStatusKey("wf"), Value: "RUNNING", Workflow: "wf", ExecutionID: x.ID}},
		}
	})
	require.Equal(t, int64(1), res.Version)
	got, err = s.GetExecution(ctx, x.ID)
	require.NoError(t, err)
	require.Equal(t, store.WorkflowRunning, got.Status, "the INIT record is replaced")
	require.Equal(t, "why", getTE(t, s, te.ID).Note)

	// A second insert of the same execution fails the whole unit.
	_, err = s.Consume(ctx, store.ConsumeParams{Partition: 0, Owner: testOwner}, func(_ context.Context, b store.Batch) (*store.Effects, error) {
		return &store.Effects{Position: b.Position(), NewExecutions: []store.WorkflowExecutionRecord{running},
			Events: []store.Event{{Namespace: "default", Key: "must_not_exist"}}}, nil
	})
	require.ErrorIs(t, err, store.ErrAlreadyExists)

	end := time.Now().Truncate(time.Microsecond)
	res = consume(t, s, testOwner, func(b store.Batch) *store.Effects {
		require.Equal(t, int64(1), b.Version())
		snaps, err := b.Snapshots(ctx)
		require.NoError(t, err)
		require.Equal(t, []store.Snapshot{{Key: "a\x00b", Data: []byte("1")}}, snaps)
		return &store.Effects{
			ExecutionUpdates: []store.ExecutionUpdate{{ID: x.ID, Status: store.WorkflowSuccess, EndedAt: end}, {ID: x.ID, Status: store.WorkflowSuccess, Note: "done"}},
			Snapshots:        []store.Snapshot{{Key: "a\x00b", Delete: true}},
		}
	})
	require.Equal(t, int64(2), res.Version)
	got, err = s.GetExecution(ctx, x.ID)
	require.NoError(t, err)
	require.Equal(t, store.WorkflowSuccess, got.Status)
	require.Equal(t, "done", got.Note)
	require.True(t, end.Equal(got.EndedAt))

	// Nil effects commit nothing, not even a position.
	res, err = s.Consume(ctx, store.ConsumeParams{Partition: 0, Owner: testOwner}, func(context.Context, store.Batch) (*store.Effects, error) {
		return nil, nil
	})
	require.NoError(t, err)
	require.Equal(t, int64(2), res.Version)
	evs, _, err := s.ListEvents(ctx, store.EventFilter{Keys: []string{"must_not_exist"}})
	require.NoError(t, err)
	require.Empty(t, evs)
}

func TestDispatchDedupeAndStopOutcomes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil) // workers not started: jobs stay queued
	claimAll(t, s, testOwner)

	// Dispatch: INIT becomes QUEUED with a pending job; a second dispatch of
	// the same attempt is ignored.
	queued := newTE(t, s, 1, "queued")
	dispatch(t, s, queued)
	consume(t, s, testOwner, func(store.Batch) *store.Effects {
		return &store.Effects{Dispatches: []store.Dispatch{{TaskExecutionID: queued.ID, Attempt: 1}}}
	})
	te := getTE(t, s, queued.ID)
	require.Equal(t, store.TaskQueued, te.Status)
	require.Equal(t, 1, te.Attempt)
	var jobs int
	require.NoError(t, s.pool.QueryRow(ctx, s.q("SELECT count(*) FROM {s}.river_job")).Scan(&jobs))
	require.Equal(t, 1, jobs)
	state, _ := riverJob(t, s, queued.ID, 1)
	require.Equal(t, "available", state)

	// Stop QUEUED: STOPPED with the attempt bumped (a late worker is fenced
	// out), its job cancelled, and the status event appended.
	initTE := newTE(t, s, 1, "init")
	consume(t, s, testOwner, func(store.Batch) *store.Effects {
		return &store.Effects{NewTaskExecutions: []store.TaskExecutionRecord{initTE}}
	})
	consume(t, s, testOwner, func(store.Batch) *store.Effects {
		return &store.Effects{Stops: []store.StopRequest{{TaskExecutionID: queued.ID, Reason: "rule"}, {TaskExecutionID: initTE.ID, Reason: "rule"}}}
	})
	te = getTE(t, s, queued.ID)
	require.Equal(t, store.TaskStopped, te.Status)
	require.Equal(t, 2, te.Attempt)
	require.False(t, te.EndedAt.IsZero())
	state, _ = riverJob(t, s, queued.ID, 1)
	require.Equal(t, "cancelled", state)
	require.Equal(t, dispatchCancelled, dispatchState(t, s, queued.ID, 1))
	evs := statusEvents(t, s, queued.ID)
	require.Equal(t, []string{"STOPPED"}, statuses(evs))
	d := store.DecodeStatusData(&evs[0])
	require.Equal(t, 2, d.Attempt)
	require.Equal(t, "rule", d.Reason)
	require.Equal(t, store.SenderEngine, evs[0].Sender)
	// Stop INIT: STOPPED too.
	require.Equal(t, store.TaskStopped, getTE(t, s, initTE.ID).Status)
	require.Equal(t, []string{"STOPPED"}, statuses(statusEvents(t, s, initTE.ID)))

	// Stop RUNNING: STOPPING, the running job is asked to cancel.
	run := newTE(t, s, 1, "running")
	dispatch(t, s, run)
	_, err := s.pool.Exec(ctx, s.q(`UPDATE {s}.aiflow_task_execution SET status = 'RUNNING' WHERE id = $1;
		`), run.ID)
	require.NoError(t, err)
	_, err = s.pool.Exec(ctx, s.q(`UPDATE {s}.river_job SET state = 'running', attempt = 1, attempted_at = now()
		WHERE id = (SELECT job_id FROM {s}.aiflow_dispatch WHERE task_execution_id = $1)`), run.ID)
	require.NoError(t, err)
	consume(t, s, testOwner, func(store.Batch) *store.Effects {
		return &store.Effects{Stops: []store.StopRequest{{TaskExecutionID: run.ID, Reason: "rule"}}}
	})
	require.Equal(t, store.TaskStopping, getTE(t, s, run.ID).Status)
	state, cancelAttempted := riverJob(t, s, run.ID, 1)
	require.Equal(t, "running", state)
	require.True(t, cancelAttempted)
	require.Equal(t, []string{"STOPPING"}, statuses(statusEvents(t, s, run.ID)))

	// Stopping or finished: left alone.
	consume(t, s, testOwner, func(store.Batch) *store.Effects {
		return &store.Effects{Stops: []store.StopRequest{{TaskExecutionID: run.ID}, {TaskExecutionID: queued.ID}}}
	})
	require.Len(t, statusEvents(t, s, run.ID), 1)
	require.Len(t, statusEvents(t, s, queued.ID), 1)
	require.Equal(t, 2, getTE(t, s, queued.ID).Attempt)

	// Dispatched and stopped in one unit: recorded, no job.
	both := newTE(t, s, 1, "both")
	consume(t, s, testOwner, func(store.Batch) *store.Effects {
		return &store.Effects{
			NewTaskExecutions: []store.TaskExecutionRecord{both},
			Dispatches:        []store.Dispatch{{TaskExecutionID: both.ID, Attempt: 1}},
			Stops:             []store.StopRequest{{TaskExecutionID: both.ID}},
		}
	})
	require.Equal(t, store.TaskStopped, getTE(t, s, both.ID).Status)
	require.Equal(t, dispatchCancelled, dispatchState(t, s, both.ID, 1))
	require.NoError(t, s.pool.QueryRow(ctx, s.q("SELECT count(*) FROM {s}.river_job")).Scan(&jobs))
	require.Equal(t, 2, jobs)

	// A retry is dispatched only with a higher attempt, later when NotBefore says so.
	retry := newTE(t, s, 1, "retry")
	dispatch(t, s, retry)
	_, err = s.pool.Exec(ctx, s.q(`UPDATE {s}.aiflow_task_execution SET status = 'RETRYING' WHERE id = $1`), retry.ID)
	require.NoError(t, err)
	consume(t, s, testOwner, func(store.Batch) *store.Effects {
		return &store.Effects{Dispatches: []store.Dispatch{
			{TaskExecutionID: retry.ID, Attempt: 1},
			{TaskExecutionID: retry.ID, Attempt: 2, NotBefore: time.Now().Add(time.Hour)},
		}}
	})
	te = getTE(t, s, retry.ID)
	require.Equal(t, store.TaskRetrying, te.Status)
	require.Equal(t, 2, te.Attempt)
	state, _ = riverJob(t, s, retry.ID, 2)
	require.Equal(t, "scheduled", state)
	// Stop RETRYING: STOPPED, the scheduled job cancelled.
	consume(t, s, testOwner, func(store.Batch) *store.Effects {
		return &store.Effects{Stops: []store.StopRequest{{TaskExecutionID: retry.ID}}}
	})
	te = getTE(t, s, retry.ID)
	require.Equal(t, store.TaskStopped, te.Status)
	require.Equal(t, 3, te.Attempt)
	state, _ = riverJob(t, s, retry.ID, 2)
	require.Equal(t, "cancelled", state)
}
