package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// These tests call the SQL function <schema>.send_event (migration 3) from a
// plain pgx connection, as any Postgres client would, and watch a running
// client consume what it sent.

// sqlConn opens a plain connection (no pool, no store) to the test database.
func sqlConn(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.URL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// onEventWorkflow is "w": task "t" starts on every "go" event; a task that
// waits for an event that never comes keeps executions RUNNING.
func onEventWorkflow() *aiflow.Workflow {
	wf := aiflow.NewWorkflow("w")
	wf.Task("t", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).OnEvent("go", aiflow.ActionStart)
	wf.Task("keep", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).OnEvent("never", aiflow.ActionStart)
	return wf
}

func taskRuns(t *testing.T, c *aiflow.Client, exec int64, task string) []aiflow.TaskExecution {
	t.Helper()
	tes, err := c.ListTaskExecutions(context.Background(), &aiflow.TaskExecutionFilter{ExecutionID: exec, Task: task})
	require.NoError(t, err)
	return tes
}

func waitRuns(t *testing.T, c *aiflow.Client, exec int64, task string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		tes := taskRuns(t, c, exec, task)
		return len(tes) >= n && tes[n-1].Status == aiflow.TaskSuccess
	}, 30*time.Second, 10*time.Millisecond, "execution %d: %s #%d SUCCESS", exec, task, n)
}

func waitRunning(t *testing.T, c *aiflow.Client, exec int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		x, err := c.GetWorkflowExecution(context.Background(), exec)
		require.NoError(t, err)
		return x.Status == aiflow.WorkflowRunning
	}, 30*time.Second, 10*time.Millisecond, "execution %d RUNNING", exec)
}

// listed waits until the event at pos is listed and returns the events with
// key up to it.
func listedUpTo(t *testing.T, c *aiflow.Client, pos aiflow.Position, keys ...string) []aiflow.Event {
	t.Helper()
	var out []aiflow.Event
	require.Eventually(t, func() bool {
		out = nil
		f := &aiflow.EventFilter{}
		for {
			evs, next, err := c.ListEvents(context.Background(), f)
			require.NoError(t, err)
			for _, ev := range evs {
				if len(keys) == 0 || ev.Key == keys[0] || len(keys) > 1 && ev.Key == keys[1] {
					out = append(out, ev)
				}
				if ev.Position == pos {
					return true
				}
			}
			if next == f.After {
				return false
			}
			f.After = next
		}
	}, 30*time.Second, 10*time.Millisecond, "event %s listed", pos)
	return out
}

func sendSQL(t *testing.T, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, schema, args string, vals ...any) aiflow.Position {
	t.Helper()
	var pos string
	require.NoError(t, q.QueryRow(context.Background(), "SELECT "+schema+".send_event("+args+")", vals...).Scan(&pos))
	p, err := aiflow.ParsePosition(pos)
	require.NoError(t, err)
	return p
}

func TestSQLSendEventCommitsAndStartsATask(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, 10)
	cfg := clientConfig(t)
	cfg.Schema = pgtest.SchemaName(t, pool)
	c, _ := openClient(t, pool, cfg, "c1", onEventWorkflow())
	x, err := c.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	waitRunning(t, c, x)

	conn := sqlConn(t)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "CREATE TEMP TABLE outbox_row (n int)") // the caller's own work, same transaction
	require.NoError(t, err)
	pos := sendSQL(t, tx, cfg.Schema, "'default', 'go', 'hello'")
	require.NoError(t, tx.Commit(ctx))

	waitRuns(t, c, x, "t", 1)
	evs := listedUpTo(t, c, pos, "go")
	require.Len(t, evs, 1)
	ev := evs[0]
	require.Equal(t, pos, ev.Position)
	require.Equal(t, pos.ID, ev.ID)
	require.Equal(t, "default", ev.Namespace)
	require.Equal(t, "hello", ev.Value)
	require.Equal(t, "aiflow.sql", ev.Sender)
	require.Zero(t, ev.ExecutionID)
	require.False(t, ev.Internal)
	require.WithinDuration(t, time.Now(), ev.Time, time.Minute)

	// Named arguments and an explicit sender.
	pos = sendSQL(t, conn, cfg.Schema, "namespace => 'default', key => 'go', sender => $1", "flink-job")
	waitRuns(t, c, x, "t", 2)
	evs = listedUpTo(t, c, pos, "go")
	require.Len(t, evs, 2)
	require.Equal(t, "flink-job", evs[1].Sender)
	require.Equal(t, "", evs[1].Value)
}

