package postgres

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/store"
)

// These tests hold transactions open for a long time, so they run on a
// private cluster: on the shared server they would hold back every other
// test.

// holdFor is how long TestLongTransactionInAnotherDatabase holds its
// transaction open: 10 s, or AIFLOW_TEST_HOLD (a Go duration, for example
// 60s) for the long form. The property is the same: events committed while
// it is open are read while it is still open.
func holdFor(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("AIFLOW_TEST_HOLD")
	if v == "" {
		return 10 * time.Second
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err, "AIFLOW_TEST_HOLD")
	return d
}

// clusterStore starts a private cluster and opens a store on its database
// postgres, in PollOnly mode with polls an hour apart: only the horizon
// watcher wakes readers. adjust may change the config.
func clusterStore(t *testing.T, adjust func(*Config)) (*pgtest.Cluster, *Store, *pgxpool.Pool) {
	t.Helper()
	cluster := pgtest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cluster.WaitReady(ctx)
	pool, err := pgxpool.New(ctx, cluster.URL())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	cfg := &Config{
		Schema: "aiflow_horizon", Logger: testLogger(t), PollOnly: true, EventPollInterval: time.Hour,
		FetchPollInterval: 50 * time.Millisecond, riverTestOnly: true,
	}
	if adjust != nil {
		adjust(cfg)
	}
	return cluster, openStore(t, pool, cfg), pool
}

