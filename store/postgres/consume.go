package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/aiflow-go/aiflow/store"
)

// Partitions returns the number of partitions, fixed by the first migration.
func (s *Store) Partitions() int { return s.nPart }

// ClaimPartitions renews owner's leases and takes its fair share of free or
// expired partitions (the number of partitions divided by the number of live
// owners, rounded up), giving back partitions above that share. Owners are
// live while they keep claiming within ttl. It returns the partitions owner
// holds, each valid for ttl (measured by the database's clock).
func (s *Store) ClaimPartitions(ctx context.Context, owner string, ttl time.Duration) ([]int, error) {
	if owner == "" {
		return nil, fmt.Errorf("%w: partition owner is empty: expected a client id", store.ErrInvalid)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("%w: lease ttl %s: expected a positive duration", store.ErrInvalid, ttl)
	}
	var mine []int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(s.q(`INSERT INTO {s}.aiflow_client (id, expires_at) VALUES ($1, now() + $2::interval)
			ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at`), owner, ttl)
		b.Queue(s.q("DELETE FROM {s}.aiflow_client WHERE expires_at < now()"))
		b.Queue(s.q("SELECT count(*) FROM {s}.aiflow_client"))
		b.Queue(s.q("SELECT partition, owner, lease_until > now() FROM {s}.aiflow_partition ORDER BY partition FOR UPDATE"))
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		for range 2 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		var live int
		if err := br.QueryRow().Scan(&live); err != nil {
			return err
		}
		type part struct {
			owner string
			valid bool
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		parts := make([]part, 0, s.nPart)
		var p part
		var idx int32
		_, err = pgx.ForEachRow(rows, []any{&idx, &p.owner, &p.valid}, func() error {
			parts = append(parts, p)
			return nil
		})
		if err != nil {
			return err
		}
		if err := br.Close(); err != nil {
			return err
		}
		live = max(live, 1)
		share := (len(parts) + live - 1) / live
		for i, p := range parts {
			if p.owner == owner && p.valid {
				mine = append(mine, i)
			}
		}
		var release []int32
		for len(mine) > share {
			release = append(release, int32(mine[len(mine)-1]))
			mine = mine[:len(mine)-1]
		}
		for i, p := range parts {
			if len(mine) >= share {
				break
			}
			if (p.owner == "" || !p.valid) && !slices.Contains(release, int32(i)) {
				mine = append(mine, i)
			}
		}
		slices.Sort(mine)
		take := make([]int32, len(mine))
		for i, m := range mine {
			take[i] = int32(m)
		}
		b = &pgx.Batch{}
		if len(release) > 0 {
			b.Queue(s.q(`UPDATE {s}.aiflow_partition SET owner = '', lease_until = '-infinity'
				WHERE partition = ANY($1) AND owner = $2`), release, owner)
		}
		b.Queue(s.q(`UPDATE {s}.aiflow_partition SET owner = $2, lease_until = now() + $3::interval
			WHERE partition = ANY($1)`), take, owner, ttl)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, opErr("claim partitions", err)
	}
	return mine, nil
}

// ReleasePartitions gives up every lease owner holds and forgets it as a
// live owner.
func (s *Store) ReleasePartitions(ctx context.Context, owner string) error {
	return opErr("release partitions", s.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(s.q("UPDATE {s}.aiflow_partition SET owner = '', lease_until = '-infinity' WHERE owner = $1"), owner)
		b.Queue(s.q("DELETE FROM {s}.aiflow_client WHERE id = $1"), owner)
		return tx.SendBatch(ctx, b).Close()
	}))
}

// batch is the store.Batch of one unit of work.
type batch struct {
	s        *Store
	part     int
	pos      store.Position
	version  int64
	events   []store.Event
	failures []store.FailedApplication
}

var _ store.FailuresBatch = (*batch)(nil)

func (b *batch) Partition() int           { return b.part }
func (b *batch) Position() store.Position { return b.pos }
func (b *batch) Version() int64           { return b.version }
func (b *batch) Events() []store.Event    { return b.events }

// Failures are the failed attempts recorded at the batch's position (see
// RecordFailure).
func (b *batch) Failures() []store.FailedApplication { return b.failures }

// Snapshots reads the partition's snapshots as committed. The unit's write
// checks that the partition's version did not move since the batch was read,
// so snapshots newer than the batch can never be committed upon.
func (b *batch) Snapshots(ctx context.Context) ([]store.Snapshot, error) {
	rows, err := b.s.pool.Query(ctx, b.s.q("SELECT key, data FROM {s}.aiflow_snapshot WHERE partition = $1 ORDER BY key"), b.part)
	if err != nil {
		return nil, opErr("read snapshots", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Snapshot, error) {
		var sn store.Snapshot
		var key []byte
		err := r.Scan(&key, &sn.Data)
		sn.Key = string(key)
		return sn, err
	})
	return out, opErr("read snapshots", err)
}

