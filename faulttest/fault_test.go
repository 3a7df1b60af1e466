package faulttest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// TestKill9 kills the program embedding the library with SIGKILL at random
// instants while events flow (AIFLOW_FAULT_KILLS times, 20 by default),
// restarting it each time under a new client id, while a second producer
// commits its events late (holding its transaction open while later events
// commit), then checks every decision against the oracle.
func TestKill9(t *testing.T) {
	pgtest.Require(t)
	kills := envInt(t, "AIFLOW_FAULT_KILLS", 20)
	b := setup(t, pgtest.URL(), "chaos1", "chaos2")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	cur := b.startApp()
	b.startExecutions(ctx, 2)
	b.addSchedule(ctx)
	p := b.produce(4*time.Millisecond, b.rng.Uint64())
	late := b.produceLate(300*time.Millisecond, b.rng.Uint64())
	for range kills {
		// A third of the kills come soon after a start (recovery paths),
		// the others while the program is well into its work.
		d := time.Duration(b.rng.IntN(1200)) * time.Millisecond
		if b.rng.IntN(3) == 0 {
			d = time.Duration(b.rng.IntN(150)) * time.Millisecond
		}
		pause(d)
		b.kill(cur)
		cur = b.startApp()
	}
	pause(500 * time.Millisecond) // events keep flowing into the last process
	b.quiesce(ctx, p, late)
	t.Logf("%d late commits", late.sent)

	b.finish(ctx, p, kills)
}

// TestReplicasOneKilled runs two and three replicas on one database while
// events flow, kills the replica that holds the most (partitions and running
// streams), and checks that the survivors took over its partitions and
// leases and that no decision was lost or repeated.
func TestReplicasOneKilled(t *testing.T) {
	pgtest.Require(t)
	for _, n := range []int{2, 3} {
		t.Run(map[int]string{2: "replicas=2", 3: "replicas=3"}[n], func(t *testing.T) {
			b := setup(t, pgtest.URL(), "chaos1", "chaos2", "chaos3")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			for range n {
				b.startApp()
			}
			b.startExecutions(ctx, 1)
			b.addSchedule(ctx)
			p := b.produce(4*time.Millisecond, b.rng.Uint64())
			// Let the replicas share the work: with 4 partitions, the third
			// replica holds none, and runs only what River gives it.
			require.Eventually(t, func() bool { return len(b.holdings(ctx)) >= 2 }, time.Minute, 20*time.Millisecond,
				"two replicas hold partitions or task leases")
			pause(time.Duration(500+b.rng.IntN(1000)) * time.Millisecond)
			holdings := b.holdings(ctx)
			victim := busiest(holdings)
			t.Logf("killing %s, which holds %d (of %v)", victim, holdings[victim], holdings)
			b.kill(victim)
			pause(time.Duration(1500+b.rng.IntN(1000)) * time.Millisecond)
			b.quiesce(ctx, p)

			b.settle(ctx)
			b.verify(ctx, true)
			after := b.holdings(ctx)
			require.NotContains(t, after, victim, "the killed replica holds nothing")
			var parts int
			require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM `+b.schema+`.aiflow_partition
				WHERE owner = ANY($1) AND lease_until > clock_timestamp()`, b.alive()).Scan(&parts))
			var total int
			require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM `+b.schema+`.aiflow_partition`).Scan(&total))
			require.Equal(t, total, parts, "the survivors hold every partition")
			b.stopExecutions(ctx)
			b.summary(ctx, p, 1)
			b.stopApps()
		})
	}
}

