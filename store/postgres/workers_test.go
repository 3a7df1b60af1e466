package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

// handlerFunc lets a test decide per task what an attempt does.
type testHandler struct {
	mu      sync.Mutex
	started chan *store.TaskRun
	do      func(ctx context.Context, run *store.TaskRun) error
	causes  map[int64]error
}

func newTestHandler(do func(ctx context.Context, run *store.TaskRun) error) *testHandler {
	return &testHandler{started: make(chan *store.TaskRun, 100), do: do, causes: map[int64]error{}}
}

func (h *testHandler) handle(ctx context.Context, run *store.TaskRun) error {
	h.started <- run
	err := h.do(ctx, run)
	h.mu.Lock()
	h.causes[run.ID] = context.Cause(ctx)
	h.mu.Unlock()
	return err
}

func (h *testHandler) cause(id int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.causes[id]
}

func (h *testHandler) waitStarted(t *testing.T) *store.TaskRun {
	t.Helper()
	select {
	case run := <-h.started:
		return run
	case <-time.After(20 * time.Second):
		t.Fatal("no attempt started")
		return nil
	}
}

func startWorkers(t *testing.T, s *Store, h *testHandler) {
	t.Helper()
	require.NoError(t, s.StartWorkers(context.Background(), store.WorkersParams{Handler: h.handle, Owner: testOwner}))
	t.Cleanup(func() { stopWorkersNow(t, s) })
}

// stopWorkersNow stops the workers, interrupting the running attempts.
func stopWorkersNow(t *testing.T, s *Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.StopWorkers(ctx)
	if err != nil {
		require.ErrorIs(t, err, context.Canceled)
	}
}

// startLongAttempt starts the workers of s with a handler that runs until
// its context ends, dispatches one attempt and waits until it runs.
func startLongAttempt(t *testing.T, s *Store) (*testHandler, store.TaskExecutionRecord) {
	t.Helper()
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
	return h, te
}

func waitStatus(t *testing.T, s *Store, id int64, want store.TaskStatus) store.TaskExecutionRecord {
	t.Helper()
	var te store.TaskExecutionRecord
	eventually(t, func() bool {
		te = getTE(t, s, id)
		return te.Status == want
	}, "task execution reaches "+string(want))
	return te
}

func TestWorkersRunAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	h := newTestHandler(func(_ context.Context, run *store.TaskRun) error {
		switch run.Task {
		case "fails":
			return errors.New("boom")
		case "panics":
			panic("oops")
		}
		return nil
	})
	startWorkers(t, s, h)

	ok := newTE(t, s, 1, "ok")
	dispatch(t, s, ok)
	run := h.waitStarted(t)
	require.Equal(t, ok.ID, run.ID)
	require.Equal(t, 1, run.Attempt)
	te := waitStatus(t, s, ok.ID, store.TaskSuccess)
	require.False(t, te.StartedAt.IsZero())
	require.False(t, te.EndedAt.IsZero())
	evs := statusEvents(t, s, ok.ID)
	require.Equal(t, []string{"RUNNING", "SUCCESS"}, statuses(evs))
	require.Equal(t, store.SenderWorker, evs[0].Sender)
	require.Equal(t, dispatchDone, dispatchState(t, s, ok.ID, 1))
	eventually(t, func() bool {
		state, _ := riverJob(t, s, ok.ID, 1)
		return state == "completed" || state == "" // handed off: no job
	}, "the job completes")
	var leases int
	require.NoError(t, s.pool.QueryRow(ctx, s.q("SELECT count(*) FROM {s}.aiflow_task_lease")).Scan(&leases))
	require.Zero(t, leases)

	// A failure with attempts left is RETRYING; the next attempt (as the
	// engine dispatches it) fails for good.
	fails := newTE(t, s, 1, "fails")
	dispatch(t, s, fails)
	te = waitStatus(t, s, fails.ID, store.TaskRetrying)
	require.Equal(t, 1, te.Failures)
	require.Equal(t, "boom", te.Error)
	consume(t, s, testOwner, func(store.Batch) *store.Effects {
		return &store.Effects{Dispatches: []store.Dispatch{{TaskExecutionID: fails.ID, Attempt: 2}}}
	})
	te = waitStatus(t, s, fails.ID, store.TaskFailed)
	require.Equal(t, 2, te.Failures)
	require.Equal(t, 2, te.Attempt)
	evs = statusEvents(t, s, fails.ID)
	require.Equal(t, []string{"RUNNING", "RETRYING", "RUNNING", "FAILED"}, statuses(evs))
	require.Equal(t, 2, store.DecodeStatusData(&evs[3]).Failures)

	panics := newTE(t, s, 1, "panics")
	panics.MaxAttempts = 1
	dispatch(t, s, panics)
	te = waitStatus(t, s, panics.ID, store.TaskFailed)
	require.Contains(t, te.Error, "task panicked: oops")
}

