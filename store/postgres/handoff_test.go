package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

// jobRow reads what a test checks of the River job of an attempt's first
// dispatch: its state and attempt, or "" when the dispatch names no job.
func jobRow(t *testing.T, s *Store, te int64) (state string, attempt int) {
	t.Helper()
	err := s.pool.QueryRow(context.Background(), s.q(`SELECT coalesce(j.state::text, ''), coalesce(j.attempt, 0)
		FROM {s}.aiflow_dispatch d LEFT JOIN {s}.river_job j ON j.id = d.job_id
		WHERE d.task_execution_id = $1 AND d.attempt = 1`), te).Scan(&state, &attempt)
	require.NoError(t, err)
	return state, attempt
}

// riverJobs counts the store's River jobs.
func riverJobs(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	require.NoError(t, s.pool.QueryRow(context.Background(), s.q("SELECT count(*) FROM {s}.river_job")).Scan(&n))
	return n
}

func TestHandoffRunsAttemptsWithoutRiverJobs(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	h := newTestHandler(func(context.Context, *store.TaskRun) error { return nil })
	startWorkers(t, s, h)
	var tes []store.TaskExecutionRecord
	for _, name := range []string{"a", "b", "c"} {
		te := newTE(t, s, 1, name)
		tes = append(tes, te)
		dispatch(t, s, te)
	}
	for _, te := range tes {
		waitStatus(t, s, te.ID, store.TaskSuccess)
		require.Equal(t, []string{"RUNNING", "SUCCESS"}, statuses(statusEvents(t, s, te.ID)))
		require.Equal(t, dispatchDone, dispatchState(t, s, te.ID, 1))
		state, _ := jobRow(t, s, te.ID)
		require.Empty(t, state, "a handed-off attempt has no River job")
	}
	require.EqualValues(t, 3, s.workers.handedOff.Load(), "every attempt was handed off")
	require.Zero(t, riverJobs(t, s), "no River job was inserted")
}

func TestHandoffStartsTheAttemptInTheUnitOfWork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	release := make(chan struct{})
	h := newTestHandler(func(context.Context, *store.TaskRun) error {
		<-release
		return nil
	})
	startWorkers(t, s, h)
	te := newTE(t, s, 1, "t")
	dispatch(t, s, te)
	// Committed with the unit: RUNNING, its event, the lease and the
	// dispatch running, without a River job.
	got := getTE(t, s, te.ID)
	require.Equal(t, store.TaskRunning, got.Status)
	require.False(t, got.StartedAt.IsZero())
	require.Equal(t, []string{"RUNNING"}, statuses(statusEvents(t, s, te.ID)))
	require.Equal(t, dispatchRunning, dispatchState(t, s, te.ID, 1))
	require.Zero(t, riverJobs(t, s))
	// River's queue depths count it as a running job all the same.
	depths, err := s.QueueDepths(ctx)
	require.NoError(t, err)
	require.Equal(t, []store.QueueDepth{{Queue: QueueBatch, State: "running", Jobs: 1}}, depths)
	var owner string
	require.NoError(t, s.pool.QueryRow(ctx, s.q("SELECT owner FROM {s}.aiflow_task_lease WHERE task_execution_id = $1"), te.ID).Scan(&owner))
	require.Equal(t, testOwner, owner)

	run := h.waitStarted(t)
	require.Equal(t, te.ID, run.ID)
	require.Equal(t, store.TaskRunning, run.Status)
	require.WithinDuration(t, got.StartedAt, run.StartedAt, 0)
	close(release)
	waitStatus(t, s, te.ID, store.TaskSuccess)
	require.Equal(t, dispatchDone, dispatchState(t, s, te.ID, 1))
}

func TestHandedOffAttemptOfADeadProcessIsReaped(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, func(c *Config) {
		c.TaskHeartbeat, c.TaskLeaseTTL, c.TaskStopGrace, c.ReapInterval = 50*time.Millisecond, 300*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	})
	claimAll(t, s, testOwner)
	h := newTestHandler(func(context.Context, *store.TaskRun) error { return nil })
	startWorkers(t, s, h)
	// The unit commits, and the process dies before running the attempt:
	// its lease expires and the reaper ends it, as for any worker that died
	// after RUNNING: an interruption, run again.
	s.workers.mu.Lock()
	s.workers.dropHandoffs = true
	s.workers.mu.Unlock()
	te := newTE(t, s, 1, "t")
	te.MaxAttempts = 1 // no retry policy: still not a failure
	dispatch(t, s, te)
	got := waitStatus(t, s, te.ID, store.TaskRetrying)
	require.Zero(t, got.Failures, "the worker was lost: an interruption, not a failure")
	require.Equal(t, 1, got.Interruptions)
	evs := statusEvents(t, s, te.ID)
	require.Equal(t, []string{"RUNNING", "RETRYING"}, statuses(evs))
	require.Equal(t, store.SenderReaper, evs[1].Sender)
	require.Zero(t, s.workers.handedOff.Load())
	select {
	case <-h.started:
		t.Fatal("the attempt ran")
	default:
	}
}

