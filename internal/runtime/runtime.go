// Package runtime runs the engine against a store: it claims partitions, and
// for each partition it owns it runs one consuming loop that applies batches
// of events through the engine in the store's unit of work.
//
// Import rule: runtime imports store, internal/engine, internal/startstop
// and the standard library (plus clockwork for time). It does not know operators or the public
// API; the root package hands it a [store.TaskHandler].
//
// # The consuming loop
//
// Each owned partition has one goroutine and one engine. The engine's state
// is a cache of the partition's snapshots: it is used as long as the
// partition's version (the number of commits) is the one the loop saw after
// its own last commit, and reloaded from the snapshots otherwise (another
// client committed meanwhile, or a unit of work failed). A loop wakes on the
// store's notifications, on its poll interval, and right away while a batch
// was full.
//
// A failing unit of work is rolled back and retried with exponential backoff.
// When the failure is a condition that errors or panics on one event and one
// execution, the loop counts the attempts; after PoisonAttempts it asks the
// engine to skip that application and to record it as a poison_event event,
// so one bad condition cannot stall its partition. A store that implements
// [store.FailureRecorder] keeps the counts with the partition's position, so
// the bound holds across restarts and lease moves (the loop's own count
// prevails when it is higher, as when recording failed); otherwise they are
// counted per loop and start again from zero in a new loop.
//
// A condition that never returns stalls its partition: Go cannot interrupt a
// goroutine, and abandoning the evaluation would leave user code running on
// the engine's state. There is no timeout; conditions must be quick and do
// no I/O (see aiflow.Condition).
package runtime

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/aiflow-go/aiflow/internal/engine"
	"github.com/aiflow-go/aiflow/internal/startstop"
	"github.com/aiflow-go/aiflow/store"
)

// Defaults of Config, which the root package's Config repeats by name.
const (
	// PollIntervalDefault is Config.PollInterval when it is zero.
	PollIntervalDefault = time.Second
	// LeaseTTLDefault is Config.LeaseTTL when it is zero.
	LeaseTTLDefault = 15 * time.Second
	// MaxBatchDefault is Config.MaxBatch when it is zero.
	MaxBatchDefault = store.DefaultMaxEvents
	// PoisonAttemptsDefault is Config.PoisonAttempts when it is zero.
	PoisonAttemptsDefault = 3
	// MaxInterruptionsDefault is Config.MaxInterruptions when it is zero.
	MaxInterruptionsDefault = store.MaxInterruptionsDefault
)

// Bounds of the backoff between retries of a failed unit of work: it starts
// at RetryBackoffMin, doubles with each failure up to RetryBackoffMax and is
// jittered by ±20 %. Constants rather than settings: a unit of work fails
// because the store does, and these only space out the attempts.
const (
	RetryBackoffMin = 20 * time.Millisecond
	RetryBackoffMax = 5 * time.Second
)

// Config configures a Runtime.
type Config struct {
	Store    store.Store
	Registry *engine.Registry
	// Owner identifies this client in partition leases.
	Owner  string
	Logger *slog.Logger
	Clock  clockwork.Clock
	// PollInterval is how often an idle partition loop looks for events
	// without a notification.
	PollInterval time.Duration
	// LeaseTTL is the validity of a partition lease; leases are renewed
	// every third of it.
	LeaseTTL time.Duration
	// MaxBatch bounds the events of one unit of work.
	MaxBatch int
	// PoisonAttempts is the number of failed attempts at applying one event
	// to one execution before it is skipped. Counted across processes when
	// the store is a store.FailureRecorder.
	PoisonAttempts int
	// MaxInterruptions is how many attempts of one task execution
	// interrupted by the loss of their worker are run again (the task
	// executions created here carry it); a negative value means none.
	MaxInterruptions int
	// OnCommit, if set, is called after every committed unit of work with
	// the number of events it applied. For tests and metrics.
	OnCommit func(partition, events int)
	// Observer, if set, is told about every unit of work that has events
	// to apply (telemetry).
	Observer Observer
}

