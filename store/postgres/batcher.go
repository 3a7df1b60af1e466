package postgres

import (
	"context"
	"slices"
	"sync"

	"github.com/aiflow-go/aiflow/internal/startstop"
	"github.com/aiflow-go/aiflow/store"
)

// batcher groups the calls that arrive while it is busy: an idle process
// serves each call on its own, a busy one serves the calls queued during a
// round in the next round, all at once (group commit). Callers wait for their
// result whatever their context does: a batch is bounded in time by its own
// deadline, and a caller that left could not undo what its batch committed.
type batcher[Req, Res any] struct {
	max     int
	process func(calls []*batchCall[Req, Res])

	svc startstop.Service // the loop

	mu      sync.Mutex
	queue   []*batchCall[Req, Res]
	running bool // calls are taken: between start and stop
	kick    chan struct{}
}

type batchCall[Req, Res any] struct {
	req  Req
	res  Res
	err  error
	done chan struct{}
}

func newBatcher[Req, Res any](max int, process func(calls []*batchCall[Req, Res])) *batcher[Req, Res] {
	return &batcher[Req, Res]{max: max, process: process, kick: make(chan struct{}, 1)}
}

// start runs the loop until stop; a batcher that runs already goes on.
func (b *batcher[Req, Res]) start() {
	b.mu.Lock()
	b.running = true
	b.mu.Unlock()
	_ = b.svc.Start(context.Background(), b.loop) // ErrStarted: it runs
}

// stop ends the loop after serving the calls queued.
func (b *batcher[Req, Res]) stop() {
	b.mu.Lock()
	b.running = false
	b.mu.Unlock()
	_ = b.svc.Stop(context.Background()) // waits: it cannot fail
}

// do queues req and waits for its result; store.ErrStopped when the loop
// does not run.
func (b *batcher[Req, Res]) do(req Req) (Res, error) {
	c := &batchCall[Req, Res]{req: req, done: make(chan struct{})}
	b.mu.Lock()
	if !b.running {
		b.mu.Unlock()
		var zero Res
		return zero, store.ErrStopped
	}
	b.queue = append(b.queue, c)
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
	<-c.done
	return c.res, c.err
}

func (b *batcher[Req, Res]) loop(ctx context.Context) {
	for {
		b.mu.Lock()
		n := min(len(b.queue), b.max)
		calls := slices.Clone(b.queue[:n])
		b.queue = b.queue[n:]
		b.mu.Unlock()
		if n > 0 {
			b.process(calls)
			continue
		}
		select {
		case <-ctx.Done():
			b.mu.Lock()
			left := b.queue
			b.queue = nil
			b.mu.Unlock()
			if len(left) == 0 {
				return
			}
			b.process(left) // queued while stopping
		case <-b.kick:
		}
	}
}
