package aiflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/aiflow-go/aiflow/internal/engine"
	"github.com/aiflow-go/aiflow/internal/runtime"
	"github.com/aiflow-go/aiflow/internal/timer"
	"github.com/aiflow-go/aiflow/store"
)

// Defaults of Config.
const (
	StopTimeoutDefault     = 30 * time.Second
	StopGracePeriodDefault = 10 * time.Second
	PollIntervalDefault    = runtime.PollIntervalDefault
	LeaseTTLDefault        = runtime.LeaseTTLDefault
	MaxBatchDefault        = runtime.MaxBatchDefault
	PoisonAttemptsDefault  = runtime.PoisonAttemptsDefault
)

// Config configures a Client. Only Store is required.
type Config struct {
	// Store is the backend: memory.New(nil) for tests and examples,
	// postgres.New(pool, ...) in production. Required.
	Store store.Store
	// Logger receives the client's logs. Defaults to text on stderr at
	// level Warn.
	Logger *slog.Logger
	// Clock gives time to the client and its timers; the real clock when
	// nil. Tests inject a fake clock.
	Clock clockwork.Clock
	// ClientID identifies this client among the replicas sharing a store
	// (partition leases, logs). Defaults to "<hostname>-<pid>-<random>".
	ClientID string
	// StopTimeout bounds how long Stop (and Run, when its context ends)
	// waits for running tasks to finish before cancelling them. Defaults to
	// 30 s; the context passed to Stop can shorten it.
	StopTimeout time.Duration
	// StopGracePeriod bounds an operator's Stop method and the wait for its
	// Run to return after its context was cancelled. Defaults to 10 s.
	StopGracePeriod time.Duration
	// PollInterval is how often idle consumers and listeners look for new
	// events without a notification. Defaults to 1 s.
	PollInterval time.Duration
	// LeaseTTL is the validity of this client's partition leases; they are
	// renewed every third of it, and a crashed client's partitions are taken
	// over after it. Defaults to 15 s.
	LeaseTTL time.Duration
	// MaxBatch bounds the events applied in one unit of work. Defaults to
	// 500.
	MaxBatch int
	// TaskLogDir, when set, keeps task logs in files under this directory,
	// <dir>/<namespace>/<workflow>/<execution id>/<task>/<seq>.log (see
	// TaskLogPath), instead of in the store. Client.ReadTaskLog reads the
	// files, so a client that reads the log of a task another client ran
	// must see that client's directory (a shared volume). Defaults to empty:
	// logs are kept in the store, where every client can read them.
	TaskLogDir string
	// TaskLogRetention, when positive, is how long task logs are kept after
	// their task execution finished: a started client deletes older logs
	// about every tenth of it (at least every hour). Defaults to 0: logs
	// are kept as long as their task executions.
	TaskLogRetention time.Duration
	// PoisonAttempts is how many times applying one event to one execution
	// may fail (a condition errors or panics) before it is skipped and
	// recorded as an "aiflow.poison_event" event. The Postgres store keeps
	// the count with the partition, so it holds across restarts and clients;
	// the memory store counts per consuming loop. Defaults to 3.
	PoisonAttempts int
	// Test holds knobs for tests only.
	Test TestConfig
}

// TestConfig holds knobs for tests only; production code leaves it zero.
type TestConfig struct {
	// OnTimerArmed is called each time this client, while it leads, arms a
	// timer for its next tick: "schedule:<id>" for a workflow schedule,
	// "periodic:<execution>:<task>" for a periodic task; and with a zero
	// time when it drops a timer (paused, deleted, execution finished). With
	// a fake Clock, a test waits for it before advancing the clock.
	OnTimerArmed func(timer string, at time.Time)
}

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
	stopPrune context.CancelFunc
	pruned    chan struct{}
	started   bool
	stopped   bool
}

type workflowKey struct{ ns, name string }

type versionKey struct {
	workflowKey
	version string
}

