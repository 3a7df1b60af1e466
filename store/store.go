package store

import (
	"context"
	"time"
)

// DefaultNamespace always exists and cannot be deleted.
const DefaultNamespace = "default"

// NamespaceRecord is a namespace.
type NamespaceRecord struct {
	Name      string
	CreatedAt time.Time
}

// WorkflowRecord is a registered workflow definition.
type WorkflowRecord struct {
	Namespace string
	Name      string
	// Version identifies the definition: a hash of its description. A
	// registration with a changed definition makes a new version.
	Version string
	// Definition is a JSON description of the tasks and rules, for display.
	Definition []byte
	// Enabled is false while the workflow is disabled (nothing starts it).
	Enabled   bool
	Partition int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// WorkflowVersionRecord is one version of a workflow definition.
type WorkflowVersionRecord struct {
	Namespace  string
	Workflow   string
	Version    string
	Definition []byte
	CreatedAt  time.Time
}

// WorkflowExecutionRecord is one run of a workflow.
type WorkflowExecutionRecord struct {
	ID        int64
	Namespace string
	Workflow  string
	// Version is the definition version the execution began with.
	Version string
	Status  WorkflowStatus
	RunType RunType
	// Note says why the execution ended as it did, when that is not obvious
	// (a disabled workflow, a stop request).
	Note       string
	ScheduleID int64
	TriggerID  int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
	EndedAt    time.Time
	// Input is the execution's input, given when it was started
	// (CreateExecution); empty for executions started by schedules and
	// triggers. Effects.NewExecutions that replace an INIT record keep it.
	Input string
}

// TaskExecutionRecord is one run of a task in a workflow execution.
type TaskExecutionRecord struct {
	ID          int64
	ExecutionID int64
	Namespace   string
	Workflow    string
	Task        string
	// SeqNum numbers the executions of one task in one workflow execution:
	// 1, 2, 3 ... dense and never reused.
	SeqNum int
	// Attempt counts the dispatches of this task execution (1 for the
	// first); it is the fencing generation of the worker that runs it.
	Attempt int
	// Failures counts failed attempts; MaxAttempts bounds it.
	Failures    int
	MaxAttempts int
	// Interruptions counts the attempts interrupted by the loss of their
	// worker after they recorded RUNNING (its process died, or was cut off
	// or paused past its lease): they are not failures and do not count in
	// Failures. MaxInterruptions is how many of them are run again; one
	// more fails the task execution (see WorkerLost). The client sets it
	// from its Config.MaxInterruptions when it creates the task execution.
	Interruptions    int
	MaxInterruptions int
	Status           TaskStatus
	// Error is the last attempt's error, if it failed.
	Error string
	// Note keeps the last decision about this task that a user may want to
	// see, for example why a START was ignored.
	Note string
	// StatusMessage and Metrics are reported by the running operator.
	StatusMessage string
	Metrics       map[string]float64
	// Streaming marks a task that is not expected to end by itself.
	Streaming bool
	// Timeout bounds one attempt; 0 means none.
	Timeout   time.Duration
	CreatedAt time.Time
	UpdatedAt time.Time
	StartedAt time.Time
	EndedAt   time.Time
	// TraceParent is the W3C trace context of the event that started this
	// task execution (its Event.TraceParent), empty when there was none.
	TraceParent string
}

// ExecutionFilter selects workflow executions. Zero fields select everything.
type ExecutionFilter struct {
	Namespace string
	Workflow  string
	Statuses  []WorkflowStatus
	// BeforeID, when set, selects executions with a smaller id: the next
	// page after one that ended with that id.
	BeforeID int64
	// CreatedAfter and CreatedBefore, when set, bound the creation time
	// (inclusive, exclusive).
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// Limit bounds the result; 0 means DefaultListLimit. Newest first.
	Limit int
}

// TaskExecutionFilter selects task executions. Zero fields select everything.
type TaskExecutionFilter struct {
	ExecutionID int64
	Namespace   string
	Workflow    string
	Task        string
	// SeqNum, when set, selects the task executions with that sequence
	// number.
	SeqNum   int
	Statuses []TaskStatus
	// Limit bounds the result; 0 means DefaultListLimit. Ordered by
	// execution id, then by id (the order task executions were created).
	Limit int
}

// Snapshot is an opaque piece of engine state, persisted with the unit of
// work that produced it. Keys are unique within a partition.
type Snapshot struct {
	Key  string
	Data []byte
	// Delete removes the snapshot instead of writing it.
	Delete bool
}

// ExecutionUpdate changes a workflow execution's status.
type ExecutionUpdate struct {
	ID      int64
	Status  WorkflowStatus
	Note    string
	EndedAt time.Time
}

// TaskNote records a decision about a task execution for users to see.
type TaskNote struct {
	TaskExecutionID int64
	Note            string
}

// Dispatch asks for an attempt of a task execution to run. A task execution
// in INIT becomes QUEUED (the engine appends the QUEUED status event itself);
// one in RETRYING stays RETRYING until its next attempt runs. The backend
// records the dispatch once: a second dispatch of the same (task execution,
// attempt) is ignored.
type Dispatch struct {
	TaskExecutionID int64
	Attempt         int
	// NotBefore delays the attempt (retry backoff); zero means now.
	NotBefore time.Time
}

// StopRequest asks for a task execution to stop. The backend, in the same
// unit of work: marks a task execution that no worker runs (INIT, QUEUED,
// RETRYING) STOPPED, bumps its attempt so a late worker is fenced out and
// cancels its job; marks a RUNNING one STOPPING and cancels its job so the
// worker's context ends. It appends the matching status event (built with
// [NewStatusEvent]). A finished or already stopping task execution is left
// alone.
type StopRequest struct {
	TaskExecutionID int64
	Reason          string
}

// Effects is everything one unit of work writes, committed atomically with the
// partition's new position.
type Effects struct {
	// Position is the partition's new position: the last event handled.
	Position Position
	// NewExecutions are inserted; a record that exists in INIT (created by
	// CreateExecution) is replaced.
	NewExecutions     []WorkflowExecutionRecord
	ExecutionUpdates  []ExecutionUpdate
	NewTaskExecutions []TaskExecutionRecord
	TaskNotes         []TaskNote
	Dispatches        []Dispatch
	Stops             []StopRequest
	Events            []Event
	Snapshots         []Snapshot
	// Decisions are the engine's decisions about tasks (see [Decision]),
	// kept within the bounds of [FoldDecisions] and DecisionsKept.
	Decisions []Decision
}

// Empty reports whether e writes nothing but (maybe) a position.
func (e *Effects) Empty() bool {
	return len(e.NewExecutions) == 0 && len(e.ExecutionUpdates) == 0 && len(e.NewTaskExecutions) == 0 &&
		len(e.TaskNotes) == 0 && len(e.Dispatches) == 0 && len(e.Stops) == 0 && len(e.Events) == 0 && len(e.Snapshots) == 0 &&
		len(e.Decisions) == 0
}

// Batch is what a unit of work sees: the events after the partition's
// position, read inside the unit's transaction.
type Batch interface {
	// Partition is the partition being consumed.
	Partition() int
	// Position is the partition's position before this batch.
	Position() Position
	// Version counts the commits of this partition so far. A consumer that
	// cached the partition's state right after a commit (at the version
	// that [ConsumeResult] reported) may keep using the cache while Version
	// still equals it; any other value means someone else committed since.
	Version() int64
	// Events are the next events of the partition in position order.
	Events() []Event
	// End is the position up to which the batch covers the partition's
	// share of the log: the last event's position, or further when the
	// user events after it, up to the point read, were all left out by
	// ConsumeParams.UserKeys or AddressedKeys (or Position when there is
	// nothing). A unit of work that applied every event of the batch
	// commits End as its position, so that the partition does not read
	// those events again.
	End() Position
	// Snapshots returns every snapshot of the partition as committed.
	Snapshots(ctx context.Context) ([]Snapshot, error)
}

// BatchFunc decides what a batch of events does. It runs inside the unit of
// work; returning an error rolls everything back. Returning nil Effects
// commits nothing (not even a new position).
type BatchFunc func(ctx context.Context, b Batch) (*Effects, error)

// ConsumeParams configure one unit of work.
type ConsumeParams struct {
	Partition int
	// Owner must hold the partition's lease (see [Consumer.ClaimPartitions]).
	Owner string
	// MaxEvents bounds the batch; 0 means DefaultMaxEvents.
	MaxEvents int
	// UserKeys, when not nil, limits the user events of the batch to those
	// whose namespace and key it holds (a store may hand over more: the
	// engine ignores them); the others are skipped, and Batch.End moves past
	// them. The consumer sets it to the keys that the rules and triggers of
	// the partition's registered workflows expect, so a user event wakes and
	// costs only the partitions that apply it. Status and control events of
	// the partition are always read, and so are the control events of every
	// partition (the enabling and disabling of a workflow when the placement
	// spreads executions, see [IsBroadcastControl]), whatever keys the
	// consumer's registry knows. nil (the default) reads every user event.
	UserKeys *KeySet
	// AddressedKeys, when not nil, further limits the user events addressed
	// to an execution of another partition ([Placement.Target] is neither
	// -1 nor Partition) to those whose namespace and key it holds (a store
	// may hand over more: the engine ignores them); the others are skipped
	// like the user events UserKeys leaves out, and Batch.End moves past
	// them. Of such an event, nothing but the triggers of the partition's
	// workflows can apply in the partition (the execution it names is in
	// another): the consumer sets it to the keys of those triggers, so that
	// an event addressed to one execution (as a task sends them) is read
	// only by that execution's partition and by the partitions of the
	// triggers that expect it. The user events addressed to an execution of
	// the partition, and those addressed to none, are read as UserKeys
	// says. nil (the default) limits nothing.
	AddressedKeys *KeySet
}

// ReadsUser reports whether a unit of work read with c holds the user event
// ev (an event of no partition) placed by pl: its key passes UserKeys and,
// when it is addressed to an execution of another partition, AddressedKeys.
func (c *ConsumeParams) ReadsUser(pl Placement, ev *Event) bool {
	if !c.UserKeys.Has(ev.Namespace, ev.Key) {
		return false
	}
	if c.AddressedKeys == nil {
		return true
	}
	t := pl.Target(ev)
	return t < 0 || t == c.Partition || c.AddressedKeys.Has(ev.Namespace, ev.Key)
}

// DefaultMaxEvents is the number of events a unit of work reads when
// ConsumeParams.MaxEvents is 0.
const DefaultMaxEvents = 500

// ConsumeResult reports what a unit of work did.
type ConsumeResult struct {
	// Events is the number of events handed to the BatchFunc.
	Events int
	// More is true when more events may be waiting right away.
	More bool
	// Version is the partition's version after the unit (unchanged if
	// nothing was committed).
	Version int64
}

// Consumer is the consuming side of the event log.
type Consumer interface {
	// Partitions is the number of partitions, fixed for the store's lifetime.
	Partitions() int
	// Placement tells in which partition the store places workflows,
	// executions and events (Placement.Partitions is Partitions()), fixed
	// for the store's lifetime. The engine relies on it to know which
	// partition applies which execution.
	Placement() Placement
	// ClaimPartitions renews owner's leases and takes its fair share of
	// free or expired partitions (about Partitions() divided by the number
	// of live owners), giving back partitions above that share. It returns
	// the partitions owner holds after the call, each valid for ttl.
	ClaimPartitions(ctx context.Context, owner string, ttl time.Duration) ([]int, error)
	// ReleasePartitions gives up every lease owner holds.
	ReleasePartitions(ctx context.Context, owner string) error
	// Consume runs one unit of work on a partition. It returns ErrNotOwner if
	// owner does not hold the partition's lease.
	Consume(ctx context.Context, params ConsumeParams, fn BatchFunc) (ConsumeResult, error)
	// Subscribe returns a channel that receives a value (coalesced) whenever
	// events may have been appended, and a function to unsubscribe. It is a
	// hint: readers must also poll.
	Subscribe() (<-chan struct{}, func())
}

// FailedApplication counts the failed attempts at applying one event to one
// target (a condition that errored or panicked): see [FailureRecorder].
type FailedApplication struct {
	EventID int64
	// Target is the execution or the workflow's triggers the event was
	// applied to, as the engine names it.
	Target string
	// Attempts is the number of failed attempts so far.
	Attempts int
	// Error is the last attempt's error.
	Error string
}

// FailureRecorder is an optional capability of a Consumer: it keeps the
// failed attempts at a partition's next unit of work with the partition's
// position, so that the bound on attempts before an event is skipped as
// poison (the runtime's PoisonAttempts) holds across restarts of consumers
// and moves of the partition's lease. Without it the runtime counts attempts
// in memory, per consuming loop. A store that implements it hands the
// recorded failures to the unit of work through a Batch that implements
// [FailuresBatch].
type FailureRecorder interface {
	// RecordFailure adds one failed attempt at applying f.EventID to
	// f.Target (f.Attempts is ignored; f.Error becomes the last error) on
	// params.Partition, in a transaction of its own, and returns the
	// partition's failures after it. It fails with ErrNotOwner when
	// params.Owner no longer holds the lease, and with ErrConflict when the
	// partition's version is no longer version (another unit committed: the
	// failure may not concern the next batch any more). Recorded failures
	// are forgotten whenever a unit of work moves the partition's position.
	RecordFailure(ctx context.Context, params ConsumeParams, version int64, f FailedApplication) ([]FailedApplication, error)
}

// FailuresBatch is implemented by the batches of a [FailureRecorder].
type FailuresBatch interface {
	// Failures are the failed attempts recorded at the batch's position
	// (read with the batch).
	Failures() []FailedApplication
}

// PartitionSubscriber is an optional capability of a Consumer: a wake-up
// channel for the consumer of one partition, which appends of status and
// control events of other partitions do not wake (user events, which every
// partition reads, wake it). Consumers of many partitions use it to avoid
// waking every partition for every status change. Like Subscribe, it is a
// hint: readers must also poll.
type PartitionSubscriber interface {
	SubscribePartition(partition int) (<-chan struct{}, func())
}

// KeySubscriber is an optional capability of a Consumer: SubscribePartition
// for a consumer that reads only some user events (ConsumeParams.UserKeys).
// User events whose namespace and key keys() does not hold do not wake it
// (a store may wake it for them later, at most every so often); keys is
// called at each wake-up (from any goroutine) and must return the set the
// consumer reads now (nil: every key). Partition -1 subscribes to the
// events of every partition (Subscribe for a reader of some user keys, or
// of none). Like Subscribe, it is a hint: readers must also poll.
type KeySubscriber interface {
	SubscribeKeys(partition int, keys func() *KeySet) (<-chan struct{}, func())
}

// EventLog is the appending and reading side of the event log.
type EventLog interface {
	// AppendEvents appends events atomically and returns them with ID,
	// Position, Time and Partition set. Every namespace must exist, and
	// every event must pass ValidateEvent, which the store calls before it
	// writes anything (callers do not check first).
	AppendEvents(ctx context.Context, events []Event) ([]Event, error)
	// ListEvents returns events matching filter in position order, and the
	// position to pass as After to continue. It returns only events that no
	// later commit can precede, so paging from a returned position never
	// misses or repeats an event.
	ListEvents(ctx context.Context, filter EventFilter) ([]Event, Position, error)
	// LastPosition is the position of the last event that ListEvents can
	// return now: listening from it sees every later event.
	LastPosition(ctx context.Context) (Position, error)
}

// TxAppender is an optional capability of an EventLog: appending events
// inside a transaction that the caller owns (Client.SendEventTx), so that
// they exist if and only if the caller commits it. tx is the store's own
// transaction type (pgx.Tx for the Postgres store); another type is refused
// with an error matching ErrInvalid. Events are checked as AppendEvents
// checks them.
type TxAppender interface {
	AppendEventsInTx(ctx context.Context, tx any, events []Event) ([]Event, error)
}

// Metadata holds namespaces, workflows and executions.
type Metadata interface {
	AddNamespace(ctx context.Context, name string) error
	ListNamespaces(ctx context.Context) ([]NamespaceRecord, error)
	// DeleteNamespace fails with ErrNamespaceNotEmpty while workflows are
	// registered in it.
	DeleteNamespace(ctx context.Context, name string) error

	// RegisterWorkflow records a definition. It creates the workflow
	// (enabled) if needed and a new version if rec.Version is new; the
	// enabled flag of an existing workflow is kept. It returns the stored
	// record.
	RegisterWorkflow(ctx context.Context, rec WorkflowRecord) (WorkflowRecord, error)
	GetWorkflow(ctx context.Context, namespace, name string) (WorkflowRecord, error)
	// ListWorkflows lists the workflows of a namespace, or of all
	// namespaces when namespace is empty.
	ListWorkflows(ctx context.Context, namespace string) ([]WorkflowRecord, error)
	ListWorkflowVersions(ctx context.Context, namespace, name string) ([]WorkflowVersionRecord, error)
	// SetWorkflowEnabled sets the flag and appends ev (the enable or disable
	// control event) in one transaction.
	SetWorkflowEnabled(ctx context.Context, namespace, name string, enabled bool, ev Event) error
	// DeleteWorkflow removes a workflow, its versions, executions and task
	// executions. It fails with ErrConflict while an execution is alive.
	DeleteWorkflow(ctx context.Context, namespace, name string) error

	// CreateExecution inserts rec (status INIT) and appends ev (its
	// start_execution control event) in one transaction, so the execution
	// can be read, listed and stopped before the engine handles the event.
	CreateExecution(ctx context.Context, rec WorkflowExecutionRecord, ev Event) (Event, error)
	// CreateExecutions does what CreateExecution does for each of recs,
	// evs[i] being the start event of recs[i], in one transaction: all of
	// them or none. It returns the appended events in the order of evs.
	CreateExecutions(ctx context.Context, recs []WorkflowExecutionRecord, evs []Event) ([]Event, error)

	// AllocateExecutionIDs reserves n workflow execution ids.
	AllocateExecutionIDs(ctx context.Context, n int) ([]int64, error)
	// AllocateTaskExecutionIDs reserves n task execution ids.
	AllocateTaskExecutionIDs(ctx context.Context, n int) ([]int64, error)

	GetExecution(ctx context.Context, id int64) (WorkflowExecutionRecord, error)
	// DeleteExecution removes a finished workflow execution, its task
	// executions and their logs (its events stay in the log). It fails with
	// ErrConflict while the execution or one of its task executions is
	// alive.
	DeleteExecution(ctx context.Context, id int64) error
	ListExecutions(ctx context.Context, filter ExecutionFilter) ([]WorkflowExecutionRecord, error)
	GetTaskExecution(ctx context.Context, id int64) (TaskExecutionRecord, error)
	ListTaskExecutions(ctx context.Context, filter TaskExecutionFilter) ([]TaskExecutionRecord, error)
}

// TaskRun is one attempt of a task execution handed to a worker, with what
// the worker needs of its workflow execution, read with the attempt (no
// read of its own).
type TaskRun struct {
	TaskExecutionRecord
	// Version is the definition version the workflow execution began with
	// (WorkflowExecutionRecord.Version); empty when not recorded, which
	// runs the latest definition.
	Version string
	// Input is the workflow execution's input (WorkflowExecutionRecord.Input).
	Input string
}

// TaskHandler runs one attempt of a task execution: it starts the operator and
// returns when it ends. The context is cancelled when the task is stopped,
// when its attempt times out, and when the store's workers are stopped. A nil
// error is SUCCESS.
type TaskHandler func(ctx context.Context, run *TaskRun) error

// Report is progress an operator reports while it runs.
type Report struct {
	StatusMessage string
	Metrics       map[string]float64
}

// WorkersParams configure the task workers of a store.
type WorkersParams struct {
	Handler TaskHandler
	// Owner identifies this client (leases, logs).
	Owner string
}

// Workers runs task executions. Before calling the handler a backend records
// RUNNING and its status event in one transaction, fenced by the attempt (a
// task execution that was stopped or re-dispatched meanwhile is not run).
// After the handler returns it records the final status with
// [FinalStatus] and its status event in one transaction.
type Workers interface {
	StartWorkers(ctx context.Context, params WorkersParams) error
	// StopWorkers stops taking work, cancels streaming attempts right away
	// (they never end by themselves), waits for the other running attempts
	// until ctx ends, then cancels those still running and waits for them to
	// return. Attempts cancelled this way end RETRYING (interrupted), so
	// another client runs them again.
	StopWorkers(ctx context.Context) error
	// ReportProgress records an operator's progress on a running task
	// execution, or a stopping one (an operator stopping its work may report
	// how, such as the savepoint it took). It fails with ErrConflict when the
	// attempt is not the task execution's current one or has finished.
	ReportProgress(ctx context.Context, taskExecutionID int64, attempt int, report Report) error
}

// TaskLogs stores the output of task executions.
type TaskLogs interface {
	// AppendTaskLog appends output to a task execution's log.
	AppendTaskLog(ctx context.Context, taskExecutionID int64, data []byte) error
	// ReadTaskLog reads from offset; it returns the bytes read and the
	// offset to continue from. A pruned log reads as empty.
	ReadTaskLog(ctx context.Context, taskExecutionID int64, offset int64, limit int) ([]byte, int64, error)
	// PruneTaskLogs deletes the logs of task executions that finished
	// before endedBefore, and the logs of task executions that no longer
	// exist, and returns how many logs it deleted.
	PruneTaskLogs(ctx context.Context, endedBefore time.Time) (int, error)
}

// Store is a complete backend.
type Store interface {
	Metadata
	EventLog
	Consumer
	Workers
	TaskLogs
	Schedules
	Triggers
	Elector
	Idempotency
	Decisions
	Pruner
	// Close releases the store's resources. It does not close a pool the
	// caller passed in.
	Close() error
}
