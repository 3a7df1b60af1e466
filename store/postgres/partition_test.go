package postgres

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

// consumeKeys runs one unit of work on partition 0 reading the user events
// of keys (nil: all), at most max events, committing the batch's End; it
// returns the keys of the events read and the batch.
func consumeKeys(t *testing.T, s *Store, keys *store.KeySet, max int) ([]string, store.Batch, store.ConsumeResult) {
	t.Helper()
	var got []string
	var batch store.Batch
	res, err := s.Consume(context.Background(), store.ConsumeParams{Partition: 0, Owner: testOwner, MaxEvents: max, UserKeys: keys},
		func(_ context.Context, b store.Batch) (*store.Effects, error) {
			batch = b
			for _, ev := range b.Events() {
				got = append(got, ev.Key)
			}
			if !b.Position().Less(b.End()) {
				return nil, nil
			}
			return &store.Effects{Position: b.End()}, nil
		})
	require.NoError(t, err)
	return got, batch, res
}

func TestConsumeUserKeysSkipsOtherKeysAndMovesPastThem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	user := func(keys ...string) []store.Event {
		out, err := s.AppendEvents(ctx, func() []store.Event {
			var evs []store.Event
			for _, k := range keys {
				evs = append(evs, store.Event{Namespace: "default", Key: k, Value: "v"})
			}
			return evs
		}())
		require.NoError(t, err)
		return out
	}
	a := store.NewKeySet([][2]string{{"default", "a"}})
	evs := user("a", "b", "a", "b")
	eventually(t, func() bool {
		p, err := s.LastPosition(ctx)
		return err == nil && !p.Less(evs[3].Position)
	}, "the events pass the horizon")

	// Full batch: it ends at its last event.
	got, b, res := consumeKeys(t, s, a, 1)
	require.Equal(t, []string{"a"}, got)
	require.True(t, res.More)
	require.Equal(t, evs[0].Position, b.End())
	// The rest: the second "a", and past the last "b".
	got, b, res = consumeKeys(t, s, a, 10)
	require.Equal(t, []string{"a"}, got)
	require.False(t, res.More)
	require.Equal(t, evs[3].Position, b.End())

	// Only other keys: nothing read, the position moves past them.
	evs = user("b", "c")
	eventually(t, func() bool {
		p, err := s.LastPosition(ctx)
		return err == nil && !p.Less(evs[1].Position)
	}, "the events pass the horizon")
	got, b, _ = consumeKeys(t, s, a, 10)
	require.Empty(t, got)
	require.Equal(t, evs[1].Position, b.End())
	// Every key now: nothing is read again.
	got, b, _ = consumeKeys(t, s, nil, 10)
	require.Empty(t, got)
	require.Equal(t, evs[1].Position, b.Position())
	// The empty set reads no user event, but its partition's own events.
	evs, err := s.AppendEvents(ctx, []store.Event{
		{Namespace: "default", Key: "a"},
		{Kind: store.KindStatus, Namespace: "default", Key: store.StatusKey(partition0Workflow(s), "t"), Value: "RUNNING", Workflow: partition0Workflow(s)},
	})
	require.NoError(t, err)
	eventually(t, func() bool {
		p, err := s.LastPosition(ctx)
		return err == nil && !p.Less(evs[1].Position)
	}, "the events pass the horizon")
	got, b, _ = consumeKeys(t, s, store.NewKeySet(nil), 10)
	require.Equal(t, []string{evs[1].Key}, got)
	require.Equal(t, evs[1].Position, b.End())
}

// partition0Workflow returns a workflow name of partition 0.
func partition0Workflow(s *Store) string {
	for i := 0; ; i++ {
		name := "wf" + strconv.Itoa(i)
		if store.PartitionOf("default", name, s.Partitions()) == 0 {
			return name
		}
	}
}

