package postgres

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

// pruneTables are the tables a prune deletes from.
var pruneTables = []string{"aiflow_event", "aiflow_workflow_execution", "aiflow_task_execution", "aiflow_task_log",
	"aiflow_task_log_size", "aiflow_dispatch", "aiflow_decision"}

// tableSizes returns pg_total_relation_size (table, indexes and TOAST) of
// each prune table.
func tableSizes(t *testing.T, s *Store) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, tb := range pruneTables {
		var n int64
		require.NoError(t, s.pool.QueryRow(context.Background(), s.q("SELECT pg_total_relation_size('{s}."+tb+"')")).Scan(&n))
		out[tb] = n
	}
	return out
}

func countRows(t *testing.T, s *Store, table string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, s.pool.QueryRow(context.Background(), s.q("SELECT count(*) FROM {s}."+table)).Scan(&n))
	return n
}

// fillOld writes, as of 40 days ago, events user events of about 250 bytes
// each, and executions finished workflow executions of 3 task executions
// each with a log, a dispatch record and the decision that started it, and
// moves every partition's cursor past the events (consumed).
func fillOld(t *testing.T, s *Store, events, executions int) {
	t.Helper()
	ctx := context.Background()
	_, err := s.pool.Exec(ctx, s.q(`INSERT INTO {s}.aiflow_event (time, namespace, key, value, sender)
		SELECT now() - interval '40 days' + g * interval '1 ms', 'default', 'key_' || (g % 100), repeat('v', 150), 'prune-test'
		FROM generate_series(1, $1) g`), events)
	require.NoError(t, err)
	_, err = s.pool.Exec(ctx, s.q(`WITH x AS (
			INSERT INTO {s}.aiflow_workflow_execution (id, namespace, workflow, status, created_at, updated_at, ended_at)
			SELECT nextval('{s}.aiflow_execution_id_seq'), 'default', 'wf', 'SUCCESS',
				now() - interval '41 days', now() - interval '40 days', now() - interval '40 days'
			FROM generate_series(1, $1) RETURNING id),
		te AS (
			INSERT INTO {s}.aiflow_task_execution (id, execution_id, namespace, workflow, task, seq_num, attempt, status, created_at, updated_at, ended_at)
			SELECT nextval('{s}.aiflow_task_execution_id_seq'), x.id, 'default', 'wf', 't' || k, 1, 1, 'SUCCESS',
				now() - interval '41 days', now() - interval '40 days', now() - interval '40 days'
			FROM x, generate_series(1, 3) k RETURNING id, execution_id, task),
		dc AS (INSERT INTO {s}.aiflow_decision (execution_id, task, rule, event_id, event_key, time, outcome, task_execution_id, seq_num, kept)
			SELECT execution_id, task, 0, 1, 'key_1', now() - interval '40 days', 'started', id, 1, true FROM te),
		l AS (INSERT INTO {s}.aiflow_task_log (task_execution_id, start_offset, data) SELECT id, 0, convert_to(repeat('log line ', 20), 'UTF8') FROM te),
		ls AS (INSERT INTO {s}.aiflow_task_log_size (task_execution_id, size) SELECT id, 180 FROM te)
		INSERT INTO {s}.aiflow_dispatch (task_execution_id, attempt, state) SELECT id, 1, 'done' FROM te`), executions)
	require.NoError(t, err)
	consumeAll(t, s)
}

// consumeAll moves every partition's cursor to the last event.
func consumeAll(t *testing.T, s *Store) {
	t.Helper()
	_, err := s.pool.Exec(context.Background(), s.q(`UPDATE {s}.aiflow_partition p SET pos_xid = e.xid, pos_id = e.id
		FROM (SELECT xid, id FROM {s}.aiflow_event ORDER BY xid DESC, id DESC LIMIT 1) e`))
	require.NoError(t, err)
}