func TestStopRunningAttemptCancelsItsContext(t *testing.T) {
	t.Parallel()
	// A handed-off attempt is cancelled by the unit of work's process, one
	// River fetched by River too.
	for _, handoff := range []bool{true, false} {
		t.Run(fmt.Sprintf("handoff=%v", handoff), func(t *testing.T) {
			t.Parallel()
			s, _ := newTestStore(t, func(c *Config) {
				if !handoff {
					c.HandoffMaxWorkers = -1
				}
			})
			h, te := startLongAttempt(t, s)
			if handoff {
				require.EqualValues(t, 1, s.workers.handedOff.Load())
			} else {
				require.Zero(t, s.workers.handedOff.Load())
			}

			consume(t, s, testOwner, func(store.Batch) *store.Effects {
				return &store.Effects{Stops: []store.StopRequest{{TaskExecutionID: te.ID, Reason: "STOP rule"}}}
			})
			got := waitStatus(t, s, te.ID, store.TaskStopped)
			require.Zero(t, got.Failures)
			require.ErrorIs(t, h.cause(te.ID), river.ErrJobCancelledRemotely)
			require.Equal(t, []string{"RUNNING", "STOPPING", "STOPPED"}, statuses(statusEvents(t, s, te.ID)))
		})
	}
}

func TestStopWorkersInterruptsAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	release := make(chan struct{})
	h := newTestHandler(func(ctx context.Context, run *store.TaskRun) error {
		if run.Task == "drains" {
			<-release
			return nil
		}
		<-ctx.Done()
		return context.Cause(ctx)
	})
	require.NoError(t, s.StartWorkers(ctx, store.WorkersParams{Handler: h.handle, Owner: testOwner}))

	streaming := newTE(t, s, 1, "streaming")
	streaming.Streaming = true
	batchTE := newTE(t, s, 1, "batch")
	drains := newTE(t, s, 1, "drains")
	for _, te := range []store.TaskExecutionRecord{streaming, batchTE, drains} {
		dispatch(t, s, te)
		h.waitStarted(t)
		waitStatus(t, s, te.ID, store.TaskRunning)
	}

	// The drain is cut short by ctx; the attempt that finishes within it
	// ends normally, the others are interrupted.
	stopCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.StopWorkers(stopCtx) }()
	// Streaming attempts are interrupted at once, without waiting for ctx.
	got := waitStatus(t, s, streaming.ID, store.TaskRetrying)
	require.Zero(t, got.Failures)
	close(release)
	waitStatus(t, s, drains.ID, store.TaskSuccess)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	got = waitStatus(t, s, batchTE.ID, store.TaskRetrying)
	require.Zero(t, got.Failures, "an interruption is not a failure")
	evs := statusEvents(t, s, batchTE.ID)
	require.Equal(t, []string{"RUNNING", "RETRYING"}, statuses(evs))
	require.True(t, store.DecodeStatusData(&evs[1]).Interrupted)

	// The workers can be started again, and run the next attempt.
	require.NoError(t, s.StartWorkers(ctx, store.WorkersParams{Handler: h.handle, Owner: testOwner}))
	t.Cleanup(func() { stopWorkersNow(t, s) })
	consume(t, s, testOwner, func(store.Batch) *store.Effects {
		return &store.Effects{Dispatches: []store.Dispatch{{TaskExecutionID: batchTE.ID, Attempt: 2}}}
	})
	run := h.waitStarted(t)
	require.Equal(t, batchTE.ID, run.ID)
	require.Equal(t, 2, run.Attempt)
}

func TestFencedAttemptWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, func(c *Config) { c.ReapInterval = time.Hour }) // the test reaps by hand
	claimAll(t, s, testOwner)
	h := newTestHandler(func(ctx context.Context, _ *store.TaskRun) error {
		<-ctx.Done()
		return errors.New("cancelled")
	})
	startWorkers(t, s, h)
	te := newTE(t, s, 1, "t")
	dispatch(t, s, te)
	h.waitStarted(t)
	waitStatus(t, s, te.ID, store.TaskRunning)

	// The worker loses its lease (as if it had stopped heartbeating and
	// another process's reaper took over).
	_, err := s.pool.Exec(ctx, s.q(`UPDATE {s}.aiflow_task_lease SET owner = 'ghost', expires_at = now() - interval '1 second'
		WHERE task_execution_id = $1`), te.ID)
	require.NoError(t, err)
	// The reaper skips rows locked at that moment (SKIP LOCKED): the stale
	// worker's heartbeat may hold them briefly, so reap until it takes one.
	var n int
	eventually(t, func() bool {
		n, err = s.reap(ctx)
		require.NoError(t, err)
		return n > 0
	}, "the reaper takes the expired lease")
	require.Equal(t, 1, n)
	got := getTE(t, s, te.ID)
	require.Equal(t, store.TaskRetrying, got.Status)
	require.Zero(t, got.Failures)
	require.Equal(t, 1, got.Interruptions)

	// The stale worker is told to stop, and its final write is fenced out.
	eventually(t, func() bool { return h.cause(te.ID) != nil }, "the stale attempt's context ends")
	eventually(t, func() bool {
		state, _ := riverJob(t, s, te.ID, 1)
		return state != "running" || dispatchState(t, s, te.ID, 1) == dispatchReaped
	}, "the stale worker returns")
	evs := statusEvents(t, s, te.ID)
	require.Equal(t, []string{"RUNNING", "RETRYING"}, statuses(evs))
	require.Equal(t, store.SenderReaper, evs[1].Sender)
	d := store.DecodeStatusData(&evs[1])
	require.True(t, strings.HasPrefix(d.Reason, store.ReasonWorkerLost+": heartbeat lost"), "reason %q", d.Reason)
	require.Zero(t, d.Failures)
	require.Equal(t, 1, d.Interruptions)
}

func TestReportProgressAndTaskLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	h := newTestHandler(func(ctx context.Context, run *store.TaskRun) error {
		if err := s.ReportProgress(ctx, run.ID, run.Attempt, store.Report{StatusMessage: "started"}); err != nil {
			return err
		}
		if err := s.ReportProgress(ctx, run.ID, run.Attempt, store.Report{StatusMessage: "half", Metrics: map[string]float64{"a": 1}}); err != nil {
			return err
		}
		if err := s.ReportProgress(ctx, run.ID, run.Attempt, store.Report{Metrics: map[string]float64{"b": 2}}); err != nil {
			return err
		}
		if err := s.ReportProgress(ctx, run.ID, run.Attempt+1, store.Report{StatusMessage: "stale"}); !errors.Is(err, store.ErrConflict) {
			return errors.New("a stale attempt's report was accepted")
		}
		if err := s.AppendTaskLog(ctx, run.ID, []byte("hello ")); err != nil {
			return err
		}
		return s.AppendTaskLog(ctx, run.ID, []byte("world\n"))
	})
	startWorkers(t, s, h)
	te := newTE(t, s, 1, "t")
	dispatch(t, s, te)
	got := waitStatus(t, s, te.ID, store.TaskSuccess)
	require.Equal(t, "half", got.StatusMessage)
	require.Equal(t, map[string]float64{"a": 1, "b": 2}, got.Metrics)
	err := s.ReportProgress(ctx, te.ID, 1, store.Report{StatusMessage: "late"})
	require.ErrorIs(t, err, store.ErrConflict)
	err = s.ReportProgress(ctx, 999999, 1, store.Report{})
	require.ErrorIs(t, err, store.ErrTaskExecutionNotFound)

	data, next, err := s.ReadTaskLog(ctx, te.ID, 0, 0)
	require.NoError(t, err)
	require.Equal(t, "hello world\n", string(data))
	require.Equal(t, int64(12), next)
	data, next, err = s.ReadTaskLog(ctx, te.ID, 3, 5)
	require.NoError(t, err)
	require.Equal(t, "lo wo", string(data))
	require.Equal(t, int64(8), next)
	data, next, err = s.ReadTaskLog(ctx, te.ID, 100, 0)
	require.NoError(t, err)
	require.Empty(t, data)
	require.Equal(t, int64(12), next)
	_, _, err = s.ReadTaskLog(ctx, 999999, 0, 0)
	require.ErrorIs(t, err, store.ErrTaskExecutionNotFound)
}