func TestSQLSendEventRolledBackLeavesNoEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, 10)
	cfg := clientConfig(t)
	cfg.Schema = pgtest.SchemaName(t, pool)
	c, _ := openClient(t, pool, cfg, "c1", onEventWorkflow())
	x, err := c.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	waitRunning(t, c, x)

	conn := sqlConn(t)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	sendSQL(t, tx, cfg.Schema, "'default', 'go', 'lost'")
	require.NoError(t, tx.Rollback(ctx))

	// A witness committed after the rollback: once it is listed and applied,
	// anything before it would have been too.
	wf := sendSQL(t, conn, cfg.Schema, "'default', 'witness', ''")
	evs := listedUpTo(t, c, wf, "go", "witness")
	require.Len(t, evs, 1, "only the witness: the rolled back event does not exist")
	require.Equal(t, "witness", evs[0].Key)
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+cfg.Schema+".aiflow_event WHERE key = 'go'").Scan(&n))
	require.Zero(t, n)

	// The execution is still waiting: "go" starts t now, its first run.
	sendSQL(t, conn, cfg.Schema, "'default', 'go', 'kept'")
	waitRuns(t, c, x, "t", 1)
	require.Len(t, taskRuns(t, c, x, "t"), 1)
}

func TestSQLSendEventWithExecutionContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, 10)
	cfg := clientConfig(t)
	cfg.Schema = pgtest.SchemaName(t, pool)
	wf := onEventWorkflow()
	wf.Task("stream", operators.Func(func(ctx context.Context, _ *aiflow.TaskContext) error {
		<-ctx.Done()
		return nil
	}), aiflow.Streaming())
	c, _ := openClient(t, pool, cfg, "c1", wf)
	x1, err := c.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	x2, err := c.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	var te aiflow.TaskExecution
	require.Eventually(t, func() bool {
		tes := taskRuns(t, c, x1, "stream")
		if len(tes) == 1 && tes[0].Status == aiflow.TaskRunning {
			te = tes[0]
			return true
		}
		return false
	}, 30*time.Second, 10*time.Millisecond)
	waitRunning(t, c, x2)
	conn := sqlConn(t)

	// As the streaming task's process would: its task execution id only.
	pos := sendSQL(t, conn, cfg.Schema, "'default', 'go', 'from the task', task_execution_id => $1", te.ID)
	waitRuns(t, c, x1, "t", 1)
	evs := listedUpTo(t, c, pos, "go")
	require.Len(t, evs, 1)
	ev := evs[0]
	require.Equal(t, x1, ev.ExecutionID)
	require.Equal(t, "w", ev.Workflow)
	require.Equal(t, "stream", ev.TaskName)
	require.Equal(t, te.ID, ev.TaskExecutionID)
	require.Equal(t, 1, ev.SeqNum)
	require.Equal(t, strconv.FormatInt(x1, 10)+"_stream_1", ev.Sender)
	require.False(t, ev.Broadcast)

	// An execution id alone also targets one execution.
	sendSQL(t, conn, cfg.Schema, "'default', 'go', '', execution_id => $1", x2)
	waitRuns(t, c, x2, "t", 1)
	// Witness: a second event to x1 only; once applied, x2 has seen the
	// first one too (log order), and has run t once.
	sendSQL(t, conn, cfg.Schema, "'default', 'go', '', execution_id => $1", x1)
	waitRuns(t, c, x1, "t", 2)
	require.Len(t, taskRuns(t, c, x2, "t"), 1, "an event with an execution reaches only it")

	// to_namespace reaches both.
	sendSQL(t, conn, cfg.Schema, "'default', 'go', '', task_execution_id => $1, to_namespace => true", te.ID)
	waitRuns(t, c, x1, "t", 3)
	waitRuns(t, c, x2, "t", 2)
}

func TestSQLSendEventRefusesBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, 10)
	cfg := clientConfig(t)
	cfg.Schema = pgtest.SchemaName(t, pool)
	_, err := postgres.Migrate(ctx, pool, cfg)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "INSERT INTO "+cfg.Schema+".aiflow_namespace (name) VALUES ('other')")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "INSERT INTO "+cfg.Schema+`.aiflow_workflow_execution (id, namespace, workflow, status, created_at, updated_at)
		VALUES (7, 'other', 'w', 'RUNNING', now(), now())`)
	require.NoError(t, err)
	conn := sqlConn(t)
	big := strings.Repeat("x", aiflow.MaxEventValueBytes+1)
	cases := []struct {
		name, args string
		vals       []any
		code, msg  string
	}{
		{"null namespace", "NULL, 'k'", nil, "22023", "event namespace is empty"},
		{"empty namespace", "'', 'k'", nil, "22023", "event namespace is empty"},
		{"empty key", "'default', ''", nil, "22023", "event key is empty"},
		{"null key", "'default', NULL", nil, "22023", "event key is empty"},
		{"long key", "'default', $1", []any{strings.Repeat("k", 513)}, "22023", "is 513 bytes: expected at most 512"},
		{"reserved key", "'default', 'aiflow.stop_execution'", nil, "22023", "reserved for the library"},
		{"too large", "'default', 'k', $1", []any{big}, "54000", "expected at most 65536"},
		{"long sender", "'default', 'k', '', $1", []any{strings.Repeat("s", 513)}, "22023", "sender is 513 bytes"},
		{"unknown namespace", "'nope', 'k'", nil, "P0002", `namespace not found: "nope"`},
		{"unknown execution", "'default', 'k', execution_id => 99", nil, "P0002", "workflow execution not found: id 99"},
		{"execution of another namespace", "'default', 'k', execution_id => 7", nil, "22023", `is in namespace "other", not "default"`},
		{"unknown task execution", "'default', 'k', task_execution_id => 99", nil, "P0002", "task execution not found: id 99"},
		{"null value", "'default', 'k', NULL", nil, "22004", "event value is NULL"},
		{"invalid namespace", "'bad ns', 'k'", nil, "22023", `namespace name "bad ns"`},
		{"empty idempotency key", "'default', 'k', idempotency_key => ''", nil, "22023", "idempotency key"},
		{"long idempotency key", "'default', 'k', idempotency_key => $1", []any{strings.Repeat("i", 256)}, "22023", "is 256 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var pos string
			err := conn.QueryRow(ctx, "SELECT "+cfg.Schema+".send_event("+tc.args+")", tc.vals...).Scan(&pos)
			var pgErr *pgconn.PgError
			require.True(t, errors.As(err, &pgErr), "%v", err)
			require.Equal(t, tc.code, pgErr.Code, pgErr.Message)
			require.True(t, strings.HasPrefix(pgErr.Message, "aiflow: send_event: "), pgErr.Message)
			require.Contains(t, pgErr.Message, tc.msg)
		})
	}
	// An exactly 64 KiB value is accepted.
	sendSQL(t, conn, cfg.Schema, "'default', 'k', $1", big[1:])
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+cfg.Schema+".aiflow_event").Scan(&n))
	require.Equal(t, 1, n, "nothing but the valid event was appended")
}

func TestSQLSendEventNotifies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, 10)
	cfg := clientConfig(t)
	cfg.Schema = pgtest.SchemaName(t, pool)
	_, err := postgres.Migrate(ctx, pool, cfg)
	require.NoError(t, err)
	listener := sqlConn(t)
	channel := cfg.Schema + ".aiflow_event" // short schema: not hashed
	_, err = listener.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize())
	require.NoError(t, err)

	conn := sqlConn(t)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	sendSQL(t, tx, cfg.Schema, "'default', 'k'")
	require.NoError(t, tx.Rollback(ctx))
	pos := sendSQL(t, conn, cfg.Schema, "'default', 'k'")
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := listener.WaitForNotification(wctx)
	require.NoError(t, err)
	require.Equal(t, channel, n.Channel)
	require.Equal(t, fmt.Sprintf("u%08x", store.UserKeyHash("default", "k")), n.Payload,
		"a user event concerns the partitions that read its key")
	// A witness notification sent afterwards comes next: the rolled back
	// call sent nothing.
	_, err = conn.Exec(ctx, "SELECT pg_notify($1, 'witness')", channel)
	require.NoError(t, err)
	n, err = listener.WaitForNotification(wctx)
	require.NoError(t, err)
	require.Equal(t, "witness", n.Payload)
	require.NotZero(t, pos.ID)
}

