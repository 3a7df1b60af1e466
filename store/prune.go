package store

import (
	"context"
	"time"
)

// PruneParams say what a prune deletes. A zero time keeps that kind of
// record forever.
type PruneParams struct {
	// EventsBefore: events appended before it are deleted once every
	// partition that reads them has consumed them (a user event: every
	// partition; a status or control event: its workflow's). An event that
	// some partition has not consumed yet is never deleted, however old.
	EventsBefore time.Time
	// ExecutionsBefore: workflow executions that finished (SUCCESS, FAILED,
	// STOPPED) before it are deleted with their task executions, the task
	// executions' logs, dispatch records and leases, and the engine's
	// decisions about their tasks (the rule state of an
	// execution is dropped by the unit of work that finishes it). An
	// execution that is not finished, or one of whose task executions is
	// still alive, is never deleted.
	ExecutionsBefore time.Time
	// DryRun counts what would be deleted and deletes nothing.
	DryRun bool
	// BatchSize bounds the records one transaction reads (and deletes):
	// pruning never holds a lock for long. 0 means DefaultPruneBatch.
	BatchSize int
}

// DefaultPruneBatch is PruneParams.BatchSize when zero.
const DefaultPruneBatch = 1000

// PruneResult counts what a prune deleted (or, with DryRun, would delete).
type PruneResult struct {
	Events             int64 `json:"events"`
	WorkflowExecutions int64 `json:"workflow_executions"`
	TaskExecutions     int64 `json:"task_executions"`
	// TaskLogs counts the task logs kept in the store that went with their
	// task executions.
	TaskLogs int64 `json:"task_logs"`
	// Decisions counts the engine's recorded decisions (see Decision) that
	// went with their workflow executions.
	Decisions int64 `json:"decisions"`
}

// Add adds o's counts to r.
func (r *PruneResult) Add(o PruneResult) {
	r.Events += o.Events
	r.WorkflowExecutions += o.WorkflowExecutions
	r.TaskExecutions += o.TaskExecutions
	r.TaskLogs += o.TaskLogs
	r.Decisions += o.Decisions
}

// Pruner deletes old records so that the log and the execution history do
// not grow forever. The library calls it on the elected leader (and the
// command line's "aiflow prune" calls it once).
type Pruner interface {
	// Prune deletes what p selects, in batches of at most p.BatchSize
	// records per transaction, and returns the counts. It returns what it
	// deleted so far with the error when one batch fails or ctx ends.
	Prune(ctx context.Context, p PruneParams) (PruneResult, error)
}
