package aiflow

import (
	"context"
	"fmt"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

// IdempotencyKeyRetentionDefault is the default of
// Config.IdempotencyKeyRetention: 24 hours.
const IdempotencyKeyRetentionDefault = 24 * time.Hour

// checkIdempotencyKey checks an optional idempotency key (empty: none).
func checkIdempotencyKey(key string) error {
	if key == "" {
		return nil
	}
	return store.ValidateIdempotencyKey(key)
}

// appendOnce appends ev (a user event) once per idempotency key: without a
// key it appends as append does; with one, a repeated call returns the
// first call's event and appends nothing.
func (c *Client) appendOnce(ctx context.Context, op, key string, ev store.Event) (*Event, error) {
	if key == "" {
		return c.append(ctx, op, ev)
	}
	sctx, span := c.tel.sendSpan(ctx, &ev)
	out, replayed, err := c.store.AppendEventOnce(sctx, store.IdempotencyKey{Namespace: ev.Namespace, Kind: store.IdempotencySendEvent, Key: key}, ev)
	c.tel.endSend(span, op, &ev, true, err)
	if err != nil {
		return nil, opError(op, err)
	}
	if !replayed {
		c.tel.appended(ctx, []store.Event{out})
	}
	pub := eventFromStore(&out)
	return &pub, nil
}

// stoppedError returns an error matching ErrStopped for op once the client
// has been stopped, nil before.
func (c *Client) stoppedError(op string) error {
	c.mu.Lock()
	stopped := c.stopped
	c.mu.Unlock()
	if stopped {
		return opError(op, fmt.Errorf("%w: the client was stopped: create a new one with New", ErrStopped))
	}
	return nil
}