// consumeReadSQL reads, in one statement (one snapshot), the partition's row
// and its next events below the horizon: its own (status and control events
// of its workflows) merged with the user events (partition -1), each side
// read in (xid, id) order from the (partition, xid, id) index. The row comes
// back on every event row, or alone (with NULL event columns) when there is
// no event. With it comes the smallest xid of the partition's committed
// events at or above the horizon (NULL when there is none): events that
// become readable when the transactions older than theirs end (two probes
// of the same index).
const consumeReadSQL = `WITH p AS MATERIALIZED (
	SELECT pos_xid, pos_id, version, owner, lease_until > clock_timestamp() AS valid, failures FROM {s}.aiflow_partition WHERE partition = $1),
h AS MATERIALIZED (SELECT ` + horizon + ` AS x),
w AS MATERIALIZED (SELECT least(
	(SELECT xid FROM {s}.aiflow_event WHERE partition = -1 AND xid >= (SELECT x FROM h) ORDER BY xid LIMIT 1),
	(SELECT xid FROM {s}.aiflow_event WHERE partition = $1 AND xid >= (SELECT x FROM h) ORDER BY xid LIMIT 1)) AS x)
SELECT p.pos_xid, p.pos_id, p.version, p.owner, p.valid, p.failures, (SELECT x FROM w), e.* FROM p LEFT JOIN LATERAL (
	SELECT ` + eventCols + ` FROM (
		(SELECT ` + eventCols + ` FROM {s}.aiflow_event
			WHERE partition = -1 AND (xid, id) > (p.pos_xid, p.pos_id) AND xid < (SELECT x FROM h)
			ORDER BY xid, id LIMIT $2)
		UNION ALL
		(SELECT ` + eventCols + ` FROM {s}.aiflow_event
			WHERE partition = $1 AND (xid, id) > (p.pos_xid, p.pos_id) AND xid < (SELECT x FROM h)
			ORDER BY xid, id LIMIT $2)
	) u ORDER BY xid, id LIMIT $2
) e ON true`

// Consume runs one unit of work on a partition. It reads the partition's
// position, version and lease with the next events below the horizon (one
// query, no transaction held while fn runs); when committed events wait above
// the horizon it has the partition's subscribers woken as soon as they
// become readable (see hub.await). It checks that owner holds the
// lease (else store.ErrNotOwner), calls fn, and writes everything fn returned
// with the new position in one transaction that bumps the version only if it
// is still the version read: a unit computed on a state that another unit
// has changed meanwhile (after a lease takeover) commits nothing and fails
// with store.ErrNotOwner or store.ErrConflict. A unit that only moves the
// position is one pipelined statement that does not wait for the WAL flush
// (losing it in a crash loses nothing: its events decide nothing again).
func (s *Store) Consume(ctx context.Context, params store.ConsumeParams, fn store.BatchFunc) (store.ConsumeResult, error) {
	if params.Partition < 0 || params.Partition >= s.nPart {
		return store.ConsumeResult{}, fmt.Errorf("%w: partition %d: expected 0 to %d", store.ErrInvalid, params.Partition, s.nPart-1)
	}
	maxEvents := params.MaxEvents
	if maxEvents <= 0 {
		maxEvents = 500
	}
	bt := &batch{s: s, part: params.Partition}
	var owner string
	var valid bool
	var pending *uint64
	var failures []byte
	rows, err := s.pool.Query(ctx, s.q(consumeReadSQL), params.Partition, maxEvents+1)
	if err != nil {
		return store.ConsumeResult{}, opErr("consume", err)
	}
	for rows.Next() {
		var id *int64
		var ev store.Event
		var kind *int16
		var xid *uint64
		var part, seq *int32
		var t *time.Time
		var ns, key, value, sender, wf, task *string
		var exec, te *int64
		var bc *bool
		if err := rows.Scan(&bt.pos.XID, &bt.pos.ID, &bt.version, &owner, &valid, &failures, &pending,
			&id, &xid, &t, &part, &kind, &ns, &key, &value, &sender, &wf, &exec, &task, &te, &seq, &bc, &ev.Data); err != nil {
			rows.Close()
			return store.ConsumeResult{}, opErr("consume", err)
		}
		if id == nil {
			continue // no event: the partition row alone
		}
		ev.ID, ev.Position, ev.Time, ev.Partition, ev.Kind = *id, store.Position{XID: *xid, ID: *id}, *t, int(*part), store.EventKind(*kind)
		ev.Namespace, ev.Key, ev.Value, ev.Sender, ev.Workflow = *ns, *key, *value, *sender, *wf
		ev.ExecutionID, ev.TaskName, ev.TaskExecutionID, ev.SeqNum, ev.Broadcast = *exec, *task, *te, int(*seq), *bc
		bt.events = append(bt.events, ev)
	}
	if err := rows.Err(); err != nil {
		return store.ConsumeResult{}, opErr("consume", err)
	}
	if owner != params.Owner || !valid {
		return store.ConsumeResult{}, fmt.Errorf("%w: partition %d is held by %q, not %q", store.ErrNotOwner, params.Partition, owner, params.Owner)
	}
	if pending != nil {
		s.hub.await(params.Partition, *pending)
	}
	if bt.failures, err = decodeFailures(failures); err != nil {
		return store.ConsumeResult{}, opErr("consume", err)
	}
	more := len(bt.events) > maxEvents
	if more {
		bt.events = bt.events[:maxEvents]
	}
	res := store.ConsumeResult{Events: len(bt.events), More: more, Version: bt.version}
	fx, err := fn(ctx, bt)
	if err != nil {
		return res, err
	}
	if fx == nil {
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	var out effectsResult
	if fx.Empty() {
		out.version, err = s.movePosition(ctx, params, bt.version, fx.Position)
	} else {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			out, err = s.applyEffects(ctx, tx, params, bt.version, fx)
			return err
		})
	}
	if err != nil {
		s.workers.releaseHandoffs(out.handoffs)
		return res, opErr("consume", err)
	}
	s.workers.launchHandoffs(out.handoffs)
	s.workers.cancelLocal(out.stopping)
	res.Version = out.version
	if out.appended {
		s.hub.appended(out.parts)
	}
	if len(out.queues) > 0 {
		s.hub.jobsInserted(out.queues)
	}
	return res, nil
}