// TestPruneBoundsTheTables fills the tables as a month would (20,000 events
// and 2,000 finished executions; AIFLOW_PRUNE_TEST_EVENTS=200000 for the
// month that made a 51 MB event table), prunes them with a 30-day retention,
// then writes as much again and prunes, and logs pg_total_relation_size
// after each step: once VACUUM has reclaimed the deleted rows, their space is
// reused (VACUUM FULL gives it back to the system). It checks
// that a dry run deletes nothing, that the prune deletes what the dry run
// counted and keeps the recent events, and that the prune's queries walk
// the primary keys rather than scanning the tables (EXPLAIN).
func TestPruneBoundsTheTables(t *testing.T) {
	t.Parallel()
	events := 20_000
	if testing.Short() {
		events = 5_000
	}
	if v := os.Getenv("AIFLOW_PRUNE_TEST_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "AIFLOW_PRUNE_TEST_EVENTS")
		events = n
	}
	// Enough executions for the planner to prefer the indexes, as it
	// does on any table that matters.
	const executions = 2_000
	s, _ := newTestStore(t, nil)
	ctx := context.Background()
	fillOld(t, s, events, executions)
	recent, err := s.AppendEvents(ctx, []store.Event{{Namespace: store.DefaultNamespace, Key: "recent", Sender: "test"}})
	require.NoError(t, err)
	consumeAll(t, s)
	for _, tb := range pruneTables {
		_, err := s.pool.Exec(ctx, s.q("ANALYZE {s}."+tb))
		require.NoError(t, err)
	}
	before := tableSizes(t, s)
	cut := recent[0].Time.Add(-30 * 24 * time.Hour)
	p := store.PruneParams{EventsBefore: cut, ExecutionsBefore: cut}

	explainPrune(t, s, cut)

	p.DryRun = true
	dry, err := s.Prune(ctx, p)
	require.NoError(t, err)
	want := store.PruneResult{Events: int64(events), WorkflowExecutions: int64(executions),
		TaskExecutions: 3 * int64(executions), TaskLogs: 3 * int64(executions), Decisions: 3 * int64(executions)}
	require.Equal(t, want, dry)
	require.Equal(t, int64(events+1), countRows(t, s, "aiflow_event"), "a dry run deletes nothing")
	require.Equal(t, int64(executions), countRows(t, s, "aiflow_workflow_execution"))

	p.DryRun = false
	began := time.Now()
	res, err := s.Prune(ctx, p)
	took := time.Since(began)
	require.NoError(t, err)
	require.Equal(t, want, res)
	require.Equal(t, int64(1), countRows(t, s, "aiflow_event"), "the recent event is kept")
	for _, tb := range pruneTables[1:] {
		require.Zero(t, countRows(t, s, tb), tb)
	}
	vacuum := func(full bool) {
		for _, tb := range pruneTables {
			sql := "VACUUM {s}." + tb
			if full {
				sql = "VACUUM FULL {s}." + tb
			}
			_, err := s.pool.Exec(ctx, s.q(sql))
			require.NoError(t, err)
		}
	}
	vacuum(false)
	sizes := []map[string]int64{before, tableSizes(t, s)}
	heads := []string{"month 1", "pruned"}

	// Another month, as much written again, then pruned (now everything:
	// the cut-off is in the future) and vacuumed, as autovacuum would.
	all := store.PruneParams{EventsBefore: time.Now().Add(time.Hour), ExecutionsBefore: time.Now().Add(time.Hour)}
	for m := 2; m <= 2; m++ {
		fillOld(t, s, events, executions)
		sizes, heads = append(sizes, tableSizes(t, s)), append(heads, fmt.Sprintf("month %d", m))
		_, err = s.Prune(ctx, all)
		require.NoError(t, err)
		vacuum(false)
		sizes, heads = append(sizes, tableSizes(t, s)), append(heads, "pruned")
	}
	vacuum(true)
	sizes, heads = append(sizes, tableSizes(t, s)), append(heads, "VACUUM FULL")

	var b strings.Builder
	fmt.Fprintf(&b, "a month: %d events, %d finished executions (%d task executions with logs and dispatch records); "+
		"the first prune took %s; each prune is followed by a plain VACUUM, as autovacuum would run (it reclaims the "+
		"deleted rows only once no snapshot of any session of the cluster can see them: other tests' sessions may delay it)\n",
		events, executions, 3*executions, took.Round(time.Millisecond))
	fmt.Fprintf(&b, "%-26s", "table")
	for _, h := range heads {
		fmt.Fprintf(&b, " %12s", h)
	}
	b.WriteString("\n")
	for _, tb := range pruneTables {
		fmt.Fprintf(&b, "%-26s", tb)
		for _, sz := range sizes {
			fmt.Fprintf(&b, " %12s", mb(sz[tb]))
		}
		b.WriteString("\n")
	}
	t.Log("pg_total_relation_size (table, indexes, TOAST):\n" + b.String())

	// No assertion on the sizes: whether VACUUM can reclaim the deleted
	// rows at once depends on the oldest snapshot of every session of the
	// cluster (other tests', here), not on the prune. What the prune
	// guarantees is checked above: the rows are gone.
	require.Zero(t, countRows(t, s, "aiflow_event"))
}

func mb(n int64) string { return fmt.Sprintf("%.2f MB", float64(n)/(1<<20)) }

