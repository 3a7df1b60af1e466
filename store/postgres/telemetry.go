package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/store"
)

// The store's side of a client's telemetry and health checks: cheap,
// bounded queries run when metrics are collected or health is asked.
var (
	_ store.LagReader        = (*Store)(nil)
	_ store.QueueDepthReader = (*Store)(nil)
	_ store.Pinger           = (*Store)(nil)
	_ store.SchemaChecker    = (*Store)(nil)
	_ store.LoggerSetter     = (*Store)(nil)
	_ store.HorizonReporter  = (*Store)(nil)
)

// HorizonHold reports HorizonHolder for telemetry: since when committed
// events have waited above the horizon, and the transaction holding them
// ("backend <pid> (<state>)", "prepared transaction <gid>", or "unknown"
// before it was looked up). It does not query the database.
func (s *Store) HorizonHold(context.Context) (store.HorizonHold, error) {
	h, ok := s.HorizonHolder()
	if !ok {
		return store.HorizonHold{}, nil
	}
	out := store.HorizonHold{Since: time.Now().Add(-h.Waiting), Holder: "unknown"}
	switch {
	case h.GID != "":
		out.Holder = "prepared transaction " + h.GID
	case h.PID != 0:
		out.Holder = fmt.Sprintf("backend %d (%s)", h.PID, h.State)
	}
	return out, nil
}

// partitionLagSQL counts, for each partition, the readable events after its
// position (at most $1, through the partition's index) and the time of the
// oldest.
const partitionLagSQL = `WITH h AS MATERIALIZED (SELECT ` + horizon + ` AS x)
SELECT p.partition, l.n, l.oldest FROM {s}.aiflow_partition p, LATERAL (
	SELECT count(*) AS n, min(time) AS oldest FROM (
		(SELECT xid, id, time FROM {s}.aiflow_event
			WHERE partition = -1 AND (xid, id) > (p.pos_xid, p.pos_id) AND xid < (SELECT x FROM h)
			ORDER BY xid, id LIMIT $1)
		UNION ALL
		(SELECT xid, id, time FROM {s}.aiflow_event
			WHERE partition = p.partition AND (xid, id) > (p.pos_xid, p.pos_id) AND xid < (SELECT x FROM h)
			ORDER BY xid, id LIMIT $1)
		ORDER BY xid, id LIMIT $1) e) l
ORDER BY p.partition`

// PartitionLag returns, for every partition, the readable events after its
// position (at most store.LagCountLimit) and the append time of the oldest.
func (s *Store) PartitionLag(ctx context.Context) ([]store.PartitionLag, error) {
	rows, err := s.pool.Query(ctx, s.q(partitionLagSQL), store.LagCountLimit)
	if err != nil {
		return nil, opErr("read partition lag", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.PartitionLag, error) {
		var l store.PartitionLag
		var oldest *time.Time
		err := r.Scan(&l.Partition, &l.Events, &oldest)
		if oldest != nil {
			l.Oldest = *oldest
		}
		return l, err
	})
	return out, opErr("read partition lag", err)
}

// QueueDepths returns River's jobs of the store's queues that wait or run,
// by queue and state, counting the handed-off attempts that run (which have
// no River job) as running jobs of the batch queue.
func (s *Store) QueueDepths(ctx context.Context) ([]store.QueueDepth, error) {
	rows, err := s.pool.Query(ctx, s.q(`SELECT queue, state, sum(n)::bigint FROM (
			SELECT queue, state::text AS state, count(*) AS n FROM {s}.river_job
			WHERE state IN ('available', 'scheduled', 'retryable', 'running') AND queue = ANY($1)
			GROUP BY queue, state
			UNION ALL
			SELECT $2, 'running', count(*) FROM {s}.aiflow_task_lease l
			JOIN {s}.aiflow_dispatch d ON d.task_execution_id = l.task_execution_id AND d.attempt = l.attempt
			WHERE d.job_id IS NULL AND d.state = 'running'
			HAVING count(*) > 0) q
		GROUP BY queue, state ORDER BY queue, state`), []string{QueueBatch, QueueStreaming}, QueueBatch)
	if err != nil {
		return nil, opErr("read queue depths", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.QueueDepth, error) {
		var q store.QueueDepth
		err := r.Scan(&q.Queue, &q.State, &q.Jobs)
		return q, err
	})
	return out, opErr("read queue depths", err)
}

// Ping checks that Postgres answers.
func (s *Store) Ping(ctx context.Context) error { return opErr("ping", s.pool.Ping(ctx)) }

// CheckSchema returns an error unless the store's schema is at
// LatestVersion.
func (s *Store) CheckSchema(ctx context.Context) error {
	var version int
	if err := s.pool.QueryRow(ctx, s.q("SELECT coalesce(max(version), 0) FROM {s}.aiflow_migration")).Scan(&version); err != nil {
		return opErr("check schema", err)
	}
	if version != LatestVersion() {
		return fmt.Errorf("postgres: schema %s is at version %d, expected %d", s.cfg.Schema, version, LatestVersion())
	}
	return nil
}

// SetLogger makes l the store's logger (and River's) when its Config had
// none. A client calls it with its own logger before using the store.
func (s *Store) SetLogger(l *slog.Logger) {
	if l == nil || !s.defaultLogger {
		return
	}
	s.cfg.Logger = l
	s.log = l.With(slog.String("component", "aiflow.postgres"), slog.String("schema", s.cfg.Schema))
}