func TestJobCommittedRightAfterAnotherIsNotStranded(t *testing.T) {
	t.Parallel()
	// River sends its insert notification at most once per FetchCooldown;
	// without the store's own notification the second job would wait for
	// River's next poll (an hour here).
	s, _ := newTestStore(t, func(c *Config) {
		c.FetchCooldown = 300 * time.Millisecond
		c.FetchPollInterval = time.Hour
	})
	claimAll(t, s, testOwner)
	h := newTestHandler(func(context.Context, *store.TaskRun) error { return nil })
	startWorkers(t, s, h)
	for range 4 {
		te := newTE(t, s, 1, "t")
		dispatch(t, s, te)
		require.Equal(t, te.ID, h.waitStarted(t).ID)
	}
}

// finishXIDs returns the 32-bit ids of the transactions that last wrote the
// task execution's row and the River job of its attempt, and that appended
// its last status event.
func finishXIDs(t *testing.T, s *Store, te int64, attempt int) (taskRow, jobRow, event int64) {
	t.Helper()
	err := s.pool.QueryRow(context.Background(), s.q(`SELECT t.xmin::text::bigint, j.xmin::text::bigint,
			(SELECT e.xid::text::numeric % 4294967296 FROM {s}.aiflow_event e
				WHERE e.kind = 1 AND e.task_execution_id = t.id ORDER BY e.xid DESC, e.id DESC LIMIT 1)::bigint
		FROM {s}.aiflow_task_execution t
		JOIN {s}.aiflow_dispatch d ON d.task_execution_id = t.id AND d.attempt = $2
		JOIN {s}.river_job j ON j.id = d.job_id
		WHERE t.id = $1`), te, attempt).Scan(&taskRow, &jobRow, &event)
	require.NoError(t, err)
	return taskRow, jobRow, event
}

// completionNoise keeps the log records about completing jobs that would be
// noise: warnings and errors of River's completer or of recording final
// statuses, and River's debug record of a job it did not finalize because
// its state had changed.
type completionNoise struct {
	mu   *sync.Mutex
	msgs *[]string
}

func (h completionNoise) Enabled(context.Context, slog.Level) bool { return true }
func (h completionNoise) Handle(_ context.Context, r slog.Record) error {
	noisy := strings.Contains(r.Message, "wasn't finalized") ||
		r.Level >= slog.LevelWarn && (strings.Contains(r.Message, "omplet") || strings.Contains(r.Message, "final status"))
	if noisy {
		h.mu.Lock()
		*h.msgs = append(*h.msgs, r.Level.String()+" "+r.Message)
		h.mu.Unlock()
	}
	return nil
}
func (h completionNoise) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h completionNoise) WithGroup(string) slog.Handler      { return h }

