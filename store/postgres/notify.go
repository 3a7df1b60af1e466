package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/internal/startstop"
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
//     processes in PollOnly mode);
//   - a horizon watcher, for readers that found committed events they cannot
//     read yet because an older transaction is still open (see await).
//
// After this process's own commits it also sends a NOTIFY (outside the
// committed transaction, coalesced) so that other processes wake up.
//
// Wake-ups name partitions and user keys: a subscriber of one partition
// (SubscribePartition) is woken by user events (which every partition may
// read) and by events of its own partition only, and one that reads only
// some user keys (SubscribeKeys) by the user events of those keys only. A
// NOTIFY's payload lists the partitions and the hashes of the user events'
// namespace and key (store.UserKeyHash, as "u" and 8 hex digits: "3,7,u0a1b2c3d"),
// or is "*" (or empty, or anything else it cannot read) for every
// subscriber.
type hub struct {
	s *Store

	mu      sync.Mutex
	subs    map[int]*subscriber
	nextSub int
	closed  bool

	// The hub's goroutines, each started when first needed (under mu, unless
	// closed) and stopped by close.
	listener startstop.Service // the LISTEN connection, unless PollOnly
	poller   startstop.Service // the fallback poll
	notifier startstop.Service // sends the NOTIFY of local appends
	watcher  startstop.Service // the horizon watcher

	remote        chan struct{} // cap 1: a NOTIFY is due
	pendingEvents bool          // an event NOTIFY is due
	pendingAll    bool          // ... for every partition
	pendingParts  map[int32]struct{}
	pendingUsers  map[uint32]struct{} // ... for the readers of these user keys
	pendingQueues map[string]struct{} // River insert notifications due

	// skipTimer wakes the skipped subscribers skipDelay
	// (skippedWakeDelay) after it is armed; nil when not armed.
	skipTimer *time.Timer
	skipDelay time.Duration

	// awaiting maps the subscribers waiting for the horizon (a partition, or
	// -1 for the subscribers of every partition) to the smallest xid they
	// wait for; see await.
	awaiting      map[int]uint64
	awaitSignal   chan struct{} // cap 1: awaiting changed
	awaits        atomic.Int64  // calls of await; for tests
	horizonChecks atomic.Int64  // queries of the horizon watcher; for tests
	// heldSince is when awaiting last became non-empty (zero while it is
	// empty); holder is the transaction last found holding the horizon
	// (looked up at holderLooked), holderWarned the multiples of
	// HorizonWarnAfter already logged. See checkHolder.
	heldSince    time.Time
	holder       HorizonHolder
	holderLooked time.Time
	holderWarned int

	// tag marks the NOTIFY payloads of this hub's commits after which it
	// wakes its own subscribers itself (taggedPayload): its listener
	// ignores them, where each used to wake the partitions' consumers a
	// second time for events they had already read. A random 8 hex
	// digits: two hubs on one schema that drew the same tag would each
	// miss the other's notifications of that kind and wake by polling.
	tag string
	// ownNotifies counts the notifications the listener ignored as its
	// own, notifyWakes those it woke subscribers for; for tests.
	ownNotifies, notifyWakes atomic.Int64
	// connects counts successful LISTEN (re)connections; for tests.
	connects atomic.Int64
	// listenConn is the current LISTEN connection's backend pid; for tests.
	listenPID atomic.Uint32
}

type subscriber struct {
	ch   chan struct{}
	part int // -1: every partition
	// keys returns the user keys the subscriber reads; nil (the func or
	// its result): every key.
	keys func() *store.KeySet
	// skipped: user events of other keys were appended since it was last
	// woken (see skippedWakeDelay).
	skipped bool
}

// skippedWakeDelay is how long a subscriber that reads only some user keys
// waits, after user events of other keys were appended, before it is woken
// all the same, so that its consumer moves its position past them (a cheap
// unit of work that reads nothing) and its lag stays current: at most once
// per delay, however many such events come, and never while none does.
const skippedWakeDelay = 100 * time.Millisecond

// wakeup says which subscribers a wake-up concerns: every one (all), those
// of the partitions parts (and of every partition), and those that read user
// events whose namespace and key hash (store.UserKeyHash) is in users.
type wakeup struct {
	all   bool
	parts []int32
	users []uint32
}

// partsWakeup is the wake-up for events of the partitions listed (-1, or an
// empty list, meaning events of every partition or of any key).
func partsWakeup(parts []int32) wakeup {
	if len(parts) == 0 || slices.Contains(parts, -1) {
		return wakeup{all: true}
	}
	return wakeup{parts: parts}
}

