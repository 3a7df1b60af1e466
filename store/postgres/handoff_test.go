package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

// jobRow reads what a test checks of the River job of an attempt.
func jobRow(t *testing.T, s *Store, te int64) (id int64, state string, attempt int, attemptedBy []string) {
	t.Helper()
	err := s.pool.QueryRow(context.Background(), s.q(`SELECT j.id, j.state::text, j.attempt, coalesce(j.attempted_by, '{}')
		FROM {s}.aiflow_dispatch d JOIN {s}.river_job j ON j.id = d.job_id
		WHERE d.task_execution_id = $1 AND d.attempt = 1`), te).Scan(&id, &state, &attempt, &attemptedBy)
	require.NoError(t, err)
	return id, state, attempt, attemptedBy
}

func TestHandoffRunsAttemptsAndCompletesTheirJobs(t *testing.T) {
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
		// Claimed as River's fetch would have, completed with the final
		// status.
		_, state, attempt, by := jobRow(t, s, te.ID)
		require.Equal(t, "completed", state)
		require.Equal(t, 1, attempt)
		require.Equal(t, []string{s.river.ID()}, by)
	}
	require.EqualValues(t, 3, s.workers.handedOff.Load(), "every attempt was handed off")
}

func TestHandedOffJobThatIsNeverClaimedIsRunByRiver(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	h := newTestHandler(func(context.Context, *store.TaskRun) error { return nil })
	startWorkers(t, s, h)
	// The process takes the handoff and dies before its worker claims the
	// job: River's scheduler makes it available after handoffFallback, and
	// River's fetch runs it.
	s.workers.mu.Lock()
	s.workers.dropHandoffs = true
	s.workers.mu.Unlock()
	te := newTE(t, s, 1, "t")
	dispatch(t, s, te)
	_, state, _, _ := jobRow(t, s, te.ID)
	require.Equal(t, "scheduled", state, "the job is left to this process's workers")
	waitStatus(t, s, te.ID, store.TaskSuccess)
	require.Zero(t, s.workers.handedOff.Load())
	require.Equal(t, []string{"RUNNING", "SUCCESS"}, statuses(statusEvents(t, s, te.ID)))
	_, state, attempt, _ := jobRow(t, s, te.ID)
	require.Equal(t, "completed", state)
	require.Equal(t, 1, attempt)
}

func TestHandoffDoesNotStartAJobRiverFetched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	h := newTestHandler(func(context.Context, *store.TaskRun) error { return nil })
	startWorkers(t, s, h)
	s.workers.mu.Lock()
	s.workers.dropHandoffs = true
	s.workers.mu.Unlock()
	te := newTE(t, s, 1, "t")
	dispatch(t, s, te)
	// River's fetch got there first (its worker is slow to record RUNNING):
	// the handoff claims nothing and starts nothing.
	jobID, _, _, _ := jobRow(t, s, te.ID)
	_, err := s.pool.Exec(ctx, s.q(`UPDATE {s}.river_job SET state = 'running', attempt = 1, attempted_at = now(),
		attempted_by = '{another}' WHERE id = $1`), jobID)
	require.NoError(t, err)
	res, err := s.workers.starter.do(startReq{job: handoffRiverJob(handoffJob{queue: QueueBatch, te: te.ID, attempt: 1, jobID: jobID}), handoff: true})
	require.NoError(t, err)
	require.Nil(t, res.run)
	require.False(t, res.claimed)
	require.Equal(t, store.TaskQueued, getTE(t, s, te.ID).Status)
	require.Empty(t, statusEvents(t, s, te.ID))
	_, _, attempt, by := jobRow(t, s, te.ID)
	require.Equal(t, 1, attempt)
	require.Equal(t, []string{"another"}, by)
}

func TestHandedOffAttemptStoppedByAnotherProcessIsCancelledByItsHeartbeat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, func(c *Config) { c.TaskHeartbeat = 50 * time.Millisecond })
	claimAll(t, s, testOwner)
	h := newTestHandler(func(ctx context.Context, _ *store.TaskRun) error {
		<-ctx.Done()
		return context.Cause(ctx)
	})
	startWorkers(t, s, h)
	te := newTE(t, s, 1, "long")
	dispatch(t, s, te)
	h.waitStarted(t)
	waitStatus(t, s, te.ID, store.TaskRunning)
	require.EqualValues(t, 1, s.workers.handedOff.Load())
	// Another process's unit of work moves the task to STOPPING (and
	// cancels the job through River, whose producers do not know it).
	_, err := s.pool.Exec(ctx, s.q(`UPDATE {s}.aiflow_task_execution SET status = 'STOPPING' WHERE id = $1`), te.ID)
	require.NoError(t, err)
	waitStatus(t, s, te.ID, store.TaskStopped)
	require.Equal(t, []string{"RUNNING", "STOPPED"}, statuses(statusEvents(t, s, te.ID)))
	_, state, _, _ := jobRow(t, s, te.ID)
	require.Equal(t, "completed", state)
}
