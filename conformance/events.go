package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
)

// Namespaces and events: isolation, listing and listening from a position,
// size limits, sending as a task execution and counting.

func testNamespaces(t *testing.T, b *bed) {
	require.NoError(t, b.client.AddNamespace(b.ctx, "team-a"))
	require.ErrorIs(t, b.client.AddNamespace(b.ctx, "team-a"), aiflow.ErrAlreadyExists)
	ns, err := b.client.ListNamespaces(b.ctx)
	require.NoError(t, err)
	var names []string
	for _, n := range ns {
		names = append(names, n.Name)
	}
	require.Equal(t, []string{"default", "team-a"}, names)

	f := b.flow("w", aiflow.WithNamespace("team-a"))
	f.ctl.setAuto("t", nil)
	f.task("t")
	b.register(f.wf)
	err = b.client.DeleteNamespace(b.ctx, "team-a")
	require.ErrorIs(t, err, aiflow.ErrNamespaceNotEmpty)
	require.ErrorIs(t, b.client.DeleteNamespace(b.ctx, "default"), aiflow.ErrConflict)
	_, err = b.client.SendEvent(b.ctx, "k", "v", &aiflow.SendEventOpts{Namespace: "nowhere"})
	require.ErrorIs(t, err, aiflow.ErrNamespaceNotFound)
	_, err = b.client.StartWorkflowExecution(b.ctx, "w", nil)
	require.ErrorIs(t, err, aiflow.ErrWorkflowNotFound, "workflow names are per namespace")
	x := b.startIn("team-a", "w")
	require.Equal(t, aiflow.WorkflowSuccess, b.waitExecution(x, aiflow.WorkflowSuccess).Status)
	require.Equal(t, "team-a", b.execution(x).Namespace)

	require.NoError(t, b.client.AddNamespace(b.ctx, "empty"))
	require.NoError(t, b.client.DeleteNamespace(b.ctx, "empty"))
	require.ErrorIs(t, b.client.DeleteNamespace(b.ctx, "empty"), aiflow.ErrNamespaceNotFound)
}

func testListenFromPosition(t *testing.T, b *bed) {
	from, err := b.client.LastPosition(b.ctx)
	require.NoError(t, err)
	const n = 120
	var got []string
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	go func() {
		defer close(done)
		done <- b.client.ListenEvents(ctx, &aiflow.EventFilter{After: from, Keys: []string{"seq"}}, func(ev aiflow.Event) error {
			got = append(got, ev.Value)
			if len(got) == n {
				return errors.New("all seen")
			}
			return nil
		})
	}()
	// Concurrent senders, each in order.
	var wg sync.WaitGroup
	for s := 0; s < 3; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/3; i++ {
				_, err := b.client.SendEvent(b.ctx, "seq", fmt.Sprintf("%d-%03d", s, i), nil)
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-done:
		require.EqualError(t, err, "all seen")
	case <-time.After(waitTimeout):
		cancel()
		<-done
		t.Fatalf("the listener saw %d of %d events", len(got), n)
	}
	seen := map[string]bool{}
	last := map[byte]string{}
	for _, v := range got {
		require.False(t, seen[v], "event %s repeated", v)
		seen[v] = true
		require.Greater(t, v, last[v[0]], "events of one sender in order")
		last[v[0]] = v
	}
	// Paging from a position with a small limit gives the same events.
	var paged []string
	f := &aiflow.EventFilter{After: from, Keys: []string{"seq"}, Limit: 7}
	for {
		evs, next, err := b.client.ListEvents(b.ctx, f)
		require.NoError(t, err)
		for _, ev := range evs {
			paged = append(paged, ev.Value)
		}
		if next == f.After {
			break
		}
		f.After = next
	}
	require.Equal(t, got, paged)
}

func testEventSizeLimit(t *testing.T, b *bed) {
	_, err := b.client.SendEvent(b.ctx, "big", strings.Repeat("x", aiflow.MaxEventValueBytes+1), nil)
	require.ErrorIs(t, err, aiflow.ErrEventTooLarge)
	_, err = b.client.SendEvent(b.ctx, "big", strings.Repeat("x", aiflow.MaxEventValueBytes), nil)
	require.NoError(t, err)
	// Listing shows an event once no earlier transaction can still commit
	// (the Postgres store's horizon): wait for it.
	b.waitFor("the accepted event", func() bool { return len(b.events("big")) == 1 })
	require.Len(t, b.events("big")[0].Value, aiflow.MaxEventValueBytes, "only the accepted event was stored")
}

func testSendAsTaskExecution(t *testing.T, b *bed) {
	f := b.flow("w")
	f.funcTask("sender", func(ctx context.Context, tc *aiflow.TaskContext) error {
		<-ctx.Done()
		return nil
	}, aiflow.Streaming())
	f.ctl.setAuto("receiver", nil)
	f.task("receiver").OnEvent("ping", aiflow.ActionStart)
	f.witnessTask()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")
	te := b.waitRun(x1, "sender", 1, aiflow.TaskRunning)
	b.waitRun(x2, "sender", 1, aiflow.TaskRunning)

	ev, err := b.client.SendEvent(b.ctx, "ping", "1", &aiflow.SendEventOpts{TaskExecutionID: te.ID})
	require.NoError(t, err)
	require.Equal(t, x1, ev.ExecutionID)
	require.Equal(t, "w", ev.Workflow)
	require.Equal(t, "sender", ev.TaskName)
	require.Equal(t, te.ID, ev.TaskExecutionID)
	require.Equal(t, 1, ev.SeqNum)
	require.Equal(t, fmt.Sprintf("%d_sender_1", x1), ev.Sender)
	require.False(t, ev.Broadcast)
	b.waitRun(x1, "receiver", 1, aiflow.TaskSuccess)
	b.witness(x2)
	require.Empty(t, b.runs(x2, "receiver"), "an event sent as a task execution reaches only its execution")

	// The whole namespace on request.
	_, err = b.client.SendEvent(b.ctx, "ping", "2", &aiflow.SendEventOpts{TaskExecutionID: te.ID, ToNamespace: true})
	require.NoError(t, err)
	b.waitRun(x1, "receiver", 2, aiflow.TaskSuccess)
	b.waitRun(x2, "receiver", 1, aiflow.TaskSuccess)

	// Inconsistent context is refused.
	_, err = b.client.SendEvent(b.ctx, "ping", "", &aiflow.SendEventOpts{TaskExecutionID: te.ID, ExecutionID: x2})
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	_, err = b.client.SendEvent(b.ctx, "ping", "", &aiflow.SendEventOpts{TaskExecutionID: te.ID + 1_000_000})
	require.ErrorIs(t, err, aiflow.ErrTaskExecutionNotFound)

	// Counting: two "ping" events were appended (the refused ones were not).
	b.waitFor("the ping events to be listed", func() bool { return len(b.events("ping")) == 2 })
	n, err := b.client.CountEvents(b.ctx, &aiflow.EventFilter{Keys: []string{"ping"}})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = b.client.CountEvents(b.ctx, &aiflow.EventFilter{Keys: []string{"ping"}, After: ev.Position})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = b.client.CountEvents(b.ctx, &aiflow.EventFilter{Keys: []string{"ping"}, Sender: "nobody"})
	require.NoError(t, err)
	require.Zero(t, n)
}