const movePositionSQL = `UPDATE {s}.aiflow_partition SET pos_xid = $2, pos_id = $3, version = version + 1, failures = NULL
	WHERE partition = $1 AND version = $4 AND owner = $5 AND lease_until > clock_timestamp() RETURNING version`

// movePosition commits a unit that only moves the position: one pipelined
// implicit transaction that does not wait for the WAL flush.
func (s *Store) movePosition(ctx context.Context, params store.ConsumeParams, version int64, pos store.Position) (int64, error) {
	b := &pgx.Batch{}
	b.Queue("SELECT set_config('synchronous_commit', 'off', true)")
	b.Queue(s.q(movePositionSQL), params.Partition, pos.XID, pos.ID, version, params.Owner)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return 0, err
	}
	var v int64
	err := br.QueryRow().Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		br.Close()
		return 0, s.unitConflict(ctx, params, version)
	}
	if err != nil {
		return 0, err
	}
	return v, br.Close()
}

// unitConflict explains why a unit's version-checked write found no row.
func (s *Store) unitConflict(ctx context.Context, params store.ConsumeParams, version int64) error {
	var owner string
	var valid bool
	var cur int64
	err := s.pool.QueryRow(ctx, s.q(`SELECT owner, lease_until > clock_timestamp(), version FROM {s}.aiflow_partition WHERE partition = $1`),
		params.Partition).Scan(&owner, &valid, &cur)
	switch {
	case err != nil:
		return fmt.Errorf("%w: partition %d: the unit of work was not committed (%v)", store.ErrConflict, params.Partition, err)
	case owner != params.Owner || !valid:
		return fmt.Errorf("%w: partition %d is no longer held by %q (now %q)", store.ErrNotOwner, params.Partition, params.Owner, owner)
	}
	return fmt.Errorf("%w: partition %d moved from version %d to %d while the unit of work ran; it was not committed",
		store.ErrConflict, params.Partition, version, cur)
}

// errVersionMoved: the version-checked write found no row.
var errVersionMoved = errors.New("partition version moved")

type effectsResult struct {
	version  int64
	appended bool
	parts    []int32       // of the appended events
	queues   []string      // of the River jobs inserted that are available now
	handoffs []handoffJob  // the attempts handed off to this process's workers
	stopping []stopRequest // the attempts moved to STOPPING
}

type dispatchKey struct {
	te      int64
	attempt int
}

type dispatchRow struct {
	jobID int64
	state string
}

// Dispatch row states.
const (
	dispatchPending   = "pending"
	dispatchRunning   = "running"
	dispatchDone      = "done"
	dispatchReaped    = "reaped"
	dispatchCancelled = "cancelled"
)

