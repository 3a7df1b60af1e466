package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/aiflow-go/aiflow/store"
)

// eventDataCols are the columns of an event's fields that are written and
// read (see scanEvent).
const eventDataCols = "partition, kind, namespace, key, value, sender, workflow, execution_id, task_name, task_execution_id, seq_num, broadcast, data, trace_parent"

// eventWriteCols are the columns an event is written with, in the order of
// eventArgs; the database gives the id, xid and time. target (migration 18)
// is the partition of the execution a user event is addressed to
// (store.Placement.Target), NULL when it is addressed to none: the consumers
// of the other partitions read it only for their triggers (readsShared).
// It is written, never read back.
const eventWriteCols = eventDataCols + ", target"

// eventCols are the columns an event is read with (see scanEvent).
const eventCols = "id, xid, time, " + eventDataCols

// eventRows returns a FROM item of the events laid out by eventArgs as the
// parameters $first to $first+14: a row u per event, with the columns
// eventWriteCols and ord, the event's place in the list.
func eventRows(first int) string {
	types := []string{"integer", "smallint", "text", "text", "text", "text", "text", "bigint", "text", "bigint", "integer", "boolean", "bytea", "text",
		"integer"}
	params := make([]string, len(types))
	for i, t := range types {
		params[i] = "$" + strconv.Itoa(first+i) + "::" + t + "[]"
	}
	return "unnest(" + strings.Join(params, ", ") + ") WITH ORDINALITY AS u(" + eventWriteCols + ", ord)"
}

func scanEvent(r pgx.CollectableRow) (store.Event, error) {
	var ev store.Event
	var kind int16
	err := r.Scan(&ev.ID, &ev.Position.XID, &ev.Time, &ev.Partition, &kind, &ev.Namespace, &ev.Key, &ev.Value, &ev.Sender,
		&ev.Workflow, &ev.ExecutionID, &ev.TaskName, &ev.TaskExecutionID, &ev.SeqNum, &ev.Broadcast, &ev.Data, &ev.TraceParent)
	ev.Kind = store.EventKind(kind)
	ev.Position.ID = ev.ID
	return ev, err
}

// insertEventsSQL inserts a batch of events in order, or none when one of
// their namespaces does not exist.
var insertEventsSQL = `INSERT INTO {s}.aiflow_event (` + eventWriteCols + `)
SELECT ` + eventWriteCols + ` FROM ` + eventRows(1) + `
WHERE NOT EXISTS (SELECT 1 FROM (SELECT DISTINCT name FROM unnest($3::text[]) AS n(name)) AS n
	WHERE NOT EXISTS (SELECT 1 FROM {s}.aiflow_namespace ns WHERE ns.name = n.name))
ORDER BY u.ord
RETURNING id, xid, time`

// eventArgs lays events out as the arrays of insertEventsSQL. It does not
// check them: events are checked where they enter the store (AppendEvents
// and its variants, and the effects of a unit of work), and the store's own
// status events are valid by construction.
type eventArgs struct {
	partition   []int32
	kind        []int16
	namespace   []string
	key         []string
	value       []string
	sender      []string
	workflow    []string
	execID      []int64
	taskName    []string
	teID        []int64
	seqNum      []int32
	broadcast   []bool
	data        [][]byte
	traceParent []string
	target      []pgtype.Int4
}

func (s *Store) eventArgs(events []store.Event) *eventArgs {
	n := len(events)
	a := &eventArgs{
		partition: make([]int32, n), kind: make([]int16, n), namespace: make([]string, n), key: make([]string, n),
		value: make([]string, n), sender: make([]string, n), workflow: make([]string, n), execID: make([]int64, n),
		taskName: make([]string, n), teID: make([]int64, n), seqNum: make([]int32, n), broadcast: make([]bool, n),
		data: make([][]byte, n), traceParent: make([]string, n), target: make([]pgtype.Int4, n),
	}
	pl := s.Placement()
	for i := range events {
		ev := &events[i]
		a.partition[i] = int32(pl.Event(ev))
		a.kind[i] = int16(ev.Kind)
		a.namespace[i], a.key[i], a.value[i], a.sender[i] = ev.Namespace, ev.Key, ev.Value, ev.Sender
		a.workflow[i], a.execID[i], a.taskName[i], a.teID[i] = ev.Workflow, ev.ExecutionID, ev.TaskName, ev.TaskExecutionID
		a.seqNum[i], a.broadcast[i], a.data[i] = int32(ev.SeqNum), ev.Broadcast, ev.Data
		a.traceParent[i] = ev.TraceParent
		if t := pl.Target(ev); t >= 0 {
			a.target[i] = pgtype.Int4{Int32: int32(t), Valid: true}
		}
	}
	return a
}

