package postgres

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/rivertype"
)

// Defaults of Config.
const (
	// SchemaDefault is the schema of the store's tables (and River's).
	SchemaDefault = "aiflow"
	// PartitionsDefault is the number of partitions created by the first
	// migration of a schema.
	PartitionsDefault = 4
	// PartitionsMax bounds Config.Partitions.
	PartitionsMax = 4096

	FetchCooldownDefault       = 2 * time.Millisecond
	FetchPollIntervalDefault   = time.Second
	MaxWorkersDefault          = 100
	HandoffMaxWorkersDefault   = 1000
	StreamingMaxWorkersDefault = 1000
	EventPollIntervalDefault   = time.Second
	TaskHeartbeatDefault       = 5 * time.Second
	TaskLeaseTTLDefault        = 30 * time.Second
	ReapIntervalDefault        = 5 * time.Second
	LeaderTTLDefault           = 15 * time.Second
	ListenerReconnectDefault   = 200 * time.Millisecond
	HorizonWarnAfterDefault    = 10 * time.Second
	CompleteJobTimeoutDefault  = 10 * time.Second
	ResignTimeoutDefault       = 5 * time.Second
	// TaskStopGraceMax caps the default of Config.TaskStopGrace.
	TaskStopGraceMax = 10 * time.Second

	// Retention of River's finished jobs (Config.CompletedJobRetention and
	// friends), River's own defaults.
	CompletedJobRetentionDefault = 24 * time.Hour
	CancelledJobRetentionDefault = 24 * time.Hour
	DiscardedJobRetentionDefault = 7 * 24 * time.Hour

	// QueueBatch and QueueStreaming are the River queues of task attempts:
	// streaming tasks hold a worker slot for their whole life, so they have a
	// queue of their own and cannot starve batch tasks.
	QueueBatch     = "aiflow_batch"
	QueueStreaming = "aiflow_streaming"
)

