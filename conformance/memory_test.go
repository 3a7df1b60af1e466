package conformance_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"

	"github.com/aiflow-go/aiflow/conformance"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/memory"
)

// TestMemory runs the conformance suite on the memory store.
func TestMemory(t *testing.T) {
	conformance.Run(t, func(t *testing.T) store.Store { return memory.New(nil) })
}

// TestMemorySendEventTx: the memory store has no transactions: SendEventTx
// is refused with a clear error, and nothing is appended.
func TestMemorySendEventTx(t *testing.T) {
	st := memory.New(nil)
	defer st.Close()
	c, err := aiflow.New(&aiflow.Config{Store: st})
	require.NoError(t, err)
	_, err = c.SendEventTx(context.Background(), nil, "go", "", nil)
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, "cannot append in a caller's transaction")
	n, err := c.CountEvents(context.Background(), nil)
	require.NoError(t, err)
	require.Zero(t, n)
}
