package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

func TestReaperEndsAttemptsWhoseWorkerDiedBeforeRunning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil) // no workers: the test plays the dead worker
	claimAll(t, s, testOwner)

	fetched := newTE(t, s, 1, "fetched")     // a worker fetched the job, then died
	discarded := newTE(t, s, 1, "discarded") // the worker's first transaction failed
	recent := newTE(t, s, 1, "recent")       // fetched a moment ago: still starting
	waiting := newTE(t, s, 1, "waiting")     // not fetched: waits for a worker
	for _, te := range []store.TaskExecutionRecord{fetched, discarded, recent, waiting} {
		dispatch(t, s, te)
	}
	setJob := func(te int64, sql string) {
		_, err := s.pool.Exec(ctx, s.q(`UPDATE {s}.river_job SET `+sql+`
			WHERE id = (SELECT job_id FROM {s}.aiflow_dispatch WHERE task_execution_id = $1)`), te)
		require.NoError(t, err)
	}
	setJob(fetched.ID, "state = 'running', attempt = 1, attempted_at = now() - interval '1 hour'")
	setJob(discarded.ID, "state = 'discarded', attempt = 1, attempted_at = now(), finalized_at = now()")
	setJob(recent.ID, "state = 'running', attempt = 1, attempted_at = now()")

	n, err := s.reap(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	for _, id := range []int64{fetched.ID, discarded.ID} {
		te := getTE(t, s, id)
		require.Equal(t, store.TaskRetrying, te.Status, "a lost start is retried")
		require.Zero(t, te.Failures, "the task's code never ran: not a failure")
		require.Equal(t, dispatchReaped, dispatchState(t, s, id, 1))
		evs := statusEvents(t, s, id)
		require.Equal(t, []string{"RETRYING"}, statuses(evs))
		require.Equal(t, store.SenderReaper, evs[0].Sender)
		d := store.DecodeStatusData(&evs[0])
		require.Equal(t, "worker lost before the attempt started", d.Reason)
		require.True(t, d.Interrupted)
	}
	require.Equal(t, store.TaskQueued, getTE(t, s, recent.ID).Status)
	require.Equal(t, store.TaskQueued, getTE(t, s, waiting.ID).Status)
	state, cancelAttempted := riverJob(t, s, fetched.ID, 1)
	require.Equal(t, "running", state)
	require.True(t, cancelAttempted, "a worker that still runs the job is told to stop")

	// A late worker of a reaped attempt is fenced out.
	n, err = s.reap(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}

// A worker lost while its attempt runs is an interruption, not the task's
// failure: the reaper makes it RETRYING (run again at once) even without a
// retry policy, up to the task execution's MaxInterruptions, and fails it
// at the interruption after those, saying that the workers kept dying.
func TestReaperOnLeaderEndsLostRunningAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	h := newTestHandler(func(ctx context.Context, _ *store.TaskRun) error {
		<-ctx.Done()
		return errors.New("cancelled")
	})
	startWorkers(t, s, h)
	eventually(t, s.IsLeader, "the only client becomes leader")

	te := newTE(t, s, 1, "t")
	te.MaxAttempts, te.MaxInterruptions = 1, 1 // no retry policy; one interruption runs again
	dispatch(t, s, te)
	// The worker stops heartbeating (its process is gone, say): the lease
	// expires and the leader's reaper ends the attempt.
	loseWorker := func(attempt int) {
		t.Helper()
		require.Equal(t, attempt, h.waitStarted(t).Attempt)
		waitStatus(t, s, te.ID, store.TaskRunning)
		_, err := s.pool.Exec(ctx, s.q(`UPDATE {s}.aiflow_task_lease SET owner = 'dead-process', expires_at = now() - interval '1 second'`))
		require.NoError(t, err)
	}
	loseWorker(1)
	got := waitStatus(t, s, te.ID, store.TaskRetrying)
	require.Zero(t, got.Failures, "a lost worker is not the task's failure")
	require.Equal(t, 1, got.Interruptions)
	require.Contains(t, got.Error, "heartbeat lost")
	require.True(t, got.EndedAt.IsZero())
	eventually(t, func() bool { return h.cause(te.ID) != nil }, "the lost attempt's context ends")
	evs := statusEvents(t, s, te.ID)
	require.Equal(t, []string{"RUNNING", "RETRYING"}, statuses(evs))
	d := store.DecodeStatusData(&evs[1])
	require.True(t, d.Interrupted, "the next attempt is dispatched at once")
	require.Equal(t, 1, d.Interruptions)
	require.Contains(t, d.Reason, store.ReasonWorkerLost)

	// The engine dispatches the next attempt; its worker is lost too: one
	// interruption more than the limit fails the task execution.
	consume(t, s, testOwner, func(store.Batch) *store.Effects {
		return &store.Effects{Dispatches: []store.Dispatch{{TaskExecutionID: te.ID, Attempt: 2}}}
	})
	loseWorker(2)
	got = waitStatus(t, s, te.ID, store.TaskFailed)
	require.Zero(t, got.Failures)
	require.Equal(t, 2, got.Interruptions)
	require.True(t, strings.HasPrefix(got.Error, store.WorkersKeptDying), "error %q", got.Error)
	require.False(t, got.EndedAt.IsZero())
	require.Equal(t, []string{"RUNNING", "RETRYING", "RUNNING", "FAILED"}, statuses(statusEvents(t, s, te.ID)))
}

func TestStoppingAttemptWithLostWorkerEndsStopped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	te := newTE(t, s, 1, "t")
	dispatch(t, s, te)
	// Its worker recorded RUNNING, then vanished; a stop was requested.
	_, err := s.pool.Exec(ctx, s.q(`UPDATE {s}.aiflow_task_execution SET status = 'STOPPING' WHERE id = $1;`), te.ID)
	require.NoError(t, err)
	_, err = s.pool.Exec(ctx, s.q(`INSERT INTO {s}.aiflow_task_lease VALUES ($1, 1, 'gone', now() - interval '1 second')`), te.ID)
	require.NoError(t, err)
	n, err := s.reap(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	got := getTE(t, s, te.ID)
	require.Equal(t, store.TaskStopped, got.Status)
	require.Zero(t, got.Failures)
}

func TestReaperCancelsJobsLeftRunningAfterTheirAttemptEnded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	te := newTE(t, s, 1, "t")
	dispatch(t, s, te)
	// The attempt ended long ago, but its process died before River
	// completed the job.
	_, err := s.pool.Exec(ctx, s.q(`UPDATE {s}.aiflow_task_execution SET status = 'SUCCESS' WHERE id = $1;`), te.ID)
	require.NoError(t, err)
	_, err = s.pool.Exec(ctx, s.q(`UPDATE {s}.aiflow_dispatch SET state = 'done', updated_at = now() - interval '1 hour' WHERE task_execution_id = $1`), te.ID)
	require.NoError(t, err)
	_, err = s.pool.Exec(ctx, s.q(`UPDATE {s}.river_job SET state = 'running', attempt = 1, attempted_at = now() - interval '1 hour'
		WHERE id = (SELECT job_id FROM {s}.aiflow_dispatch WHERE task_execution_id = $1)`), te.ID)
	require.NoError(t, err)
	n, err := s.reap(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	state, cancelAttempted := riverJob(t, s, te.ID, 1)
	require.Equal(t, "running", state)
	require.True(t, cancelAttempted, "River's rescuer finalizes it")
	require.Equal(t, store.TaskSuccess, getTE(t, s, te.ID).Status, "the store's records are untouched")
	n, err = s.reap(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}
