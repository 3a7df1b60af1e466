package postgres

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

// A worker that cancels its attempt because it can no longer keep the lease
// (its heartbeats failed, or its process was paused) records an
// interruption by a lost worker, not the task's failure, even for a task
// without a retry policy.
func TestAttemptCancelledForItsLeaseIsAnInterruption(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, nil)
	te := startWaitingAttempt(t, s)

	// What the holder does once it cannot prove its lease any more.
	s.workers.mu.Lock()
	a := s.workers.running[te.ID]
	require.NotNil(t, a, "the attempt runs in this process")
	a.cancel(errLeaseLost)
	s.workers.mu.Unlock()

	requireWorkerRecordedInterruption(t, s, te.ID)
}

// startWaitingAttempt starts the workers of s with a handler that runs until
// its context ends, and one attempt of a task without a retry policy, and
// waits until it is RUNNING.
func startWaitingAttempt(t *testing.T, s *Store) store.TaskExecutionRecord {
	t.Helper()
	claimAll(t, s, testOwner)
	h := newTestHandler(func(ctx context.Context, _ *store.TaskRun) error {
		<-ctx.Done()
		return context.Cause(ctx)
	})
	startWorkers(t, s, h)
	te := newTE(t, s, 1, "t")
	te.MaxAttempts = 1
	dispatch(t, s, te)
	h.waitStarted(t)
	waitStatus(t, s, te.ID, store.TaskRunning)
	return te
}

// requireWorkerRecordedInterruption waits until task execution id is
// RETRYING and checks that its worker recorded the attempt's end as an
// interruption by a lost worker, not a failure.
func requireWorkerRecordedInterruption(t *testing.T, s *Store, id int64) {
	t.Helper()
	got := waitStatus(t, s, id, store.TaskRetrying)
	require.Zero(t, got.Failures)
	require.Equal(t, 1, got.Interruptions)
	evs := statusEvents(t, s, id)
	require.Equal(t, []string{"RUNNING", "RETRYING"}, statuses(evs))
	require.Equal(t, store.SenderWorker, evs[1].Sender)
	d := store.DecodeStatusData(&evs[1])
	require.True(t, d.Interrupted)
	require.True(t, strings.HasPrefix(d.Reason, store.ReasonWorkerLost), "reason %q", d.Reason)
}

// LoseWorkers acts as the death of the process: nothing the abandoned
// attempt returns is recorded, and the reaper ends it once its lease has
// expired.
func TestLoseWorkersLeavesTheAttemptToTheReaper(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	release := make(chan struct{})
	h := newTestHandler(func(context.Context, *store.TaskRun) error {
		<-release
		return nil
	})
	startWorkers(t, s, h)
	eventually(t, s.IsLeader, "the only client becomes leader")
	te := newTE(t, s, 1, "t")
	dispatch(t, s, te)
	h.waitStarted(t)
	waitStatus(t, s, te.ID, store.TaskRunning)
	require.Equal(t, 1, s.LoseWorkers())
	close(release) // the body succeeds, but its process is "dead"

	got := waitStatus(t, s, te.ID, store.TaskRetrying)
	require.Equal(t, 1, got.Interruptions)
	evs := statusEvents(t, s, te.ID)
	require.Equal(t, []string{"RUNNING", "RETRYING"}, statuses(evs))
	require.Equal(t, store.SenderReaper, evs[1].Sender)
}

// The holder's own early cancellation (its watchdog, after a pause of the
// process that its lease cannot cover) ends the attempt as an interruption
// by a lost worker, recorded by the worker itself long before the reaper
// could, even for a task without a retry policy.
func TestWatchdogCancellationIsAnInterruption(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, func(c *Config) {
		c.TaskHeartbeat, c.TaskLeaseTTL, c.TaskStopGrace = 100*time.Millisecond, 30*time.Second, 10*time.Second
	})
	var shift atomic.Int64
	s.workers.clock = func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	te := startWaitingAttempt(t, s)

	s.workers.heartbeatsPaused.Store(true)
	shift.Store(int64(s.cfg.TaskLeaseTTL)) // the pause
	requireWorkerRecordedInterruption(t, s, te.ID)
}