// explainPrune logs the plans of one batch of each prune statement (and of
// the consumer's read) and checks that they use the indexes: a batch costs
// its size, whatever the tables hold.
func explainPrune(t *testing.T, s *Store, cut time.Time) {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	require.NoError(t, s.pool.QueryRow(ctx, s.q("SELECT array_agg(id) FROM (SELECT id FROM {s}.aiflow_workflow_execution ORDER BY id LIMIT 100) x")).Scan(&ids))
	// EXPLAIN ANALYZE runs the statement: the deleting ones run in a
	// transaction that is rolled back.
	tx, err := s.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	explainIn := func(q querier, sql string, args ...any) string {
		rows, err := q.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "+s.q(sql), args...)
		require.NoError(t, err)
		var lines []string
		for rows.Next() {
			var l string
			require.NoError(t, rows.Scan(&l))
			lines = append(lines, l)
		}
		require.NoError(t, rows.Err())
		return strings.Join(lines, "\n")
	}
	plan := func(sql string, args ...any) string { return explainIn(s.pool, sql, args...) }
	explainTx := func(sql string, args ...any) string { return explainIn(tx, sql, args...) }
	plans := []struct {
		name, plan string
		uses       []string
	}{
		{"events batch (deleting)", explainTx(pruneEventsHead+pruneEventsDelete+pruneEventsTail, int64(0), store.DefaultPruneBatch, cut),
			[]string{"aiflow_event_pkey"}},
		{"executions batch", plan(pruneExecutionsSQL, int64(0), store.DefaultPruneBatch, cut),
			[]string{"aiflow_workflow_execution_pkey", "aiflow_task_execution_execution"}},
		{"task executions of 100 executions (deleting)", explainTx(pruneTaskExecutionsSQL, ids, store.DefaultPruneBatch),
			[]string{"aiflow_task_execution_execution"}},
		{"executions and their decisions (deleting)", explainTx(deleteExecutionsSQL, ids),
			[]string{"aiflow_workflow_execution_pkey", "aiflow_decision_execution"}},
		{"consumer's read", plan(consumeReadSQL, 0, store.DefaultMaxEvents, []string{"k"}, []string{store.DefaultNamespace}, []string{}, []string{}), []string{"aiflow_event_partition_position"}},
	}
	for _, p := range plans {
		t.Logf("EXPLAIN %s:\n%s", p.name, p.plan)
		require.NotContains(t, p.plan, "Seq Scan on aiflow_event ", p.name)
		require.NotContains(t, p.plan, "Seq Scan on aiflow_workflow_execution ", p.name)
		require.NotContains(t, p.plan, "Seq Scan on aiflow_task_execution ", p.name)
		for _, idx := range p.uses {
			require.Contains(t, p.plan, idx, p.name)
		}
	}
}

// TestRiverCleanerDeletesFinishedJobs: River's job cleaner, on River's
// leader, deletes the jobs completed before Config.CompletedJobRetention and
// keeps the more recent ones.
func TestRiverCleanerDeletesFinishedJobs(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, func(c *Config) { c.CompletedJobRetention = time.Hour })
	ctx := context.Background()
	job := func(age string) int64 {
		var id int64
		require.NoError(t, s.pool.QueryRow(ctx, s.q(`INSERT INTO {s}.river_job
			(args, kind, max_attempts, queue, state, attempt, attempted_at, finalized_at)
			VALUES ('{}', 'aiflow_task', 1, $1, 'completed', 1, now() - $2::interval, now() - $2::interval) RETURNING id`),
			QueueBatch, age).Scan(&id))
		return id
	}
	old, recent := job("2 hours"), job("10 minutes")
	exists := func(id int64) bool {
		var ok bool
		require.NoError(t, s.pool.QueryRow(ctx, s.q("SELECT EXISTS (SELECT 1 FROM {s}.river_job WHERE id = $1)"), id).Scan(&ok))
		return ok
	}
	startWorkers(t, s, newTestHandler(nil))
	eventually(t, func() bool { return !exists(old) }, "River's cleaner deletes the job completed 2 hours ago")
	require.True(t, exists(recent), "and keeps the one completed 10 minutes ago (retention 1 h)")
}

func TestConfigRefusesBadJobRetention(t *testing.T) {
	_, err := (&Config{DiscardedJobRetention: -2}).withDefaults()
	require.ErrorContains(t, err, "Config.DiscardedJobRetention -2ns: expected a positive duration, or -1 to keep River's finished jobs forever")
	c, err := (&Config{CompletedJobRetention: -1}).withDefaults()
	require.NoError(t, err)
	require.Equal(t, time.Duration(-1), c.CompletedJobRetention)
	require.Equal(t, CancelledJobRetentionDefault, c.CancelledJobRetention)
}