func TestSubscribeKeysWakesOnlyForItsKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Only notifications wake: the poller is slowed down.
	s1, pool := newTestStore(t, func(c *Config) { c.EventPollInterval = time.Hour })
	setSkipDelay(s1, time.Hour)
	cfg2 := *s1.cfg
	s2, err := New(ctx, pool, &cfg2) // another process on the same schema
	require.NoError(t, err)
	defer s2.Close()
	wf := partition0Workflow(s1)
	keysA := store.NewKeySet([][2]string{{"default", "a"}})
	wakeA, unsubA := s1.SubscribeKeys(1, func() *store.KeySet { return keysA })
	defer unsubA()
	// The sentinel: woken by partition 0's events, no user key.
	wakeS, unsubS := s1.SubscribeKeys(0, func() *store.KeySet { return store.NewKeySet(nil) })
	defer unsubS()
	eventually(t, func() bool { return s1.hub.connects.Load() == 1 }, "the listener connects")
	waitWake(t, wakeS, "the catch-up after connecting")
	drain(wakeA)

	status := store.Event{Kind: store.KindStatus, Namespace: "default", Key: store.StatusKey(wf, "t"), Value: "RUNNING", Workflow: wf}
	// Locally: a user event of another key wakes neither.
	_, err = s1.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "b"}})
	require.NoError(t, err)
	_, err = s1.AppendEvents(ctx, []store.Event{status})
	require.NoError(t, err)
	waitWake(t, wakeS, "a status event of its partition")
	select {
	case <-wakeA:
		t.Fatal("woken by a local user event of a key it does not read")
	default:
	}
	require.NoError(t, s2.AddNamespace(ctx, "other"))
	// From another process: notifications arrive in commit order, so once
	// the sentinel is woken the earlier one has been handled.
	_, err = s2.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "b"}, {Namespace: "other", Key: "a"}})
	require.NoError(t, err)
	_, err = s2.AppendEvents(ctx, []store.Event{status})
	require.NoError(t, err)
	waitWake(t, wakeS, "a status event of its partition, from another process")
	select {
	case <-wakeA:
		t.Fatal("woken by a user event of a key it does not read")
	default:
	}
	_, err = s2.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "a"}})
	require.NoError(t, err)
	waitWake(t, wakeA, "a user event of its key, from another process")
	// The SQL function's notification names the key too.
	drain(wakeA)
	_, err = pool.Exec(ctx, "SELECT "+s1.q("{s}")+".send_event('default', 'c')")
	require.NoError(t, err)
	_, err = s2.AppendEvents(ctx, []store.Event{status})
	require.NoError(t, err)
	waitWake(t, wakeS, "a status event of its partition, after send_event")
	select {
	case <-wakeA:
		t.Fatal("woken by send_event of a key it does not read")
	default:
	}
	_, err = pool.Exec(ctx, "SELECT "+s1.q("{s}")+".send_event('default', 'a')")
	require.NoError(t, err)
	waitWake(t, wakeA, "an event of its key sent with send_event")
	// Events of other keys wake it later, to move past them.
	setSkipDelay(s1, time.Millisecond)
	drain(wakeA)
	_, err = s1.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "b"}})
	require.NoError(t, err)
	waitWake(t, wakeA, "the deferred wake-up after user events of other keys")
}

func setSkipDelay(s *Store, d time.Duration) {
	s.hub.mu.Lock()
	s.hub.skipDelay = d
	if s.hub.skipTimer != nil {
		s.hub.skipTimer.Stop()
		s.hub.skipTimer = nil
	}
	s.hub.mu.Unlock()
}

func TestNotifyPayloadRoundTrip(t *testing.T) {
	w := eventsWakeup([]store.Event{{Namespace: "default", Key: "a"}, {}, {Namespace: "ns", Key: "b,c"}}, []int32{-1, 3, -1})
	p := notifyPayload(w)
	require.Regexp(t, `^3,u[0-9a-f]{8},u[0-9a-f]{8}$`, p)
	got, tag := parsePayload(p)
	require.Empty(t, tag)
	require.False(t, got.all)
	require.Equal(t, []int32{3}, got.parts)
	require.ElementsMatch(t, []uint32{store.UserKeyHash("default", "a"), store.UserKeyHash("ns", "b,c")}, got.users)
	tagged, tag := parsePayload(taggedPayload("0a1b2c3d", w))
	require.Equal(t, "0a1b2c3d", tag)
	require.Equal(t, got, tagged)
	all, tag := parsePayload(taggedPayload("0a1b2c3d", wakeup{all: true}))
	require.Equal(t, "0a1b2c3d", tag)
	require.True(t, all.all)
	for _, p := range []string{"", "*", "3,x", "-1", "u123", "o0a1b2c3d", "o0a1b2c3d,x"} {
		w, _ := parsePayload(p)
		require.True(t, w.all, "payload %q", p)
	}
	require.Equal(t, "*", notifyPayload(partsWakeup([]int32{2, -1})))
	disable := store.Event{Kind: store.KindControl, Namespace: "default", Key: store.KeyDisableWorkflow, Workflow: "w"}
	require.Equal(t, "*", notifyPayload(eventsWakeup([]store.Event{{Namespace: "default", Key: "a"}, disable}, []int32{-1, -1})),
		"a control event of no partition wakes every consumer, whatever keys it reads")
}