// args returns the arrays in insertEventsSQL's parameter order.
func (a *eventArgs) args() []any {
	return []any{a.partition, a.kind, a.namespace, a.key, a.value, a.sender, a.workflow, a.execID, a.taskName,
		a.teID, a.seqNum, a.broadcast, a.data, a.traceParent, a.target}
}

func (a *eventArgs) queue(b *pgx.Batch, sql string) *pgx.QueuedQuery {
	return b.Queue(sql, a.args()...)
}

// readInserted reads insertEventsSQL's result and returns the events with
// their ids, positions, times and partitions; ok is false when nothing was
// inserted because a namespace does not exist (see missingNamespace).
func (s *Store) readInserted(events []store.Event, a *eventArgs, rows pgx.Rows) (out []store.Event, ok bool, err error) {
	type ins struct {
		id   int64
		xid  uint64
		time time.Time
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ins, error) {
		var x ins
		err := r.Scan(&x.id, &x.xid, &x.time)
		return x, err
	})
	if err != nil {
		return nil, false, err
	}
	if len(got) != len(events) {
		return nil, false, nil
	}
	slices.SortFunc(got, func(x, y ins) int {
		switch {
		case x.id < y.id:
			return -1
		case x.id > y.id:
			return 1
		}
		return 0
	})
	out = make([]store.Event, len(events))
	for i, ev := range events {
		ev.ID = got[i].id
		ev.Position = store.Position{XID: got[i].xid, ID: got[i].id}
		ev.Time = got[i].time
		ev.Partition = int(a.partition[i])
		ev.Data = slices.Clone(ev.Data)
		out[i] = ev
	}
	return out, true, nil
}

func (s *Store) missingNamespace(ctx context.Context, q querier, names []string) error {
	var name string
	err := q.QueryRow(ctx, s.q(`SELECT n.name FROM unnest($1::text[]) WITH ORDINALITY AS n(name, ord)
		WHERE NOT EXISTS (SELECT 1 FROM {s}.aiflow_namespace ns WHERE ns.name = n.name) ORDER BY ord LIMIT 1`), names).Scan(&name)
	if err != nil {
		return fmt.Errorf("postgres: events were not inserted, and looking for a missing namespace failed: %w", err)
	}
	return namespaceNotFound(name)
}

// checkEvents checks each event with store.ValidateEvent: the one check of
// events that enter the store.
func checkEvents(events []store.Event) error {
	for i := range events {
		if err := store.ValidateEvent(&events[i]); err != nil {
			return err
		}
	}
	return nil
}