// eventsWakeup is the wake-up for events, parts[i] being the partition of
// events[i] (-1 for a user event, or for a control event that every
// partition reads, which wakes every subscriber).
func eventsWakeup(events []store.Event, parts []int32) wakeup {
	var w wakeup
	for i, p := range parts {
		switch {
		case p >= 0:
			w.parts = append(w.parts, p)
		case events[i].Kind == store.KindUser:
			w.users = append(w.users, store.UserKeyHash(events[i].Namespace, events[i].Key))
		default:
			return wakeup{all: true}
		}
	}
	w.all = len(w.parts) == 0 && len(w.users) == 0
	return w
}

// wakes reports whether w concerns sub. A subscriber of every partition
// (part -1) that reads only some user keys is woken by the events of every
// partition and by the user events of its keys.
func (sub *subscriber) wakes(w *wakeup) bool {
	if w.all || (sub.part < 0 && (sub.keys == nil || len(w.parts) > 0)) || slices.Contains(w.parts, int32(sub.part)) {
		return true
	}
	if len(w.users) == 0 {
		return false
	}
	if sub.keys == nil {
		return true
	}
	ks := sub.keys()
	for _, u := range w.users {
		if ks.HasHash(u) {
			return true
		}
	}
	return false
}

func newHub(s *Store) *hub {
	return &hub{s: s, tag: fmt.Sprintf("%08x", rand.Uint32()), subs: map[int]*subscriber{}, remote: make(chan struct{}, 1),
		pendingParts: map[int32]struct{}{}, pendingUsers: map[uint32]struct{}{}, pendingQueues: map[string]struct{}{},
		awaiting: map[int]uint64{}, awaitSignal: make(chan struct{}, 1), skipDelay: skippedWakeDelay}
}

// Subscribe returns a channel that receives a value (coalesced) whenever
// events may have been appended, and a function to unsubscribe. The first
// call starts the LISTEN connection (unless PollOnly) and the poller; they
// run until Close.
func (s *Store) Subscribe() (<-chan struct{}, func()) { return s.hub.subscribe(-1, nil) }

// SubscribePartition is Subscribe for the consumer of one partition: appends
// that concern only other partitions do not wake it (see
// store.PartitionSubscriber).
func (s *Store) SubscribePartition(partition int) (<-chan struct{}, func()) {
	return s.hub.subscribe(partition, nil)
}

// SubscribeKeys is SubscribePartition for the consumer of a partition that
// reads only the user events of the keys that keys returns (see
// store.KeySubscriber): the user events of other keys do not wake it at
// once. Partition -1 is every partition (the events of any partition wake
// it), as for a reader of status and control events that reads no user
// event (the timer service).
func (s *Store) SubscribeKeys(partition int, keys func() *store.KeySet) (<-chan struct{}, func()) {
	return s.hub.subscribe(partition, keys)
}

var _ store.KeySubscriber = (*Store)(nil)

func (h *hub) subscribe(part int, keys func() *store.KeySet) (<-chan struct{}, func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan struct{}, 1)
	id := h.nextSub
	h.nextSub++
	h.subs[id] = &subscriber{ch: ch, part: part, keys: keys}
	if !h.closed && !h.poller.Started() {
		if !h.s.cfg.PollOnly {
			_ = h.listener.Start(context.Background(), h.listen) // not started: no error
		}
		_ = h.poller.Start(context.Background(), h.poll)
	}
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, id)
		h.mu.Unlock()
	}
}

// wake wakes every subscriber of this process.
func (h *hub) wake() { h.wakeUp(wakeup{all: true}) }

// wakeParts wakes the subscribers of the partitions listed (-1, or an empty
// list, means every partition and every user key) and those of every
// partition.
func (h *hub) wakeParts(parts []int32) { h.wakeUp(partsWakeup(parts)) }

// wakeEvents wakes the subscribers concerned by events appended (with their
// Partition set).
func (h *hub) wakeEvents(events []store.Event) { h.wakeUp(eventsWakeup(events, partsOf(events))) }

// wakeUp wakes the subscribers that w concerns; those that it does not
// concern only because of the keys they read are woken skippedWakeDelay
// later.
func (h *hub) wakeUp(w wakeup) {
	h.mu.Lock()
	defer h.mu.Unlock()
	arm := false
	for _, sub := range h.subs {
		switch {
		case sub.wakes(&w):
			sub.skipped = false
			select {
			case sub.ch <- struct{}{}:
			default:
			}
		case len(w.users) > 0 && !sub.skipped:
			sub.skipped, arm = true, true
		}
	}
	if arm && h.skipTimer == nil && !h.closed {
		h.skipTimer = time.AfterFunc(h.skipDelay, h.wakeSkipped)
	}
}

// wakeSkipped wakes the subscribers that skipped user events of other keys.
func (h *hub) wakeSkipped() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.skipTimer = nil
	for _, sub := range h.subs {
		if sub.skipped {
			sub.skipped = false
			select {
			case sub.ch <- struct{}{}:
			default:
			}
		}
	}
}

