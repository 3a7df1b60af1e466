package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

const testOwner = "owner-a"

// claimAll makes owner the only live owner and gives it every partition.
func claimAll(t *testing.T, s *Store, owner string) {
	t.Helper()
	parts, err := s.ClaimPartitions(context.Background(), owner, time.Minute)
	require.NoError(t, err)
	require.Len(t, parts, s.Partitions())
}

// consume runs one unit of work on partition 0 as owner with the effects
// built by fx (which may read the batch).
func consume(t *testing.T, s *Store, owner string, fx func(b store.Batch) *store.Effects) store.ConsumeResult {
	t.Helper()
	res, err := s.Consume(context.Background(), store.ConsumeParams{Partition: 0, Owner: owner}, func(_ context.Context, b store.Batch) (*store.Effects, error) {
		e := fx(b)
		if e != nil && e.Position.IsZero() {
			e.Position = b.Position()
			if evs := b.Events(); len(evs) > 0 {
				e.Position = evs[len(evs)-1].Position
			}
		}
		return e, nil
	})
	require.NoError(t, err)
	return res
}

// newTE returns a task execution record in INIT for tests.
func newTE(t *testing.T, s *Store, execID int64, task string) store.TaskExecutionRecord {
	t.Helper()
	ids, err := s.AllocateTaskExecutionIDs(context.Background(), 1)
	require.NoError(t, err)
	now := time.Now()
	return store.TaskExecutionRecord{
		ID: ids[0], ExecutionID: execID, Namespace: store.DefaultNamespace, Workflow: "wf", Task: task, SeqNum: 1,
		MaxAttempts: 2, MaxInterruptions: store.MaxInterruptionsDefault, Status: store.TaskInit, CreatedAt: now, UpdatedAt: now,
	}
}

// dispatch creates te and dispatches its first attempt in one unit of work.
func dispatch(t *testing.T, s *Store, te store.TaskExecutionRecord) {
	t.Helper()
	consume(t, s, testOwner, func(store.Batch) *store.Effects {
		return &store.Effects{
			NewTaskExecutions: []store.TaskExecutionRecord{te},
			Dispatches:        []store.Dispatch{{TaskExecutionID: te.ID, Attempt: 1}},
		}
	})
}

func getTE(t *testing.T, s *Store, id int64) store.TaskExecutionRecord {
	t.Helper()
	te, err := s.GetTaskExecution(context.Background(), id)
	require.NoError(t, err)
	return te
}

// statusEvents lists the committed status events of a task execution in log
// order (read from the table directly: the horizon may be held back by other
// tests' open transactions).
func statusEvents(t *testing.T, s *Store, te int64) []store.Event {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), s.q("SELECT "+eventCols+" FROM {s}.aiflow_event WHERE kind = 1 AND task_execution_id = $1 ORDER BY xid, id"), te)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, scanEvent)
	require.NoError(t, err)
	return out
}

func statuses(evs []store.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Value
	}
	return out
}

// riverJob returns the state and metadata of the River job of an attempt;
// state is "" when its dispatch has no job (handed off).
func riverJob(t *testing.T, s *Store, te int64, attempt int) (state string, cancelAttempted bool) {
	t.Helper()
	err := s.pool.QueryRow(context.Background(), s.q(`SELECT coalesce(j.state::text, ''), coalesce(j.metadata ? 'cancel_attempted_at', false)
		FROM {s}.aiflow_dispatch d LEFT JOIN {s}.river_job j ON j.id = d.job_id
		WHERE d.task_execution_id = $1 AND d.attempt = $2`), te, attempt).Scan(&state, &cancelAttempted)
	require.NoError(t, err)
	return state, cancelAttempted
}

func dispatchState(t *testing.T, s *Store, te int64, attempt int) string {
	t.Helper()
	var state string
	err := s.pool.QueryRow(context.Background(), s.q(`SELECT state FROM {s}.aiflow_dispatch
		WHERE task_execution_id = $1 AND attempt = $2`), te, attempt).Scan(&state)
	require.NoError(t, err)
	return state
}

// eventually waits for cond with a deadline.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 20*time.Second, 5*time.Millisecond, msg)
}