// insertEvents checks events and appends them in q's transaction, without a
// notification.
func (s *Store) insertEvents(ctx context.Context, q querier, events []store.Event) ([]store.Event, error) {
	if len(events) == 0 {
		return nil, nil
	}
	if err := checkEvents(events); err != nil {
		return nil, err
	}
	a := s.eventArgs(events)
	b := &pgx.Batch{}
	a.queue(b, s.q(insertEventsSQL))
	br := q.SendBatch(ctx, b)
	rows, err := br.Query()
	var out []store.Event
	ok := true
	if err == nil {
		out, ok, err = s.readInserted(events, a, rows)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && !ok {
		err = s.missingNamespace(ctx, q, a.namespace)
	}
	return out, err
}

// AppendEvents appends events atomically and returns them with ID, Position,
// Time and Partition set. Every event must pass store.ValidateEvent and name
// an existing namespace. The transaction also sends the NOTIFY that wakes
// consumers in other processes.
func (s *Store) AppendEvents(ctx context.Context, events []store.Event) ([]store.Event, error) {
	if len(events) == 0 {
		return nil, nil
	}
	if err := checkEvents(events); err != nil {
		return nil, opErr("append events", err)
	}
	// One pipelined implicit transaction: the insert and the NOTIFY commit
	// together, in one round trip.
	out, err := s.appendEventsNotify(ctx, s.pool, events)
	if err != nil {
		return nil, opErr("append events", err)
	}
	s.hub.wakeEvents(out)
	return out, nil
}

// AppendEventsTx appends events inside the caller's transaction: they exist
// if and only if the caller commits it, and consumers see them (and are
// woken by a NOTIFY sent by the same transaction) once it has committed.
// Positions are final when the call returns; a reader resuming after a
// position never skips these events, however late the transaction commits.
// Validation and namespace errors leave the transaction untouched and
// usable. Keep such transactions short: until it commits, the transaction
// holds back every consumer of the store (see the package documentation).
func (s *Store) AppendEventsTx(ctx context.Context, tx pgx.Tx, events []store.Event) ([]store.Event, error) {
	if tx == nil {
		return nil, errors.New("postgres: append events: tx is nil: expected the caller's pgx.Tx")
	}
	if len(events) == 0 {
		return nil, nil
	}
	if err := checkEvents(events); err != nil {
		return nil, opErr("append events", err)
	}
	out, err := s.appendEventsNotify(ctx, tx, events)
	return out, opErr("append events", err)
}

// AppendEventsInTx is AppendEventsTx for a tx of static type any (the
// store.TxAppender capability that Client.SendEventTx uses): tx must be a
// pgx.Tx.
func (s *Store) AppendEventsInTx(ctx context.Context, tx any, events []store.Event) ([]store.Event, error) {
	ptx, ok := tx.(pgx.Tx)
	if !ok {
		return nil, fmt.Errorf("postgres: append events: %w: tx is a %T: expected a pgx.Tx (from pool.Begin)", store.ErrInvalid, tx)
	}
	return s.AppendEventsTx(ctx, ptx, events)
}

// SendEventTx appends one user event (key and value in namespace, from
// sender) inside the caller's transaction, as AppendEventsTx does.
func (s *Store) SendEventTx(ctx context.Context, tx pgx.Tx, namespace, key, value, sender string) (store.Event, error) {
	out, err := s.AppendEventsTx(ctx, tx, []store.Event{{Kind: store.KindUser, Namespace: namespace, Key: key, Value: value, Sender: sender}})
	if err != nil {
		return store.Event{}, err
	}
	return out[0], nil
}

// appendEventsNotify appends checked events and sends the NOTIFY that wakes
// consumers, in one round trip on q.
func (s *Store) appendEventsNotify(ctx context.Context, q querier, events []store.Event) ([]store.Event, error) {
	a := s.eventArgs(events)
	b := &pgx.Batch{}
	// On the pool, the batch is its own implicit transaction, which
	// genericPlans may set; never the caller's transaction.
	implicit := q == querier(s.pool)
	if implicit {
		b.Queue(genericPlans)
	}
	a.queue(b, s.q(insertEventsSQL))
	if !s.cfg.PollOnly {
		// In the caller's transaction the payload is untagged: only its
		// NOTIFY tells this process's subscribers that it committed.
		payload := notifyPayload(eventsWakeup(events, a.partition))
		if implicit {
			payload = taggedPayload(s.hub.tag, eventsWakeup(events, a.partition))
		}
		b.Queue("SELECT pg_notify($1, $2)", s.channel, payload)
	}
	br := q.SendBatch(ctx, b)
	var err error
	if implicit {
		_, err = br.Exec()
	}
	var rows pgx.Rows
	if err == nil {
		rows, err = br.Query()
	}
	var out []store.Event
	ok := true
	if err == nil {
		out, ok, err = s.readInserted(events, a, rows)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && !ok {
		err = s.missingNamespace(ctx, q, a.namespace)
	}
	return out, err
}

// horizon is the read horizon of the event log: every transaction with a
// smaller id that can still append an event has committed or aborted, so no
// event can appear below it any more. It is the snapshot's xmin (the oldest
// transaction in progress anywhere on the server), or the horizon stored by
// the horizon watcher when that is further: the watcher computes
// filteredHorizon, which leaves out the transactions of other databases,
// while events wait (see horizon.go). A horizon once valid stays valid (the
// transactions below it have ended, or belong to another database), so the
// stored one is only ever raised.
const horizon = `greatest(pg_snapshot_xmin(pg_current_snapshot()),
	(SELECT value::xid8 FROM {s}.aiflow_meta WHERE key = 'horizon'))`

// ListEvents returns events matching filter in position order, and the
// position to continue from. Only events below the horizon are returned, so
// paging from a returned position never misses or repeats an event. When
// committed events wait above the horizon, the subscribers of every
// partition (Subscribe) are woken as soon as they become readable.
func (s *Store) ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, store.Position, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	args := []any{f.After.XID, f.After.ID}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	where := []string{"(xid, id) > ($1::xid8, $2::bigint)", "xid < (SELECT x FROM h)"}
	if f.Namespace != "" {
		where = append(where, "namespace = "+arg(f.Namespace))
	}
	if len(f.Keys) > 0 {
		where = append(where, "key = ANY("+arg(f.Keys)+"::text[])")
	}
	if f.Sender != "" {
		where = append(where, "sender = "+arg(f.Sender))
	}
	if f.ExecutionID != 0 {
		where = append(where, "execution_id = "+arg(f.ExecutionID))
	}
	if len(f.Kinds) > 0 {
		kinds := make([]int16, len(f.Kinds))
		for i, k := range f.Kinds {
			kinds[i] = int16(k)
		}
		where = append(where, "kind = ANY("+arg(kinds)+"::smallint[])")
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= "+arg(f.Since))
	}
	lim := arg(limit)
	// One statement, so the page and the tail see the same horizon. The
	// tail row (kind -1) is the last event below the horizon: when the page
	// is not full, everything up to it has been examined. The waiting row
	// (kind -2) is the first committed event at or above the horizon: the
	// subscribers are woken when it becomes readable (see hub.await).
	sql := `WITH h AS MATERIALIZED (SELECT ` + horizon + ` AS x),
page AS (SELECT ` + eventCols + ` FROM {s}.aiflow_event WHERE ` + strings.Join(where, " AND ") + ` ORDER BY xid, id LIMIT ` + lim + `)
SELECT * FROM page
UNION ALL
(SELECT id, xid, time, 0, -1::smallint, '', '', '', '', '', 0, '', 0, 0, false, NULL, '' FROM {s}.aiflow_event
	WHERE xid < (SELECT x FROM h) ORDER BY xid DESC, id DESC LIMIT 1)
UNION ALL
(SELECT id, xid, time, 0, -2::smallint, '', '', '', '', '', 0, '', 0, 0, false, NULL, '' FROM {s}.aiflow_event
	WHERE xid >= (SELECT x FROM h) ORDER BY xid, id LIMIT 1)`
	rows, err := s.pool.Query(ctx, s.q(sql), args...)
	if err != nil {
		return nil, f.After, opErr("list events", err)
	}
	all, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, f.After, opErr("list events", err)
	}
	var out []store.Event
	var tail *store.Event
	const (
		tailKind    = store.EventKind(0xff) // -1 as a smallint
		waitingKind = store.EventKind(0xfe) // -2
	)
	for i := range all {
		switch all[i].Kind {
		case tailKind:
			tail = &all[i]
		case waitingKind:
			s.hub.await(-1, all[i].Position.XID)
		default:
			out = append(out, all[i])
		}
	}
	slices.SortFunc(out, func(a, b store.Event) int {
		switch {
		case a.Position.Less(b.Position):
			return -1
		case b.Position.Less(a.Position):
			return 1
		}
		return 0
	})
	next := f.After
	switch {
	case len(out) == limit:
		next = out[len(out)-1].Position
	case tail != nil && f.After.Less(tail.Position):
		next = tail.Position
	case len(out) > 0:
		next = out[len(out)-1].Position
	}
	return out, next, nil
}

// LastPosition is the position of the last event below the horizon: a reader
// listening from it sees every event that commits later.
func (s *Store) LastPosition(ctx context.Context) (store.Position, error) {
	var p store.Position
	err := s.pool.QueryRow(ctx, s.q(`SELECT xid, id FROM {s}.aiflow_event WHERE xid < `+horizon+`
		ORDER BY xid DESC, id DESC LIMIT 1`)).Scan(&p.XID, &p.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Position{}, nil
	}
	return p, opErr("last position", err)
}

// partsOf lists the partitions of events (-1 for user events).
func partsOf(events []store.Event) []int32 {
	out := make([]int32, len(events))
	for i, ev := range events {
		out[i] = int32(ev.Partition)
	}
	return out
}

var _ store.TxAppender = (*Store)(nil)
