package postgres

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store"
)

func TestRecordFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	_, err := s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "k"}})
	require.NoError(t, err)

	// readBatch reads the next batch of partition 0 and commits nothing. It
	// waits for the batch to hold an event: an event is read once no earlier
	// transaction on the server can still commit (the horizon), and other
	// tests' transactions may hold that back.
	readBatch := func() (version int64, evs []store.Event, failures []store.FailedApplication) {
		t.Helper()
		require.Eventually(t, func() bool {
			consume(t, s, testOwner, func(b store.Batch) *store.Effects {
				version, evs, failures = b.Version(), b.Events(), b.(store.FailuresBatch).Failures()
				return nil
			})
			return len(evs) > 0
		}, 10*time.Second, 5*time.Millisecond, "an event to read")
		return version, evs, failures
	}
	version, evs, failures := readBatch()
	require.Len(t, evs, 1)
	require.Empty(t, failures)
	params := store.ConsumeParams{Partition: 0, Owner: testOwner}
	id := evs[0].ID

	got, err := s.RecordFailure(ctx, params, version, store.FailedApplication{EventID: id, Target: "execution:1", Error: "first"})
	require.NoError(t, err)
	require.Equal(t, []store.FailedApplication{{EventID: id, Target: "execution:1", Attempts: 1, Error: "first"}}, got)
	got, err = s.RecordFailure(ctx, params, version, store.FailedApplication{EventID: id, Target: "execution:1", Attempts: 99, Error: "second"})
	require.NoError(t, err)
	require.Equal(t, []store.FailedApplication{{EventID: id, Target: "execution:1", Attempts: 2, Error: "second"}}, got,
		"one more attempt, whatever Attempts says; the last error")
	_, err = s.RecordFailure(ctx, params, version, store.FailedApplication{EventID: id, Target: "execution:2", Error: "other"})
	require.NoError(t, err)

	// The next batch carries them; the version did not move.
	v2, _, failures := readBatch()
	require.Equal(t, version, v2, "recording a failure is not a commit of the partition")
	require.Equal(t, []store.FailedApplication{
		{EventID: id, Target: "execution:1", Attempts: 2, Error: "second"},
		{EventID: id, Target: "execution:2", Attempts: 1, Error: "other"},
	}, failures)

	// Only the owner, at the version read, records.
	_, err = s.RecordFailure(ctx, store.ConsumeParams{Partition: 0, Owner: "someone-else"}, version, store.FailedApplication{EventID: id, Target: "execution:1"})
	require.ErrorIs(t, err, store.ErrNotOwner)
	_, err = s.RecordFailure(ctx, params, version-1, store.FailedApplication{EventID: id, Target: "execution:1"})
	require.ErrorIs(t, err, store.ErrConflict)
	require.NotErrorIs(t, err, store.ErrNotOwner)
	_, err = s.RecordFailure(ctx, store.ConsumeParams{Partition: 99, Owner: testOwner}, version, store.FailedApplication{EventID: id, Target: "x"})
	require.ErrorIs(t, err, store.ErrInvalid)

	// A unit that moves the position forgets them.
	consume(t, s, testOwner, func(store.Batch) *store.Effects { return &store.Effects{} })
	_, err = s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "k"}})
	require.NoError(t, err)
	_, evs, failures = readBatch()
	require.Len(t, evs, 1)
	require.NotEqual(t, id, evs[0].ID)
	require.Empty(t, failures)
}

// explodingCondition panics on events whose value is "bad", counting its
// calls on them, and is met otherwise.
type explodingCondition struct{ bad *atomic.Int64 }

func (explodingCondition) ExpectedKeys() []string { return []string{"n"} }
func (c explodingCondition) IsMet(_ *aiflow.ConditionContext, ev *aiflow.Event) (bool, error) {
	if ev.Value == "bad" {
		c.bad.Add(1)
		panic("condition bug")
	}
	return true, nil
}

// recordedAttempts is the largest count of failed attempts recorded in any
// partition of s.
func recordedAttempts(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	err := s.pool.QueryRow(context.Background(), s.q(`SELECT coalesce(max((f->>'attempts')::int), 0)
		FROM {s}.aiflow_partition, jsonb_array_elements(coalesce(failures, '[]')) AS f`)).Scan(&n)
	require.NoError(t, err)
	return n
}

// TestPoisonBoundHoldsAcrossClients: the failed attempts at applying an event
// are counted with the partition, so a client that takes the partition over
// (here after the first one stopped) goes on counting instead of starting
// again: with a bound equal to what the first client reached, the second
// skips the event as poison without evaluating the condition again.
func TestPoisonBoundHoldsAcrossClients(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s1, pool := newTestStore(t, nil)

	newClient := func(s *Store, id string, attempts int, bad *atomic.Int64) *aiflow.Client {
		wf := aiflow.NewWorkflow("w")
		wf.Task("t", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
			OnCondition(explodingCondition{bad}, aiflow.ActionStart)
		c, err := aiflow.New(&aiflow.Config{Store: s, ClientID: id, Logger: testLogger(t), PollInterval: 50 * time.Millisecond,
			LeaseTTL: 2 * time.Second, PoisonAttempts: attempts})
		require.NoError(t, err)
		require.NoError(t, c.Register(ctx, wf))
		require.NoError(t, c.Start(ctx))
		return c
	}
	stop := func(c *aiflow.Client) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(sctx))
	}

	var bad1 atomic.Int64
	c1 := newClient(s1, "first", 1000, &bad1)
	x, err := c1.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	eventually(t, func() bool {
		got, err := c1.GetWorkflowExecution(ctx, x)
		require.NoError(t, err)
		return got.Status == aiflow.WorkflowRunning
	}, "the execution runs")
	_, err = c1.SendEvent(ctx, "n", "bad", &aiflow.SendEventOpts{ExecutionID: x})
	require.NoError(t, err)
	eventually(t, func() bool { return recordedAttempts(t, s1) >= 2 }, "the first client records failed attempts")
	stop(c1)
	reached := recordedAttempts(t, s1)

	// Another process on the same schema.
	s2 := reopen(t, pool, s1)
	var bad2 atomic.Int64
	c2 := newClient(s2, "second", reached, &bad2)
	defer stop(c2)
	var poison []aiflow.Event
	eventually(t, func() bool {
		evs, _, err := c2.ListEvents(ctx, &aiflow.EventFilter{Keys: []string{store.KeyPoisonEvent}})
		require.NoError(t, err)
		poison = evs
		return len(evs) == 1
	}, "the event is skipped as poison")
	require.Contains(t, poison[0].Value, "condition panicked: condition bug")
	require.Equal(t, x, poison[0].ExecutionID)
	require.Zero(t, bad2.Load(), "the second client went on from the first one's count")
	// The execution goes on after the skipped event.
	_, err = c2.SendEvent(ctx, "n", "good", &aiflow.SendEventOpts{ExecutionID: x})
	require.NoError(t, err)
	eventually(t, func() bool {
		tes, err := c2.ListTaskExecutions(ctx, &aiflow.TaskExecutionFilter{ExecutionID: x, Task: "t"})
		require.NoError(t, err)
		return len(tes) == 1 && tes[0].Status == aiflow.TaskSuccess
	}, "the task starts on the next event")
}

// reopen opens another store on s's schema, as another process would.
func reopen(t *testing.T, pool *pgxpool.Pool, s *Store) *Store {
	t.Helper()
	cfg := *s.cfg
	s2, err := New(t.Context(), pool, &cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s2.Close()) })
	return s2
}