// New returns a client for cfg. It returns an error matching ErrInvalid if
// cfg is nil, has no Store or has a negative TaskLogRetention.
func New(cfg *Config) (*Client, error) {
	if cfg == nil || cfg.Store == nil {
		return nil, fmt.Errorf("aiflow: New: %w: Config.Store is nil: expected a store, such as memory.New(nil) or postgres.New(pool, nil)", ErrInvalid)
	}
	c := *cfg
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.ClientID == "" {
		host, _ := os.Hostname()
		c.ClientID = fmt.Sprintf("%s-%d-%04x", host, os.Getpid(), rand.IntN(1<<16))
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = StopTimeoutDefault
	}
	if c.StopGracePeriod <= 0 {
		c.StopGracePeriod = StopGracePeriodDefault
	}
	if c.PollInterval <= 0 {
		c.PollInterval = PollIntervalDefault
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = LeaseTTLDefault
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = MaxBatchDefault
	}
	if c.PoisonAttempts <= 0 {
		c.PoisonAttempts = PoisonAttemptsDefault
	}
	if c.TaskLogRetention < 0 {
		return nil, fmt.Errorf("aiflow: New: %w: Config.TaskLogRetention is %s: expected a positive duration, or 0 to keep logs", ErrInvalid, c.TaskLogRetention)
	}
	var logs taskLogs = storeLogs{c.Store}
	if c.TaskLogDir != "" {
		logs = dirLogs{dir: filepath.Clean(c.TaskLogDir), st: c.Store}
	}
	return &Client{
		cfg: c, store: c.Store, log: c.Logger, clock: c.Clock, reg: engine.NewRegistry(),
		workflows: map[workflowKey]*compiled{}, versions: map[versionKey]*compiled{}, nVersions: map[workflowKey]int{}, logs: logs,
	}, nil
}

// ID returns the client's id (Config.ClientID).
func (c *Client) ID() string { return c.cfg.ClientID }

