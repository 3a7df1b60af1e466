package conformance_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// commitCutter breaks a client's connection right after the server has
// committed a transaction: the server commits, the answer never reaches the
// client, which sees its connection die. Armed with a marker (the
// idempotency key or event key of the call under test), it cuts once: the
// answer to the COMMIT of a transaction whose statements carried the
// marker, or with implicit, the answer to the statements that carry it (a
// pipelined implicit transaction, which commits before the server's
// ReadyForQuery). Other traffic on the pool is left alone.
type commitCutter struct {
	mu       sync.Mutex
	marker   string // armed while not empty
	implicit bool
	cuts     atomic.Int32
}

func (cc *commitCutter) arm(marker string, implicit bool) {
	cc.mu.Lock()
	cc.marker, cc.implicit = marker, implicit
	cc.mu.Unlock()
}

func (cc *commitCutter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &cutConn{Conn: c, cc: cc}, nil
}

type cutConn struct {
	net.Conn
	cc *commitCutter

	mu  sync.Mutex
	saw string // the armed marker, when this connection's transaction sent it
	cut bool   // the answer to the last write is dropped
}

func (c *cutConn) Write(p []byte) (int, error) {
	low := bytes.ToLower(p)
	c.cc.mu.Lock()
	if m := c.cc.marker; m != "" {
		carries := bytes.Contains(p, []byte(m))
		c.mu.Lock()
		if bytes.Contains(low, []byte("begin")) {
			c.saw = ""
		}
		if carries {
			c.saw = m
		}
		if c.cc.implicit && carries || !c.cc.implicit && c.saw == m && bytes.Contains(low, []byte("commit")) {
			c.cut, c.cc.marker = true, ""
		}
		c.mu.Unlock()
	}
	c.cc.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *cutConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	cut := c.cut
	c.cut = false // once: the connection is closed below
	c.mu.Unlock()
	if !cut {
		return c.Conn.Read(p)
	}
	// Drop the answer up to its ReadyForQuery message ('Z', length 5), which
	// the server sends once the transaction is over (committed), then the
	// connection.
	var answer []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(answer, []byte{'Z', 0, 0, 0, 5}) {
		n, err := c.Conn.Read(buf)
		answer = append(answer, buf[:n]...)
		if err != nil {
			break
		}
	}
	_ = c.Conn.Close()
	c.cc.cuts.Add(1)
	return 0, io.ErrUnexpectedEOF
}

// TestPostgresIdempotencyAcrossAConnectionLostAtCommit sends an event and
// starts an execution through a connection that dies right after the server
// committed: the client gets an error and retries. With an idempotency key
// the retry returns the first call's result and exactly one event (one
// execution) exists; without one, the retry appends a second event.
func TestPostgresIdempotencyAcrossAConnectionLostAtCommit(t *testing.T) {
	pgtest.Require(t)
	ctx := context.Background()
	pool := pgtest.Pool(t, 10)
	cfg := clientConfig(t)
	cfg.Schema = pgtest.SchemaName(t, pool)
	wf := aiflow.NewWorkflow("w")
	wf.Task("t", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil }))
	openClient(t, pool, cfg, "runner", wf)

	cutter := &commitCutter{}
	pcfg, err := pgxpool.ParseConfig(pgtest.URL())
	require.NoError(t, err)
	pcfg.MaxConns = 4
	pcfg.ConnConfig.DialFunc = cutter.dial
	cutPool, err := pgxpool.NewWithConfig(ctx, pcfg)
	require.NoError(t, err)
	t.Cleanup(cutPool.Close)
	st, err := postgres.New(ctx, cutPool, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	c, err := aiflow.New(&aiflow.Config{Store: st, Logger: cfg.Logger}) // not started: a caller only
	require.NoError(t, err)

	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		require.NoError(t, pool.QueryRow(ctx, sql, args...).Scan(&n))
		return n
	}
	events := func(key string) int {
		return count("SELECT count(*) FROM "+cfg.Schema+".aiflow_event WHERE key = $1", key)
	}

	// SendEvent with a key.
	opts := &aiflow.SendEventOpts{IdempotencyKey: "cut-me-send"}
	cutter.arm("cut-me-send", false)
	_, err = c.SendEvent(ctx, "paid", "order-1", opts)
	require.Error(t, err, "the connection died before the answer")
	require.EqualValues(t, 1, cutter.cuts.Load())
	require.Equal(t, 1, events("paid"), "the first call committed")
	ev, err := c.SendEvent(ctx, "paid", "order-1", opts)
	require.NoError(t, err)
	require.Equal(t, 1, events("paid"), "the retry appended nothing")
	var firstID int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT id FROM "+cfg.Schema+".aiflow_event WHERE key = 'paid'").Scan(&firstID))
	require.Equal(t, firstID, ev.ID, "the retry returns the first call's event")

	// StartWorkflowExecution with a key.
	cutter.arm("cut-me-start", false)
	_, err = c.StartWorkflowExecution(ctx, "w", &aiflow.StartWorkflowOpts{IdempotencyKey: "cut-me-start"})
	require.Error(t, err)
	require.EqualValues(t, 2, cutter.cuts.Load())
	id, err := c.StartWorkflowExecution(ctx, "w", &aiflow.StartWorkflowOpts{IdempotencyKey: "cut-me-start"})
	require.NoError(t, err)
	require.Equal(t, 1, count("SELECT count(*) FROM "+cfg.Schema+".aiflow_workflow_execution"))
	require.Equal(t, 1, count("SELECT count(*) FROM "+cfg.Schema+".aiflow_workflow_execution WHERE id = $1", id))
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	x, err := c.WaitWorkflowExecution(wctx, id)
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowSuccess, x.Status)

	// Without a key the retry acts twice: what the key is for.
	cutter.arm("cut-me-nokey", true)
	_, err = c.SendEvent(ctx, "cut-me-nokey", "", nil)
	require.Error(t, err)
	require.EqualValues(t, 3, cutter.cuts.Load())
	require.Equal(t, 1, events("cut-me-nokey"), "the first call committed")
	_, err = c.SendEvent(ctx, "cut-me-nokey", "", nil)
	require.NoError(t, err)
	require.Equal(t, 2, events("cut-me-nokey"))
}