func TestAtomicJobCompletion(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var noise []string
	// Without handoff: a handed-off attempt has no River job.
	s, _ := newTestStore(t, func(c *Config) { c.Logger, c.HandoffMaxWorkers = slog.New(completionNoise{&mu, &noise}), -1 })
	claimAll(t, s, testOwner)
	release := make(chan struct{})
	h := newTestHandler(func(_ context.Context, run *store.TaskRun) error {
		<-release // the attempts return together: their final statuses share transactions
		if run.Task == "fails" {
			return errors.New("boom")
		}
		return nil
	})
	startWorkers(t, s, h)
	var ids []int64
	want := map[int64]store.TaskStatus{}
	for i := range 20 {
		task, status := "ok", store.TaskSuccess
		if i%4 == 0 {
			task, status = "fails", store.TaskFailed
		}
		te := newTE(t, s, 1, task)
		te.MaxAttempts = 1
		dispatch(t, s, te)
		ids, want[te.ID] = append(ids, te.ID), status
	}
	for range ids {
		h.waitStarted(t)
	}
	close(release)
	for _, id := range ids {
		waitStatus(t, s, id, want[id])
		// The final status, its status event and the River job's completion
		// were written by one transaction: a crash could not have left one
		// without the others.
		state, _ := riverJob(t, s, id, 1)
		require.Equal(t, "completed", state)
		taskRow, jobRow, event := finishXIDs(t, s, id, 1)
		require.Equal(t, taskRow, jobRow, "task execution %d: the River job was completed by another transaction", id)
		require.Equal(t, taskRow, event, "task execution %d: the status event was appended by another transaction", id)
	}
	// River's completer then finds the jobs completed and leaves them so,
	// quietly.
	stopWorkersNow(t, s)
	for _, id := range ids {
		state, _ := riverJob(t, s, id, 1)
		require.Equal(t, "completed", state)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, noise)
}

// TestFinalStatusWaitsForJobCompletion: when River's job cannot be completed,
// the final status is not recorded either; once it can, both commit.
func TestFinalStatusWaitsForJobCompletion(t *testing.T) {
	t.Parallel()
	// A long lease: the attempt is not reaped while its finish is refused.
	// Without handoff: a handed-off attempt has no River job.
	s, _ := newTestStore(t, func(c *Config) { c.TaskLeaseTTL, c.HandoffMaxWorkers = 20*time.Second, -1 })
	ctx := context.Background()
	_, err := s.pool.Exec(ctx, s.q(`CREATE SEQUENCE {s}.test_refused;
		CREATE FUNCTION {s}.test_refuse_completion() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			PERFORM nextval('{s}.test_refused'); -- not undone by the rollback
			RAISE EXCEPTION 'test: completion refused';
		END $$;
		CREATE TRIGGER test_refuse_completion BEFORE UPDATE ON {s}.river_job FOR EACH ROW
			WHEN (OLD.state = 'running' AND NEW.state = 'completed') EXECUTE FUNCTION {s}.test_refuse_completion();`))
	require.NoError(t, err)
	claimAll(t, s, testOwner)
	h := newTestHandler(func(context.Context, *store.TaskRun) error { return nil })
	startWorkers(t, s, h)
	te := newTE(t, s, 1, "t")
	dispatch(t, s, te)
	h.waitStarted(t)
	eventually(t, func() bool {
		var refused int64
		require.NoError(t, s.pool.QueryRow(ctx, s.q("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {s}.test_refused")).Scan(&refused))
		return refused >= 2
	}, "the finishing transaction is refused twice")
	require.Equal(t, store.TaskRunning, getTE(t, s, te.ID).Status)
	require.Equal(t, []string{"RUNNING"}, statuses(statusEvents(t, s, te.ID)))
	state, _ := riverJob(t, s, te.ID, 1)
	require.Equal(t, "running", state)

	_, err = s.pool.Exec(ctx, s.q("DROP TRIGGER test_refuse_completion ON {s}.river_job"))
	require.NoError(t, err)
	waitStatus(t, s, te.ID, store.TaskSuccess)
	require.Equal(t, []string{"RUNNING", "SUCCESS"}, statuses(statusEvents(t, s, te.ID)))
	taskRow, jobRow, event := finishXIDs(t, s, te.ID, 1)
	require.Equal(t, taskRow, jobRow)
	require.Equal(t, taskRow, event)
}