// openHolder opens a connection to url and begins a transaction that takes
// an xid (it writes a row of an unrelated table, created first) and stays
// open until the test ends. It returns the transaction and its session's pid.
func openHolder(t *testing.T, url string) (pgx.Tx, int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	_, err = conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS unrelated (v int)")
	require.NoError(t, err)
	var pid int
	require.NoError(t, conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO unrelated VALUES (1)")
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx, pid
}

// readableAfter appends one event and waits until ListEvents returns it; it
// returns how long that took.
func readableAfter(t *testing.T, s *Store, deadline time.Time) time.Duration {
	t.Helper()
	ctx := context.Background()
	last, err := s.LastPosition(ctx)
	require.NoError(t, err)
	out, err := s.AppendEvents(ctx, []store.Event{{Namespace: store.DefaultNamespace, Key: "k"}})
	require.NoError(t, err)
	start := time.Now()
	for time.Now().Before(deadline) {
		evs, _, err := s.ListEvents(ctx, store.EventFilter{After: last})
		require.NoError(t, err)
		if slices.ContainsFunc(evs, func(ev store.Event) bool { return ev.ID == out[0].ID }) {
			return time.Since(start)
		}
		<-time.After(2 * time.Millisecond) // polling the condition
	}
	var dbg string
	_ = s.pool.QueryRow(ctx, s.q(`SELECT concat_ws(' ', pg_current_snapshot()::text, (SELECT value FROM {s}.aiflow_meta WHERE key = 'horizon'), (SELECT `+horizon+`)::text, (SELECT xid FROM {s}.aiflow_event WHERE id = $1)::text)`), out[0].ID).Scan(&dbg)
	t.Fatalf("event %d not readable by %s: %s", out[0].ID, deadline.Format(time.RFC3339Nano), dbg)
	return 0
}

// A transaction held open in another database of the server (a forgotten
// BEGIN, a long report) holds nothing back: the events appended meanwhile
// are read while it is still open, about as fast as without it.
func TestLongTransactionInAnotherDatabaseHoldsNothingBack(t *testing.T) {
	pgtest.Require(t)
	hold := holdFor(t)
	cluster, s, pool := clusterStore(t, nil)
	ctx := context.Background()
	_, err := pool.Exec(ctx, "CREATE DATABASE other")
	require.NoError(t, err)
	before := make([]time.Duration, 0, 20)
	for range 20 {
		before = append(before, readableAfter(t, s, time.Now().Add(time.Minute)))
	}

	tx, _ := openHolder(t, strings.Replace(cluster.URL(), "/postgres?", "/other?", 1))
	opened := time.Now()
	var during []time.Duration
	for time.Since(opened) < hold*3/4 {
		// Each must be readable long before the other transaction ends.
		during = append(during, readableAfter(t, s, opened.Add(hold)))
		<-time.After(50 * time.Millisecond) // the pace of the appends
	}
	// A consumer reads them all, still while the transaction is open.
	claimAll(t, s, testOwner)
	read := 0
	for {
		res := consume(t, s, testOwner, func(b store.Batch) *store.Effects {
			read += len(b.Events())
			return &store.Effects{}
		})
		if !res.More {
			break
		}
	}
	require.Equal(t, len(before)+len(during), read, "the consumer read every event")
	_, err = tx.Exec(ctx, "SELECT 1")
	require.NoError(t, err, "the other database's transaction was open all along")
	_, held := s.HorizonHolder()
	require.False(t, held, "nothing waits")
	slices.Sort(before)
	slices.Sort(during)
	t.Logf("event appended to readable, %d events before / %d during a %s transaction in another database: median %s / %s, max %s / %s",
		len(before), len(during), hold, before[len(before)/2], during[len(during)/2], before[len(before)-1], during[len(during)-1])
}

// warnCounter counts the Warn records with a message, and sends them on to
// the test's log.
type warnCounter struct {
	slog.Handler
	*warnCount
}

type warnCount struct {
	msg string
	mu  sync.Mutex
	rec []string
}

func (h warnCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && r.Message == h.msg {
		var sb strings.Builder
		r.Attrs(func(a slog.Attr) bool {
			sb.WriteString(a.String() + " ")
			return true
		})
		h.mu.Lock()
		h.rec = append(h.rec, sb.String())
		h.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

func (h warnCounter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return warnCounter{h.Handler.WithAttrs(attrs), h.warnCount}
}

func (h warnCounter) WithGroup(name string) slog.Handler {
	return warnCounter{h.Handler.WithGroup(name), h.warnCount}
}

func (h *warnCount) count() (int, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.rec), slices.Clone(h.rec)
}

// A transaction of our own database, even on an unrelated table, holds the
// events back (it could still append one with its old id): the store
// reports it, at Warn level once per HorizonWarnAfter crossed and through
// HorizonHolder, with its pid, age and query; once it ends, the events are
// read.
func TestLongTransactionInOurDatabaseIsReported(t *testing.T) {
	pgtest.Require(t)
	const threshold = 300 * time.Millisecond
	logs := &warnCount{msg: "committed events wait for an open transaction: consumers are held back until it ends"}
	cluster, s, _ := clusterStore(t, func(c *Config) {
		c.Logger, c.HorizonWarnAfter = slog.New(warnCounter{testLogger(t).Handler(), logs}), threshold
	})
	ctx := context.Background()
	tx, pid := openHolder(t, cluster.URL())
	last, err := s.LastPosition(ctx)
	require.NoError(t, err)
	out, err := s.AppendEvents(ctx, []store.Event{{Namespace: store.DefaultNamespace, Key: "k"}})
	require.NoError(t, err)
	evs, _, err := s.ListEvents(ctx, store.EventFilter{After: last})
	require.NoError(t, err)
	require.Empty(t, evs, "held back by the open transaction")

	var holder HorizonHolder
	eventually(t, func() bool {
		var ok bool
		holder, ok = s.HorizonHolder()
		n, _ := logs.count()
		return ok && holder.PID != 0 && n > 1
	}, "the holder is reported")
	n, recs := logs.count()
	require.Equal(t, pid, holder.PID)
	require.Equal(t, "postgres", holder.Database)
	require.Contains(t, holder.Query, "INSERT INTO unrelated")
	require.Equal(t, "idle in transaction", holder.State)
	require.False(t, holder.Started.IsZero())
	require.LessOrEqual(t, n, int(holder.Waiting/threshold)+1, "one warning per threshold crossed: %v", recs)
	require.Contains(t, recs[0], "pid="+strconv.Itoa(pid))
	require.Contains(t, recs[0], "age=")
	require.Contains(t, recs[0], "INSERT INTO unrelated")

	require.NoError(t, tx.Rollback(ctx))
	eventually(t, func() bool {
		evs, _, err := s.ListEvents(ctx, store.EventFilter{After: last})
		return err == nil && len(evs) == 1 && evs[0].ID == out[0].ID
	}, "readable once the transaction ended")
	eventually(t, func() bool { _, ok := s.HorizonHolder(); return !ok }, "nothing waits any more")
}