// Register validates workflows and makes this client run them. Every problem
// of every workflow is returned at once (errors.Join of *DeclarationError,
// each matching ErrInvalidWorkflow); nothing is registered then. Registering
// a workflow again with a changed definition makes a new version: executions
// started before keep the definition they began with while this client has it.
// If the client is started, the definitions are recorded in the store now,
// else when it starts.
func (c *Client) Register(ctx context.Context, workflows ...*Workflow) error {
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
		return cmpString(a.record.Namespace+"\x00"+a.record.Name, b.record.Namespace+"\x00"+b.record.Name)
	})
	if err := c.persist(ctx, ws); err != nil {
		return err
	}
	if err := c.store.StartWorkers(ctx, store.WorkersParams{Handler: c.runTask, Owner: c.cfg.ClientID}); err != nil {
		return opError("start", err)
	}
	rt := runtime.New(runtime.Config{
		Store: c.store, Registry: c.reg, Owner: c.cfg.ClientID, Logger: c.log, Clock: c.clock,
		PollInterval: c.cfg.PollInterval, LeaseTTL: c.cfg.LeaseTTL, MaxBatch: c.cfg.MaxBatch,
		PoisonAttempts: c.cfg.PoisonAttempts,
	})
	if err := rt.Start(ctx); err != nil {
		_ = c.store.StopWorkers(context.Background())
		return opError("start", err)
	}
	timers := timer.New(timer.Config{
		Store: c.store, Registry: c.reg, Owner: c.cfg.ClientID, Clock: c.clock, Logger: c.log, OnArm: c.cfg.Test.OnTimerArmed,
	})
	if err := timers.Start(ctx); err != nil {
		_ = rt.Stop(context.Background())
		_ = c.store.StopWorkers(context.Background())
		return opError("start", err)
	}
	c.mu.Lock()
	c.rt, c.timers, c.started = rt, timers, true
	if c.cfg.TaskLogRetention > 0 {
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c.stopPrune, c.pruned = cancel, make(chan struct{})
		go c.pruneLoop(pctx, c.pruned)
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
// on a client that is not started does nothing.
func (c *Client) Stop(ctx context.Context) error {
	c.mu.Lock()
	if !c.started || c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	rt, timers, stopPrune, pruned := c.rt, c.timers, c.stopPrune, c.pruned
	c.mu.Unlock()
	if stopPrune != nil {
		stopPrune()
		<-pruned
	}
	timers.Stop()
	errRT := rt.Stop(context.WithoutCancel(ctx))
	dctx, cancel := context.WithTimeout(ctx, c.cfg.StopTimeout)
	defer cancel()
	errW := c.store.StopWorkers(dctx)
	if errW != nil && ctx.Err() == nil && errors.Is(errW, context.DeadlineExceeded) {
		errW = nil // StopTimeout elapsed: the remaining tasks were cancelled as documented
	}
	c.log.InfoContext(ctx, "aiflow client stopped", slog.String("client_id", c.cfg.ClientID))
	return errors.Join(errRT, errW)
}

// Run creates a client for cfg, registers workflows, starts it, blocks until
// ctx ends and then stops it gracefully (within Config.StopTimeout). It
// returns nil after a clean shutdown.
func Run(ctx context.Context, cfg *Config, workflows ...*Workflow) error {
	c, err := New(cfg)
	if err != nil {
		return err
	}
	if err := c.Register(ctx, workflows...); err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return c.Stop(context.WithoutCancel(ctx))
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

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ---- running tasks ----

// compiledFor returns the definition a task execution runs: the version its
// workflow execution began with when this client has it, else the latest.
func (c *Client) compiledFor(ctx context.Context, run *store.TaskRun) *compiled {
	k := workflowKey{run.Namespace, run.Workflow}
	c.mu.Lock()
	cw, n := c.workflows[k], c.nVersions[k]
	c.mu.Unlock()
	if cw == nil || n < 2 {
		return cw // one version: no need to look the execution up
	}
	x, err := c.store.GetExecution(ctx, run.ExecutionID)
	if err != nil {
		c.log.WarnContext(ctx, "reading a task's workflow execution failed: running the latest version of its workflow",
			slog.Int64("execution_id", run.ExecutionID), slog.Any("error", err))
		return cw
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v := c.versions[versionKey{k, x.Version}]; v != nil {
		return v
	}
	return cw
}

func (c *Client) runTask(ctx context.Context, run *store.TaskRun) error {
	cw := c.compiledFor(ctx, run)
	if cw == nil {
		return fmt.Errorf("workflow %q (namespace %q) is not registered in client %q", run.Workflow, run.Namespace, c.cfg.ClientID)
	}
	t := cw.tasks[run.Task]
	if t == nil {
		return fmt.Errorf("task %q is not in workflow %q as registered in client %q", run.Task, run.Workflow, c.cfg.ClientID)
	}
	logger := c.log.With(slog.String("workflow", run.Workflow), slog.Int64("execution_id", run.ExecutionID),
		slog.String("task", run.Task), slog.Int("seq", run.SeqNum), slog.Int("attempt", run.Attempt))
	lw := newLogWriter(c.logs, &run.TaskExecutionRecord, logger)
	defer lw.Close()
	tc := &TaskContext{
		Namespace: run.Namespace, Workflow: run.Workflow, ExecutionID: run.ExecutionID, Task: run.Task,
		TaskExecutionID: run.ID, SeqNum: run.SeqNum, Attempt: run.Attempt, Log: lw, Logger: logger,
		Env: t.env, WorkDir: t.workDir, client: c,
	}
	runCtx := ctx
	var errTimeout error
	if run.Timeout > 0 {
		errTimeout = fmt.Errorf("the attempt timed out after %s", run.Timeout)
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, run.Timeout, errTimeout)
		defer cancel()
	}
	done := make(chan error, 1)
	go func() { done <- runOperator(runCtx, t.op, tc) }()
	select {
	case err := <-done:
		if errTimeout != nil && context.Cause(runCtx) == errTimeout {
			return errTimeout
		}
		return err
	case <-runCtx.Done():
	}
	grace := c.cfg.StopGracePeriod
	if s, ok := t.op.(Stopper); ok {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		if err := s.Stop(sctx, tc); err != nil {
			tc.Logger.Warn("operator Stop failed", slog.Any("error", err))
			fmt.Fprintf(lw, "aiflow: stopping the operator failed: %v\n", err)
		}
		cancel()
	}
	var err error
	select {
	case err = <-done:
	case <-c.clock.After(grace):
		err = fmt.Errorf("the operator did not return within %s after its context was cancelled", grace)
		tc.Logger.Error("operator ignored cancellation", slog.Any("error", err))
	}
	if errTimeout != nil && context.Cause(runCtx) == errTimeout {
		return errTimeout
	}
	if err == nil {
		err = context.Cause(runCtx)
	}
	return err
}

// runOperator calls op.Run and turns a panic into an error.
func runOperator(ctx context.Context, op Operator, tc *TaskContext) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("operator panicked: %v", r)
		}
	}()
	return op.Run(ctx, tc)
}

