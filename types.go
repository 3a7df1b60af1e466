package aiflow

import (
	"time"

	"github.com/aiflow-go/aiflow/store"
)

// The types in this file are what the client returns and takes. They belong
// to the public API and follow its compatibility promise (see the package
// documentation); they are not the store's records, which are the seam for
// store authors and may change in any release. The client converts a store
// record into its public type at the boundary, with one function per type
// (the *FromStore functions below).

// TaskStatus is the status of a task execution. See the constants.
type TaskStatus string

// The task statuses. INIT, QUEUED, RUNNING, RETRYING and STOPPING are alive;
// SUCCESS, FAILED and STOPPED are finished and final.
const (
	TaskInit     TaskStatus = "INIT"
	TaskQueued   TaskStatus = "QUEUED"
	TaskRunning  TaskStatus = "RUNNING"
	TaskSuccess  TaskStatus = "SUCCESS"
	TaskFailed   TaskStatus = "FAILED"
	TaskStopping TaskStatus = "STOPPING"
	TaskStopped  TaskStatus = "STOPPED"
	TaskRetrying TaskStatus = "RETRYING"
)

// Finished reports whether s is SUCCESS, FAILED or STOPPED.
func (s TaskStatus) Finished() bool { return store.TaskStatus(s).Finished() }

// Alive reports whether s is INIT, QUEUED, RUNNING, RETRYING or STOPPING. A
// task is not started again while its latest execution is alive.
func (s TaskStatus) Alive() bool { return store.TaskStatus(s).Alive() }

// Valid reports whether s is one of the task statuses.
func (s TaskStatus) Valid() bool { return store.TaskStatus(s).Valid() }

// WorkflowStatus is the status of a workflow execution. See the constants.
type WorkflowStatus string

// The workflow execution statuses. SUCCESS, FAILED and STOPPED are final.
const (
	WorkflowInit    WorkflowStatus = "INIT"
	WorkflowRunning WorkflowStatus = "RUNNING"
	WorkflowSuccess WorkflowStatus = "SUCCESS"
	WorkflowFailed  WorkflowStatus = "FAILED"
	WorkflowStopped WorkflowStatus = "STOPPED"
)

// Finished reports whether s is SUCCESS, FAILED or STOPPED.
func (s WorkflowStatus) Finished() bool { return store.WorkflowStatus(s).Finished() }

// Valid reports whether s is one of the workflow execution statuses.
func (s WorkflowStatus) Valid() bool { return store.WorkflowStatus(s).Valid() }

// RunType says what started a workflow execution: MANUAL, PERIODIC or EVENT.
type RunType string

// The run types.
const (
	RunManual   RunType = "MANUAL"   // started by a call (API, command line, HTTP)
	RunPeriodic RunType = "PERIODIC" // started by a workflow schedule
	RunEvent    RunType = "EVENT"    // started by a workflow trigger
)

// Position is the place of an event in the log. Events are read in Position
// order; list and listen calls take a Position to continue from and never miss
// or repeat an event after it. Its text form ("XID-ID") is what
// ParsePosition reads and the command line prints. The zero Position is
// before every event.
type Position struct {
	// XID orders events by the transaction that appended them (on the
	// memory store it equals ID).
	XID uint64
	// ID is the event's id.
	ID int64
}

// Less reports whether p comes before q in the log.
func (p Position) Less(q Position) bool { return store.Position(p).Less(store.Position(q)) }

// IsZero reports whether p is the zero Position (before every event).
func (p Position) IsZero() bool { return p == Position{} }

// String formats p as "XID-ID", the form ParsePosition reads.
func (p Position) String() string { return store.Position(p).String() }

// ParsePosition parses a Position from its text form ("XID-ID"); the empty
// string is the zero Position.
func ParsePosition(s string) (Position, error) {
	p, err := store.ParsePosition(s)
	return Position(p), err
}

// NamespaceInfo is a namespace.
type NamespaceInfo struct {
	Name      string
	CreatedAt time.Time
}

func namespaceFromStore(r store.NamespaceRecord) NamespaceInfo {
	return NamespaceInfo{Name: r.Name, CreatedAt: r.CreatedAt}
}