type newDispatch struct {
	key       dispatchKey
	notBefore time.Time
	streaming bool
	dropped   bool // stopped in the same unit: recorded, no job
	handoff   bool // started by this unit, run by this process's workers
}

// stmt is one statement of a pipelined batch and what to do with its result.
type stmt struct {
	sql    string
	args   []any
	handle func(br pgx.BatchResults) error // nil: Exec
}

// sendBatch sends stmts in one round trip and hands each result to its
// handler.
func sendBatch(ctx context.Context, tx pgx.Tx, stmts []stmt) error {
	if len(stmts) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, st := range stmts {
		b.Queue(st.sql, st.args...)
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	for _, st := range stmts {
		var err error
		if st.handle != nil {
			err = st.handle(br)
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			return err
		}
	}
	return br.Close()
}

// expectIDs returns a handler that checks that a RETURNING id statement
// returned every id of want, else reports the first missing one with notFound.
func expectIDs(want []int64, missing func(id int64) error) func(br pgx.BatchResults) error {
	return func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		if len(ids) != len(want) {
			for _, id := range want {
				if !slices.Contains(ids, id) {
					return missing(id)
				}
			}
		}
		return nil
	}
}

// applyEffects writes a unit of work's effects in tx, with the new position,
// if the partition is still at version. Statements are pipelined: the records
// (and, when dispatches or stops concern task executions that existed before
// this unit, the reads they need) in one round trip, River's insert, one
// round trip per cancelled job, and everything else in a last round trip;
// without such reads the records ride in the last round trip too.
func (s *Store) applyEffects(ctx context.Context, tx pgx.Tx, params store.ConsumeParams, version int64, fx *store.Effects) (effectsResult, error) {
	var res effectsResult
	for i := range fx.Events {
		if err := store.ValidateEvent(&fx.Events[i]); err != nil {
			return res, err
		}
	}

	// ---- the position and the records ----
	records := []stmt{{
		sql:  s.q(movePositionSQL),
		args: []any{params.Partition, fx.Position.XID, fx.Position.ID, version, params.Owner},
		handle: func(br pgx.BatchResults) error {
			err := br.QueryRow().Scan(&res.version)
			if errors.Is(err, pgx.ErrNoRows) {
				return errVersionMoved
			}
			return err
		},
	}}
	if len(fx.NewExecutions) > 0 {
		ids := make([]int64, len(fx.NewExecutions))
		for i, x := range fx.NewExecutions {
			ids[i] = x.ID
		}
		records = append(records, stmt{
			sql: s.q(`INSERT INTO {s}.aiflow_workflow_execution AS x
			(id, namespace, workflow, version, status, run_type, note, schedule_id, trigger_id, created_at, updated_at, ended_at)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
				$8::bigint[], $9::bigint[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[])
			ON CONFLICT (id) DO UPDATE SET namespace = EXCLUDED.namespace, workflow = EXCLUDED.workflow,
				version = EXCLUDED.version, status = EXCLUDED.status, run_type = EXCLUDED.run_type, note = EXCLUDED.note,
				schedule_id = EXCLUDED.schedule_id, trigger_id = EXCLUDED.trigger_id, updated_at = EXCLUDED.updated_at,
				ended_at = EXCLUDED.ended_at
			WHERE x.status = 'INIT'
			RETURNING id`),
			args: execArrays(fx.NewExecutions),
			handle: expectIDs(ids, func(id int64) error {
				return fmt.Errorf("%w: workflow execution %d", store.ErrAlreadyExists, id)
			}),
		})
	}
	if ups := foldExecutionUpdates(fx.ExecutionUpdates); len(ups) > 0 {
		ids, statuses, notes, ended := make([]int64, len(ups)), make([]string, len(ups)), make([]string, len(ups)), make([]pgtype.Timestamptz, len(ups))
		for i, u := range ups {
			ids[i], statuses[i], notes[i], ended[i] = u.ID, string(u.Status), u.Note, tsOrNil(u.EndedAt)
		}
		records = append(records, stmt{sql: s.q(`UPDATE {s}.aiflow_workflow_execution AS x SET status = u.status, updated_at = clock_timestamp(),
				note = CASE WHEN u.note <> '' THEN u.note ELSE x.note END, ended_at = coalesce(u.ended_at, x.ended_at)
			FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[]) AS u(id, status, note, ended_at)
			WHERE x.id = u.id`), args: []any{ids, statuses, notes, ended}})
	}
	// The task executions created by this unit are known: dispatches and
	// stops about them need no read.
	tes := map[int64]*store.TaskExecutionRecord{}
	if len(fx.NewTaskExecutions) > 0 {
		ids := make([]int64, len(fx.NewTaskExecutions))
		for i := range fx.NewTaskExecutions {
			te := fx.NewTaskExecutions[i]
			ids[i] = te.ID
			tes[te.ID] = &te
		}
		records = append(records, stmt{
			sql: s.q(`INSERT INTO {s}.aiflow_task_execution
			(id, execution_id, namespace, workflow, task, seq_num, attempt, failures, max_attempts, status, error, note,
			 status_message, metrics, streaming, timeout_us, created_at, updated_at, started_at, ended_at)
			SELECT id, execution_id, namespace, workflow, task, seq_num, attempt, failures, max_attempts, status, error, note,
				status_message, nullif(metrics, 'null'::jsonb), streaming, timeout_us, created_at, updated_at, started_at, ended_at
			FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::integer[],
				$8::integer[], $9::integer[], $10::text[], $11::text[], $12::text[], $13::text[], $14::jsonb[], $15::boolean[],
				$16::bigint[], $17::timestamptz[], $18::timestamptz[], $19::timestamptz[], $20::timestamptz[])
				AS u(id, execution_id, namespace, workflow, task, seq_num, attempt, failures, max_attempts, status, error, note,
					status_message, metrics, streaming, timeout_us, created_at, updated_at, started_at, ended_at)
			ON CONFLICT (id) DO NOTHING RETURNING id`),
			args: teArrays(fx.NewTaskExecutions),
			handle: expectIDs(ids, func(id int64) error {
				return fmt.Errorf("%w: task execution %d", store.ErrAlreadyExists, id)
			}),
		})
	}
	notes := foldNotes(fx.TaskNotes)
	if len(notes) > 0 {
		ids, texts := make([]int64, 0, len(notes)), make([]string, 0, len(notes))
		for id, n := range notes {
			ids, texts = append(ids, id), append(texts, n)
			if te := tes[id]; te != nil {
				te.Note = n
			}
		}
		records = append(records, stmt{sql: s.q(`UPDATE {s}.aiflow_task_execution AS t SET note = u.note, updated_at = clock_timestamp()
			FROM unnest($1::bigint[], $2::text[]) AS u(id, note) WHERE t.id = u.id`), args: []any{ids, texts}})
	}

	// ---- reads for dispatches and stops of earlier task executions ----
	var touched []int64
	for _, d := range fx.Dispatches {
		if tes[d.TaskExecutionID] == nil {
			touched = append(touched, d.TaskExecutionID)
		}
	}
	for _, st := range fx.Stops {
		if tes[st.TaskExecutionID] == nil {
			touched = append(touched, st.TaskExecutionID)
		}
	}
	slices.Sort(touched)
	touched = slices.Compact(touched)
	dispatched := map[dispatchKey]dispatchRow{}
	if len(touched) > 0 {
		reads := append(records, stmt{
			sql:  s.q("SELECT " + teCols + " FROM {s}.aiflow_task_execution WHERE id = ANY($1) ORDER BY id FOR UPDATE"),
			args: []any{touched},
			handle: func(br pgx.BatchResults) error {
				rows, err := br.Query()
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					te, err := scanTE(rows)
					if err != nil {
						return err
					}
					tes[te.ID] = &te
				}
				return rows.Err()
			},
		}, stmt{
			sql:  s.q("SELECT task_execution_id, attempt, coalesce(job_id, 0), state FROM {s}.aiflow_dispatch WHERE task_execution_id = ANY($1)"),
			args: []any{touched},
			handle: func(br pgx.BatchResults) error {
				rows, err := br.Query()
				if err != nil {
					return err
				}
				var k dispatchKey
				var d dispatchRow
				_, err = pgx.ForEachRow(rows, []any{&k.te, &k.attempt, &d.jobID, &d.state}, func() error {
					dispatched[k] = d
					return nil
				})
				return err
			},
		})
		if err := sendBatch(ctx, tx, reads); err != nil {
			if errors.Is(err, errVersionMoved) {
				return res, s.unitConflict(ctx, params, version)
			}
			return res, err
		}
		records = nil
	}

	// ---- decide dispatches and stops, as the memory store does ----
	changed := map[int64]bool{}
	ended := map[int64]bool{}
	var fresh []newDispatch
	freshIdx := map[dispatchKey]int{}
	for _, d := range fx.Dispatches {
		te := tes[d.TaskExecutionID]
		k := dispatchKey{d.TaskExecutionID, d.Attempt}
		if te == nil {
			continue
		}
		if _, dup := dispatched[k]; dup {
			continue
		}
		if _, dup := freshIdx[k]; dup {
			continue
		}
		switch {
		case te.Status == store.TaskInit && d.Attempt == 1:
			te.Status = store.TaskQueued
		case te.Status == store.TaskRetrying && d.Attempt > te.Attempt:
		default:
			continue // stopped or finished meanwhile
		}
		te.Attempt = d.Attempt
		changed[te.ID] = true
		freshIdx[k] = len(fresh)
		fresh = append(fresh, newDispatch{key: k, notBefore: d.NotBefore, streaming: te.Streaming})
	}
	var cancelJobs []int64
	var cancelled []dispatchKey
	events := slices.Clone(fx.Events)
	cancelDispatches := func(te int64, states ...string) {
		for k, d := range dispatched {
			if k.te == te && slices.Contains(states, d.state) {
				if d.jobID != 0 {
					cancelJobs = append(cancelJobs, d.jobID)
				}
				cancelled = append(cancelled, k)
				d.state = dispatchCancelled
				dispatched[k] = d
			}
		}
	}
	for _, st := range fx.Stops {
		te := tes[st.TaskExecutionID]
		if te == nil {
			continue
		}
		switch te.Status {
		case store.TaskInit, store.TaskQueued, store.TaskRetrying:
			te.Status, te.Attempt = store.TaskStopped, te.Attempt+1
			changed[te.ID], ended[te.ID] = true, true
			events = append(events, store.NewStatusEvent(te, store.TaskStopped, store.StatusData{Reason: st.Reason}, store.SenderEngine))
			cancelDispatches(te.ID, dispatchPending, dispatchRunning)
			for i := range fresh {
				if fresh[i].key.te == te.ID {
					fresh[i].dropped = true
				}
			}
		case store.TaskRunning:
			te.Status = store.TaskStopping
			changed[te.ID] = true
			res.stopping = append(res.stopping, stopRequest{te: te.ID, attempt: te.Attempt})
			events = append(events, store.NewStatusEvent(te, store.TaskStopping, store.StatusData{Reason: st.Reason}, store.SenderEngine))
			if d, ok := dispatched[dispatchKey{te.ID, te.Attempt}]; ok && d.jobID != 0 {
				cancelJobs = append(cancelJobs, d.jobID)
			}
		}
	}

	// ---- River: insert the jobs, cancel the stopped ones ----
	var jobParams []river.InsertManyParams
	var jobOf []int     // index in fresh
	var handoffOf []int // index in res.handoffs, or -1
	now := time.Now()
	// Handoff is for the attempts of a unit that fit in this process's free
	// handoff slots, all of them: a burst goes to River whole, which spreads
	// it over the processes.
	due := 0
	for _, d := range fresh {
		if !d.dropped && !d.streaming && !d.notBefore.After(now) {
			due++
		}
	}
	handoffs := due > 0 && s.workers.reserveHandoffs(due)
	for i, d := range fresh {
		if d.dropped {
			continue
		}
		opts := &river.InsertOpts{Queue: QueueBatch, MaxAttempts: 1}
		if d.streaming {
			opts.Queue = QueueStreaming
		}
		handoff := -1 // index in res.handoffs
		switch {
		case d.notBefore.After(now):
			opts.ScheduledAt = d.notBefore
		case handoffs && !d.streaming:
			// Started here and run by this process (see handoff.go); River
			// never sees the job before it is running.
			opts.ScheduledAt = now.Add(time.Hour)
			fresh[i].handoff = true
			handoff = len(res.handoffs)
			res.handoffs = append(res.handoffs, handoffJob{te: d.key.te, attempt: d.key.attempt})
		case !slices.Contains(res.queues, opts.Queue):
			res.queues = append(res.queues, opts.Queue)
		}
		jobParams = append(jobParams, river.InsertManyParams{Args: taskArgs{TaskExecutionID: d.key.te, Attempt: d.key.attempt}, InsertOpts: opts})
		jobOf = append(jobOf, i)
		handoffOf = append(handoffOf, handoff)
	}
	jobIDs := make([]int64, len(fresh))
	if len(jobParams) > 0 {
		results, err := s.river.InsertManyTx(ctx, tx, jobParams)
		if err != nil {
			return res, fmt.Errorf("inserting %d River jobs: %w", len(jobParams), err)
		}
		for i, r := range results {
			jobIDs[jobOf[i]] = r.Job.ID
			if h := handoffOf[i]; h >= 0 {
				res.handoffs[h].jobID = r.Job.ID
			}
		}
	}
	for _, id := range cancelJobs {
		if _, err := s.river.JobCancelTx(ctx, tx, id); err != nil && !errors.Is(err, rivertype.ErrNotFound) {
			return res, fmt.Errorf("cancelling River job %d: %w", id, err)
		}
	}

	// ---- last round trip: records (if not sent), task executions,
	// dispatch rows, events, snapshots ----
	final := records
	if len(changed) > 0 {
		ids := make([]int64, 0, len(changed))
		statuses, attempts, endeds := []string{}, []int32{}, []bool{}
		for id := range changed {
			te := tes[id]
			ids, statuses = append(ids, id), append(statuses, string(te.Status))
			attempts, endeds = append(attempts, int32(te.Attempt)), append(endeds, ended[id])
		}
		final = append(final, stmt{sql: s.q(`UPDATE {s}.aiflow_task_execution AS t SET status = u.status, attempt = u.attempt,
				updated_at = clock_timestamp(), ended_at = CASE WHEN u.ended THEN clock_timestamp() ELSE t.ended_at END
			FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::boolean[]) AS u(id, status, attempt, ended)
			WHERE t.id = u.id`), args: []any{ids, statuses, attempts, endeds}})
	}
	if len(res.handoffs) > 0 {
		final = append(final, s.startHandoffs(res.handoffs, tes, &events)...)
	}
	if len(fresh) > 0 {
		teIDs, atts, jobs, states := make([]int64, len(fresh)), make([]int32, len(fresh)), make([]pgtype.Int8, len(fresh)), make([]string, len(fresh))
		for i, d := range fresh {
			teIDs[i], atts[i], states[i] = d.key.te, int32(d.key.attempt), dispatchPending
			if d.handoff {
				states[i] = dispatchRunning
			}
			if d.dropped {
				states[i] = dispatchCancelled
			} else {
				jobs[i] = pgtype.Int8{Int64: jobIDs[i], Valid: true}
			}
		}
		final = append(final, stmt{sql: s.q(`INSERT INTO {s}.aiflow_dispatch (task_execution_id, attempt, job_id, state)
			SELECT * FROM unnest($1::bigint[], $2::integer[], $3::bigint[], $4::text[]) ON CONFLICT DO NOTHING`),
			args: []any{teIDs, atts, jobs, states}})
	}
	if len(cancelled) > 0 {
		teIDs, atts := make([]int64, len(cancelled)), make([]int32, len(cancelled))
		for i, k := range cancelled {
			teIDs[i], atts[i] = k.te, int32(k.attempt)
		}
		final = append(final, stmt{sql: s.q(`UPDATE {s}.aiflow_dispatch AS d SET state = 'cancelled', updated_at = clock_timestamp()
			FROM unnest($1::bigint[], $2::integer[]) AS u(te, attempt) WHERE d.task_execution_id = u.te AND d.attempt = u.attempt`),
			args: []any{teIDs, atts}})
	}
	var ea *eventArgs
	missing := false
	if len(events) > 0 {
		var err error
		if ea, err = s.eventArgs(events); err != nil {
			return res, err
		}
		final = append(final, stmt{
			sql: s.q(insertEventsSQL),
			args: []any{ea.partition, ea.kind, ea.namespace, ea.key, ea.value, ea.sender, ea.workflow, ea.execID, ea.taskName,
				ea.teID, ea.seqNum, ea.broadcast, ea.data},
			handle: func(br pgx.BatchResults) error {
				rows, err := br.Query()
				if err != nil {
					return err
				}
				_, ok, err := s.readInserted(events, ea, rows)
				missing = !ok
				res.appended, res.parts = ok, ea.partition
				return err
			},
		})
	}
	puts, dels := foldSnapshots(fx.Snapshots)
	if len(puts) > 0 {
		keys, data := make([][]byte, len(puts)), make([][]byte, len(puts))
		for i, sn := range puts {
			keys[i], data[i] = []byte(sn.Key), sn.Data
			if data[i] == nil {
				data[i] = []byte{}
			}
		}
		final = append(final, stmt{sql: s.q(`INSERT INTO {s}.aiflow_snapshot (partition, key, data) SELECT $1, k, d FROM unnest($2::bytea[], $3::bytea[]) AS u(k, d)
			ON CONFLICT (partition, key) DO UPDATE SET data = EXCLUDED.data`), args: []any{params.Partition, keys, data}})
	}
	if len(dels) > 0 {
		keys := make([][]byte, len(dels))
		for i, k := range dels {
			keys[i] = []byte(k)
		}
		final = append(final, stmt{sql: s.q("DELETE FROM {s}.aiflow_snapshot WHERE partition = $1 AND key = ANY($2::bytea[])"),
			args: []any{params.Partition, keys}})
	}
	err := sendBatch(ctx, tx, final)
	if errors.Is(err, errVersionMoved) {
		return res, s.unitConflict(ctx, params, version)
	}
	if err == nil && missing {
		err = s.missingNamespace(ctx, tx, ea.namespace)
	}
	return res, err
}

