package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/store"
)

// batch is the store.Batch of one unit of work.
type batch struct {
	s        *Store
	part     int
	pos      store.Position
	end      store.Position
	version  int64
	events   []store.Event
	failures []store.FailedApplication
}

var _ store.FailuresBatch = (*batch)(nil)

func (b *batch) Partition() int           { return b.part }
func (b *batch) Position() store.Position { return b.pos }
func (b *batch) Version() int64           { return b.version }
func (b *batch) Events() []store.Event    { return b.events }
func (b *batch) End() store.Position      { return b.end }

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

// readsShared is consumeReadSQL's filter on the events of no partition (-1):
// the user events whose key and namespace are in $3 and $4 (every user event
// when $3 is NULL) and, when they are addressed to an execution of another
// partition than $1 (target, see store.Placement.Target), in $5 and $6 too
// (when $5 is not NULL), and every other event (the enabling and disabling
// of workflows, which every partition applies whatever workflows its
// consumer registers). Only user events have a target.
const readsShared = `($3::text[] IS NULL OR kind <> 0 OR (key = ANY($3) AND namespace = ANY($4)))
		AND ($5::text[] IS NULL OR target IS NULL OR target = $1 OR (key = ANY($5) AND namespace = ANY($6)))`

// consumeReadSQL reads, in one statement (one snapshot), the partition's row
// and its next events below the horizon: its own (status and control events
// of its workflows) merged with the events of no partition (-1) that
// readsShared passes (kind 0 is store.KindUser), each side read in (xid, id)
// order from the (partition, xid, id) index. The row comes back on every
// event row, or alone (with NULL event columns) when there is no event. With
// it come the smallest xid of the partition's committed events at or above
// the horizon (NULL when there is none): events that become readable when
// the transactions older than theirs end (two probes of the same index); and
// the position of the last event of no partition below the horizon, whatever
// its key (one probe), which the batch's End reaches when the batch is not
// full.
const consumeReadSQL = `WITH p AS MATERIALIZED (
	SELECT pos_xid, pos_id, version, owner, lease_until > clock_timestamp() AS valid, failures FROM {s}.aiflow_partition WHERE partition = $1),
h AS MATERIALIZED (SELECT ` + horizon + ` AS x),
w AS MATERIALIZED (SELECT least(
	(SELECT xid FROM {s}.aiflow_event WHERE partition = -1 AND xid >= (SELECT x FROM h)
		AND ` + readsShared + ` ORDER BY xid LIMIT 1),
	(SELECT xid FROM {s}.aiflow_event WHERE partition = $1 AND xid >= (SELECT x FROM h) ORDER BY xid LIMIT 1)) AS x),
t AS MATERIALIZED (SELECT xid, id FROM {s}.aiflow_event WHERE partition = -1 AND xid < (SELECT x FROM h)
	ORDER BY xid DESC, id DESC LIMIT 1)
SELECT p.pos_xid, p.pos_id, p.version, p.owner, p.valid, p.failures, (SELECT x FROM w),
	(SELECT xid FROM t), (SELECT id FROM t), e.* FROM p LEFT JOIN LATERAL (
	SELECT ` + eventCols + ` FROM (
		(SELECT ` + eventCols + ` FROM {s}.aiflow_event
			WHERE partition = -1 AND (xid, id) > (p.pos_xid, p.pos_id) AND xid < (SELECT x FROM h)
				AND ` + readsShared + `
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
		maxEvents = store.DefaultMaxEvents
	}
	bt := &batch{s: s, part: params.Partition}
	var owner string
	var valid bool
	var pending, tailXID *uint64
	var tailID *int64
	var failures []byte
	keys, namespaces := keyArrays(params.UserKeys)
	akeys, anamespaces := keyArrays(params.AddressedKeys)
	// Planned for its values at each call (not genericPlans): with generic
	// plans, events applied per second fell 8 – 15 % (5 alternated pairs).
	rows, err := s.pool.Query(ctx, s.q(consumeReadSQL), params.Partition, maxEvents+1, keys, namespaces, akeys, anamespaces)
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
		var tp *string
		if err := rows.Scan(&bt.pos.XID, &bt.pos.ID, &bt.version, &owner, &valid, &failures, &pending, &tailXID, &tailID,
			&id, &xid, &t, &part, &kind, &ns, &key, &value, &sender, &wf, &exec, &task, &te, &seq, &bc, &ev.Data, &tp); err != nil {
			rows.Close()
			return store.ConsumeResult{}, opErr("consume", err)
		}
		if id == nil {
			continue // no event: the partition row alone
		}
		ev.ID, ev.Position, ev.Time, ev.Partition, ev.Kind = *id, store.Position{XID: *xid, ID: *id}, *t, int(*part), store.EventKind(*kind)
		ev.Namespace, ev.Key, ev.Value, ev.Sender, ev.Workflow = *ns, *key, *value, *sender, *wf
		ev.ExecutionID, ev.TaskName, ev.TaskExecutionID, ev.SeqNum, ev.Broadcast = *exec, *task, *te, int(*seq), *bc
		ev.TraceParent = *tp
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
	bt.end = bt.pos
	if n := len(bt.events); n > 0 {
		bt.end = bt.events[n-1].Position
	}
	if !more && tailXID != nil && tailID != nil {
		// Not full: every user event below the horizon was read or left
		// out by the filter.
		if tail := (store.Position{XID: *tailXID, ID: *tailID}); bt.end.Less(tail) {
			bt.end = tail
		}
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
		err = inUnitTx(ctx, s.pool, func(tx pgx.Tx) error {
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

// keyArrays returns the keys and the namespaces of ks as readsShared's
// arrays: NULL for the nil set (every key), never NULL for another (a set
// without keys passes no user event).
func keyArrays(ks *store.KeySet) (keys, namespaces []string) {
	if ks == nil {
		return nil, nil
	}
	return append([]string{}, ks.Keys()...), append([]string{}, ks.Namespaces()...)
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
