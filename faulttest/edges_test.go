package faulttest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/internal/pgtest"
)

// The faults of production's edges: a replica cut off from Postgres, a
// transaction holding the read horizon, connections terminated by the
// server.

// TestReplicaCutOff runs two replicas at the library's default lease
// settings (task heartbeat 5 s, lease 30 s, stop grace 10 s, partition
// lease 15 s), each behind its own TCP proxy, while events flow; the proxy of
// the replica that holds the most then stops forwarding (its connections
// stay open, as behind a network that drops packets) for AIFLOW_FAULT_CUTOFF
// (45 s by default: longer than the task lease plus the stop grace, so the
// other replica takes its attempts over), and forwards again. The cut-off
// replica must have stopped its attempts before the other one starts new
// ones: no two attempts of a task ran at once, and every decision holds. It
// runs on a private cluster, because the cut-off replica may hold a
// transaction open, which holds back the readers of the whole database
// until the server ends it: the test logs the consumption lag during the
// cut. AIFLOW_FAULT_IDLE_TX_TIMEOUT (a Postgres duration such as 5s) sets
// idle_in_transaction_session_timeout on the replicas' sessions, so that
// the server ends such a transaction.
func TestReplicaCutOff(t *testing.T) {
	pgtest.Require(t)
	cut := envDuration(t, "AIFLOW_FAULT_CUTOFF", 45*time.Second)
	idle := os.Getenv("AIFLOW_FAULT_IDLE_TX_TIMEOUT")
	cluster := pgtest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cluster.WaitReady(ctx)
	b := setup(t, cluster.URL(), "chaos1", "chaos2")
	b.appArgs = []string{"-default-leases"}
	upstream := hostPort(t, cluster.URL())
	var mu sync.Mutex
	proxies := map[string]*proxy{}
	b.appURL = func(id string) string {
		px := startProxy(t, upstream)
		mu.Lock()
		proxies[id] = px
		mu.Unlock()
		u := withParam(t, withHost(t, cluster.URL(), px.addr()), "application_name", b.schema+"-"+id)
		if idle != "" {
			u = withParam(t, u, "idle_in_transaction_session_timeout", idle)
		}
		return u
	}
	b.startApp()
	b.startApp()
	b.startExecutions(ctx, 2)
	b.addSchedule(ctx)
	p := b.produce(4*time.Millisecond, b.rng.Uint64())
	pause(time.Duration(2000+b.rng.IntN(1000)) * time.Millisecond)
	holdings := b.holdings(ctx)
	victim := busiest(holdings)
	t.Logf("cutting %s off, which holds %d (of %v), for %s", victim, holdings[victim], holdings, cut)
	lag := b.sampleLag(ctx)
	mu.Lock()
	px := proxies[victim]
	mu.Unlock()
	px.hold()
	pause(cut / 2)
	t.Logf("sessions of %s halfway through the cut: %s", victim, b.sessions(ctx, victim))
	pause(cut - cut/2)
	px.release()
	t.Logf("consumption lag while %s was cut off: %s", victim, lag.stop())
	pause(2 * time.Second) // events keep flowing after the cut
	b.quiesce(ctx, p)

	b.finish(ctx, p, 0)
}