// execArrays lays out execution records as the arrays of the insert.
func execArrays(xs []store.WorkflowExecutionRecord) []any {
	n := len(xs)
	ids, scheds, trigs := make([]int64, n), make([]int64, n), make([]int64, n)
	ns, wf, ver, st, rt, note := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	created, updated, ended := make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
	for i, x := range xs {
		ids[i], ns[i], wf[i], ver[i], st[i], rt[i], note[i] = x.ID, x.Namespace, x.Workflow, x.Version, string(x.Status), string(x.RunType), x.Note
		scheds[i], trigs[i] = x.ScheduleID, x.TriggerID
		c, u := x.CreatedAt, x.UpdatedAt
		if c.IsZero() {
			c = time.Now()
		}
		if u.IsZero() {
			u = c
		}
		created[i], updated[i], ended[i] = tsOrNil(c), tsOrNil(u), tsOrNil(x.EndedAt)
	}
	return []any{ids, ns, wf, ver, st, rt, note, scheds, trigs, created, updated, ended}
}

// teArrays lays out task execution records as the arrays of the insert.
func teArrays(tes []store.TaskExecutionRecord) []any {
	n := len(tes)
	ids, execs, timeouts := make([]int64, n), make([]int64, n), make([]int64, n)
	ns, wf, task, st, errs, notes, msgs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seq, att, fail, maxAtt := make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n)
	// Metrics as JSON text ("null" without any): a []map has no text
	// encoding, which the simple protocol (PgBouncer) needs.
	metrics := make([]string, n)
	streaming := make([]bool, n)
	created, updated, started, ended := make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
	for i, te := range tes {
		ids[i], execs[i], ns[i], wf[i], task[i] = te.ID, te.ExecutionID, te.Namespace, te.Workflow, te.Task
		seq[i], att[i], fail[i], maxAtt[i] = int32(te.SeqNum), int32(te.Attempt), int32(te.Failures), int32(te.MaxAttempts)
		st[i], errs[i], notes[i], msgs[i] = string(te.Status), te.Error, te.Note, te.StatusMessage
		m, err := json.Marshal(te.Metrics)
		if err != nil {
			m = []byte("null") // map[string]float64 fails only on NaN or infinities
		}
		metrics[i], streaming[i], timeouts[i] = string(m), te.Streaming, te.Timeout.Microseconds()
		c, u := te.CreatedAt, te.UpdatedAt
		if c.IsZero() {
			c = time.Now()
		}
		if u.IsZero() {
			u = c
		}
		created[i], updated[i], started[i], ended[i] = tsOrNil(c), tsOrNil(u), tsOrNil(te.StartedAt), tsOrNil(te.EndedAt)
	}
	return []any{ids, execs, ns, wf, task, seq, att, fail, maxAtt, st, errs, notes, msgs, metrics, streaming, timeouts,
		created, updated, started, ended}
}