// TestPostgresSendEventTx: Client.SendEventTx appends in the caller's
// transaction: a rolled back event never exists, a committed one reaches
// the execution it names (whose namespace it takes).
func TestPostgresSendEventTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, 10)
	cfg := clientConfig(t)
	cfg.Schema = pgtest.SchemaName(t, pool)
	c, _ := openClient(t, pool, cfg, "c1", onEventWorkflow())
	x, err := c.StartWorkflowExecution(ctx, "w", nil)
	require.NoError(t, err)
	waitRunning(t, c, x)

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	rolledBack, err := c.SendEventTx(ctx, tx, "go", "rolled back", &aiflow.SendEventOpts{ExecutionID: x})
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))

	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	ev, err := c.SendEventTx(ctx, tx, "go", "committed", &aiflow.SendEventOpts{ExecutionID: x, Sender: "outbox"})
	require.NoError(t, err)
	require.Equal(t, "default", ev.Namespace)
	require.Equal(t, x, ev.ExecutionID)
	require.NoError(t, tx.Commit(ctx))

	waitRuns(t, c, x, "t", 1)
	evs := listedUpTo(t, c, ev.Position, "go")
	require.Len(t, evs, 1, "the rolled back event does not exist")
	require.Equal(t, "committed", evs[0].Value)
	require.Equal(t, "outbox", evs[0].Sender)
	require.NotEqual(t, rolledBack.ID, evs[0].ID)
	require.Len(t, taskRuns(t, c, x, "t"), 1)

	_, err = c.SendEventTx(ctx, "not a tx", "go", "", nil)
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, "expected a pgx.Tx")

	// An idempotency key is refused: the caller's transaction decides.
	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	_, err = c.SendEventTx(ctx, tx, "go", "", &aiflow.SendEventOpts{ExecutionID: x, IdempotencyKey: "k1"})
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, "SendEventOpts.IdempotencyKey")
	require.NoError(t, tx.Rollback(ctx))
}

// TestSQLSendEventIdempotencyKey: a repeated send_event with an idempotency
// key returns the first call's position and appends nothing; the key is
// shared with Client.SendEvent (the same kind of call), and calls written
// for the function's first version (seven arguments) still work.
func TestSQLSendEventIdempotencyKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, 10)
	cfg := clientConfig(t)
	cfg.Schema = pgtest.SchemaName(t, pool)
	_, err := postgres.Migrate(ctx, pool, cfg)
	require.NoError(t, err)
	st, err := postgres.New(ctx, pool, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	c, err := aiflow.New(&aiflow.Config{Store: st, Logger: cfg.Logger})
	require.NoError(t, err)
	conn := sqlConn(t)
	count := func(key string) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+cfg.Schema+".aiflow_event WHERE key = $1", key).Scan(&n))
		return n
	}

	p1 := sendSQL(t, conn, cfg.Schema, "'default', 'k', 'v1', idempotency_key => 'sql-1'")
	p2 := sendSQL(t, conn, cfg.Schema, "'default', 'k', 'v2', idempotency_key => 'sql-1'")
	require.Equal(t, p1, p2)
	require.Equal(t, 1, count("k"))

	// Client.SendEvent with the same key answers the SQL call's event, and
	// the other way round.
	ev, err := c.SendEvent(ctx, "k", "v3", &aiflow.SendEventOpts{IdempotencyKey: "sql-1"})
	require.NoError(t, err)
	require.Equal(t, p1, ev.Position)
	ev, err = c.SendEvent(ctx, "k2", "", &aiflow.SendEventOpts{IdempotencyKey: "go-1"})
	require.NoError(t, err)
	require.Equal(t, ev.Position, sendSQL(t, conn, cfg.Schema, "'default', 'k2', '', NULL, NULL, NULL, false, 'go-1'"))
	require.Equal(t, 1, count("k2"))

	// The first version's calls, positional and named.
	sendSQL(t, conn, cfg.Schema, "'default', 'old', 'v', NULL, NULL, NULL, false")
	sendSQL(t, conn, cfg.Schema, "namespace => 'default', key => 'old'")
	require.Equal(t, 2, count("old"))
}
