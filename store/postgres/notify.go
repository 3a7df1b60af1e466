package postgres

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/store"
)

// hub wakes the store's subscribers. Wake-ups come from three sources:
//
//   - this process's own commits that appended events (at once, in process);
//   - the LISTEN connection, woken by the NOTIFY of other processes (and of
//     the caller's transactions in AppendEventsTx), and once after every
//     (re)connect, since notifications sent while it was away are lost;
//   - a poller that checks every EventPollInterval whether the last event
//     below the horizon moved (the fallback, and the only source from other
//     processes in PollOnly mode).
//
// After this process's own commits it also sends a NOTIFY (outside the
// committed transaction, coalesced) so that other processes wake up.
type hub struct {
	s *Store

	mu      sync.Mutex
	subs    map[int]chan struct{}
	nextSub int
	started bool
	closed  bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	remoteStarted bool
	remote        chan struct{} // cap 1: a NOTIFY is due

	// connects counts successful LISTEN (re)connections; for tests.
	connects atomic.Int64
	// listenConn is the current LISTEN connection's backend pid; for tests.
	listenPID atomic.Uint32
}

func newHub(s *Store) *hub {
	ctx, cancel := context.WithCancel(context.Background())
	return &hub{s: s, subs: map[int]chan struct{}{}, ctx: ctx, cancel: cancel, remote: make(chan struct{}, 1)}
}

// Subscribe returns a channel that receives a value (coalesced) whenever
// events may have been appended, and a function to unsubscribe. The first
// call starts the LISTEN connection (unless PollOnly) and the poller; they
// run until Close.
func (s *Store) Subscribe() (<-chan struct{}, func()) { return s.hub.subscribe() }

func (h *hub) subscribe() (<-chan struct{}, func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan struct{}, 1)
	id := h.nextSub
	h.nextSub++
	h.subs[id] = ch
	if !h.started && !h.closed {
		h.started = true
		if !h.s.cfg.PollOnly {
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				h.listen(h.ctx)
			}()
		}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.poll(h.ctx)
		}()
	}
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, id)
		h.mu.Unlock()
	}
}

// wake wakes every subscriber of this process.
func (h *hub) wake() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ch := range h.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// appended is called after this process committed a transaction that
// appended events: it wakes the local subscribers and has a NOTIFY sent for
// the other processes.
func (h *hub) appended() {
	h.wake()
	if h.s.cfg.PollOnly {
		return
	}
	h.mu.Lock()
	if !h.remoteStarted && !h.closed {
		h.remoteStarted = true
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.sendNotifications(h.ctx)
		}()
	}
	h.mu.Unlock()
	select {
	case h.remote <- struct{}{}:
	default:
	}
}

func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}

func (h *hub) subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// sendNotifications sends one NOTIFY per signal; signals that arrive while
// one is being sent are coalesced into the next.
func (h *hub) sendNotifications(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.remote:
		}
		nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := h.s.pool.Exec(nctx, "SELECT pg_notify($1, '')", h.s.channel)
		cancel()
		if err != nil && ctx.Err() == nil {
			// Only a hint: other processes poll.
			h.s.log.DebugContext(ctx, "sending the event notification failed", slog.Any("error", err))
		}
	}
}

// listen keeps a LISTEN connection open (a connection hijacked from the pool),
// reconnecting after failures, and wakes the subscribers on every
// notification and after every (re)connect.
func (h *hub) listen(ctx context.Context) {
	base := h.s.cfg.ListenerReconnect
	delay := base
	for {
		connected, err := h.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if connected {
			delay = base
		}
		h.s.log.WarnContext(ctx, "event listener connection lost; reconnecting", slog.Any("error", err), slog.Duration("delay", delay))
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// listenIdle is how long the listener waits for a notification before it
// checks that its connection is alive.
const listenIdle = 30 * time.Second

func (h *hub) listenOnce(ctx context.Context) (connected bool, err error) {
	pc, err := h.s.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	conn := pc.Hijack()
	defer func() {
		h.listenPID.Store(0)
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(cctx)
		cancel()
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{h.s.channel}.Sanitize()); err != nil {
		return false, err
	}
	h.listenPID.Store(conn.PgConn().PID())
	h.connects.Add(1)
	// Notifications sent while we were not listening are lost: catch up.
	h.wake()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdle)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			h.wake()
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) || pgconnTimeout(err):
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			perr := conn.Ping(pctx)
			cancel()
			if perr != nil {
				return true, perr
			}
		default:
			return true, err
		}
	}
}

func pgconnTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// poll wakes the subscribers when the last event below the horizon moved
// since the previous check.
func (h *hub) poll(ctx context.Context) {
	var last store.Position
	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(h.s.cfg.EventPollInterval):
		}
		if h.subscribers() == 0 {
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		pos, err := h.s.LastPosition(qctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				h.s.log.DebugContext(ctx, "polling for events failed", slog.Any("error", err))
			}
			continue
		}
		if first || pos != last {
			h.wake()
		}
		first, last = false, pos
	}
}