// TestReplicaPaused runs two replicas while events flow and freezes the one
// that holds the most (partitions and task leases) with SIGSTOP, for longer
// than its task lease but less than the lease plus the stop grace (a 2 s
// lease and a 1 s grace; the library's defaults, 30 s and 10 s, under
// AIFLOW_FAULT_DEFAULT_LEASES=1) (AIFLOW_FAULT_PAUSES times, 4 by default),
// then checks every decision
// against the oracle, and that no two attempts of a task ran at once: the
// frozen replica's attempts are taken over by the other one only after the
// lease and the grace, and the frozen one cancels them as soon as it runs
// again.
func TestReplicaPaused(t *testing.T) {
	pgtest.Require(t)
	pauses := envInt(t, "AIFLOW_FAULT_PAUSES", 4)
	b := setup(t, pgtest.URL(), "chaos1", "chaos2", "chaos3")
	lease, grace := 2*time.Second, time.Second
	if b.defaultLeases {
		lease = postgres.TaskLeaseTTLDefault
		grace = min((lease-postgres.TaskHeartbeatDefault)/2, postgres.TaskStopGraceMax)
	} else {
		b.appArgs = []string{"-lease", lease.String(), "-stop-grace", grace.String()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b.startApp()
	b.startApp()
	b.startExecutions(ctx, 2)
	b.addSchedule(ctx)
	p := b.produce(4*time.Millisecond, b.rng.Uint64())
	for range pauses {
		pause(time.Duration(500+b.rng.IntN(1000)) * time.Millisecond)
		holdings := b.holdings(ctx)
		victim := busiest(holdings)
		// Longer than the lease, shorter than the lease plus the grace less
		// a heartbeat (the last renewal may have been sent that much before
		// the pause).
		d := lease + time.Duration(300+b.rng.IntN(300))*time.Millisecond
		t.Logf("freezing %s, which holds %d (of %v), for %s", victim, holdings[victim], holdings, d)
		b.freeze(victim, d)
	}
	pause(1500 * time.Millisecond) // events keep flowing after the last pause
	b.quiesce(ctx, p)

	b.finish(ctx, p, 0)
}

// busiest is the client that holds the most in holdings (the smallest id
// among equals).
func busiest(holdings map[string]int) string {
	victim := ""
	for id, held := range holdings {
		if victim == "" || held > holdings[victim] || (held == holdings[victim] && id < victim) {
			victim = id
		}
	}
	return victim
}

// holdings counts, per live client, the partitions it holds and the stream
// leases it has.
func (b *bundle) holdings(ctx context.Context) map[string]int {
	b.t.Helper()
	rows, err := b.pool.Query(ctx, `SELECT owner FROM `+b.schema+`.aiflow_partition WHERE lease_until > clock_timestamp()
		UNION ALL SELECT owner FROM `+b.schema+`.aiflow_task_lease WHERE expires_at > clock_timestamp()`)
	require.NoError(b.t, err)
	defer rows.Close()
	live := b.alive()
	out := map[string]int{}
	for rows.Next() {
		var owner string
		require.NoError(b.t, rows.Scan(&owner))
		if slices.Contains(live, owner) {
			out[owner]++
		}
	}
	require.NoError(b.t, rows.Err())
	return out
}

// TestPostgresRestart restarts a private Postgres server twice while events
// flow (once "fast", once "immediate", as a crash does) under two client
// processes: they reconnect on their own and no decision is lost or
// repeated.
func TestPostgresRestart(t *testing.T) {
	pgtest.Require(t)
	cluster := pgtest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cluster.WaitReady(ctx)
	b := setup(t, cluster.URL(), "chaos1", "chaos2")
	b.startApp()
	b.startApp()
	b.startExecutions(ctx, 2)
	b.addSchedule(ctx)
	p := b.produce(4*time.Millisecond, b.rng.Uint64())
	for _, mode := range []string{"fast", "immediate"} {
		pause(time.Duration(1000+b.rng.IntN(1000)) * time.Millisecond)
		t.Logf("restarting Postgres (%s)", mode)
		cluster.Restart(mode)
		cluster.WaitReady(ctx)
	}
	pause(time.Duration(1000+b.rng.IntN(1000)) * time.Millisecond)
	b.quiesce(ctx, p)

	b.settle(ctx)
	require.Len(t, b.alive(), 2, "both clients survived the restarts")
	b.verify(ctx, true)
	b.stopExecutions(ctx)
	b.summary(ctx, p, 0)
	b.stopApps()
}