// TestHorizonHeld holds a transaction that has a transaction id open while
// events flow through two replicas, on a private cluster: first in another
// database of the server, then on an unrelated table of our own database,
// each for AIFLOW_FAULT_HOLD (5 s by default; 60 s for the figures of
// docs/benchmarks.md). It logs the consumption lag (the age of the oldest
// committed event not yet consumed, sampled every 100 ms) for as long before
// the holds and during each. The transaction in another database holds nothing back: an
// event sent after it began is consumed while it is still open. One in our
// own database holds the readers back until it ends (it might still append
// an event with its old id: see the Postgres store's documentation); then
// everything is consumed, and every decision holds.
func TestHorizonHeld(t *testing.T) {
	pgtest.Require(t)
	hold := envDuration(t, "AIFLOW_FAULT_HOLD", 5*time.Second)
	cluster := pgtest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cluster.WaitReady(ctx)
	b := setup(t, cluster.URL(), "chaos1", "chaos2")
	_, err := b.pool.Exec(ctx, "CREATE DATABASE aiflow_other")
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, "CREATE TABLE "+b.schema+".unrelated (n integer)")
	require.NoError(t, err)
	b.startApp()
	b.startApp()
	b.startExecutions(ctx, 2)
	b.addSchedule(ctx)
	p := b.produce(4*time.Millisecond, b.rng.Uint64())
	lag := b.sampleLag(ctx)
	pause(hold)
	t.Logf("consumption lag for %s with no transaction held: %s", hold, lag.stop())

	// Another database.
	other := withDatabase(t, cluster.URL(), "aiflow_other")
	tx, conn := holdXID(ctx, t, other, "")
	lag = b.sampleLag(ctx)
	held := time.Now()
	marker, err := b.client.SendEvent(ctx, "ping", "", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.consumed(ctx, marker.Position.XID, marker.Position.ID) }, 2*time.Minute, 20*time.Millisecond,
		"an event sent while a transaction of another database is open is consumed before it ends")
	var one int
	require.NoError(t, tx.QueryRow(ctx, "SELECT 1").Scan(&one), "the other database's transaction is still open")
	pause(hold - time.Since(held))
	t.Logf("consumption lag while a transaction of another database is held %s: %s", hold, lag.stop())
	require.NoError(t, tx.Rollback(ctx))
	require.NoError(t, conn.Close(ctx))

	// Our own database, an unrelated table.
	tx, conn = holdXID(ctx, t, b.url, "INSERT INTO "+b.schema+".unrelated VALUES (1)")
	lag = b.sampleLag(ctx)
	pause(hold)
	require.NoError(t, tx.Rollback(ctx))
	require.NoError(t, conn.Close(ctx))
	marker, err = b.client.SendEvent(ctx, "ping", "", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.consumed(ctx, marker.Position.XID, marker.Position.ID) }, 2*time.Minute, 20*time.Millisecond,
		"every event is consumed once the transaction of our database ends")
	t.Logf("consumption lag while a transaction of our database (an unrelated table) is held %s: %s", hold, lag.stop())
	b.quiesce(ctx, p)

	b.finish(ctx, p, 0)
}

// holdXID opens a transaction on the database at dbURL and gives it a
// transaction id (with stmt, or pg_current_xact_id when stmt is empty).
func holdXID(ctx context.Context, t *testing.T, dbURL, stmt string) (pgx.Tx, *pgx.Conn) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	if stmt == "" {
		stmt = "SELECT pg_current_xact_id()"
	}
	_, err = tx.Exec(ctx, stmt)
	require.NoError(t, err)
	return tx, conn
}