func TestHandedOffAttemptStoppedByAnotherProcessIsCancelledByItsHeartbeat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, func(c *Config) { c.TaskHeartbeat = 50 * time.Millisecond })
	_, te := startLongAttempt(t, s)
	require.EqualValues(t, 1, s.workers.handedOff.Load())
	// Another process's unit of work moves the task to STOPPING (and
	// cancels the job through River, whose producers do not know it).
	_, err := s.pool.Exec(ctx, s.q(`UPDATE {s}.aiflow_task_execution SET status = 'STOPPING' WHERE id = $1`), te.ID)
	require.NoError(t, err)
	waitStatus(t, s, te.ID, store.TaskStopped)
	require.Equal(t, []string{"RUNNING", "STOPPED"}, statuses(statusEvents(t, s, te.ID)))
	require.Equal(t, dispatchDone, dispatchState(t, s, te.ID, 1))
}

func TestHandoffTakesPartOfABurstUpToItsFreeSlots(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, func(c *Config) { c.HandoffMaxWorkers = 2 })
	claimAll(t, s, testOwner)
	release := make(chan struct{})
	h := newTestHandler(func(context.Context, *store.TaskRun) error {
		<-release
		return nil
	})
	startWorkers(t, s, h)
	// One unit of work dispatches five attempts: two are handed off (the
	// free slots), the three others go to River.
	var tes []store.TaskExecutionRecord
	var ds []store.Dispatch
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		te := newTE(t, s, 1, name)
		tes = append(tes, te)
		ds = append(ds, store.Dispatch{TaskExecutionID: te.ID, Attempt: 1})
	}
	consume(t, s, testOwner, func(store.Batch) *store.Effects {
		return &store.Effects{NewTaskExecutions: tes, Dispatches: ds}
	})
	// All five run at once: the three beyond the slots did not wait for
	// them.
	for range tes {
		h.waitStarted(t)
	}
	close(release)
	jobless := 0
	for _, te := range tes {
		waitStatus(t, s, te.ID, store.TaskSuccess)
		require.Equal(t, []string{"RUNNING", "SUCCESS"}, statuses(statusEvents(t, s, te.ID)))
		// Handed off: no River job; run by River: its job completed once.
		state, attempt := jobRow(t, s, te.ID)
		if state == "" {
			jobless++
			continue
		}
		require.Equal(t, "completed", state)
		require.Equal(t, 1, attempt)
	}
	require.Equal(t, 2, jobless, "the handed-off attempts have no River job")
	require.EqualValues(t, 2, s.workers.handedOff.Load(), "two attempts handed off, three run by River")
}

// A handed-off run carries its execution's version and input, read by the
// unit that starts it, whether the unit inserts its task execution running
// or starts one that existed before.
func TestHandedOffRunCarriesItsExecutionsVersionAndInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	const exec = 1
	_, err := pool.Exec(ctx, s.q(`INSERT INTO {s}.aiflow_workflow_execution (id, namespace, workflow, version, status, created_at, updated_at, input)
		VALUES ($1, 'default', 'wf', 'v7', 'RUNNING', now(), now(), 'the input')`), exec)
	require.NoError(t, err)
	h := newTestHandler(func(context.Context, *store.TaskRun) error { return nil })
	startWorkers(t, s, h)
	check := func(te store.TaskExecutionRecord) {
		t.Helper()
		run := h.waitStarted(t)
		require.Equal(t, te.ID, run.ID)
		require.Equal(t, "v7", run.Version)
		require.Equal(t, "the input", run.Input)
		waitStatus(t, s, te.ID, store.TaskSuccess)
	}

	inserted := newTE(t, s, exec, "inserted")
	dispatch(t, s, inserted)
	check(inserted)

	existing := newTE(t, s, exec, "existing")
	consume(t, s, testOwner, func(store.Batch) *store.Effects {
		return &store.Effects{NewTaskExecutions: []store.TaskExecutionRecord{existing}}
	})
	consume(t, s, testOwner, func(store.Batch) *store.Effects {
		return &store.Effects{Dispatches: []store.Dispatch{{TaskExecutionID: existing.ID, Attempt: 1}}}
	})
	check(existing)
	require.EqualValues(t, 2, s.workers.handedOff.Load(), "both attempts were handed off")
}
