package aiflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/jonboulle/clockwork"

	"github.com/aiflow-go/aiflow/internal/engine"
	"github.com/aiflow-go/aiflow/internal/runtime"
	"github.com/aiflow-go/aiflow/internal/startstop"
	"github.com/aiflow-go/aiflow/internal/timer"
	"github.com/aiflow-go/aiflow/store"
)

// Client declares, runs and inspects workflows on a store. Create it with New,
// register workflows, then Start it (or use Run). A client that is not started
// can still send events and inspect and steer executions that other clients
// run: that is how command-line tools use it.
type Client struct {
	cfg   Config
	store store.Store
	log   *slog.Logger
	clock clockwork.Clock
	reg   *engine.Registry
	tel   *telemetry

	mu        sync.Mutex
	workflows map[workflowKey]*compiled // the latest version of each
	// versions holds every version registered in this client, so that a
	// task runs the operator of its execution's version; nVersions counts
	// them per workflow.
	versions  map[versionKey]*compiled
	nVersions map[workflowKey]int
	rt        *runtime.Runtime
	timers    *timer.Service
	logs      taskLogs
	// pruner deletes old task logs (Config.TaskLogRetention).
	pruner startstop.Service
	// started and stopped make a client start once: it cannot start again
	// after Stop.
	started bool
	stopped bool
	// done is closed when the client stops (Done); fatalErr is the fatal
	// background error it stopped on (Err): never set, since no background
	// failure is fatal.
	done     chan struct{}
	fatalErr error
}

type workflowKey struct{ ns, name string }

type versionKey struct {
	workflowKey
	version string
}

// New returns a client for cfg. It returns an error matching ErrInvalid if
// cfg is nil, has no Store, or has a negative TaskLogRetention or Retention
// field.
func New(cfg *Config) (*Client, error) {
	if cfg == nil || cfg.Store == nil {
		return nil, fmt.Errorf("aiflow: New: %w: Config.Store is nil: expected a store, such as memory.New(nil) or postgres.New(ctx, pool, nil)", ErrInvalid)
	}
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var logs taskLogs = storeLogs{c.Store}
	if c.TaskLogDir != "" {
		logs = dirLogs{dir: filepath.Clean(c.TaskLogDir), st: c.Store}
	}
	if ls, ok := c.Store.(store.LoggerSetter); ok {
		ls.SetLogger(c.Logger)
	}
	cl := &Client{
		cfg: c, store: c.Store, log: c.Logger, clock: c.Clock, reg: engine.NewRegistry(),
		workflows: map[workflowKey]*compiled{}, versions: map[versionKey]*compiled{}, nVersions: map[workflowKey]int{}, logs: logs,
		done: make(chan struct{}),
	}
	if cl.tel, err = newTelemetry(cl); err != nil {
		return nil, fmt.Errorf("aiflow: New: creating the metrics: %w", err)
	}
	return cl, nil
}

// ID returns the client's id (Config.ClientID).
func (c *Client) ID() string { return c.cfg.ClientID }

// Register validates workflows and makes this client run them. Every problem
// of every workflow is returned at once (errors.Join of *DeclarationError,
// each matching ErrInvalidWorkflow); nothing is registered then. Registering
// a workflow again with a changed definition makes a new version: executions
// started before keep the definition they began with while this client has it.
// If the client is started, the definitions are recorded in the store now,
// else when it starts. Every started client of a store must register the
// same workflows: any partition it consumes may hold executions of any of
// them (docs/semantics.md, "Partitions").
func (c *Client) Register(ctx context.Context, workflows ...*Workflow) error {
	if err := c.stoppedError("register"); err != nil {
		return err
	}
	var errs []error
	var out []*compiled
	seen := map[workflowKey]bool{}
	for _, w := range workflows {
		if w == nil {
			errs = append(errs, &DeclarationError{Problem: "workflow is nil"})
			continue
		}
		k := workflowKey{w.namespace, w.name}
		if seen[k] {
			errs = append(errs, &DeclarationError{Namespace: w.namespace, Workflow: w.name, Problem: "registered twice in one call: expected each workflow once"})
			continue
		}
		seen[k] = true
		cw, err := w.compile()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, cw)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	c.mu.Lock()
	started := c.started
	c.mu.Unlock()
	if started {
		if err := c.persist(ctx, out); err != nil {
			return err
		}
	}
	c.mu.Lock()
	for _, cw := range out {
		k := workflowKey{cw.record.Namespace, cw.record.Name}
		c.workflows[k] = cw
		vk := versionKey{k, cw.def.Version}
		if c.versions[vk] == nil {
			c.nVersions[k]++
		}
		c.versions[vk] = cw
		c.reg.Add(cw.def)
	}
	c.mu.Unlock()
	return nil
}

func (c *Client) persist(ctx context.Context, ws []*compiled) error {
	for _, cw := range ws {
		rec, err := c.store.RegisterWorkflow(ctx, cw.record)
		if err != nil {
			return opError("register workflow "+quote(cw.record.Name), err)
		}
		cw.record = rec
	}
	return nil
}