// foldExecutionUpdates merges the updates of one execution in order, as
// applying them one after the other would.
func foldExecutionUpdates(ups []store.ExecutionUpdate) []store.ExecutionUpdate {
	if len(ups) < 2 {
		return ups
	}
	idx := map[int64]int{}
	var out []store.ExecutionUpdate
	for _, u := range ups {
		i, ok := idx[u.ID]
		if !ok {
			idx[u.ID] = len(out)
			out = append(out, u)
			continue
		}
		cur := &out[i]
		cur.Status = u.Status
		if u.Note != "" {
			cur.Note = u.Note
		}
		if !u.EndedAt.IsZero() {
			cur.EndedAt = u.EndedAt
		}
	}
	return out
}

// foldNotes keeps the last note of each task execution.
func foldNotes(notes []store.TaskNote) map[int64]string {
	out := make(map[int64]string, len(notes))
	for _, n := range notes {
		out[n.TaskExecutionID] = n.Note
	}
	return out
}

// foldSnapshots keeps the last write or delete of each key.
func foldSnapshots(snaps []store.Snapshot) (puts []store.Snapshot, dels []string) {
	last := map[string]int{}
	for i, sn := range snaps {
		last[sn.Key] = i
	}
	for i, sn := range snaps {
		if last[sn.Key] != i {
			continue
		}
		if sn.Delete {
			dels = append(dels, sn.Key)
		} else {
			puts = append(puts, sn)
		}
	}
	return puts, dels
}
