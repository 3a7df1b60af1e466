package aiflow

import (
	"context"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

// LagCountLimit bounds Health.Lag: a backlog of more events than this
// counts this many, so that measuring it stays cheap.
const LagCountLimit = store.LagCountLimit

// Health is a client's view of its own health (see Client.Health).
type Health struct {
	// Consuming is true while the client is started and consumes events
	// (its partition loops run); false before Start and after Stop.
	Consuming bool
	// Partitions are the partitions this client consumes now.
	Partitions []int
	// Lag is the largest number of events waiting in one of this client's
	// partitions (bounded by LagCountLimit), and LagAge the age of the oldest of
	// them. Both are zero when the store cannot tell (it does not implement
	// store.LagReader) or nothing waits.
	Lag    int64
	LagAge time.Duration
	// WorkersAlive is true while the client's task workers run.
	WorkersAlive bool
	// Leading is true while this client leads (runs schedules and timers).
	Leading bool
	// StoreErr is the error of a check that the store answers (a ping of
	// Postgres), nil when it answers.
	StoreErr error
	// SchemaErr is the error of a check that the store's schema is migrated
	// to the version the store expects, nil when it is (or the store has no
	// schema).
	SchemaErr error
	// Err is Client.Err: nil, since no background failure stops a client
	// (see Client.Done).
	Err error
}

// Healthy reports whether h is a running client whose store answers.
func (h Health) Healthy() bool {
	return h.Consuming && h.WorkersAlive && h.StoreErr == nil && h.SchemaErr == nil && h.Err == nil
}

// Health reports whether this client is consuming, how far behind it is,
// whether its workers are alive and whether its store answers. It runs at
// most three cheap store queries, bounded by ctx.
func (c *Client) Health(ctx context.Context) Health {
	c.mu.Lock()
	rt, timers, running := c.rt, c.timers, c.started && !c.stopped
	c.mu.Unlock()
	h := Health{Consuming: running, WorkersAlive: running, Err: c.Err()}
	if rt != nil && running {
		h.Partitions = rt.Owned()
	}
	if timers != nil && running {
		h.Leading = timers.Leading()
	}
	if p, ok := c.store.(store.Pinger); ok {
		h.StoreErr = p.Ping(ctx)
	}
	if sc, ok := c.store.(store.SchemaChecker); ok {
		h.SchemaErr = sc.CheckSchema(ctx)
	}
	if lr, ok := c.store.(store.LagReader); ok && len(h.Partitions) > 0 && h.StoreErr == nil {
		lags, err := lr.PartitionLag(ctx)
		if err != nil {
			h.StoreErr = err
		}
		owned := map[int]bool{}
		for _, p := range h.Partitions {
			owned[p] = true
		}
		now := c.clock.Now()
		for _, l := range lags {
			if !owned[l.Partition] {
				continue
			}
			h.Lag = max(h.Lag, l.Events)
			if !l.Oldest.IsZero() {
				h.LagAge = max(h.LagAge, now.Sub(l.Oldest))
			}
		}
	}
	return h
}

// Done returns a channel that is closed once the client has stopped, which
// happens only through Stop (Run calls it when its context ends): a started
// client never stops by itself. No background failure is fatal: the
// partitions' consumers, the task workers, the leader's schedules and
// timers, the reaper and the pruners retry every failed store operation
// with backoff until Stop, because each failure they can meet ends without
// the application's help (Postgres unreachable or restarting, a lease or
// the leadership lost to another client, a schema being migrated, a
// condition that keeps failing, which becomes a poison event) and a client
// that gave up would need the application to build a new one anyway. Such
// trouble shows in Health (StoreErr, SchemaErr, a growing Lag), in the
// metrics (docs/observability.md) and in the log, not on Done.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns the fatal background error the client stopped on. Since no
// background failure is fatal (see Done), it returns nil, also after Stop;
// an application that waits on Done and then checks Err stays correct if a
// later version makes a failure fatal.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fatalErr
}