func TestUserKeyHashMatchesSQL(t *testing.T) {
	t.Parallel()
	_, pool := newTestStore(t, nil)
	var h int32
	err := pool.QueryRow(context.Background(), `SELECT ('x' || left(md5($1 || '/' || $2), 8))::bit(32)::int`, "default", "clé,1").Scan(&h)
	require.NoError(t, err)
	require.Equal(t, store.UserKeyHash("default", "clé,1"), uint32(h))
}

// TestConsumeAddressedEventsByTarget: an appended user event addressed to an
// execution records its execution's partition as its target, and a consumer
// of another partition whose AddressedKeys lack its key moves past it; an
// event without a target (appended before migration 18) is read by every
// partition.
func TestConsumeAddressedEventsByTarget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool := newTestStore(t, nil)
	claimAll(t, s, testOwner)
	pl := s.Placement()
	// An execution id outside partition 0.
	wf, x := partition0Workflow(s), int64(1)
	for pl.Execution("default", wf, x) == 0 {
		x++
	}
	evs, err := s.AppendEvents(ctx, []store.Event{
		{Namespace: "default", Key: "a", Workflow: wf, ExecutionID: x},
		{Namespace: "default", Key: "a", Workflow: wf, ExecutionID: x, Broadcast: true},
	})
	require.NoError(t, err)
	var legacy int64 // as appended before migration 18: no target
	require.NoError(t, pool.QueryRow(ctx, s.q(`INSERT INTO {s}.aiflow_event (partition, kind, namespace, key, sender, workflow, execution_id)
		VALUES (-1, 0, 'default', 'a', 'test', $1, $2) RETURNING id`), wf, x).Scan(&legacy))
	var targets []*int32
	rows, err := pool.Query(ctx, s.q(`SELECT target FROM {s}.aiflow_event WHERE id = ANY($1) ORDER BY id`), []int64{evs[0].ID, evs[1].ID, legacy})
	require.NoError(t, err)
	for rows.Next() {
		var tg *int32
		require.NoError(t, rows.Scan(&tg))
		targets = append(targets, tg)
	}
	require.NoError(t, rows.Err())
	require.Len(t, targets, 3)
	require.NotNil(t, targets[0])
	require.Equal(t, int32(pl.Execution("default", wf, x)), *targets[0])
	require.Nil(t, targets[1], "an event sent to the namespace has no target")
	require.Nil(t, targets[2])
	var last store.Position
	eventually(t, func() bool {
		var err error
		last, err = s.LastPosition(ctx)
		return err == nil && last.ID >= legacy
	}, "the events pass the horizon")

	a := store.NewKeySet([][2]string{{"default", "a"}})
	var got []int64
	var end store.Position
	_, err = s.Consume(ctx, store.ConsumeParams{Partition: 0, Owner: testOwner, UserKeys: a, AddressedKeys: store.NewKeySet(nil)},
		func(_ context.Context, b store.Batch) (*store.Effects, error) {
			for _, ev := range b.Events() {
				got = append(got, ev.ID)
			}
			end = b.End()
			return &store.Effects{Position: b.End()}, nil
		})
	require.NoError(t, err)
	require.Equal(t, []int64{evs[1].ID, legacy}, got)
	require.Equal(t, last, end)
}