// Observer watches units of work. BeginUnit is called inside a unit that has
// events to apply, before the engine applies them; the context it returns is
// the one the unit goes on with, and end is called once: with the unit's
// effects and the number of events it applied when it committed (err nil),
// or with the error that rolled it back. The events applied are the first
// applied of events: a unit that stops after an event that made the engine
// expect a key its batch was not read with applies the rest in a later
// unit, which is told of them again.
type Observer interface {
	BeginUnit(ctx context.Context, partition int, events []store.Event) (_ context.Context, end func(fx *store.Effects, applied int, err error))
}

// Runtime consumes the partitions a client owns.
type Runtime struct {
	cfg Config
	log *slog.Logger
	// claimer runs the claim loop; the partition loops run under its
	// context.
	claimer startstop.Service

	mu    sync.Mutex
	loops map[int]*startstop.Service // one per owned partition
	// reclaim asks the claim loop to claim now (a loop lost its lease).
	reclaim chan struct{}
}

// WithDefaults returns a copy of cfg with its zero (or negative) fields set
// to their defaults: a discarding logger, the real clock and the …Default
// constants. The root package calls it to fill its own Config, so each
// default is written once.
func (cfg Config) WithDefaults() Config {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = PollIntervalDefault
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = LeaseTTLDefault
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = MaxBatchDefault
	}
	if cfg.PoisonAttempts <= 0 {
		cfg.PoisonAttempts = PoisonAttemptsDefault
	}
	if cfg.MaxInterruptions == 0 {
		cfg.MaxInterruptions = MaxInterruptionsDefault
	}
	return cfg
}

// New returns a runtime for cfg (with its defaults filled in); Start runs
// it.
func New(cfg Config) *Runtime {
	cfg = cfg.WithDefaults()
	return &Runtime{cfg: cfg, log: cfg.Logger.With(slog.String("service", "runtime")), loops: map[int]*startstop.Service{}, reclaim: make(chan struct{}, 1)}
}

// Start claims partitions and runs their loops until Stop.
func (r *Runtime) Start(ctx context.Context) error {
	return r.claimer.StartInit(context.WithoutCancel(ctx), r.claim, r.claimLoop)
}

// Stop stops every loop, waits for them and releases the leases.
func (r *Runtime) Stop(ctx context.Context) error {
	if !r.claimer.Started() {
		return nil
	}
	// Stopping the claim loop cancels the partition loops' contexts too.
	_ = r.claimer.Stop(context.Background())
	r.mu.Lock()
	loops := r.loops
	r.loops = map[int]*startstop.Service{}
	r.mu.Unlock()
	for _, l := range loops {
		_ = l.Stop(context.Background())
	}
	return r.cfg.Store.ReleasePartitions(ctx, r.cfg.Owner)
}

// Owned returns the partitions this runtime consumes now.
func (r *Runtime) Owned() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]int, 0, len(r.loops))
	for p := range r.loops {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func (r *Runtime) claimLoop(ctx context.Context) {
	interval := r.cfg.LeaseTTL / 3
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.cfg.Clock.After(interval):
		case <-r.reclaim:
		}
		if err := r.claim(ctx); err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "claiming partitions", slog.Any("error", err))
		}
	}
}

