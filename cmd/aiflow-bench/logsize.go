package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// LogCost is what an event costs with a log of a given size.
type LogCost struct {
	// Logged is the number of events in the log before the measurement, and
	// LogBytes the event table's size then (pg_total_relation_size).
	Logged   int
	LogBytes int64
	// Append is the mean time of appending one event (AppendEvents with one
	// event, NOTIFY included), one call after another.
	Append time.Duration
	// Applied is the events applied per second: appended in batches of 100,
	// read by every partition, matched against the running executions.
	Applied float64
}

// prefillChunk bounds the events one statement of prefill inserts.
const prefillChunk = 1_000_000

// prefill inserts logged user events (of about 250 bytes, like the
// benchmark's own) into the event log of st, as a log that has been running
// for a while, marks them consumed by every partition and vacuums and
// analyzes the table, as autovacuum would have.
func prefill(ctx context.Context, pool *pgxpool.Pool, schema string, logged int) error {
	s := pgx.Identifier{schema}.Sanitize()
	for done := 0; done < logged; done += prefillChunk {
		n := min(prefillChunk, logged-done)
		if _, err := pool.Exec(ctx, "INSERT INTO "+s+`.aiflow_event (namespace, key, value, sender)
			SELECT 'default', 'logged_' || (g % 100), repeat('v', 150), 'prefill' FROM generate_series(1, $1) g`, n); err != nil {
			return fmt.Errorf("prefilling the log: %w", err)
		}
	}
	if _, err := pool.Exec(ctx, "UPDATE "+s+`.aiflow_partition p SET pos_xid = e.xid, pos_id = e.id
		FROM (SELECT xid, id FROM `+s+`.aiflow_event ORDER BY xid DESC, id DESC LIMIT 1) e`); err != nil {
		return err
	}
	_, err := pool.Exec(ctx, "VACUUM ANALYZE "+s+".aiflow_event")
	return err
}

// EventCostWithLog measures the cost of an event when the log already holds
// logged events (consumed ones, as in a deployment that has run for a while
// without pruning): n appends of one event, then n events appended in
// batches of 100 and applied by a client running executions executions
// whose rules none of them meets. The cost should not depend on logged:
// consumers read from their cursor, through the (partition, xid, id) index.
func EventCostWithLog(ctx context.Context, pool *pgxpool.Pool, logged, executions, n int) (LogCost, error) {
	c := LogCost{Logged: logged}
	st, closeStore, err := openStore(ctx, pool, nil)
	if err != nil {
		return c, err
	}
	defer closeStore()
	if err := prefill(ctx, pool, st.Schema(), logged); err != nil {
		return c, err
	}
	if err := pool.QueryRow(ctx, "SELECT pg_total_relation_size($1::regclass)",
		pgx.Identifier{st.Schema(), "aiflow_event"}.Sanitize()).Scan(&c.LogBytes); err != nil {
		return c, err
	}
	wf := aiflow.NewWorkflow("logged")
	keepRunning(wf)
	client, stop, err := runClient(ctx, st, wf)
	if err != nil {
		return c, err
	}
	defer stop()
	if _, err := startExecutions(ctx, st, client, wf.Name(), executions); err != nil {
		return c, err
	}
	one := []store.Event{{Namespace: "default", Key: "noise", Value: "v", Sender: "bench"}}
	t0 := time.Now()
	for range n {
		if _, err := st.AppendEvents(ctx, one); err != nil {
			return c, err
		}
	}
	c.Append = time.Since(t0) / time.Duration(max(n, 1))

	_, per, err := timeEvents(ctx, pool, st, n, waitTimeout, nil, func(int) store.Event { return one[0] })
	if err != nil {
		return c, err
	}
	c.Applied = perSecond(per)
	return c, nil
}

// waitConsumedWithin waits, for at most timeout, until the partitions
// parts of st (every partition when parts is nil) have consumed past last.
func waitConsumedWithin(ctx context.Context, pool *pgxpool.Pool, st *postgres.Store, timeout time.Duration, parts []int, last store.Position) error {
	return waitWithin(ctx, st, timeout, "every partition past the last event", func() (bool, error) {
		var behind int
		err := pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{st.Schema()}.Sanitize()+
			".aiflow_partition WHERE (pos_xid, pos_id) < ($1::xid8, $2::bigint) AND ($3::int[] IS NULL OR partition = ANY($3))",
			last.XID, last.ID, parts).Scan(&behind)
		return behind == 0, err
	})
}