// TestSQLTargetMatchesPlacement: the SQL function aiflow_target (what
// send_event records as an event's target) is store.Placement.Execution,
// for several numbers of partitions, names (multi-byte ones too) and ids on
// both sides of spread_executions_from; and send_event records it.
func TestSQLTargetMatchesPlacement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	names := []string{"w", "wf0", "scoped", "a-much-longer_workflow.name", "wörkflow", "工作流"}
	for _, parts := range []int{1, 4, 7} {
		s, pool := newTestStore(t, func(c *Config) { c.Partitions = parts })
		_, err := pool.Exec(ctx, s.q(`UPDATE {s}.aiflow_meta SET value = '10' WHERE key = 'spread_executions_from'`))
		require.NoError(t, err)
		pl := store.Placement{Partitions: parts, SpreadFrom: 10}
		var nss, wfs []string
		var ids []int64
		var want []int32
		for _, ns := range []string{"default", "ns-2"} {
			for _, wf := range names {
				for id := int64(1); id <= 25; id++ {
					nss, wfs, ids = append(nss, ns), append(wfs, wf), append(ids, id)
					want = append(want, int32(pl.Execution(ns, wf, id)))
				}
			}
		}
		var got []int32
		require.NoError(t, pool.QueryRow(ctx, s.q(`SELECT array_agg({s}.aiflow_target(ns, wf, id) ORDER BY ord)
			FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS u(ns, wf, id, ord)`), nss, wfs, ids).Scan(&got))
		require.Equal(t, want, got, "%d partitions", parts)
	}

	s, pool := newTestStore(t, nil)
	wf, x := "scoped", int64(3)
	_, err := pool.Exec(ctx, s.q(`INSERT INTO {s}.aiflow_workflow_execution (id, namespace, workflow, status, created_at, updated_at)
		VALUES ($1, 'default', $2, 'RUNNING', now(), now())`), x, wf)
	require.NoError(t, err)
	// sendTarget calls send_event with args and returns its event's target.
	sendTarget := func(args string, vals ...any) *int32 {
		var pos string
		require.NoError(t, pool.QueryRow(ctx, s.q("SELECT {s}.send_event("+args+")"), vals...).Scan(&pos))
		p, err := store.ParsePosition(pos)
		require.NoError(t, err)
		var target *int32
		require.NoError(t, pool.QueryRow(ctx, s.q("SELECT target FROM {s}.aiflow_event WHERE id = $1"), p.ID).Scan(&target))
		return target
	}
	target := sendTarget("'default', 'k', 'v', execution_id => $1", x)
	require.NotNil(t, target)
	require.Equal(t, int32(s.Placement().Execution("default", wf, x)), *target)
	require.Nil(t, sendTarget("'default', 'k', 'v', execution_id => $1, to_namespace => true", x), "an event sent to the namespace has no target")
	target = sendTarget("'default', 'k'")
	require.Nil(t, target, "an event sent to no execution has no target")
}

func TestSubscribeKeysOfEveryPartition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Only notifications wake: the poller is slowed down.
	s, _ := newTestStore(t, func(c *Config) { c.EventPollInterval = time.Hour })
	setSkipDelay(s, time.Hour)
	wf := partition0Workflow(s)
	// Of every partition, no user key (the timer service's).
	wake, unsub := s.SubscribeKeys(-1, func() *store.KeySet { return store.NewKeySet(nil) })
	defer unsub()
	// The sentinel: woken by every user event.
	wakeS, unsubS := s.SubscribeKeys(1, nil)
	defer unsubS()
	eventually(t, func() bool { return s.hub.connects.Load() == 1 }, "the listener connects")
	waitWake(t, wake, "the catch-up after connecting")
	drain(wakeS)

	_, err := s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "a"}})
	require.NoError(t, err)
	waitWake(t, wakeS, "a user event")
	select {
	case <-wake:
		t.Fatal("woken at once by a user event")
	default:
	}
	// A status event of partition 0 wakes it, though no partition is its.
	_, err = s.AppendEvents(ctx, []store.Event{{Kind: store.KindStatus, Namespace: "default", Key: store.StatusKey(wf, "t"),
		Value: "RUNNING", Workflow: wf}})
	require.NoError(t, err)
	waitWake(t, wake, "a status event of partition 0")
	// User events wake it later.
	setSkipDelay(s, time.Millisecond)
	drain(wake)
	_, err = s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "b"}})
	require.NoError(t, err)
	waitWake(t, wake, "the deferred wake-up after user events")
}
