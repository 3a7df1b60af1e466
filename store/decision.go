package store

import (
	"context"
	"slices"
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
// decision goes when its execution is deleted. A decision that repeats the
// one before it of its (execution, task, rule) is not kept apart: it is
// counted in that one (see [Decision.Repeats]), so the bound is on runs of
// repeats.
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
	// Count is the number of evaluations in a row this decision stands for
	// (1 unless it is a run of repeats, see [Decision.Repeats]): the
	// latest is the one of EventID, EventKey and Time (and ID), the first
	// that of FirstEventID. Start decisions count 1.
	Count        int
	FirstEventID int64
}

// Repeats reports whether d, the next decision of its (execution, task,
// rule), repeats prev and is counted in it rather than kept apart: they have
// the same outcome, reason and task execution, and the outcome is not an
// action (a start, a restart, a stop request: each is kept apart). The
// events may differ (a rule may expect several keys).
func (d *Decision) Repeats(prev *Decision) bool {
	return !d.Outcome.Starts() && d.Outcome != DecisionStopRequested && d.Outcome == prev.Outcome && d.Reason == prev.Reason &&
		d.TaskExecutionID == prev.TaskExecutionID && d.SeqNum == prev.SeqNum
}

// Absorb counts next, a decision that repeats d (see [Decision.Repeats]),
// in d: d takes next's id and event, adds its count and keeps its own
// first event.
func (d *Decision) Absorb(next *Decision) {
	d.ID, d.EventID, d.EventKey, d.Time = next.ID, next.EventID, next.EventKey, next.Time
	d.Count += max(next.Count, 1)
}

// Normalize sets what a decision made with only its event leaves unset: a
// count of 1 and its event as the first.
func (d *Decision) Normalize() {
	if d.Count < 1 {
		d.Count, d.FirstEventID = 1, d.EventID
	}
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
// writes: all start decisions, and of the others, per (execution, task,
// rule), runs of repeats counted in one decision (see [Decision.Repeats])
// and only the last DecisionsKept, each in the place of its latest
// evaluation. Every decision returned is normalized ([Decision.Normalize]).
// A store then counts the first it writes of a (execution, task, rule) in
// the one it holds when it repeats it, and drops older ones it holds beyond
// the bound.
func FoldDecisions(ds []Decision) []Decision {
	if len(ds) == 0 {
		return ds
	}
	type entry struct {
		ord int // index in ds of the latest evaluation
		d   Decision
	}
	entries := make([]entry, 0, len(ds))
	last := make(map[decisionKey]int, len(ds)) // newest entry of a key
	count := make(map[decisionKey]int, len(ds))
	moved := false
	for i := range ds {
		d := ds[i]
		d.Normalize()
		if d.Outcome.Starts() {
			entries = append(entries, entry{i, d})
			continue
		}
		k := decisionKey{d.ExecutionID, d.Task, d.Rule}
		if j, ok := last[k]; ok && d.Repeats(&entries[j].d) {
			entries[j].d.Absorb(&d)
			entries[j].ord = i
			moved = true
			continue
		}
		last[k] = len(entries)
		count[k]++
		entries = append(entries, entry{i, d})
	}
	if moved {
		slices.SortFunc(entries, func(a, b entry) int { return a.ord - b.ord })
	}
	out := make([]Decision, 0, len(entries))
	for i := range entries {
		d := &entries[i].d
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