// ---- namespaces ----

// NamespaceInfo is a namespace.
type NamespaceInfo = store.NamespaceRecord

// AddNamespace adds a namespace.
func (c *Client) AddNamespace(ctx context.Context, name string) error {
	return opError("add namespace", c.store.AddNamespace(ctx, name))
}

// ListNamespaces lists the namespaces by name.
func (c *Client) ListNamespaces(ctx context.Context) ([]NamespaceInfo, error) {
	ns, err := c.store.ListNamespaces(ctx)
	return ns, opError("list namespaces", err)
}

// DeleteNamespace deletes a namespace. It fails with ErrNamespaceNotEmpty
// while workflows are registered in it; "default" cannot be deleted.
func (c *Client) DeleteNamespace(ctx context.Context, name string) error {
	return opError("delete namespace", c.store.DeleteNamespace(ctx, name))
}

// ---- workflows ----

// WorkflowInfo is a registered workflow as recorded in the store: its latest
// version, its definition (JSON) and whether it is enabled.
type WorkflowInfo = store.WorkflowRecord

// WorkflowVersion is one recorded version of a workflow definition.
type WorkflowVersion = store.WorkflowVersionRecord

// GetWorkflow returns a registered workflow.
func (c *Client) GetWorkflow(ctx context.Context, namespace, name string) (*WorkflowInfo, error) {
	w, err := c.getWorkflow(ctx, orDefault(namespace), name)
	if err != nil {
		return nil, opError("get workflow", err)
	}
	return &w, nil
}

func (c *Client) getWorkflow(ctx context.Context, ns, name string) (store.WorkflowRecord, error) {
	if err := store.ValidateName("workflow", name); err != nil {
		return store.WorkflowRecord{}, err
	}
	w, err := c.store.GetWorkflow(ctx, ns, name)
	if errors.Is(err, store.ErrNotFound) {
		if nss, lerr := c.store.ListNamespaces(ctx); lerr == nil &&
			!slices.ContainsFunc(nss, func(n store.NamespaceRecord) bool { return n.Name == ns }) {
			return w, fmt.Errorf("%w: %q", store.ErrNamespaceNotFound, ns)
		}
	}
	return w, err
}

// ListWorkflows lists the registered workflows of a namespace (every
// namespace when empty). It fails with ErrNamespaceNotFound for a namespace
// that does not exist.
func (c *Client) ListWorkflows(ctx context.Context, namespace string) ([]WorkflowInfo, error) {
	if err := c.requireNamespace(ctx, namespace); err != nil {
		return nil, opError("list workflows", err)
	}
	ws, err := c.store.ListWorkflows(ctx, namespace)
	return ws, opError("list workflows", err)
}

