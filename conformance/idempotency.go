package conformance

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
)

// Idempotency keys: a retried SendEvent or StartWorkflowExecution with the
// same key acts once, per namespace and per kind of call, until the key is
// pruned.

func testIdempotentSendEvent(t *testing.T, b *bed) {
	require.NoError(t, b.client.AddNamespace(b.ctx, "other"))
	opts := &aiflow.SendEventOpts{IdempotencyKey: "req-1"}
	first, err := b.client.SendEvent(b.ctx, "k", "v1", opts)
	require.NoError(t, err)
	again, err := b.client.SendEvent(b.ctx, "k", "v2", opts)
	require.NoError(t, err)
	require.Equal(t, first.ID, again.ID, "a retry returns the first call's event")
	require.Equal(t, first.Position, again.Position)
	require.Equal(t, "v1", again.Value)

	// Concurrent calls with one key append one event.
	var wg sync.WaitGroup
	ids := make([]int64, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev, err := b.client.SendEvent(b.ctx, "k", "racing", &aiflow.SendEventOpts{IdempotencyKey: "req-2"})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = ev.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		require.Equal(t, ids[0], id)
	}

	// Another namespace is another scope.
	other, err := b.client.SendEvent(b.ctx, "k", "v3", &aiflow.SendEventOpts{Namespace: "other", IdempotencyKey: "req-1"})
	require.NoError(t, err)
	require.NotEqual(t, first.ID, other.ID)

	// Malformed keys are refused.
	for _, key := range []string{strings.Repeat("x", 256), "a\x00b", "\xff"} {
		_, err := b.client.SendEvent(b.ctx, "k", "v", &aiflow.SendEventOpts{IdempotencyKey: key})
		require.ErrorIs(t, err, aiflow.ErrInvalid, "key %q", key)
	}

	b.send("marker", "")
	b.eventsN("marker", 1)
	require.Len(t, b.events("k"), 3, "req-1 in default, req-2, req-1 in other")

	// Once pruned, a key acts again.
	n, err := b.st.PruneIdempotencyKeys(b.ctx, time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, 3, n)
	after, err := b.client.SendEvent(b.ctx, "k", "v4", opts)
	require.NoError(t, err)
	require.NotEqual(t, first.ID, after.ID)
}

func testIdempotentStart(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("t", nil)
	f.task("t")
	b.register(f.wf)
	opts := &aiflow.StartWorkflowOpts{IdempotencyKey: "start-1"}
	x1, err := b.client.StartWorkflowExecution(b.ctx, "w", opts)
	require.NoError(t, err)
	x2, err := b.client.StartWorkflowExecution(b.ctx, "w", opts)
	require.NoError(t, err)
	require.Equal(t, x1, x2, "a retry returns the first call's execution")

	// A send with the same key is another kind of call.
	_, err = b.client.SendEvent(b.ctx, "k", "", &aiflow.SendEventOpts{IdempotencyKey: "start-1"})
	require.NoError(t, err)
	b.eventsN("k", 1)

	// A retry still answers after the workflow was disabled.
	require.NoError(t, b.client.DisableWorkflow(b.ctx, "", "w"))
	x3, err := b.client.StartWorkflowExecution(b.ctx, "w", opts)
	require.NoError(t, err)
	require.Equal(t, x1, x3)
	_, err = b.client.StartWorkflowExecution(b.ctx, "w", &aiflow.StartWorkflowOpts{IdempotencyKey: "start-2"})
	require.ErrorIs(t, err, aiflow.ErrWorkflowDisabled)

	xs, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
	require.NoError(t, err)
	require.Len(t, xs, 1)
	require.Equal(t, x1, xs[0].ID)
}