func (r *Runtime) claim(ctx context.Context) error {
	owned, err := r.cfg.Store.ClaimPartitions(ctx, r.cfg.Owner, r.cfg.LeaseTTL)
	if err != nil {
		return err
	}
	want := map[int]bool{}
	for _, p := range owned {
		want[p] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, l := range r.loops {
		select {
		case <-l.Done():
			delete(r.loops, p) // ended (lost lease); restart below if owned again
		default:
			if !want[p] {
				l.Cancel() // no wait: the loop ends on its own
				delete(r.loops, p)
			}
		}
	}
	for _, p := range owned {
		if _, ok := r.loops[p]; ok {
			continue
		}
		l := &startstop.Service{}
		err := l.Start(ctx, func(ctx context.Context) {
			if r.runPartition(ctx, p) { // claim again now: the lease may have expired while we were busy
				select {
				case r.reclaim <- struct{}{}:
				default:
				}
			}
		})
		if err != nil {
			return err // ctx ended: the runtime stops
		}
		r.loops[p] = l
	}
	return nil
}

type poisonCount struct {
	attempts int
	err      string
}

// partitionLoop is the state of the consuming loop of one partition.
type partitionLoop struct {
	r        *Runtime
	log      *slog.Logger
	eng      *engine.Engine
	ids      *idPool
	params   store.ConsumeParams
	recorder store.FailureRecorder // nil when the store keeps no counts
	// cached is the partition version the engine's state reflects; -1 when
	// it must be reloaded.
	cached int64
	// failures counts the failed attempts at the next batch: the larger of
	// the store's record and this loop's own count.
	failures map[engine.PoisonKey]*poisonCount
	// batchVersion is the partition version of the latest batch applied.
	batchVersion int64
	// applied is the number of events of the latest unit of work;
	// committed is true when it had effects to commit (at least a new
	// position).
	applied   int
	committed bool
	// keysGen is the registry generation that params.UserKeys was
	// computed at.
	keysGen int64
	// pl is the store's placement. When it spreads executions, the user
	// keys read are the registry's (triggers, enabling) plus the keys that
	// the engine's running executions expect: static is the registry's set
	// and engKeys the engine's generation that keys was built from. keys
	// is the set read now, which the wake-ups filter by too; cut is set
	// when the latest unit stopped after an event that made the engine
	// expect a key it had not read (the rest is read again).
	pl      store.Placement
	static  *store.KeySet
	engKeys int64
	keys    atomic.Pointer[store.KeySet]
	readGen atomic.Int64 // keysGen, for the wake-ups
	cut     bool
	// fx and endUnit are the effects of the latest unit of work and the
	// Observer's end of it (nil without an Observer or events).
	fx      *store.Effects
	endUnit func(*store.Effects, int, error)
}

// runPartition consumes a partition until ctx ends (it returns false) or the
// lease is lost (it returns true).
func (r *Runtime) runPartition(ctx context.Context, part int) (lostLease bool) {
	recorder, _ := r.cfg.Store.(store.FailureRecorder)
	l := &partitionLoop{
		r: r, log: r.log.With(slog.Int("partition", part)),
		eng: engine.New(r.cfg.Registry, part, engine.WithPlacement(r.cfg.Store.Placement()),
			engine.WithMaxInterruptions(r.cfg.MaxInterruptions)),
		ids:    &idPool{store: r.cfg.Store},
		params: store.ConsumeParams{Partition: part, Owner: r.cfg.Owner, MaxEvents: r.cfg.MaxBatch},
		cached: -1, recorder: recorder, failures: map[engine.PoisonKey]*poisonCount{}, pl: r.cfg.Store.Placement(),
	}
	l.userKeys()
	wake, unsubscribe := r.subscribe(part, l.wakeKeys)
	defer unsubscribe()

	backoff := time.Duration(0)
	for {
		l.applied, l.committed, l.cut = 0, false, false
		l.params.UserKeys = l.userKeys()
		res, err := r.cfg.Store.Consume(ctx, l.params, l.apply)
		if l.endUnit != nil {
			l.endUnit(l.fx, l.applied, err)
			l.endUnit, l.fx = nil, nil
		}
		switch {
		case err == nil:
			if l.committed {
				l.cached = res.Version
				clear(l.failures)
			}
			if l.applied > 0 && r.cfg.OnCommit != nil {
				r.cfg.OnCommit(part, l.applied)
			}
			backoff = 0
		case ctx.Err() != nil:
			return
		case errors.Is(err, errKeysChanged):
			continue // read again with the new keys
		case errors.Is(err, store.ErrNotOwner):
			l.log.InfoContext(ctx, "partition lease lost; stopping its loop")
			return true
		default:
			l.cached = -1
			if !l.failed(ctx, err) {
				return
			}
			backoff = nextBackoff(backoff)
			select {
			case <-ctx.Done():
				return
			case <-r.cfg.Clock.After(backoff):
			}
			continue
		}
		if res.More || l.cut {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-r.cfg.Clock.After(r.cfg.PollInterval):
		}
	}
}

// subscribe returns the wake-up channel of partition part's loop: only the
// user events of the keys the partition reads (keys) wake it, when the store
// can tell them apart.
func (r *Runtime) subscribe(part int, keys func() *store.KeySet) (<-chan struct{}, func()) {
	switch s := r.cfg.Store.(type) {
	case store.KeySubscriber:
		return s.SubscribeKeys(part, keys)
	case store.PartitionSubscriber:
		return s.SubscribePartition(part)
	}
	return r.cfg.Store.Subscribe()
}

// userKeys computes the user keys the next batch is read with (see
// partitionLoop.pl) and keeps them for the wake-ups; it sets the keys of the
// events addressed to other partitions' executions that the batch reads
// (params.AddressedKeys: the triggers' keys).
func (l *partitionLoop) userKeys() *store.KeySet {
	static, triggers, gen := l.r.cfg.Registry.PartitionKeys(l.params.Partition, l.pl)
	l.keysGen = gen
	// Of an event addressed to an execution of another partition, only
	// the partition's triggers apply here.
	l.params.AddressedKeys = triggers
	// The set before its generation: a wake-up that reads the generation
	// first sees the set of it or a later one.
	defer l.readGen.Store(gen)
	if !l.pl.Spreads() {
		l.keys.Store(static)
		return static
	}
	pairs, eg := l.eng.ExpectedKeys()
	if ks := l.keys.Load(); ks != nil && static == l.static && eg == l.engKeys {
		return ks
	}
	ks := static.With(pairs)
	l.static, l.engKeys = static, eg
	l.keys.Store(ks)
	return ks
}

// wakeKeys is the set of user keys whose events wake the loop: those read
// now, or every key (nil) while the registry has changed since they were
// computed. It is called from any goroutine.
func (l *partitionLoop) wakeKeys() *store.KeySet {
	if l.r.cfg.Registry.Gen() != l.readGen.Load() {
		return nil
	}
	return l.keys.Load()
}

// missingKeys reports whether the engine's running executions expect a key
// that the batch was not read with (its state was just reloaded, as after
// taking over the partition): the batch is then read again.
func (l *partitionLoop) missingKeys() bool {
	if !l.pl.Spreads() {
		return false
	}
	pairs, _ := l.eng.ExpectedKeys()
	for _, p := range pairs {
		if !l.params.UserKeys.Has(p[0], p[1]) {
			return true
		}
	}
	return false
}

// applyEvents applies evs and returns how many it applied: all of them,
// unless an event made the engine expect a user key that the batch was not
// read with (a new execution in this partition): it stops after that one
// (cut), so that the events after it, and the user events the batch left
// out after it, are read again with the key.
func (l *partitionLoop) applyEvents(evs []store.Event) (n int, cut bool, err error) {
	if !l.pl.Spreads() {
		return len(evs), false, l.eng.ApplyBatch(evs)
	}
	seen := 0
	for i := range evs {
		if err := l.eng.Apply(&evs[i]); err != nil {
			return i, false, err
		}
		added := l.eng.AddedKeys()
		for ; seen < len(added); seen++ {
			if !l.params.UserKeys.Has(added[seen][0], added[seen][1]) {
				return i + 1, true, nil
			}
		}
	}
	return len(evs), false, nil
}

// errKeysChanged: a workflow or trigger was registered while a batch was
// read with the keys of the registry before it, or the engine's state
// reloaded meanwhile expects keys the batch was not read with, so the batch
// may lack events of those keys: it is read again.
var errKeysChanged = errors.New("runtime: the registered keys changed while the batch was read")

// apply is the unit of work of one batch: it reloads the engine's state if
// another unit committed meanwhile, and applies the batch's events, skipping
// the applications that failed PoisonAttempts times. It commits the batch's
// End, past the user events the batch left out.
func (l *partitionLoop) apply(ctx context.Context, b store.Batch) (*store.Effects, error) {
	// A registration that happened before an event committed happened
	// before this check (the batch was read after the commit), so the
	// events the batch left out are of keys no registered workflow of the
	// partition expects.
	if l.r.cfg.Registry.Gen() != l.keysGen {
		return nil, errKeysChanged
	}
	if b.Version() != l.cached {
		snaps, err := b.Snapshots(ctx)
		if err != nil {
			return nil, err
		}
		if err := l.eng.Load(snaps); err != nil {
			return nil, err
		}
		l.cached = b.Version()
		if l.missingKeys() {
			return nil, errKeysChanged
		}
	}
	evs := b.Events()
	if len(evs) == 0 {
		if b.Position().Less(b.End()) {
			// Only events left out: move past them.
			l.committed = true
			return &store.Effects{Position: b.End()}, nil
		}
		return nil, nil
	}
	l.batchVersion = b.Version()
	if o := l.r.cfg.Observer; o != nil {
		ctx, l.endUnit = o.BeginUnit(ctx, b.Partition(), evs)
	}
	if fb, ok := b.(store.FailuresBatch); ok && l.recorder != nil {
		for _, f := range fb.Failures() {
			mergeFailure(l.failures, f)
		}
	}
	var skip map[engine.PoisonKey]string
	for k, f := range l.failures {
		if f.attempts >= l.r.cfg.PoisonAttempts {
			if skip == nil {
				skip = map[engine.PoisonKey]string{}
			}
			skip[k] = f.err
		}
	}
	l.ids.ctx = ctx
	l.eng.Begin(l.ids, skip)
	n, cut, err := l.applyEvents(evs)
	if err != nil {
		l.eng.End()
		return nil, err
	}
	fx := l.eng.End()
	fx.Position = b.End()
	if cut {
		// The events after the cut are read again: the Observer is
		// told how many this unit applied.
		fx.Position, l.cut = evs[n-1].Position, true
	}
	l.applied, l.fx, l.committed = n, fx, true
	return fx, nil
}

// failed counts and logs a failed unit of work; a condition's failure is
// also recorded in the store when it keeps counts. It returns false when ctx
// ended meanwhile.
func (l *partitionLoop) failed(ctx context.Context, err error) bool {
	ee, ok := engine.IsEvalError(err)
	if !ok {
		l.log.WarnContext(ctx, "unit of work failed; retrying", slog.Any("error", err))
		return true
	}
	f := l.failures[ee.Key]
	if f == nil {
		f = &poisonCount{}
		l.failures[ee.Key] = f
	}
	f.attempts++
	f.err = ee.Err.Error()
	if l.recorder != nil {
		recorded, rerr := l.recorder.RecordFailure(ctx, l.params, l.batchVersion,
			store.FailedApplication{EventID: ee.Key.EventID, Target: ee.Key.Target, Error: f.err})
		switch {
		case rerr == nil:
			for _, rf := range recorded {
				mergeFailure(l.failures, rf)
			}
		case ctx.Err() != nil:
			return false
		default:
			l.log.WarnContext(ctx, "recording a failed attempt; counting it in this loop only", slog.Any("error", rerr))
		}
	}
	l.log.WarnContext(ctx, "condition failed; the batch is rolled back and retried",
		slog.Int64("event_id", ee.Key.EventID), slog.String("target", ee.Key.Target),
		slog.Int("attempt", f.attempts), slog.Any("error", ee.Err))
	return true
}

// mergeFailure raises the count of f's application to f.Attempts.
func mergeFailure(failures map[engine.PoisonKey]*poisonCount, f store.FailedApplication) {
	k := engine.PoisonKey{EventID: f.EventID, Target: f.Target}
	c := failures[k]
	if c == nil {
		c = &poisonCount{}
		failures[k] = c
	}
	if f.Attempts > c.attempts {
		c.attempts, c.err = f.Attempts, f.Error
	}
}

func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		d = RetryBackoffMin
	} else {
		d *= 2
	}
	if d > RetryBackoffMax {
		d = RetryBackoffMax
	}
	// ±20 % jitter so that replicas do not retry in lock step.
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// idPool prefetches ids from the store.
type idPool struct {
	store store.Store
	ctx   context.Context
	execs []int64
	tasks []int64
}

const idPrefetch = 64

func (p *idPool) NextExecutionID() (int64, error) {
	if len(p.execs) == 0 {
		ids, err := p.store.AllocateExecutionIDs(p.ctx, 8)
		if err != nil {
			return 0, err
		}
		p.execs = ids
	}
	id := p.execs[0]
	p.execs = p.execs[1:]
	return id, nil
}

func (p *idPool) NextTaskExecutionID() (int64, error) {
	if len(p.tasks) == 0 {
		ids, err := p.store.AllocateTaskExecutionIDs(p.ctx, idPrefetch)
		if err != nil {
			return 0, err
		}
		p.tasks = ids
	}
	id := p.tasks[0]
	p.tasks = p.tasks[1:]
	return id, nil
}
