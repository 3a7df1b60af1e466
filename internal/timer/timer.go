// Package timer fires the ticks of workflow schedules and periodic tasks. It
// runs on the elected leader only (store.Elector): each client campaigns, and
// the one that leads arms gocron one-time jobs at the nominal fire times.
//
// A tick fires through store.Schedules.FireTimer, which records (timer key,
// nominal time) and appends the tick's control event in one transaction, once:
// a tick fires exactly once however many leaders there are over time (a
// leader change, or two clients that both believe they lead).
//
// Timers follow the store: on becoming leader, and whenever the log shows a
// schedule change or a workflow execution starting or finishing (for periodic
// tasks), and every ResyncInterval as a fallback, the leader lists the
// schedules and the running executions and arms, re-arms or drops timers.
//
// Missed ticks: ticks that fell due and were not fired by a job, either
// before a timer was armed (nobody led; after the schedule's last firing and
// its last resume) or while an armed timer was late (a slow or retried
// firing, a stall), are fired if the schedule's CatchUp allows (the most
// recent CatchUp of them, in time order); the others are skipped, and one
// "aiflow.schedule_skipped" event per run of them says so. Periodic tasks
// skip missed ticks without an event. Ticks that fell due while a schedule
// was paused are not missed ticks: they never fire.
//
// The records of fired ticks would grow without bound (86,400 a day for a
// one-second schedule): every PruneInterval the leader deletes those older
// than FiringRetention, except the latest of each schedule (its latest
// CatchUp) and of each running execution's periodic timers, which later
// firings are checked against.
//
// Import rule: store, internal/engine (definitions), internal/schedule,
// internal/startstop, gocron (with its job ids, google/uuid) and clockwork.
package timer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"github.com/aiflow-go/aiflow/internal/engine"
	"github.com/aiflow-go/aiflow/internal/schedule"
	"github.com/aiflow-go/aiflow/internal/startstop"
	"github.com/aiflow-go/aiflow/store"
)

// ResyncIntervalDefault is how often the leader re-reads schedules and
// running executions without being told to.
const ResyncIntervalDefault = 30 * time.Second

// Defaults of the pruning of firing records (Config.FiringRetention and
// Config.PruneInterval).
const (
	FiringRetentionDefault = time.Hour
	PruneIntervalDefault   = 10 * time.Minute
)

// Bounds of the backoff between attempts at firing a tick the store failed
// to record: it starts at fireBackoffMin and doubles up to fireBackoffMax.
// Constants rather than settings: they only space out retries against a
// failing store, and the term's end stops them.
const (
	fireBackoffMin = 50 * time.Millisecond
	fireBackoffMax = 5 * time.Second
)

// Config configures a Service.
type Config struct {
	Store    store.Store
	Registry *engine.Registry
	Owner    string
	Clock    clockwork.Clock
	Logger   *slog.Logger
	// ResyncInterval: ResyncIntervalDefault when zero.
	ResyncInterval time.Duration
	// FiringRetention is how long the record of a fired tick is kept at
	// least (FiringRetentionDefault when zero): long enough for every
	// leader that may still try the tick (a stale or stalled one) to have
	// given up. Older records go, except the latest of each live timer
	// (the latest CatchUp of a schedule), which later firings are checked
	// against.
	FiringRetention time.Duration
	// PruneInterval is how often the leader prunes firing records
	// (PruneIntervalDefault when zero).
	PruneInterval time.Duration
	// OnArm, if set, is called each time a timer is armed for its next
	// tick, and with a zero time when a timer is dropped (tests use it to
	// know when to advance a fake clock).
	OnArm func(timer string, at time.Time)
	// Leading, if set, runs during each term of leadership in a goroutine
	// of its own, with a context that ends with the term: maintenance that
	// one client at a time does (the client's pruning of old records and
	// of idempotency keys).
	Leading func(ctx context.Context)
}

// Service campaigns for leadership and runs the timers while it leads.
type Service struct {
	cfg Config
	log *slog.Logger
	// campaign follows the election; the terms of leadership run under its
	// context.
	campaign startstop.Service
	// leading is true during a term of leadership.
	leading atomic.Bool
}

// Leading reports whether this client leads now (runs the timers).
func (s *Service) Leading() bool { return s.leading.Load() }