// TestConnectionsTerminated terminates every connection of the chaosapp
// processes and of the test's own producers (by their application_name,
// which names the test's schema: no other session of the server) with
// pg_terminate_backend, AIFLOW_FAULT_TERMINATIONS times (20 by default), 100
// to 600 ms apart, while events flow. Sends whose connection died are
// retried with their idempotency key: every acknowledged send is in the log
// once; every decision holds.
func TestConnectionsTerminated(t *testing.T) {
	pgtest.Require(t)
	rounds := envInt(t, "AIFLOW_FAULT_TERMINATIONS", 20)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	b := setup(t, pgtest.URL(), "chaos1", "chaos2")
	b.appURL = func(id string) string { return withParam(t, b.url, "application_name", b.schema+"-"+id) }
	b.startApp()
	b.startApp()
	b.startExecutions(ctx, 2)
	b.addSchedule(ctx)
	p := b.produce(4*time.Millisecond, b.rng.Uint64())
	late := b.produceLate(300*time.Millisecond, b.rng.Uint64())
	killer, err := pgx.Connect(ctx, pgtest.URL())
	require.NoError(t, err)
	defer func() { _ = killer.Close(context.Background()) }()
	terminated := 0
	for range rounds {
		pause(time.Duration(100+b.rng.IntN(500)) * time.Millisecond)
		var n int
		require.NoError(t, killer.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
			FROM pg_stat_activity WHERE application_name LIKE $1 AND pid <> pg_backend_pid()`, b.schema+"-%").Scan(&n))
		terminated += n
	}
	pause(time.Second) // events keep flowing after the last round
	b.quiesce(ctx, p, late)
	t.Logf("%d connections terminated in %d rounds; %d late commits (%d failed)", terminated, rounds, late.sent, late.failed)

	b.finish(ctx, p, 0)
}

// sessions describes the server's sessions of a chaosapp process: how many
// in each state, and how many of them hold a transaction id.
func (b *bundle) sessions(ctx context.Context, id string) string {
	rows, err := b.pool.Query(ctx, `SELECT coalesce(state, '') || CASE WHEN backend_xid IS NOT NULL THEN ' (holding a transaction id)' ELSE '' END,
		count(*) FROM pg_stat_activity WHERE application_name = $1 GROUP BY 1 ORDER BY 1`, b.schema+"-"+id)
	if err != nil {
		return err.Error()
	}
	var out []string
	var state string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&state, &n}, func() error {
		out = append(out, fmt.Sprintf("%d %s", n, state))
		return nil
	})
	if err != nil {
		return err.Error()
	}
	return strings.Join(out, ", ")
}

// consumed reports whether every partition (the workflows' executions are
// spread over all of them) has consumed the event at position (xid, id).
func (b *bundle) consumed(ctx context.Context, xid uint64, id int64) bool {
	var behind int
	err := b.pool.QueryRow(ctx, `SELECT count(*) FROM `+b.schema+`.aiflow_partition p
		WHERE (p.pos_xid, p.pos_id) < ($1::text::xid8, $2)`, strconv.FormatUint(xid, 10), id).Scan(&behind)
	return err == nil && behind == 0
}

// lagSampler samples the consumption lag: the age of the oldest committed
// event that a partition has not consumed yet (0 when
// there is none).
type lagSampler struct {
	cancel  context.CancelFunc
	done    chan struct{}
	samples []time.Duration
	failed  int
}

// sampleLag samples the consumption lag every 100 ms until stop.
func (b *bundle) sampleLag(ctx context.Context) *lagSampler {
	ctx, cancel := context.WithCancel(ctx)
	l := &lagSampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			var secs float64
			err := b.pool.QueryRow(ctx, `SELECT coalesce(extract(epoch FROM clock_timestamp() - min(e.time)), 0)::float8
				FROM `+b.schema+`.aiflow_event e WHERE EXISTS (SELECT 1 FROM `+b.schema+`.aiflow_partition p
					WHERE e.partition IN (-1, p.partition) AND (e.xid, e.id) > (p.pos_xid, p.pos_id))`).Scan(&secs)
			if err == nil {
				l.samples = append(l.samples, time.Duration(secs*float64(time.Second)))
			} else if ctx.Err() == nil {
				l.failed++
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return l
}

// stop ends the sampling and describes the samples: median, 99th percentile
// and maximum.
func (l *lagSampler) stop() string {
	l.cancel()
	<-l.done
	if len(l.samples) == 0 {
		return fmt.Sprintf("no samples (%d failed)", l.failed)
	}
	s := slices.Clone(l.samples)
	slices.Sort(s)
	q := func(f float64) time.Duration { return s[min(len(s)-1, int(f*float64(len(s))))].Round(time.Millisecond) }
	return fmt.Sprintf("median %s, p99 %s, max %s (%d samples)", q(0.5), q(0.99), s[len(s)-1].Round(time.Millisecond), len(s))
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err, "%s: expected a duration such as 45s", name)
	return d
}

// hostPort is the host:port of a database URL.
func hostPort(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	return u.Host
}

// withHost is dbURL with its host:port replaced.
func withHost(t *testing.T, dbURL, host string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.Host = host
	return u.String()
}

// withDatabase is dbURL with its database replaced.
func withDatabase(t *testing.T, dbURL, db string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.Path = "/" + db
	return u.String()
}

// withParam is dbURL with a query parameter set.
func withParam(t *testing.T, dbURL, key, value string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
