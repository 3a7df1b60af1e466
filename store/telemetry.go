package store

import (
	"context"
	"log/slog"
	"time"
)

// The optional interfaces below let a client's telemetry read a store's own
// state when its metrics are collected. Each call must be cheap and bounded:
// it runs on every collection (typically every 15 to 60 s).

// PartitionLag is how far a partition's consumer is behind the log.
type PartitionLag struct {
	Partition int
	// Events counts the events after the partition's position that it will
	// read, bounded by LagCountLimit.
	Events int64
	// Oldest is the append time of the oldest of them; zero when there is
	// none.
	Oldest time.Time
}

// LagCountLimit bounds PartitionLag.Events: a backlog larger than this
// reports this many, so that measuring it stays cheap.
const LagCountLimit = 10000

// LagReader is implemented by stores that can tell how far behind each
// partition is.
type LagReader interface {
	// PartitionLag returns the lag of every partition.
	PartitionLag(ctx context.Context) ([]PartitionLag, error)
}

// QueueDepth is the number of task jobs in one state of one queue.
type QueueDepth struct {
	Queue string
	// State is "available" (waiting to run), "scheduled" (waiting for a
	// retry's backoff) or "running".
	State string
	Jobs  int64
}

// QueueDepthReader is implemented by stores whose task jobs wait in queues.
type QueueDepthReader interface {
	// QueueDepths returns the jobs of every queue by state.
	QueueDepths(ctx context.Context) ([]QueueDepth, error)
}

// HorizonHold says what holds back the read horizon of a store whose log is
// read below a horizon (the Postgres store: the oldest open transaction).
type HorizonHold struct {
	// Since is when the horizon was last seen to stop moving; zero when it
	// is not held back.
	Since time.Time
	// Holder describes what holds it, such as "backend 4211 (application
	// aiflow, state idle in transaction)"; empty when nothing does.
	Holder string
}

// HorizonReporter is implemented by stores that can tell what holds back
// their read horizon.
type HorizonReporter interface {
	HorizonHold(ctx context.Context) (HorizonHold, error)
}

// Pinger is implemented by stores that can check that their database
// answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// SchemaChecker is implemented by stores whose schema is migrated: it
// returns an error when the schema is not at the version the store expects.
type SchemaChecker interface {
	CheckSchema(ctx context.Context) error
}

// LoggerSetter is implemented by stores that log: a client hands its logger
// to a store that was configured without one.
type LoggerSetter interface {
	// SetLogger sets the store's logger if it has none of its own; it is
	// called before the store is used by the client.
	SetLogger(l *slog.Logger)
}