// New returns a service; Start runs it.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = ResyncIntervalDefault
	}
	if cfg.FiringRetention <= 0 {
		cfg.FiringRetention = FiringRetentionDefault
	}
	if cfg.PruneInterval <= 0 {
		cfg.PruneInterval = PruneIntervalDefault
	}
	return &Service{cfg: cfg, log: cfg.Logger.With(slog.String("service", "timer"))}
}

// Start campaigns for leadership; the timers run while this client leads.
func (s *Service) Start(ctx context.Context) error {
	var ch <-chan bool
	elect := func(ctx context.Context) (err error) {
		ch, err = s.cfg.Store.Elect(ctx, s.cfg.Owner)
		return err
	}
	return s.campaign.StartInit(context.WithoutCancel(ctx), elect, func(ctx context.Context) { s.follow(ctx, ch) })
}

// follow runs the timers during each term of leadership that ch announces,
// until ch is closed.
func (s *Service) follow(ctx context.Context, ch <-chan bool) {
	var term startstop.Service // one term of leadership
	defer func() { _ = term.Stop(context.Background()); s.leading.Store(false) }()
	for leading := range ch {
		s.leading.Store(leading)
		if leading && !term.Started() {
			s.log.InfoContext(ctx, "leading: timers start")
			_ = term.Start(ctx, s.lead) // fails only once ctx has ended
		} else if !leading && term.Started() {
			s.log.InfoContext(ctx, "not leading: timers stop")
			_ = term.Stop(context.Background())
		}
	}
}

// Stop stops the timers and the campaign.
func (s *Service) Stop() { _ = s.campaign.Stop(context.Background()) }

// spec is one timer.
type spec struct {
	key        string
	sched      *schedule.Schedule
	anchor     time.Time
	scheduleID int64
	ns, wf     string
	execID     int64
	task       string
	overlap    string
	catchUp    int
	lastFire   time.Time
	// floor: ticks at or before it never fire (the schedule's last resume).
	floor time.Time
	// ident changes when the timer must be re-armed.
	ident string
}

type armed struct {
	spec spec
	job  uuid.UUID
	at   time.Time
}

// leader holds the timers of one term of leadership.
type leader struct {
	s    *Service
	ctx  context.Context
	gs   gocron.Scheduler
	mu   sync.Mutex
	jobs map[string]*armed
}

func (s *Service) lead(ctx context.Context) {
	// gocron's own info and debug logs are noise for users (and it logs after
	// Shutdown returns); keep its warnings and errors.
	gocronLog := slog.New(minLevel{s.log.Handler(), slog.LevelWarn})
	gs, err := gocron.NewScheduler(gocron.WithClock(s.cfg.Clock), gocron.WithLocation(time.UTC), gocron.WithLogger(gocronLog))
	if err != nil {
		s.log.ErrorContext(ctx, "starting gocron", slog.Any("error", err))
		return
	}
	gs.Start()
	defer func() { _ = gs.Shutdown() }()
	l := &leader{s: s, ctx: ctx, gs: gs, jobs: map[string]*armed{}}
	if s.cfg.Leading != nil {
		var maintenance startstop.Service
		_ = maintenance.Start(ctx, s.cfg.Leading) // fails only once ctx has ended
		defer func() { _ = maintenance.Stop(context.Background()) }()
	}

	from, err := s.cfg.Store.LastPosition(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "reading the log position", slog.Any("error", err))
	}
	wake, unsubscribe := subscribe(s.cfg.Store)
	defer unsubscribe()
	l.sync()
	resync := s.cfg.Clock.NewTicker(s.cfg.ResyncInterval)
	defer resync.Stop()
	prune := s.cfg.Clock.NewTicker(s.cfg.PruneInterval)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			var changed bool
			from, changed = l.changes(from)
			if changed {
				l.sync()
			}
		case <-resync.Chan():
			l.sync()
		case <-prune.Chan():
			l.prune()
		}
	}
}