// notifyPayload is the NOTIFY payload of w.
func notifyPayload(w wakeup) string {
	if w.all {
		return "*"
	}
	ps := slices.Clone(w.parts)
	slices.Sort(ps)
	ps = slices.Compact(ps)
	us := slices.Clone(w.users)
	slices.Sort(us)
	us = slices.Compact(us)
	var b strings.Builder
	for _, p := range ps {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(p)))
	}
	for _, u := range us {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "u%08x", u)
	}
	if b.Len() > 7000 { // NOTIFY payloads must stay under 8000 bytes
		return "*"
	}
	return b.String()
}

// taggedPayload is the NOTIFY payload of w sent by the hub tagged tag,
// after whose commit the hub's own subscribers are woken without it (see
// hub.tag): "o<tag>," then notifyPayload's. A reader that does not know the
// tag (an older version) wakes every subscriber on it.
func taggedPayload(tag string, w wakeup) string { return "o" + tag + "," + notifyPayload(w) }

// parsePayload reads a NOTIFY payload and its tag ("" when untagged); what
// it cannot read wakes every subscriber.
func parsePayload(p string) (w wakeup, tag string) {
	if len(p) >= 10 && p[0] == 'o' && p[9] == ',' {
		tag, p = p[1:9], p[10:]
	}
	return parseWakeup(p), tag
}

// parseWakeup reads notifyPayload's format.
func parseWakeup(p string) wakeup {
	if p == "" || p == "*" {
		return wakeup{all: true}
	}
	var w wakeup
	for _, f := range strings.Split(p, ",") {
		if len(f) == 9 && f[0] == 'u' {
			u, err := strconv.ParseUint(f[1:], 16, 32)
			if err != nil {
				return wakeup{all: true}
			}
			w.users = append(w.users, uint32(u))
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return wakeup{all: true}
		}
		w.parts = append(w.parts, int32(n))
	}
	return w
}

// appended is called after this process committed a transaction that
// appended events of the partitions listed (-1 for user events, which then
// concern every subscriber): it wakes the local subscribers and has a NOTIFY
// sent for the other processes.
func (h *hub) appended(parts []int32) {
	w := partsWakeup(parts)
	h.wakeUp(w)
	h.remoteNotify(func() {
		if w.all {
			h.pendingAll = true
		} else if !h.pendingAll {
			for _, p := range w.parts {
				h.pendingParts[p] = struct{}{}
			}
		}
		h.pendingEvents = true
	})
}

// jobsInserted is called after this process committed River jobs that are
// available now: it has River's insert notification sent for their queues.
// River sends one in the inserting transaction too, but at most once per
// FetchCooldown per queue and process, so a job committed right after
// another could otherwise wait for River's next poll (FetchPollInterval).
// The channel ("<schema>.river_insert") and payload ({"queue": ...}) are
// River's cross-client insert notification.
func (h *hub) jobsInserted(queues []string) {
	h.remoteNotify(func() {
		for _, q := range queues {
			h.pendingQueues[q] = struct{}{}
		}
	})
}

// remoteNotify records what the next NOTIFY must say (under h.mu) and wakes
// the sender, starting it if needed. It does nothing in PollOnly mode.
func (h *hub) remoteNotify(record func()) {
	if h.s.cfg.PollOnly {
		return
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	if !h.notifier.Started() {
		_ = h.notifier.Start(context.Background(), h.sendNotifications) // not started: no error
	}
	record()
	h.mu.Unlock()
	select {
	case h.remote <- struct{}{}:
	default:
	}
}

// takePending returns the due notifications (channel and payload pairs) and
// resets them.
func (h *hub) takePending() [][2]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out [][2]string
	if h.pendingEvents {
		w := wakeup{all: h.pendingAll}
		for p := range h.pendingParts {
			w.parts = append(w.parts, p)
		}
		for u := range h.pendingUsers {
			w.users = append(w.users, u)
		}
		out = append(out, [2]string{h.s.channel, taggedPayload(h.tag, w)})
	}
	for q := range h.pendingQueues {
		payload, _ := json.Marshal(map[string]string{"queue": q})
		out = append(out, [2]string{h.s.cfg.Schema + ".river_insert", string(payload)})
	}
	h.pendingEvents, h.pendingAll = false, false
	clear(h.pendingParts)
	clear(h.pendingUsers)
	clear(h.pendingQueues)
	return out
}

