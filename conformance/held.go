package conformance

import (
	"context"
	"errors"
	"sync"

	"github.com/aiflow-go/aiflow/store"
)

// heldWorkers wraps a store so that the client's task workers start only
// when the test releases them: until then every dispatched run stays
// QUEUED. Install it with a conformance test's adjust function; the test
// finds it as b.cfg.Store.
type heldWorkers struct {
	store.Store

	mu       sync.Mutex
	params   *store.WorkersParams
	released bool
}

// StartWorkers records the parameters and starts nothing.
func (h *heldWorkers) StartWorkers(_ context.Context, params store.WorkersParams) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.params = &params
	return nil
}

// release starts the workers the client asked for.
func (h *heldWorkers) release(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.params == nil {
		return errors.New("conformance: the client has not started its workers")
	}
	if h.released {
		return nil
	}
	h.released = true
	return h.Store.StartWorkers(ctx, *h.params)
}

// StopWorkers stops the workers if they were released.
func (h *heldWorkers) StopWorkers(ctx context.Context) error {
	h.mu.Lock()
	released := h.released
	h.mu.Unlock()
	if !released {
		return nil
	}
	return h.Store.StopWorkers(ctx)
}

// SubscribePartition keeps the wrapped store's per-partition wake-ups.
func (h *heldWorkers) SubscribePartition(partition int) (<-chan struct{}, func()) {
	if ps, ok := h.Store.(store.PartitionSubscriber); ok {
		return ps.SubscribePartition(partition)
	}
	return h.Store.Subscribe()
}

var _ store.PartitionSubscriber = (*heldWorkers)(nil)
