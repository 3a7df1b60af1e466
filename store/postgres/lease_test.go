package postgres

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

// leaseAtCancel is what an attempt's handler saw of its lease, as the
// database sees it, when its context ended.
type leaseAtCancel struct {
	cause        error
	beforeExpiry bool          // the database's clock had not reached the lease's expiry
	left         time.Duration // until the expiry
}

// startWatchedAttempt starts one long attempt whose handler, once its
// context ends, asks the database whether its lease has expired yet.
func startWatchedAttempt(t *testing.T, s *Store) (store.TaskExecutionRecord, <-chan leaseAtCancel) {
	t.Helper()
	claimAll(t, s, testOwner)
	seen := make(chan leaseAtCancel, 1)
	started := make(chan struct{}, 1)
	h := newTestHandler(func(ctx context.Context, run *store.TaskRun) error {
		started <- struct{}{}
		<-ctx.Done()
		var lc leaseAtCancel
		lc.cause = context.Cause(ctx)
		qctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var left float64
		err := s.pool.QueryRow(qctx, s.q(`SELECT clock_timestamp() < expires_at, extract(epoch FROM expires_at - clock_timestamp())
			FROM {s}.aiflow_task_lease WHERE task_execution_id = $1`), run.ID).Scan(&lc.beforeExpiry, &left)
		if err != nil {
			t.Errorf("reading the lease: %v", err)
		}
		lc.left = time.Duration(left * float64(time.Second))
		seen <- lc
		return lc.cause
	})
	startWorkers(t, s, h)
	te := newTE(t, s, 1, "long")
	dispatch(t, s, te)
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the attempt did not start")
	}
	return te, seen
}

func waitLeaseAtCancel(t *testing.T, seen <-chan leaseAtCancel) leaseAtCancel {
	t.Helper()
	select {
	case lc := <-seen:
		return lc
	case <-time.After(time.Minute):
		t.Fatal("the attempt was not cancelled")
		return leaseAtCancel{}
	}
}

// A heartbeat that blocks (its lease row is locked by another transaction,
// as a database that stops answering would) must not keep the attempt alive
// until its lease has expired: the holder cancels it a stop grace before the
// expiry the database set, measured from when it sent its last successful
// renewal, on attempts started by River and by handoff alike.
func TestHolderCancelsItsAttemptBeforeItsLeaseExpires(t *testing.T) {
	for _, handoff := range []bool{false, true} {
		name := map[bool]string{false: "river", true: "handoff"}[handoff]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, pool := newTestStore(t, func(c *Config) {
				c.TaskHeartbeat, c.TaskLeaseTTL, c.TaskStopGrace = 100*time.Millisecond, 4*time.Second, 1500*time.Millisecond
				if !handoff {
					c.HandoffMaxWorkers = -1
				}
			})
			te, seen := startWatchedAttempt(t, s)
			require.Equal(t, handoff, s.workers.handedOff.Load() == 1, "the attempt's path")

			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(ctx) }()
			_, err = tx.Exec(ctx, s.q(`SELECT 1 FROM {s}.aiflow_task_lease WHERE task_execution_id = $1 FOR UPDATE`), te.ID)
			require.NoError(t, err)

			lc := waitLeaseAtCancel(t, seen)
			require.ErrorIs(t, lc.cause, errLeaseLost)
			require.True(t, lc.beforeExpiry, "the attempt was cancelled before its lease expired as the database sees it (%s left)", lc.left)
			t.Logf("cancelled %s before the lease's expiry (stop grace %s)", lc.left, s.cfg.TaskStopGrace)
		})
	}
}

// A process that resumes after a pause longer than its lease allows (here
// its lease clock jumps, and its heartbeats were not answered meanwhile)
// cancels the attempt at once, before any renewal is tried, and while the
// lease has not yet expired in the database (no real time passed).
func TestAttemptCancelledAtOnceAfterAPause(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, func(c *Config) {
		c.TaskHeartbeat, c.TaskLeaseTTL, c.TaskStopGrace = 100*time.Millisecond, 30*time.Second, 10*time.Second
	})
	var shift atomic.Int64
	s.workers.clock = func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	_, seen := startWatchedAttempt(t, s)

	s.workers.heartbeatsPaused.Store(true)
	shift.Store(int64(s.cfg.TaskLeaseTTL)) // the pause
	lc := waitLeaseAtCancel(t, seen)
	require.ErrorIs(t, lc.cause, errLeaseLost)
	require.True(t, lc.beforeExpiry, "cancelled on the process's own clock, long before the database's expiry")
	require.Greater(t, lc.left, s.cfg.TaskLeaseTTL/2, "cancelled at once, not after the lease")
}

// The reaper leaves an expired lease alone for the stop grace (its holder
// may still be stopping the attempt), then ends the attempt.
func TestReaperWaitsTheStopGraceAfterTheLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, func(c *Config) {
		c.TaskHeartbeat, c.TaskLeaseTTL, c.TaskStopGrace = 100*time.Millisecond, 10*time.Second, 5*time.Second
	})
	claimAll(t, s, testOwner)
	te := newTE(t, s, 1, "t")
	dispatch(t, s, te)
	// Its worker recorded RUNNING and stopped renewing: the lease expired a
	// second ago, less than the grace.
	_, err := s.pool.Exec(ctx, s.q(`UPDATE {s}.aiflow_task_execution SET status = 'RUNNING' WHERE id = $1`), te.ID)
	require.NoError(t, err)
	_, err = s.pool.Exec(ctx, s.q(`INSERT INTO {s}.aiflow_task_lease VALUES ($1, 1, 'gone', now() - interval '1 second')`), te.ID)
	require.NoError(t, err)
	n, err := s.reap(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "a lease expired for less than the stop grace is not reaped")
	require.Equal(t, store.TaskRunning, getTE(t, s, te.ID).Status)

	// Expired for longer than the grace.
	_, err = s.pool.Exec(ctx, s.q(`UPDATE {s}.aiflow_task_lease SET expires_at = now() - interval '6 seconds'`))
	require.NoError(t, err)
	n, err = s.reap(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, store.TaskRetrying, getTE(t, s, te.ID).Status)
}

func TestTaskStopGraceConfig(t *testing.T) {
	c, err := (&Config{}).withDefaults()
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, c.TaskStopGrace, "the default with the default lease")
	c, err = (&Config{TaskHeartbeat: 100 * time.Millisecond, TaskLeaseTTL: time.Second}).withDefaults()
	require.NoError(t, err)
	require.Equal(t, 450*time.Millisecond, c.TaskStopGrace, "half of the lease minus the heartbeat")
	_, err = (&Config{TaskHeartbeat: 5 * time.Second, TaskLeaseTTL: 10 * time.Second, TaskStopGrace: 5 * time.Second}).withDefaults()
	require.ErrorContains(t, err, "Config.TaskStopGrace 5s: expected less than TaskLeaseTTL minus TaskHeartbeat")
	_, err = (&Config{TaskStopGrace: -time.Second}).withDefaults()
	require.ErrorContains(t, err, "Config.TaskStopGrace -1s: expected a positive duration")
}