// Start records the registered workflows in the store, starts this client's
// task workers and starts consuming events. It returns once everything runs;
// ctx only bounds the start-up. A client starts once: Start on a client that
// was started (or stopped) returns an error matching ErrConflict.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.started || c.stopped {
		c.mu.Unlock()
		return fmt.Errorf("aiflow: Start: %w: the client was already started (a stopped client cannot start again: create a new one with New)", ErrConflict)
	}
	ws := make([]*compiled, 0, len(c.workflows))
	for _, cw := range c.workflows {
		ws = append(ws, cw)
	}
	c.mu.Unlock()
	slices.SortFunc(ws, func(a, b *compiled) int {
		return strings.Compare(a.record.Namespace+"\x00"+a.record.Name, b.record.Namespace+"\x00"+b.record.Name)
	})
	if err := c.persist(ctx, ws); err != nil {
		return err
	}
	if err := c.store.StartWorkers(ctx, store.WorkersParams{Handler: c.observedTask, Owner: c.cfg.ClientID}); err != nil {
		return opError("start", err)
	}
	rc := c.cfg.runtimeConfig(c.reg)
	rc.Observer = unitObserver{c.tel}
	rt := runtime.New(rc)
	if err := rt.Start(ctx); err != nil {
		_ = c.store.StopWorkers(context.Background())
		return opError("start", err)
	}
	tc := timer.Config{
		Store: c.store, Registry: c.reg, Owner: c.cfg.ClientID, Clock: c.clock, Logger: c.log, OnArm: c.cfg.Test.OnTimerArmed,
	}
	if c.leaderPrunes() {
		tc.Leading = c.leaderPruning // on the leader only
	}
	timers := timer.New(tc)
	if err := timers.Start(ctx); err != nil {
		_ = rt.Stop(context.Background())
		_ = c.store.StopWorkers(context.Background())
		return opError("start", err)
	}
	c.mu.Lock()
	c.rt, c.timers, c.started = rt, timers, true
	if c.cfg.TaskLogRetention > 0 {
		_ = c.pruner.Start(context.WithoutCancel(ctx), c.pruneLoop) // starts once: c.started was false
	}
	c.mu.Unlock()
	c.log.InfoContext(ctx, "aiflow client started", slog.String("client_id", c.cfg.ClientID), slog.Int("workflows", len(ws)))
	return nil
}

// Stop shuts the client down gracefully: it stops consuming events,
// interrupts streaming tasks right away (they never end by themselves), lets
// the other running tasks finish until ctx ends or StopTimeout passes, then
// cancels those still running. Interrupted tasks end RETRYING, so another
// client (or this one, restarted) runs them again. It returns ctx's error if the drain was cut short. Stop
// on a client that is not started does nothing. Once a started client has
// stopped, every other call of the client returns an error matching
// ErrStopped: inspect the store through another client (one that is never
// started can read and steer).
func (c *Client) Stop(ctx context.Context) error {
	c.mu.Lock()
	if !c.started || c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	rt, timers := c.rt, c.timers
	c.mu.Unlock()
	_ = c.pruner.Stop(context.Background()) // nothing to stop without a retention
	timers.Stop()
	errRT := rt.Stop(context.WithoutCancel(ctx))
	dctx, cancel := context.WithTimeout(ctx, c.cfg.StopTimeout)
	defer cancel()
	errW := c.store.StopWorkers(dctx)
	if errW != nil && ctx.Err() == nil && errors.Is(errW, context.DeadlineExceeded) {
		errW = nil // StopTimeout elapsed: the remaining tasks were cancelled as documented
	}
	c.log.InfoContext(ctx, "aiflow client stopped", slog.String("client_id", c.cfg.ClientID))
	close(c.done)
	return errors.Join(errRT, errW)
}

// Run starts the client, blocks until ctx ends and then stops it gracefully
// (within Config.StopTimeout, as Stop does). It returns nil after a clean
// shutdown, and Start's error if the client cannot start. An application
// that serves the client (aiflowhttp.Handler) builds the client with New,
// mounts the handler on it and then calls Run:
//
//	client, err := aiflow.New(cfg)
//	...
//	mux.Handle("/api/", http.StripPrefix("/api", aiflowhttp.NewHandler(client, nil)))
//	err = client.Run(ctx)
func (c *Client) Run(ctx context.Context) error {
	if err := c.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return c.Stop(context.WithoutCancel(ctx))
}

// Run creates a client for cfg, registers workflows and runs it
// (Client.Run) until ctx ends. It returns nil after a clean shutdown. To
// reach the client while it runs (to serve it over HTTP, to send events),
// use New, Register and Client.Run instead.
func Run(ctx context.Context, cfg *Config, workflows ...*Workflow) error {
	c, err := New(cfg)
	if err != nil {
		return err
	}
	if err := c.Register(ctx, workflows...); err != nil {
		return err
	}
	return c.Run(ctx)
}

// Owned returns the partitions this client consumes now (for diagnostics).
func (c *Client) Owned() []int {
	c.mu.Lock()
	rt := c.rt
	c.mu.Unlock()
	if rt == nil {
		return nil
	}
	return rt.Owned()
}