// prune deletes the firing records that no leader needs any more: those
// older than FiringRetention, except the latest of each live timer (a
// schedule's latest CatchUp, at least one, paused schedules included) and
// of the timers of running executions. Ticks a leader may still try are
// after them, or were recorded recently.
func (l *leader) prune() {
	_, keep, err := l.desired()
	if err == nil {
		var n int
		n, err = l.s.cfg.Store.PruneFirings(l.ctx, keep, l.s.cfg.FiringRetention)
		if err == nil {
			l.s.log.DebugContext(l.ctx, "firing records pruned", slog.Int("deleted", n))
			return
		}
	}
	if l.ctx.Err() == nil {
		l.s.log.WarnContext(l.ctx, "pruning firing records", slog.Any("error", err))
	}
}

func scheduleKey(id int64) string { return "schedule:" + strconv.FormatInt(id, 10) }

// subscribe returns the leader's wake-up channel: the leader reads status
// and control events only (see changes), so where the store can tell user
// events apart they do not wake it at once (each append of user events
// did, and cost a read of the log).
func subscribe(st store.Store) (<-chan struct{}, func()) {
	if ks, ok := st.(store.KeySubscriber); ok {
		none := store.NewKeySet(nil)
		return ks.SubscribeKeys(-1, func() *store.KeySet { return none })
	}
	return st.Subscribe()
}

// changes reads the log after from and reports whether it holds an event that
// may change the timers.
func (l *leader) changes(from store.Position) (store.Position, bool) {
	// Only schedule changes and the status changes of executions that may
	// carry periodic timers matter: read just those keys, not every task's
	// status event.
	keys := []string{store.KeyScheduleChanged}
	for _, w := range l.s.cfg.Registry.PeriodicWorkflows() {
		keys = append(keys, store.WorkflowStatusKey(w[1]))
	}
	changed := false
	for {
		evs, next, err := l.s.cfg.Store.ListEvents(l.ctx, store.EventFilter{
			After: from, Kinds: []store.EventKind{store.KindStatus, store.KindControl}, Keys: keys,
		})
		if err != nil {
			if l.ctx.Err() == nil {
				l.s.log.WarnContext(l.ctx, "reading the log", slog.Any("error", err))
			}
			return from, true
		}
		for i := range evs {
			if evs[i].Key == store.KeyScheduleChanged || store.IsWorkflowStatusKey(evs[i].Key) {
				changed = true
			}
		}
		if next == from {
			return from, changed
		}
		from = next
	}
}

