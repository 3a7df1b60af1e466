package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aiflow-go/aiflow/internal/startstop"
)

// TTLDefault is the default lease validity.
const TTLDefault = 15 * time.Second

// Config configures an Elector.
type Config struct {
	// Pool is used for the lease queries. Required.
	Pool *pgxpool.Pool
	// Table is the quoted, schema-qualified name of the lease table, for
	// example `"aiflow".aiflow_leader`. Required.
	Table string
	// Name is the role elected (one row per name). Required.
	Name string
	// ID identifies this client; it must be unique among the clients that
	// run at the same time. Required.
	ID string
	// TTL is the validity of the lease. The leader renews it every third of
	// TTL; followers try to take it every third of TTL (with jitter).
	// Defaults to 15 s.
	TTL time.Duration
	// Logger receives the elector's logs. Defaults to discarding them.
	Logger *slog.Logger
}

// Transition is a change of an elector's state.
type Transition struct {
	// Leader is true when the elector became leader, false when it stopped
	// being leader (or, for the first transition, is a follower).
	Leader bool
	// Term is the database time the current term was elected at; zero for
	// a follower.
	Term time.Time
}

// Elector runs the election loop of one client for one role.
type Elector struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex
	leader     bool
	term       time.Time
	trustUntil time.Time
	subs       map[int]*relay
	nextSub    int
	wakeElect  chan struct{}
	// loop runs the election loop.
	loop startstop.Service
}

// New returns an elector for cfg; Start runs it.
func New(cfg Config) (*Elector, error) {
	switch {
	case cfg.Pool == nil:
		return nil, errors.New("leader: Config.Pool is nil: expected a *pgxpool.Pool")
	case cfg.Table == "":
		return nil, errors.New("leader: Config.Table is empty: expected the qualified lease table")
	case cfg.Name == "":
		return nil, errors.New("leader: Config.Name is empty: expected the role to elect")
	case cfg.ID == "":
		return nil, errors.New("leader: Config.ID is empty: expected this client's id")
	case cfg.TTL < 0:
		return nil, fmt.Errorf("leader: Config.TTL %s: expected a positive duration (0 for %s)", cfg.TTL, TTLDefault)
	}
	if cfg.TTL == 0 {
		cfg.TTL = TTLDefault
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Elector{
		cfg: cfg, log: cfg.Logger.With(slog.String("component", "aiflow.leader"), slog.String("role", cfg.Name)),
		subs: map[int]*relay{}, wakeElect: make(chan struct{}, 1),
	}, nil
}

// Start runs the election loop in the background until Stop. ctx only bounds
// the start.
func (e *Elector) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := e.loop.Start(context.WithoutCancel(ctx), e.run)
	if errors.Is(err, startstop.ErrStarted) {
		return errors.New("leader: Start: the elector is already started")
	}
	return err
}

// Stop ends the loop and, if this client leads, resigns (deletes its term so
// a follower can take over at once) and publishes the transition to
// follower. Subscriptions stay open.
func (e *Elector) Stop(ctx context.Context) error {
	if !e.loop.Started() {
		return nil
	}
	if err := e.loop.Stop(ctx); err != nil {
		return err
	}
	e.mu.Lock()
	wasLeader, term := e.leader, e.term
	e.mu.Unlock()
	if !wasLeader {
		return nil
	}
	e.setFollower()
	_, err := e.cfg.Pool.Exec(ctx, "DELETE FROM "+e.cfg.Table+" WHERE name = $1 AND leader_id = $2 AND elected_at = $3", e.cfg.Name, e.cfg.ID, term)
	return err
}

// IsLeader reports whether this client leads now: it won a term and its
// trust window has not ended.
func (e *Elector) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader && time.Now().Before(e.trustUntil)
}

// Subscribe returns a channel of transitions, starting with the current
// state, and a function that ends the subscription (and closes the
// channel).
func (e *Elector) Subscribe() (<-chan Transition, func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := newRelay()
	id := e.nextSub
	e.nextSub++
	e.subs[id] = r
	r.push(Transition{Leader: e.leader, Term: e.term})
	return r.out, func() {
		e.mu.Lock()
		delete(e.subs, id)
		e.mu.Unlock()
		r.close()
	}
}

func (e *Elector) publishLocked(t Transition) {
	for _, r := range e.subs {
		r.push(t)
	}
}

func (e *Elector) setLeader(term time.Time, trustUntil time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.trustUntil = trustUntil
	if e.leader && e.term.Equal(term) {
		return
	}
	e.leader, e.term = true, term
	e.publishLocked(Transition{Leader: true, Term: term})
}

func (e *Elector) setFollower() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.leader {
		return
	}
	e.leader, e.term, e.trustUntil = false, time.Time{}, time.Time{}
	e.publishLocked(Transition{Leader: false})
}