// ListWorkflowVersions lists the recorded versions of a workflow, oldest
// first.
func (c *Client) ListWorkflowVersions(ctx context.Context, namespace, name string) ([]WorkflowVersion, error) {
	vs, err := c.store.ListWorkflowVersions(ctx, orDefault(namespace), name)
	return vs, opError("list workflow versions", err)
}

// EnableWorkflow lets schedules, triggers and calls start the workflow again.
func (c *Client) EnableWorkflow(ctx context.Context, namespace, name string) error {
	return opError("enable workflow", c.setEnabled(ctx, orDefault(namespace), name, true))
}

// DisableWorkflow stops anything from starting the workflow (schedules,
// triggers, StartWorkflowExecution, which then returns ErrWorkflowDisabled)
// until it is enabled again. Its running executions go on.
func (c *Client) DisableWorkflow(ctx context.Context, namespace, name string) error {
	return opError("disable workflow", c.setEnabled(ctx, orDefault(namespace), name, false))
}

func (c *Client) setEnabled(ctx context.Context, ns, name string, enabled bool) error {
	if _, err := c.getWorkflow(ctx, ns, name); err != nil {
		return err
	}
	key := store.KeyDisableWorkflow
	if enabled {
		key = store.KeyEnableWorkflow
	}
	ev := store.Event{Kind: store.KindControl, Namespace: ns, Key: key, Sender: store.SenderClient, Workflow: name}
	return c.store.SetWorkflowEnabled(ctx, ns, name, enabled, ev)
}

// DeleteWorkflow deletes a workflow's record, versions and executions from
// the store. It fails with ErrConflict while one of its executions is alive.
// A client that still registers the workflow records it again when it starts.
func (c *Client) DeleteWorkflow(ctx context.Context, namespace, name string) error {
	return opError("delete workflow", c.store.DeleteWorkflow(ctx, orDefault(namespace), name))
}

// ---- workflow executions ----

// WorkflowExecution is one run of a workflow.
type WorkflowExecution = store.WorkflowExecutionRecord

// ExecutionFilter selects workflow executions; zero fields select everything.
// Results are newest first, at most Limit (1000 when zero).
type ExecutionFilter = store.ExecutionFilter

// StartWorkflowOpts are the options of StartWorkflowExecution. A nil
// *StartWorkflowOpts means the defaults.
type StartWorkflowOpts struct {
	// Namespace of the workflow; "default" when empty.
	Namespace string
}

// StartWorkflowExecution starts an execution of a registered, enabled
// workflow and returns its id. The execution exists (in INIT) when the call
// returns; a running client starts it (RUNNING, its first tasks QUEUED)
// right after, exactly once.
func (c *Client) StartWorkflowExecution(ctx context.Context, workflow string, opts *StartWorkflowOpts) (int64, error) {
	if opts == nil {
		opts = &StartWorkflowOpts{}
	}
	ns := orDefault(opts.Namespace)
	w, err := c.getWorkflow(ctx, ns, workflow)
	if err != nil {
		return 0, opError("start workflow execution", err)
	}
	if !w.Enabled {
		return 0, opError("start workflow execution", fmt.Errorf("%w: %q in namespace %q: enable it first", store.ErrWorkflowDisabled, workflow, ns))
	}
	ids, err := c.store.AllocateExecutionIDs(ctx, 1)
	if err != nil {
		return 0, opError("start workflow execution", err)
	}
	data, _ := json.Marshal(store.StartExecutionData{RunType: store.RunManual})
	rec := store.WorkflowExecutionRecord{ID: ids[0], Namespace: ns, Workflow: workflow, Version: w.Version, RunType: store.RunManual}
	ev := store.Event{
		Kind: store.KindControl, Namespace: ns, Key: store.KeyStartExecution, Sender: store.SenderClient,
		Workflow: workflow, ExecutionID: ids[0], Data: data,
	}
	if _, err := c.store.CreateExecution(ctx, rec, ev); err != nil {
		return 0, opError("start workflow execution", err)
	}
	return ids[0], nil
}

// StopWorkflowExecution stops a workflow execution: it becomes STOPPED and
// its alive tasks are stopped. It fails with ErrExecutionFinished if the
// execution has already finished.
func (c *Client) StopWorkflowExecution(ctx context.Context, id int64) error {
	x, err := c.aliveExecution(ctx, id)
	if err != nil {
		return opError("stop workflow execution", err)
	}
	ev := store.Event{Kind: store.KindControl, Namespace: x.Namespace, Key: store.KeyStopExecution, Sender: store.SenderClient,
		Workflow: x.Workflow, ExecutionID: x.ID}
	_, err = c.append(ctx, "stop workflow execution", ev)
	return err
}

// StopWorkflowExecutions stops every alive execution of a workflow (as
// StopWorkflowExecution does for each) and returns their ids, oldest first.
// Executions that finish meanwhile are skipped.
func (c *Client) StopWorkflowExecutions(ctx context.Context, namespace, workflow string) ([]int64, error) {
	op := "stop workflow executions"
	ns := orDefault(namespace)
	if _, err := c.getWorkflow(ctx, ns, workflow); err != nil {
		return nil, opError(op, err)
	}
	var stopped []int64
	for {
		xs, err := c.store.ListExecutions(ctx, store.ExecutionFilter{
			Namespace: ns, Workflow: workflow, Statuses: []store.WorkflowStatus{store.WorkflowInit, store.WorkflowRunning},
		})
		if err != nil {
			return stopped, opError(op, err)
		}
		n := 0
		for i := len(xs) - 1; i >= 0; i-- {
			x := xs[i]
			if slices.Contains(stopped, x.ID) {
				continue
			}
			ev := store.Event{Kind: store.KindControl, Namespace: x.Namespace, Key: store.KeyStopExecution, Sender: store.SenderClient,
				Workflow: x.Workflow, ExecutionID: x.ID}
			if _, err := c.append(ctx, op, ev); err != nil {
				return stopped, err
			}
			stopped = append(stopped, x.ID)
			n++
		}
		// A list is bounded (store.DefaultListLimit): look again until a
		// list holds nothing new.
		if n == 0 || len(xs) < store.DefaultListLimit {
			return stopped, nil
		}
	}
}

// DeleteWorkflowExecution deletes a finished workflow execution, its task
// executions and their logs from the store; its events stay in the log. It
// fails with ErrConflict while the execution or one of its tasks is alive.
func (c *Client) DeleteWorkflowExecution(ctx context.Context, id int64) error {
	return opError("delete workflow execution", c.store.DeleteExecution(ctx, id))
}

func (c *Client) aliveExecution(ctx context.Context, id int64) (store.WorkflowExecutionRecord, error) {
	x, err := c.store.GetExecution(ctx, id)
	if err != nil {
		return x, err
	}
	if x.Status.Finished() {
		return x, fmt.Errorf("%w: workflow execution %d is %s", store.ErrExecutionFinished, id, x.Status)
	}
	return x, nil
}

// GetWorkflowExecution returns a workflow execution.
func (c *Client) GetWorkflowExecution(ctx context.Context, id int64) (*WorkflowExecution, error) {
	x, err := c.store.GetExecution(ctx, id)
	if err != nil {
		return nil, opError("get workflow execution", err)
	}
	return &x, nil
}

// ListWorkflowExecutions lists workflow executions, newest first. It fails
// with ErrNamespaceNotFound when filter.Namespace does not exist.
func (c *Client) ListWorkflowExecutions(ctx context.Context, filter *ExecutionFilter) ([]WorkflowExecution, error) {
	if filter == nil {
		filter = &ExecutionFilter{}
	}
	if err := c.requireNamespace(ctx, filter.Namespace); err != nil {
		return nil, opError("list workflow executions", err)
	}
	xs, err := c.store.ListExecutions(ctx, *filter)
	return xs, opError("list workflow executions", err)
}

// WaitWorkflowExecution waits until a workflow execution has finished and
// returns it, or returns ctx's error.
func (c *Client) WaitWorkflowExecution(ctx context.Context, id int64) (*WorkflowExecution, error) {
	wake, unsubscribe := c.store.Subscribe()
	defer unsubscribe()
	for {
		x, err := c.store.GetExecution(ctx, id)
		if err != nil {
			return nil, opError("wait workflow execution", err)
		}
		if x.Status.Finished() {
			return &x, nil
		}
		select {
		case <-ctx.Done():
			return nil, opError("wait workflow execution "+strconv.FormatInt(id, 10), ctx.Err())
		case <-wake:
		case <-c.clock.After(c.cfg.PollInterval):
		}
	}
}

// ---- task executions ----

// TaskExecution is one run of a task in a workflow execution.
type TaskExecution = store.TaskExecutionRecord

// TaskExecutionFilter selects task executions; zero fields select
// everything. Results are ordered by id, at most Limit (1000 when zero).
type TaskExecutionFilter = store.TaskExecutionFilter

// StartTaskExecution starts a task in a running workflow execution, as a
// START rule would: it is ignored (and the latest task execution's Note says
// so) while the task is alive.
func (c *Client) StartTaskExecution(ctx context.Context, executionID int64, task string) error {
	return c.taskRequest(ctx, "start task execution", store.KeyStartTask, executionID, task)
}

// StopTaskExecution stops the alive execution of a task, as a STOP rule
// would; a no-op when none is alive.
func (c *Client) StopTaskExecution(ctx context.Context, executionID int64, task string) error {
	return c.taskRequest(ctx, "stop task execution", store.KeyStopTask, executionID, task)
}

// RestartTaskExecution restarts a task, as a RESTART rule would: the alive
// execution is stopped and a new one starts once it has stopped.
func (c *Client) RestartTaskExecution(ctx context.Context, executionID int64, task string) error {
	return c.taskRequest(ctx, "restart task execution", store.KeyRestartTask, executionID, task)
}

func (c *Client) taskRequest(ctx context.Context, op, key string, executionID int64, task string) error {
	x, err := c.aliveExecution(ctx, executionID)
	if err != nil {
		return opError(op, err)
	}
	w, err := c.store.GetWorkflow(ctx, x.Namespace, x.Workflow)
	if err != nil {
		return opError(op, err)
	}
	if !slices.Contains(definitionTasks(w.Definition), task) {
		return opError(op, fmt.Errorf("%w: %q is not a task of workflow %q (tasks: %v)", store.ErrTaskNotFound, task, x.Workflow, definitionTasks(w.Definition)))
	}
	ev := store.Event{Kind: store.KindControl, Namespace: x.Namespace, Key: key, Sender: store.SenderClient,
		Workflow: x.Workflow, ExecutionID: x.ID, TaskName: task}
	_, err = c.append(ctx, op, ev)
	return err
}

// definitionTasks lists the task names of a recorded definition.
func definitionTasks(def []byte) []string {
	var d struct {
		Tasks []struct {
			Name string `json:"name"`
		} `json:"tasks"`
	}
	_ = json.Unmarshal(def, &d)
	out := make([]string, len(d.Tasks))
	for i, t := range d.Tasks {
		out[i] = t.Name
	}
	return out
}

// GetTaskExecution returns a task execution.
func (c *Client) GetTaskExecution(ctx context.Context, id int64) (*TaskExecution, error) {
	te, err := c.store.GetTaskExecution(ctx, id)
	if err != nil {
		return nil, opError("get task execution", err)
	}
	return &te, nil
}

// ListTaskExecutions lists task executions by id.
func (c *Client) ListTaskExecutions(ctx context.Context, filter *TaskExecutionFilter) ([]TaskExecution, error) {
	if filter == nil {
		filter = &TaskExecutionFilter{}
	}
	tes, err := c.store.ListTaskExecutions(ctx, *filter)
	return tes, opError("list task executions", err)
}