// sync arms, re-arms and drops timers to match the store.
func (l *leader) sync() {
	want, _, err := l.desired()
	if err != nil {
		if l.ctx.Err() == nil {
			l.s.log.WarnContext(l.ctx, "listing timers", slog.Any("error", err))
		}
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, a := range l.jobs {
		if w, ok := want[key]; !ok || w.ident != a.spec.ident {
			_ = l.gs.RemoveJob(a.job)
			delete(l.jobs, key)
			if l.s.cfg.OnArm != nil {
				l.s.cfg.OnArm(key, time.Time{})
			}
		}
	}
	for key, sp := range want {
		if _, ok := l.jobs[key]; ok {
			continue
		}
		// Ticks after the last firing, the anchor and the last resume are
		// missed ticks.
		from := sp.anchor
		for _, t := range []time.Time{sp.lastFire, sp.floor} {
			if t.After(from) {
				from = t
			}
		}
		l.arm(sp, from, "they fell due before the timer was armed")
	}
}

// desired lists the timers the store calls for, and, for each timer that
// may fire (paused schedules included), how many of its latest firing records
// to keep: its CatchUp, at least one.
func (l *leader) desired() (map[string]spec, map[string]int, error) {
	st := l.s.cfg.Store
	want, keep := map[string]spec{}, map[string]int{}
	scheds, err := st.ListSchedules(l.ctx, "", "")
	if err != nil {
		return nil, nil, err
	}
	for _, r := range scheds {
		keep[scheduleKey(r.ID)] = max(r.CatchUp, 1)
		if r.Paused {
			continue
		}
		loc, err := time.LoadLocation(r.TimeZone)
		if err != nil {
			loc = time.UTC
		}
		sc, err := schedule.Parse(r.Expression, loc)
		if err != nil {
			l.s.log.WarnContext(l.ctx, "bad schedule in the store", slog.Int64("schedule_id", r.ID), slog.Any("error", err))
			continue
		}
		key := scheduleKey(r.ID)
		want[key] = spec{
			key: key, sched: sc, anchor: r.CreatedAt.UTC().Truncate(time.Second), scheduleID: r.ID,
			ns: r.Namespace, wf: r.Workflow, overlap: r.Overlap, catchUp: r.CatchUp, lastFire: r.LastFireAt, floor: r.ResumedAt,
			ident: r.Expression + "|" + r.TimeZone + "|" + r.Overlap,
		}
	}
	// Only executions of workflows with periodic tasks carry timers.
	var xs []store.WorkflowExecutionRecord
	for _, w := range l.s.cfg.Registry.PeriodicWorkflows() {
		running, err := st.ListExecutions(l.ctx, store.ExecutionFilter{
			Namespace: w[0], Workflow: w[1], Statuses: []store.WorkflowStatus{store.WorkflowRunning}, Limit: 1 << 30,
		})
		if err != nil {
			return nil, nil, err
		}
		xs = append(xs, running...)
	}
	for _, x := range xs {
		def, _, ok := l.s.cfg.Registry.Version(x.Namespace, x.Workflow, x.Version)
		if !ok {
			continue
		}
		for _, t := range def.Tasks {
			if !t.Periodic {
				continue
			}
			loc := time.UTC
			if t.PeriodicTZ != "" {
				if l2, err := time.LoadLocation(t.PeriodicTZ); err == nil {
					loc = l2
				}
			}
			sc, err := schedule.Parse(t.PeriodicExpr, loc)
			if err != nil {
				continue
			}
			key := "periodic:" + strconv.FormatInt(x.ID, 10) + ":" + t.Name
			keep[key] = 1
			want[key] = spec{
				key: key, sched: sc, anchor: x.CreatedAt.UTC().Truncate(time.Second), ns: x.Namespace, wf: x.Workflow,
				execID: x.ID, task: t.Name, ident: t.PeriodicExpr + "|" + t.PeriodicTZ,
			}
		}
	}
	return want, keep, nil
}

// arm handles the ticks due after from (missed ticks, see the package
// documentation; why says how they were missed), then sets a one-time job at
// the next tick. Handling missed ticks takes time, during which more may fall
// due: it goes on until the next tick is in the future. l.mu is held.
func (l *leader) arm(sp spec, from time.Time, why string) {
	var next time.Time
	for {
		now := l.s.cfg.Clock.Now().UTC()
		next = sp.sched.Next(sp.anchor, from)
		if next.IsZero() {
			return // a crontab that never matches
		}
		if next.After(now) {
			break
		}
		l.missed(sp, from, now, why)
		if l.ctx.Err() != nil {
			return
		}
		from = now
	}
	task := gocron.NewTask(func() { l.ring(sp.key, next) })
	job, err := l.gs.NewJob(gocron.OneTimeJob(gocron.OneTimeJobStartDateTime(next)), task, gocron.WithName(sp.key))
	if errors.Is(err, gocron.ErrOneTimeJobStartDateTimePast) {
		// The tick fell due since the clock was read above (gocron reads it
		// again): ring it now, as a job that runs late would, rather than
		// leave the timer unarmed until the next resync.
		job, err = l.gs.NewJob(gocron.OneTimeJob(gocron.OneTimeJobStartImmediately()), task, gocron.WithName(sp.key))
	}
	if err != nil {
		if l.ctx.Err() == nil {
			l.s.log.WarnContext(l.ctx, "arming a timer", slog.String("timer", sp.key), slog.Any("error", err))
		}
		return
	}
	l.jobs[sp.key] = &armed{spec: sp, job: job.ID(), at: next}
	if l.s.cfg.OnArm != nil {
		l.s.cfg.OnArm(sp.key, next)
	}
}

// ring is a job's task: fire the tick, then handle the ticks that fell due
// meanwhile (the job ran late) and arm the next one.
func (l *leader) ring(key string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.jobs[key]
	if a == nil || !a.at.Equal(at) || l.ctx.Err() != nil {
		return
	}
	delete(l.jobs, key)
	_ = l.gs.RemoveJob(a.job)
	sp := a.spec
	l.fire(sp, at)
	sp.lastFire = at
	l.arm(sp, at, "they fell due while the timer was late")
}

// missed handles the missed ticks in (from, to]: the latest sp.catchUp of
// them fire, in time order, after the others have been recorded as skipped
// (one event for a schedule; periodic tasks only log them).
func (l *leader) missed(sp spec, from, to time.Time, why string) {
	if sp.scheduleID == 0 && sp.catchUp == 0 {
		// A periodic task: nothing to fire or count (its timer is armed
		// from the execution's start on every change of leader).
		l.s.log.DebugContext(l.ctx, "missed ticks skipped", slog.String("timer", sp.key), slog.Time("after", from), slog.Time("until", to))
		return
	}
	kept, skipped := sp.sched.Split(sp.anchor, from, to, sp.catchUp)
	if skipped.N > 0 && sp.scheduleID != 0 {
		l.s.log.InfoContext(l.ctx, "missed ticks skipped", slog.String("timer", sp.key), slog.Int("ticks", skipped.N),
			slog.Time("first", skipped.First), slog.Time("last", skipped.Last), slog.String("why", why))
		l.skip(sp, skipped, why)
	}
	for _, t := range kept {
		if l.ctx.Err() != nil {
			return
		}
		l.fire(sp, t)
	}
}

// fire records one tick, retrying until it is recorded or the term ends.
func (l *leader) fire(sp spec, at time.Time) {
	data, _ := json.Marshal(store.TickData{ScheduleID: sp.scheduleID, FireTime: at, Overlap: sp.overlap})
	f := store.Firing{Key: sp.key, At: at, ScheduleID: sp.scheduleID}
	if sp.execID != 0 {
		f.Event = store.Event{Kind: store.KindControl, Namespace: sp.ns, Key: store.KeyPeriodicTick, Sender: store.SenderEngine,
			Workflow: sp.wf, ExecutionID: sp.execID, TaskName: sp.task, Data: data}
	} else {
		f.Event = store.Event{Kind: store.KindControl, Namespace: sp.ns, Key: store.KeyScheduleTick, Sender: store.SenderEngine,
			Workflow: sp.wf, Data: data}
	}
	l.record(sp, f)
}

// skip records a schedule's run of missed ticks that are not caught up: a
// schedule_skipped event, recorded like a tick at the run's last tick, so that
// it is recorded once and no leader fires that tick afterwards.
func (l *leader) skip(sp spec, run schedule.Run, why string) {
	data, _ := json.Marshal(store.TickData{ScheduleID: sp.scheduleID, FireTime: run.Last, Overlap: sp.overlap,
		Missed: run.N, FirstMissed: run.First})
	reason := fmt.Sprintf("%d missed tick(s) from %s to %s not caught up (CatchUp %d): %s",
		run.N, run.First.Format(time.RFC3339), run.Last.Format(time.RFC3339), sp.catchUp, why)
	l.record(sp, store.Firing{Key: sp.key, At: run.Last, ScheduleID: sp.scheduleID, Event: store.Event{
		Kind: store.KindControl, Namespace: sp.ns, Key: store.KeyScheduleSkipped, Value: reason, Sender: store.SenderEngine,
		Workflow: sp.wf, Data: data,
	}})
}

// record fires f through the store, retrying until it is recorded or the term
// ends.
func (l *leader) record(sp spec, f store.Firing) {
	at := f.At
	backoff := fireBackoffMin
	for {
		fired, err := l.s.cfg.Store.FireTimer(l.ctx, f)
		if err == nil {
			l.s.log.DebugContext(l.ctx, "tick", slog.String("timer", sp.key), slog.Time("at", at), slog.String("event", f.Event.Key),
				slog.Bool("fired", fired))
			return
		}
		if l.ctx.Err() != nil {
			return
		}
		l.s.log.WarnContext(l.ctx, "firing a tick; retrying", slog.String("timer", sp.key), slog.Time("at", at), slog.Any("error", err))
		select {
		case <-l.ctx.Done():
			return
		case <-l.s.cfg.Clock.After(backoff):
		}
		backoff = min(2*backoff, fireBackoffMax)
	}
}

// minLevel drops records below a level.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }

// String describes an armed timer, for logs and tests.
func (a *armed) String() string { return fmt.Sprintf("%s at %s", a.spec.key, a.at) }