func (e *Elector) intervals() (elect, renew, margin time.Duration) {
	ttl := e.cfg.TTL
	return ttl / 3, ttl / 3, ttl / 5
}

func (e *Elector) run(ctx context.Context) {
	electEvery, renewEvery, margin := e.intervals()
	for {
		e.mu.Lock()
		leader, term, trustUntil := e.leader, e.term, e.trustUntil
		e.mu.Unlock()
		var wait time.Duration
		if !leader {
			started := time.Now()
			t, ok, err := e.tryElect(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				e.log.WarnContext(ctx, "leader election failed", slog.Any("error", err))
			case ok:
				e.log.InfoContext(ctx, "elected leader", slog.String("id", e.cfg.ID))
				e.setLeader(t, started.Add(e.cfg.TTL-margin))
				wait = renewEvery
			}
			if !ok {
				// Jitter so that followers do not all try at once.
				wait = electEvery + time.Duration(rand.Int64N(int64(electEvery/4)+1))
			}
		} else {
			started := time.Now()
			rctx, cancel := context.WithDeadline(ctx, trustUntil)
			ok, err := e.renew(rctx, term)
			cancel()
			switch {
			case ctx.Err() != nil:
				return
			case err == nil && ok:
				e.setLeader(term, started.Add(e.cfg.TTL-margin))
				wait = renewEvery
			case err == nil && !ok:
				e.log.WarnContext(ctx, "leader term replaced; following")
				e.setFollower()
				wait = 0
			case !time.Now().Before(trustUntil):
				e.log.WarnContext(ctx, "leader lease not renewed within its trust window; stepping down", slog.Any("error", err))
				e.setFollower()
				wait = 0
			default:
				e.log.WarnContext(ctx, "renewing the leader lease failed; retrying", slog.Any("error", err))
				wait = min(renewEvery/4, time.Until(trustUntil))
			}
			if wait > 0 {
				// Never sleep past the trust window.
				e.mu.Lock()
				if e.leader {
					wait = min(wait, time.Until(e.trustUntil))
				}
				e.mu.Unlock()
			}
		}
		if wait < 0 {
			wait = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-e.wakeElect:
			t.Stop()
		}
	}
}

// tryElect takes the lease if it is free or expired.
func (e *Elector) tryElect(ctx context.Context) (time.Time, bool, error) {
	_, renewEvery, _ := e.intervals()
	qctx, cancel := context.WithTimeout(ctx, renewEvery)
	defer cancel()
	var term time.Time
	err := e.cfg.Pool.QueryRow(qctx, `INSERT INTO `+e.cfg.Table+` AS l (name, leader_id, elected_at, expires_at)
		VALUES ($1, $2, now(), now() + $3::interval)
		ON CONFLICT (name) DO UPDATE SET leader_id = EXCLUDED.leader_id, elected_at = EXCLUDED.elected_at, expires_at = EXCLUDED.expires_at
		WHERE l.expires_at < now()
		RETURNING elected_at`, e.cfg.Name, e.cfg.ID, e.cfg.TTL).Scan(&term)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	return term, true, nil
}

// renew extends the lease of term; ok is false when the term was replaced.
func (e *Elector) renew(ctx context.Context, term time.Time) (bool, error) {
	tag, err := e.cfg.Pool.Exec(ctx, `UPDATE `+e.cfg.Table+` SET expires_at = now() + $4::interval
		WHERE name = $1 AND leader_id = $2 AND elected_at = $3`, e.cfg.Name, e.cfg.ID, term, e.cfg.TTL)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// relay delivers transitions to one subscriber in order without ever
// blocking the sender.
type relay struct {
	mu     sync.Mutex
	queue  []Transition
	signal chan struct{}
	out    chan Transition
	// deliver runs the delivery loop until close.
	deliver startstop.Service
}

func newRelay() *relay {
	r := &relay{signal: make(chan struct{}, 1), out: make(chan Transition)}
	_ = r.deliver.Start(context.Background(), r.run) // a new service with a live context: cannot fail
	return r
}

func (r *relay) push(t Transition) {
	r.mu.Lock()
	r.queue = append(r.queue, t)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// close ends the delivery (and closes out) without waiting; safe to repeat.
func (r *relay) close() { r.deliver.Cancel() }

func (r *relay) run(ctx context.Context) {
	defer close(r.out)
	for {
		r.mu.Lock()
		var next *Transition
		if len(r.queue) > 0 {
			t := r.queue[0]
			r.queue = r.queue[1:]
			next = &t
		}
		r.mu.Unlock()
		if next == nil {
			select {
			case <-r.signal:
				continue
			case <-ctx.Done():
				return
			}
		}
		select {
		case r.out <- *next:
		case <-ctx.Done():
			return
		}
	}
}