// close stops the hub's goroutines (all cancelled first, then awaited); none
// starts again.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	if h.skipTimer != nil {
		h.skipTimer.Stop()
	}
	h.mu.Unlock()
	svcs := []*startstop.Service{&h.listener, &h.poller, &h.notifier, &h.watcher}
	for _, svc := range svcs {
		svc.Cancel()
	}
	for _, svc := range svcs {
		_ = svc.Stop(context.Background()) // waits: it cannot fail
	}
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
		due := h.takePending()
		if len(due) == 0 {
			continue
		}
		b := &pgx.Batch{}
		for _, n := range due {
			b.Queue("SELECT pg_notify($1, $2)", n[0], n[1])
		}
		nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := h.s.pool.SendBatch(nctx, b).Close()
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
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			w, tag := parsePayload(n.Payload)
			if tag == h.tag {
				// This process's own: its subscribers were woken when
				// it committed.
				h.ownNotifies.Add(1)
				continue
			}
			h.notifyWakes.Add(1)
			h.wakeUp(w)
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

// Bounds of the horizon watcher's backoff: it first checks 250 µs after a
// reader found events above the horizon, then doubles the wait up to
// horizonStepMax (or EventPollInterval, if shorter) while they stay there.
// Most holders are short transactions (another unit of work, a final
// status) that end within a millisecond: checking at 1 ms first, as until
// 2026-12, let a waiting event miss its turn by up to a millisecond; the
// shorter first steps cost a few checks more per wait.
const (
	horizonStepMin = 250 * time.Microsecond
	horizonStepMax = 100 * time.Millisecond
)

// await is called by a reader that found committed events it cannot read
// yet: the smallest of their xids, xid, is at or above the horizon, because a
// transaction that started before theirs is still open (anywhere on the
// server). No notification will come when that transaction ends, so the
// horizon watcher checks the horizon with a short growing backoff and wakes
// the subscribers of part (a partition, or -1 for the subscribers of every
// partition) as soon as xid is below it. The watcher runs only while someone
// waits: an idle store does not poll for it.
func (h *hub) await(part int, xid uint64) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	if len(h.awaiting) == 0 {
		h.heldSince, h.holder, h.holderLooked, h.holderWarned = time.Now(), HorizonHolder{}, time.Time{}, 0
	}
	if cur, ok := h.awaiting[part]; !ok || xid < cur {
		h.awaiting[part] = xid
	}
	if !h.watcher.Started() {
		_ = h.watcher.Start(context.Background(), h.watchHorizon) // not started: no error
	}
	h.mu.Unlock()
	h.awaits.Add(1)
	select {
	case h.awaitSignal <- struct{}{}:
	default:
	}
}

// watchHorizon wakes the subscribers recorded by await once the horizon has
// passed the xid they wait for; see await.
func (h *hub) watchHorizon(ctx context.Context) {
	maxStep := min(horizonStepMax, h.s.cfg.EventPollInterval)
	var step time.Duration
	// filtering: the last check passed the plain horizon thanks to the
	// filtered one (a transaction of another database is open): every new
	// event waits for the next check, so check at once.
	filtering := false
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		h.mu.Lock()
		waiting := len(h.awaiting)
		h.mu.Unlock()
		if waiting == 0 {
			step = 0
			select {
			case <-ctx.Done():
				return
			case <-h.awaitSignal:
			}
			continue
		}
		switch {
		case step == 0 && filtering:
			step = horizonStepMin / 2
		case step == 0:
			step = horizonStepMin
		default:
			step = min(2*step, maxStep)
		}
		if step >= horizonStepMin {
			timer.Reset(step)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		h.mu.Lock()
		oldest := uint64(0)
		for _, xid := range h.awaiting {
			if oldest == 0 || xid < oldest {
				oldest = xid
			}
		}
		filter := filtering || time.Since(h.heldSince) >= horizonFilterAfter
		h.mu.Unlock()
		var plain, x uint64
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := h.s.pool.QueryRow(qctx, h.s.q(horizonCheckSQL), oldest, filter).Scan(&plain, &x)
		cancel()
		filtering = err == nil && x > plain
		h.horizonChecks.Add(1)
		if err != nil {
			if ctx.Err() == nil {
				h.s.log.DebugContext(ctx, "reading the horizon failed", slog.Any("error", err))
			}
			continue
		}
		var parts []int32
		every := false
		h.mu.Lock()
		for p, xid := range h.awaiting {
			if xid < x {
				delete(h.awaiting, p)
				if p < 0 {
					every = true
				} else {
					parts = append(parts, int32(p))
				}
			}
		}
		waiting = len(h.awaiting)
		if waiting == 0 {
			h.heldSince, h.holder = time.Time{}, HorizonHolder{}
		}
		h.mu.Unlock()
		if waiting > 0 {
			h.checkHolder(ctx, x)
		}
		if len(parts) > 0 {
			h.wakeParts(parts)
		}
		if every {
			h.wakeEvery()
		}
	}
}

// wakeEvery wakes the subscribers of every partition (Subscribe) only.
func (h *hub) wakeEvery() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, sub := range h.subs {
		if sub.part < 0 {
			select {
			case sub.ch <- struct{}{}:
			default:
			}
		}
	}
}