// WorkflowInfo is a registered workflow as recorded in the store: its latest
// version, its definition and whether it is enabled.
type WorkflowInfo struct {
	Namespace string
	Name      string
	// Version identifies the latest definition: a hash of its description.
	// Registering a changed definition makes a new version.
	Version string
	// Definition is a JSON description of the tasks and rules, for display.
	Definition []byte
	// Enabled is false while the workflow is disabled (nothing starts it).
	Enabled bool
	// Partition is the event log partition that consumes the workflow's
	// executions.
	Partition int
	CreatedAt time.Time
	UpdatedAt time.Time
}

func workflowFromStore(r store.WorkflowRecord) WorkflowInfo {
	return WorkflowInfo{Namespace: r.Namespace, Name: r.Name, Version: r.Version, Definition: r.Definition,
		Enabled: r.Enabled, Partition: r.Partition, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// WorkflowVersion is one recorded version of a workflow definition.
type WorkflowVersion struct {
	Namespace string
	Workflow  string
	Version   string
	// Definition is a JSON description of the tasks and rules, for display.
	Definition []byte
	CreatedAt  time.Time
}

func workflowVersionFromStore(r store.WorkflowVersionRecord) WorkflowVersion {
	return WorkflowVersion{Namespace: r.Namespace, Workflow: r.Workflow, Version: r.Version, Definition: r.Definition, CreatedAt: r.CreatedAt}
}

// WorkflowExecution is one run of a workflow.
type WorkflowExecution struct {
	ID        int64
	Namespace string
	Workflow  string
	// Version is the definition version the execution began with.
	Version string
	Status  WorkflowStatus
	RunType RunType
	// Note says why the execution ended as it did, when that is not obvious
	// (a disabled workflow, a stop request).
	Note string
	// ScheduleID is the workflow schedule that started the execution
	// (RunPeriodic), TriggerID the workflow trigger (RunEvent); 0 otherwise.
	ScheduleID int64
	TriggerID  int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// EndedAt is zero until the execution has finished.
	EndedAt time.Time
	// Input is the execution's input (StartWorkflowOpts.Input); empty for
	// executions started by schedules and triggers.
	Input string
}

func executionFromStore(r store.WorkflowExecutionRecord) WorkflowExecution {
	return WorkflowExecution{ID: r.ID, Namespace: r.Namespace, Workflow: r.Workflow, Version: r.Version,
		Status: WorkflowStatus(r.Status), RunType: RunType(r.RunType), Note: r.Note, ScheduleID: r.ScheduleID,
		TriggerID: r.TriggerID, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, EndedAt: r.EndedAt, Input: r.Input}
}

// TaskExecution is one run of a task in a workflow execution.
type TaskExecution struct {
	ID          int64
	ExecutionID int64
	Namespace   string
	Workflow    string
	Task        string
	// SeqNum numbers the runs of one task in one workflow execution: 1, 2,
	// 3 ... dense and never reused.
	SeqNum int
	// Attempt counts the dispatches of this task execution (1 for the
	// first).
	Attempt int
	// Failures counts failed attempts; MaxAttempts bounds it.
	Failures    int
	MaxAttempts int
	// Interruptions counts the attempts interrupted by the loss of their
	// worker after they recorded RUNNING (its process died, or was cut off
	// or paused past its lease): they are not failures and do not count in
	// Failures. MaxInterruptions (Config.MaxInterruptions when the task
	// execution was created) is how many of them are run again; one more
	// fails the task execution.
	Interruptions    int
	MaxInterruptions int
	Status           TaskStatus
	// Error is the last attempt's error, if it failed.
	Error string
	// Note keeps the last decision about this task that a user may want to
	// see, for example why a START was ignored.
	Note string
	// StatusMessage and Metrics are reported by the running operator
	// (TaskContext.ReportStatus, ReportMetrics).
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

func taskExecutionFromStore(r store.TaskExecutionRecord) TaskExecution {
	return TaskExecution{ID: r.ID, ExecutionID: r.ExecutionID, Namespace: r.Namespace, Workflow: r.Workflow,
		Task: r.Task, SeqNum: r.SeqNum, Attempt: r.Attempt, Failures: r.Failures, MaxAttempts: r.MaxAttempts,
		Interruptions: r.Interruptions, MaxInterruptions: r.MaxInterruptions, Status: TaskStatus(r.Status), Error: r.Error, Note: r.Note, StatusMessage: r.StatusMessage, Metrics: r.Metrics,
		Streaming: r.Streaming, Timeout: r.Timeout, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		StartedAt: r.StartedAt, EndedAt: r.EndedAt, TraceParent: r.TraceParent}
}

// WorkflowSchedule is a timer that starts an execution of a workflow (run type
// PERIODIC) on every tick of its expression.
type WorkflowSchedule struct {
	ID         int64
	Namespace  string
	Workflow   string
	Expression string
	// TimeZone is the IANA name of the time zone of cron expressions ("UTC"
	// by default).
	TimeZone string
	Paused   bool
	// Overlap is OverlapAllow or OverlapSkip.
	Overlap string
	// CatchUp is how many missed ticks fire late (see ScheduleOpts.CatchUp).
	CatchUp   int
	CreatedAt time.Time
	UpdatedAt time.Time
	// LastFireAt is the nominal time of the latest tick that fired (or was
	// skipped as missed).
	LastFireAt time.Time
	// ResumedAt is when the schedule was last resumed after a pause (zero if
	// it never was).
	ResumedAt time.Time
}

func scheduleFromStore(r store.ScheduleRecord) WorkflowSchedule {
	return WorkflowSchedule{ID: r.ID, Namespace: r.Namespace, Workflow: r.Workflow, Expression: r.Expression,
		TimeZone: r.TimeZone, Paused: r.Paused, Overlap: r.Overlap, CatchUp: r.CatchUp, CreatedAt: r.CreatedAt,
		UpdatedAt: r.UpdatedAt, LastFireAt: r.LastFireAt, ResumedAt: r.ResumedAt}
}

// WorkflowTrigger is a condition over the events of a workflow's namespace
// that starts an execution of the workflow (run type EVENT) when met. The
// condition is Go code registered in each client; the store keeps its name,
// the keys it expects and whether it is paused.
type WorkflowTrigger struct {
	ID        int64
	Namespace string
	Workflow  string
	Name      string
	Keys      []string
	Paused    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

func triggerFromStore(r store.TriggerRecord) WorkflowTrigger {
	return WorkflowTrigger{ID: r.ID, Namespace: r.Namespace, Workflow: r.Workflow, Name: r.Name, Keys: r.Keys,
		Paused: r.Paused, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// ExecutionFilter selects workflow executions; zero fields select everything.
// Results are newest first.
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
	// Limit bounds the result; 0 means 1000.
	Limit int
}

func (f *ExecutionFilter) toStore() store.ExecutionFilter {
	return store.ExecutionFilter{Namespace: f.Namespace, Workflow: f.Workflow,
		Statuses: convertAll(f.Statuses, toStoreStatus[WorkflowStatus, store.WorkflowStatus]),
		BeforeID: f.BeforeID, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore, Limit: f.Limit}
}

// TaskExecutionFilter selects task executions; zero fields select
// everything. Results are in run order: grouped by workflow execution (oldest
// first), then in the order the task executions were created, which for each
// task is the order of their sequence numbers (SeqNum).
type TaskExecutionFilter struct {
	ExecutionID int64
	Namespace   string
	Workflow    string
	Task        string
	// SeqNum selects the run with that sequence number (of Task, or of every
	// task of the execution when Task is empty).
	SeqNum   int
	Statuses []TaskStatus
	// Limit bounds the result; 0 means 1000.
	Limit int
}

func (f *TaskExecutionFilter) toStore() store.TaskExecutionFilter {
	return store.TaskExecutionFilter{ExecutionID: f.ExecutionID, Namespace: f.Namespace, Workflow: f.Workflow, Task: f.Task,
		SeqNum: f.SeqNum, Statuses: convertAll(f.Statuses, toStoreStatus[TaskStatus, store.TaskStatus]), Limit: f.Limit}
}

// toStoreStatus converts between two string kinds (a public status and the
// store's).
func toStoreStatus[From, To ~string](s From) To { return To(s) }

// convertAll converts every element of in with f; nil stays nil.
func convertAll[From, To any](in []From, f func(From) To) []To {
	if in == nil {
		return nil
	}
	out := make([]To, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }
