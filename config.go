package aiflow

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/aiflow-go/aiflow/internal/engine"
	"github.com/aiflow-go/aiflow/internal/runtime"
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
	// MaxInterruptionsDefault is Config.MaxInterruptions when it is zero.
	MaxInterruptionsDefault = runtime.MaxInterruptionsDefault
)

// Config configures a Client. Only Store is required.
type Config struct {
	// Store is the backend: memory.New(nil) for tests and examples,
	// postgres.New(ctx, pool, ...) in production. Required.
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
	// Retention says how long finished workflow executions (with their
	// task executions and the task logs kept in the store) and events are
	// kept: the elected leader among the started clients deletes older ones
	// when it becomes leader and then about every tenth of the shortest
	// retention (at most every hour), in small batches. nil means 30 days
	// for both (RetentionDefault); in a Retention given, a zero field keeps
	// those records forever. See Retention for what is never deleted.
	Retention *Retention
	// PoisonAttempts is how many times applying one event to one execution
	// may fail (a condition errors or panics) before it is skipped and
	// recorded as an "aiflow.poison_event" event. The Postgres store keeps
	// the count with the partition, so it holds across restarts and clients;
	// the memory store counts per consuming loop. Defaults to 3.
	PoisonAttempts int
	// MaxInterruptions is how many times the loss of a worker may interrupt
	// one task execution and have it run again. A worker is lost when the
	// process running an attempt dies (kill -9, out of memory, a crashed
	// machine) or, on Postgres, is cut off from the database or paused for
	// too long to keep its task lease. That is not the task's failure: the
	// attempt ends RETRYING, interrupted, and the task runs again at once as
	// a new attempt (its status event's reason starts with "worker lost").
	// Interruptions do not count against the task's retry policy
	// (WithRetry), and the retry policy's failures do not count here. At the
	// interruption after the first MaxInterruptions the task execution ends
	// FAILED, with an error that starts with "the workers kept dying". A
	// stopping task whose worker is lost ends STOPPED, as it would have. A
	// graceful shutdown (Client.Stop) interrupts nothing here: its attempts
	// run again without counting. Each task execution keeps the value of
	// the client that created it. Streaming tasks count their losses over
	// their whole life: raise it for a stream expected to outlive many
	// crashes. Defaults to 3; a negative value runs no interrupted attempt
	// again (the first loss fails the task execution).
	MaxInterruptions int
	// IdempotencyKeyRetention is how long the idempotency keys of
	// SendEvent and StartWorkflowExecution (SendEventOpts.IdempotencyKey,
	// StartWorkflowOpts.IdempotencyKey, the HTTP header Idempotency-Key,
	// the command line's --idempotency-key, the SQL function's
	// idempotency_key) are honoured at least: the elected leader among the
	// started clients (the one that runs the timers) deletes older keys when
	// it becomes leader and then about every tenth of it (at least every
	// hour), after which a call with such a key acts again. Defaults to 24 h
	// (IdempotencyKeyRetentionDefault); -1 keeps keys forever.
	IdempotencyKeyRetention time.Duration
	// MeterProvider gives the meter of the client's metrics (see
	// docs/observability.md). Defaults to the global one (otel.GetMeterProvider),
	// a no-op until the application installs an SDK.
	MeterProvider metric.MeterProvider
	// TracerProvider gives the tracer of the client's spans. Defaults to the
	// global one (otel.GetTracerProvider), a no-op until the application
	// installs an SDK.
	TracerProvider trace.TracerProvider
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

// withDefaults returns a copy of c with its defaults filled in (those of the
// runtime's settings by the runtime itself), or an error matching ErrInvalid
// for a bad value.
func (c Config) withDefaults() (Config, error) {
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
	rc := c.runtimeConfig(nil).WithDefaults()
	c.PollInterval, c.LeaseTTL, c.MaxBatch, c.PoisonAttempts = rc.PollInterval, rc.LeaseTTL, rc.MaxBatch, rc.PoisonAttempts
	c.MaxInterruptions = rc.MaxInterruptions
	if c.TaskLogRetention < 0 {
		return c, fmt.Errorf("aiflow: New: %w: Config.TaskLogRetention is %s: expected a positive duration, or 0 to keep logs", ErrInvalid, c.TaskLogRetention)
	}
	switch {
	case c.IdempotencyKeyRetention == 0:
		c.IdempotencyKeyRetention = IdempotencyKeyRetentionDefault
	case c.IdempotencyKeyRetention < 0 && c.IdempotencyKeyRetention != -1:
		return c, fmt.Errorf("aiflow: New: %w: Config.IdempotencyKeyRetention is %s: expected a positive duration, 0 for the default (%s) or -1 to keep keys forever",
			ErrInvalid, c.IdempotencyKeyRetention, IdempotencyKeyRetentionDefault)
	}
	if c.Retention == nil {
		c.Retention = defaultRetention()
	} else {
		r := *c.Retention // the caller's value may change afterwards
		c.Retention = &r
	}
	if err := c.Retention.check("Config.Retention"); err != nil {
		return c, fmt.Errorf("aiflow: New: %w", err)
	}
	return c, nil
}

// runtimeConfig is the configuration of the runtime that consumes events
// for the client, with the definitions of reg.
func (c *Config) runtimeConfig(reg *engine.Registry) runtime.Config {
	return runtime.Config{
		Store: c.Store, Registry: reg, Owner: c.ClientID, Logger: c.Logger, Clock: c.Clock,
		PollInterval: c.PollInterval, LeaseTTL: c.LeaseTTL, MaxBatch: c.MaxBatch, PoisonAttempts: c.PoisonAttempts,
		MaxInterruptions: c.MaxInterruptions,
	}
}