// Config configures a Postgres store. A nil *Config means the defaults. The
// same Schema (and Partitions) must be passed to Migrate and New.
type Config struct {
	// Schema holds the store's tables and River's: letters, digits and '_',
	// starting with a letter or '_', at most 63 bytes. It is created by
	// Migrate. Tests use one schema per test. Defaults to "aiflow".
	Schema string

	// Partitions is the number of partitions events are consumed in. It is
	// fixed by the first migration of a schema and stored there; New reads
	// it back, and fails if this field is set to another value. Defaults to
	// 4 (PartitionsDefault).
	Partitions int

	// Logger receives the store's logs and River's. Defaults to text on
	// stderr at level Warn.
	Logger *slog.Logger

	// FetchCooldown is the shortest time between two fetches of River jobs
	// by one queue of this process; it bounds throughput, and also how often
	// inserts send River's wake-up notification. River's default of 100 ms is
	// far too slow for starting tasks; defaults to 2 ms.
	FetchCooldown time.Duration

	// FetchPollInterval is how often an idle River queue looks for jobs
	// without a notification (the fallback when a notification is lost, and
	// the only way in PollOnly mode). Defaults to 1 s; consider 50 ms in
	// PollOnly mode.
	FetchPollInterval time.Duration

	// MaxWorkers bounds the batch task attempts this process runs at once.
	// Defaults to 100.
	MaxWorkers int

	// StreamingMaxWorkers bounds the streaming task attempts this process
	// runs at once (each holds a slot for its whole life). Defaults to 1000.
	StreamingMaxWorkers int

	// HandoffMaxWorkers bounds the just-dispatched batch attempts this
	// process runs by handoff at once; -1 turns handoff off. With handoff, a
	// unit of work that dispatches batch attempts while this process runs
	// workers with handoff slots free starts as many of them as there are
	// free slots in its own transaction (RUNNING and the lease, without a
	// River job) and this process runs them as soon as it commits: no River
	// notification, fetch or RUNNING statement in between (about half of the
	// event-to-start latency), and no River job to insert and complete (about
	// half the CPU per task start). Should the process
	// die first, the attempts' leases expire and the reaper ends them, as
	// for any worker that died. The attempts beyond the free slots, and
	// every streaming attempt, go through River, which spreads them over the
	// processes (handoff keeps them on the process that consumes their
	// partition). Handoff slots come beside River's MaxWorkers, so a process
	// runs up to MaxWorkers plus HandoffMaxWorkers batch attempts at once.
	// Defaults to 1000 (HandoffMaxWorkersDefault, as many as
	// StreamingMaxWorkers), so that a burst is handed off whole: the saving
	// is in proportion to the share of a burst handed off, and a unit of
	// work finds slots free only if they outnumber the attempts still
	// running from the units before it (with 8 slots, 992 of every 1,000
	// attempts of a burst went through River; with 64 a burst of 1,000
	// cost as much CPU per start as with 8, with 256 about a tenth less,
	// handed off whole about 40 % less, before handed-off attempts lost their River job). Bursts still spread
	// over the processes, by partition: a workflow's executions are spread
	// over the partitions (store.Placement), and the partitions over the
	// processes. Lower it, or turn handoff off, for heavy tasks whose
	// number running at once per process must stay near MaxWorkers, or
	// whose bursts River should spread evenly over the processes.
	HandoffMaxWorkers int

	// EventPollInterval is how often the store checks for new events without
	// a notification, to wake Subscribe channels: the fallback for lost
	// notifications, and the only wake-up for events from other processes in
	// PollOnly mode. One cheap query per interval per process. Defaults to
	// 1 s; consider 50 ms in PollOnly mode.
	EventPollInterval time.Duration

	// PollOnly disables LISTEN/NOTIFY (here and in River): the store then
	// works behind PgBouncer in transaction mode, waking on polls only
	// (EventPollInterval, FetchPollInterval). Events appended by this process
	// still wake its own consumers at once. Defaults to false.
	PollOnly bool

	// TaskHeartbeat is how often this process renews the leases of the task
	// attempts it runs (one query for all of them). Defaults to 5 s.
	TaskHeartbeat time.Duration

	// TaskLeaseTTL is how long a running attempt's lease lasts without a
	// heartbeat. Once it has expired for TaskStopGrace more, the reaper ends
	// the attempt as interrupted by a lost worker (store.WorkerLost:
	// RETRYING, run again, up to the task execution's interruption limit)
	// and a new attempt may start; the worker, if it still runs, is fenced
	// out. It is also the grace period after which a job whose worker died
	// before recording RUNNING is reaped the same way. Must exceed
	// TaskHeartbeat plus TaskStopGrace; defaults to 30 s.
	TaskLeaseTTL time.Duration

	// TaskStopGrace is the time an attempt is given to stop once its
	// process can no longer prove it holds the lease, on both sides of the
	// lease's expiry: the holder cancels the attempt (its context, and so the
	// process group an operator started: SIGTERM, then SIGKILL after the
	// operator's kill grace) when TaskLeaseTTL minus TaskStopGrace has passed
	// since it sent its last successful renewal, measured on the monotonic
	// clock; a watchdog checks this every few milliseconds, so a process that
	// resumes after a pause (SIGSTOP, a stalled VM) cancels at once every
	// attempt whose lease it can no longer prove. The reaper ends an attempt
	// only once its lease has been expired for TaskStopGrace, so two attempts
	// of a task never run at once, unless a process is frozen for longer than
	// TaskLeaseTTL plus TaskStopGrace. Keep it above the operators' kill grace
	// (5 s by default). Must be below TaskLeaseTTL minus TaskHeartbeat;
	// defaults to half of that, at most 10 s (TaskStopGraceMax).
	TaskStopGrace time.Duration

	// ReapInterval is how often the elected leader looks for expired task
	// leases and dead dispatches. Defaults to 5 s.
	ReapInterval time.Duration

	// LeaderTTL is the validity of the leader lease (the reaper, and later
	// the timers, run on the leader only). The leader renews it every third
	// of it; a crashed leader is replaced after at most about LeaderTTL.
	// Defaults to 15 s.
	LeaderTTL time.Duration

	// ListenerReconnect is the delay before the LISTEN connection is
	// re-established after it failed (doubling up to 5 s while it keeps
	// failing). Consumers catch up after every reconnect. Defaults to
	// 200 ms.
	ListenerReconnect time.Duration

	// HorizonWarnAfter is how long committed events may wait above the read
	// horizon (held back by a transaction that is still open) before the
	// store logs, at Warn level, the transaction holding them: its pid, age
	// and query, once each time the wait crosses another multiple of it.
	// Store.HorizonHolder reports the same at any time. Defaults to 10 s.
	HorizonWarnAfter time.Duration

	// CompleteJobTimeout is added to TaskLeaseTTL to bound a transaction
	// that records final statuses and completes their River jobs. (It
	// bounded the completion of the job of a handed-off attempt whose final
	// status could not be recorded: handed-off attempts no longer have a
	// River job.) Defaults to 10 s.
	CompleteJobTimeout time.Duration

	// ResignTimeout bounds how long a stopping client waits to give up a
	// leader lease it holds (the timers' campaign, Elect, and the reaper's,
	// in StopWorkers), so that another client leads at once rather than
	// after LeaderTTL; if it cannot, another process takes over once the
	// lease has expired. Defaults to 5 s.
	ResignTimeout time.Duration

	// CompletedJobRetention, CancelledJobRetention and DiscardedJobRetention
	// are how long River keeps the jobs of finished task attempts
	// (completed, cancelled, discarded) before its job cleaner, on River's
	// elected leader among the started stores, deletes them; -1 keeps them
	// forever. Jobs are the queue's bookkeeping: a task execution records
	// its attempts' outcome itself, and is kept as long as
	// aiflow.Config.Retention says. Default to River's own: 24 h, 24 h and
	// 7 days.
	CompletedJobRetention time.Duration
	CancelledJobRetention time.Duration
	DiscardedJobRetention time.Duration

	// RiverMiddleware is handed to River's client (river.Config.Middleware),
	// for example River's OpenTelemetry middleware (otelriver), which traces
	// and measures job inserts and the attempts River runs. Attempts handed
	// off within this process (HandoffMaxWorkers) do not pass through River's
	// work middleware. Defaults to none.
	RiverMiddleware []rivertype.Middleware

	// riverTestOnly sets River's TestOnly (no jittered start-up sleeps); for
	// this package's tests.
	riverTestOnly bool
}

var schemaRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// ValidateSchema checks a schema name as Config.Schema takes it: 1 to 63
// letters, digits or '_', starting with a letter or '_'.
func ValidateSchema(schema string) error {
	if len(schema) > 63 || !schemaRE.MatchString(schema) {
		return fmt.Errorf("schema %q: expected 1 to 63 letters, digits or '_', starting with a letter or '_'", schema)
	}
	return nil
}

// withDefaults returns a copy of cfg with defaults filled in, or an error
// naming the first invalid field.
func (cfg *Config) withDefaults() (*Config, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Schema == "" {
		c.Schema = SchemaDefault
	}
	if err := ValidateSchema(c.Schema); err != nil {
		return nil, fmt.Errorf("postgres: Config.Schema: %w", err)
	}
	if c.Partitions < 0 || c.Partitions > PartitionsMax {
		return nil, fmt.Errorf("postgres: Config.Partitions %d: expected 1 to %d (0 for the default, %d)", c.Partitions, PartitionsMax, PartitionsDefault)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"FetchCooldown", &c.FetchCooldown, FetchCooldownDefault},
		{"FetchPollInterval", &c.FetchPollInterval, FetchPollIntervalDefault},
		{"EventPollInterval", &c.EventPollInterval, EventPollIntervalDefault},
		{"TaskHeartbeat", &c.TaskHeartbeat, TaskHeartbeatDefault},
		{"TaskLeaseTTL", &c.TaskLeaseTTL, TaskLeaseTTLDefault},
		{"ReapInterval", &c.ReapInterval, ReapIntervalDefault},
		{"LeaderTTL", &c.LeaderTTL, LeaderTTLDefault},
		{"ListenerReconnect", &c.ListenerReconnect, ListenerReconnectDefault},
		{"HorizonWarnAfter", &c.HorizonWarnAfter, HorizonWarnAfterDefault},
		{"CompleteJobTimeout", &c.CompleteJobTimeout, CompleteJobTimeoutDefault},
		{"ResignTimeout", &c.ResignTimeout, ResignTimeoutDefault},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return nil, fmt.Errorf("postgres: Config.%s %s: expected a positive duration (0 for the default, %s)", d.name, *d.v, d.def)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, r := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"CompletedJobRetention", &c.CompletedJobRetention, CompletedJobRetentionDefault},
		{"CancelledJobRetention", &c.CancelledJobRetention, CancelledJobRetentionDefault},
		{"DiscardedJobRetention", &c.DiscardedJobRetention, DiscardedJobRetentionDefault},
	} {
		if *r.v < -1 {
			return nil, fmt.Errorf("postgres: Config.%s %s: expected a positive duration, or -1 to keep River's finished jobs forever (0 for the default, %s)", r.name, *r.v, r.def)
		}
		if *r.v == 0 {
			*r.v = r.def
		}
	}
	if c.FetchCooldown < time.Millisecond {
		return nil, fmt.Errorf("postgres: Config.FetchCooldown %s: expected at least 1ms", c.FetchCooldown)
	}
	if c.FetchPollInterval < time.Millisecond {
		return nil, fmt.Errorf("postgres: Config.FetchPollInterval %s: expected at least 1ms", c.FetchPollInterval)
	}
	if c.TaskLeaseTTL <= c.TaskHeartbeat {
		return nil, fmt.Errorf("postgres: Config.TaskLeaseTTL %s: expected more than TaskHeartbeat (%s), ideally three times as much", c.TaskLeaseTTL, c.TaskHeartbeat)
	}
	switch room := c.TaskLeaseTTL - c.TaskHeartbeat; {
	case c.TaskStopGrace < 0:
		return nil, fmt.Errorf("postgres: Config.TaskStopGrace %s: expected a positive duration (0 for the default, %s)", c.TaskStopGrace, min(room/2, TaskStopGraceMax))
	case c.TaskStopGrace == 0:
		c.TaskStopGrace = min(room/2, TaskStopGraceMax)
	case c.TaskStopGrace >= room:
		return nil, fmt.Errorf("postgres: Config.TaskStopGrace %s: expected less than TaskLeaseTTL minus TaskHeartbeat (%s - %s)",
			c.TaskStopGrace, c.TaskLeaseTTL, c.TaskHeartbeat)
	}
	workers := []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxWorkers", &c.MaxWorkers, MaxWorkersDefault},
		{"StreamingMaxWorkers", &c.StreamingMaxWorkers, StreamingMaxWorkersDefault},
	}
	switch {
	case c.HandoffMaxWorkers == -1:
	case c.HandoffMaxWorkers < 0 || c.HandoffMaxWorkers > 10_000:
		return nil, fmt.Errorf("postgres: Config.HandoffMaxWorkers %d: expected 1 to 10000, or -1 to turn handoff off (0 for the default, %d)",
			c.HandoffMaxWorkers, HandoffMaxWorkersDefault)
	case c.HandoffMaxWorkers == 0:
		c.HandoffMaxWorkers = HandoffMaxWorkersDefault
	}
	for _, w := range workers {
		if *w.v < 0 || *w.v > 10_000 {
			return nil, fmt.Errorf("postgres: Config.%s %d: expected 1 to 10000 (0 for the default, %d)", w.name, *w.v, w.def)
		}
		if *w.v == 0 {
			*w.v = w.def
		}
	}
	return &c, nil
}

// channelName is the LISTEN channel of a schema's events: "<schema>.aiflow_event",
// shortened with a hash of the schema when that would exceed Postgres's 63
// byte limit on identifiers.
func channelName(schema string) string {
	const suffix = ".aiflow_event"
	if len(schema)+len(suffix) <= 63 {
		return schema + suffix
	}
	h := fnv.New32a()
	h.Write([]byte(schema))
	tag := "." + strconv.FormatUint(uint64(h.Sum32()), 16)
	return schema[:63-len(suffix)-len(tag)] + tag + suffix
}

// lockKey is the first key of the store's advisory locks in schema: the same
// for every process, different (with high probability) across schemas.
func lockKey(schema string) int32 {
	h := fnv.New32a()
	h.Write([]byte("aiflow:" + schema))
	return int32(h.Sum32())
}

// Second keys of the advisory locks; partitions use their number (>= 0).
const (
	lockMigrate int32 = -1
)

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
