package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

// drain empties a wake-up channel.
func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func waitWake(t *testing.T, ch <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("no wake-up: %s", msg)
	}
}

func TestSubscribeWokenByOtherProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The subscriber's poller is slowed down so that only notifications wake it.
	s1, pool := newTestStore(t, func(c *Config) { c.EventPollInterval = time.Hour })
	cfg2 := *s1.cfg
	s2, err := New(ctx, pool, &cfg2) // another process on the same schema
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s2.Close()) })

	wake, unsubscribe := s1.Subscribe()
	defer unsubscribe()
	eventually(t, func() bool { return s1.hub.connects.Load() == 1 }, "the listener connects")
	waitWake(t, wake, "the catch-up after connecting")
	drain(wake)

	_, err = s2.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "k"}})
	require.NoError(t, err)
	waitWake(t, wake, "AppendEvents in another process")

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = s2.SendEventTx(ctx, tx, "default", "k", "", "")
	require.NoError(t, err)
	drain(wake)
	require.NoError(t, tx.Commit(ctx))
	waitWake(t, wake, "SendEventTx committed in another process")

	// Its own appends wake s1's subscribers when they commit; their NOTIFY
	// comes back tagged and is ignored. An append in a caller's
	// transaction is not tagged: its NOTIFY is what wakes them.
	require.Zero(t, s1.hub.ownNotifies.Load())
	woken := s1.hub.notifyWakes.Load()
	_, err = s1.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "k"}})
	require.NoError(t, err)
	waitWake(t, wake, "AppendEvents in this process")
	eventually(t, func() bool { return s1.hub.ownNotifies.Load() == 1 }, "the listener receives its own NOTIFY")
	require.Equal(t, woken, s1.hub.notifyWakes.Load(), "the listener wakes no subscriber for its own NOTIFY")
	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	_, err = s1.SendEventTx(ctx, tx, "default", "k", "", "")
	require.NoError(t, err)
	drain(wake)
	require.NoError(t, tx.Commit(ctx))
	waitWake(t, wake, "SendEventTx committed in this process")
	require.EqualValues(t, 1, s1.hub.ownNotifies.Load())
	require.Equal(t, woken+1, s1.hub.notifyWakes.Load())

	// The listener's connection dies: it reconnects quickly and wakes the
	// subscribers so that they catch up on what they may have missed.
	pid := s1.hub.listenPID.Load()
	require.NotZero(t, pid)
	drain(wake)
	_, err = pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
	require.NoError(t, err)
	eventually(t, func() bool { return s1.hub.connects.Load() == 2 }, "the listener reconnects")
	waitWake(t, wake, "the catch-up after reconnecting")
	drain(wake)
	_, err = s2.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "k"}})
	require.NoError(t, err)
	waitWake(t, wake, "a notification on the new connection")
}

func TestPollOnlyWakesByPolling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s1, pool := newTestStore(t, func(c *Config) {
		c.PollOnly = true
		c.EventPollInterval = 20 * time.Millisecond
	})
	cfg2 := *s1.cfg
	s2, err := New(ctx, pool, &cfg2)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s2.Close()) })

	wake, unsubscribe := s1.Subscribe()
	defer unsubscribe()
	waitWake(t, wake, "the first poll")
	drain(wake)
	_, err = s2.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "k"}})
	require.NoError(t, err)
	waitWake(t, wake, "a poll after another process appended")
	require.Zero(t, s1.hub.connects.Load(), "no LISTEN connection in PollOnly mode")

	// Appends of the process itself wake at once.
	drain(wake)
	_, err = s1.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "k"}})
	require.NoError(t, err)
	select {
	case <-wake:
	default:
		t.Fatal("a local append did not wake the local subscriber at once")
	}
}

func TestChannelName(t *testing.T) {
	t.Parallel()
	require.Equal(t, "aiflow.aiflow_event", channelName("aiflow"))
	long := "s" + strings.Repeat("abcdefghij", 6) + "12"
	require.Len(t, long, 63)
	ch := channelName(long)
	require.LessOrEqual(t, len(ch), 63)
	require.NotEqual(t, ch, channelName(long[:62]+"3"), "distinct schemas get distinct channels")
}

func TestSubscribePartitionWakesOnlyForItsPartition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, func(c *Config) { c.EventPollInterval = time.Hour })
	// Two workflows in different partitions.
	var wfP, wfQ string
	for i := 0; wfQ == ""; i++ {
		name := "wf" + strings.Repeat("x", i)
		switch {
		case wfP == "":
			wfP = name
		case store.PartitionOf("default", name, s.Partitions()) != store.PartitionOf("default", wfP, s.Partitions()):
			wfQ = name
		}
	}
	p, q := store.PartitionOf("default", wfP, s.Partitions()), store.PartitionOf("default", wfQ, s.Partitions())
	wakeP, unsubP := s.SubscribePartition(p)
	defer unsubP()
	wakeQ, unsubQ := s.SubscribePartition(q)
	defer unsubQ()
	eventually(t, func() bool { return s.hub.connects.Load() == 1 }, "the listener connects")
	waitWake(t, wakeP, "the catch-up after connecting")
	// The listener may have connected before q subscribed, and then woke p
	// alone; the wake-up reaches every subscriber at once, so q's, if any,
	// is there now.
	select {
	case <-wakeQ:
	default:
	}

	status := func(wf string) store.Event {
		return store.Event{Kind: store.KindStatus, Namespace: "default", Key: store.StatusKey(wf, "t"), Value: "RUNNING", Workflow: wf}
	}
	// A local append wakes the local subscribers before it returns.
	_, err := s.AppendEvents(ctx, []store.Event{status(wfP)})
	require.NoError(t, err)
	waitWake(t, wakeP, "a status event of its partition")
	select {
	case <-wakeQ:
		t.Fatal("woken by a status event of another partition")
	default:
	}
	// User events wake every partition.
	_, err = s.AppendEvents(ctx, []store.Event{{Namespace: "default", Key: "user"}})
	require.NoError(t, err)
	waitWake(t, wakeQ, "a user event")
}
