package store

import (
	"context"
	"time"
)

// DecisionOutcome is what the engine decided when it evaluated a task rule
// (or started a task for another reason) in a workflow execution.
type DecisionOutcome string

// The outcomes the engine records. Outcomes about events that never reached
// the execution (another execution or namespace, a key no rule expects, an
// execution that was not running) are not recorded: the client works them out
// from the event log when it explains a task (see aiflow.Client.ExplainTask).
const (
	// DecisionStarted: a new task execution was created (a START rule, a
	// RESTART rule while no run was alive, a request, a periodic tick, or
	// the execution's start for a task without a START rule).
	DecisionStarted DecisionOutcome = "STARTED"
	// DecisionRestarted: the alive run was asked to stop and a new one was
	// created; it is dispatched once the old one has stopped.
	DecisionRestarted DecisionOutcome = "RESTARTED"
	// DecisionStopRequested: a STOP rule (or request) asked the alive run to
	// stop.
	DecisionStopRequested DecisionOutcome = "STOP_REQUESTED"
	// DecisionNothingToStop: a STOP rule was met while no run was alive.
	DecisionNothingToStop DecisionOutcome = "NOTHING_TO_STOP"
	// DecisionConditionFalse: the rule's condition was not met; the reason
	// is the condition's description.
	DecisionConditionFalse DecisionOutcome = "CONDITION_FALSE"
	// DecisionTaskAlive: the rule was met but a run of the task was still
	// alive (a START is ignored then; so is a RESTART while a restart
	// already waits).
	DecisionTaskAlive DecisionOutcome = "TASK_ALIVE"
	// DecisionWorkflowDisabled: the event was not applied to the execution
	// because its workflow was disabled.
	DecisionWorkflowDisabled DecisionOutcome = "WORKFLOW_DISABLED"
	// DecisionConditionFailed: the condition returned an error or panicked
	// until the event was skipped as poison; the reason is the error.
	DecisionConditionFailed DecisionOutcome = "CONDITION_FAILED"
)

// Starts reports whether the outcome created a task execution. Such
// decisions are kept for the life of the execution; the others are bounded
// (see [DecisionsKept]).
func (o DecisionOutcome) Starts() bool { return o == DecisionStarted || o == DecisionRestarted }

// DecisionsKept is the number of decisions that do not start a task
// execution a store keeps per (execution, task, rule): older ones are
// dropped as newer ones are recorded. Start decisions are all kept. Every
// decision goes when its execution is deleted.
const DecisionsKept = 20

// Decision is one decision of the engine about a task of a workflow
// execution, recorded with the unit of work that made it.
type Decision struct {
	// ID orders the decisions of an execution; the store sets it.
	ID          int64
	ExecutionID int64
	Task        string
	// Rule is the 1-based index of the task's rule that was evaluated; 0
	// when no rule decided (the execution's start, a request, a periodic
	// tick).
	Rule int
	// EventID and EventKey name the event being applied.
	EventID  int64
	EventKey string
	// Time is the event's time.
	Time    time.Time
	Outcome DecisionOutcome
	// Reason says more: the condition's description, the run that was
	// alive, the poison error, what asked for a start without a rule.
	Reason string
	// TaskExecutionID and SeqNum name the task execution created (start
	// decisions) or concerned (TASK_ALIVE, STOP_REQUESTED), when there is
	// one.
	TaskExecutionID int64
	SeqNum          int
}

// Decisions is the reading side of the engine's decisions.
type Decisions interface {
	// ListDecisions returns the recorded decisions about task in a workflow
	// execution (every task when task is empty), oldest first. An execution
	// without decisions (or that does not exist) gives none.
	ListDecisions(ctx context.Context, executionID int64, task string) ([]Decision, error)
}

// decisionKey is what the bound of DecisionsKept applies to.
type decisionKey struct {
	exec int64
	task string
	rule int
}

// FoldDecisions returns the decisions of one unit of work that a store
// writes: all start decisions, and of the others only the last
// DecisionsKept per (execution, task, rule), in their order. A store still
// drops older ones it holds beyond the bound.
func FoldDecisions(ds []Decision) []Decision {
	if len(ds) <= DecisionsKept {
		return ds
	}
	count := map[decisionKey]int{}
	for i := range ds {
		if !ds[i].Outcome.Starts() {
			count[decisionKey{ds[i].ExecutionID, ds[i].Task, ds[i].Rule}]++
		}
	}
	out := make([]Decision, 0, len(ds))
	for i := range ds {
		d := &ds[i]
		if !d.Outcome.Starts() {
			k := decisionKey{d.ExecutionID, d.Task, d.Rule}
			n := count[k]
			count[k] = n - 1
			if n > DecisionsKept {
				continue
			}
		}
		out = append(out, *d)
	}
	return out
}
