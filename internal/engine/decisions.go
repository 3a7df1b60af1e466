package engine

import (
	"slices"

	"github.com/aiflow-go/aiflow/store"
)

// Decisions: the engine records, as effects of the unit of work, why each
// task execution started and the outcome of every rule it evaluates (see
// store.Decision). Recording must stay cheap: a decision is a struct of
// fields the engine already holds, and its reason is a string that exists
// already (the rule's description, a note being written anyway) or a
// constant. The store bounds what it keeps (store.DecisionsKept).

// Reasons of the decisions taken without a rule.
const (
	reasonExecutionStart = "the execution started: the task has no START rule"
	reasonRequest        = "requested (start, stop or restart task event)"
	reasonPeriodicTick   = "periodic tick"
)

// decide records one decision about task t of x, made on ev.
func (e *Engine) decide(x *Execution, task string, rule int, ev *store.Event, o store.DecisionOutcome, reason string, te *TE) {
	d := store.Decision{
		ExecutionID: x.ID, Task: task, Rule: rule, Outcome: o, Reason: reason,
	}
	if ev != nil {
		d.EventID, d.EventKey, d.Time = ev.ID, ev.Key, ev.Time
	}
	if te != nil {
		d.TaskExecutionID, d.SeqNum = te.ID, te.Seq
	}
	e.fx.Decisions = append(e.fx.Decisions, d)
}

// decideAll records the same outcome for every rule of x's tasks that
// expects ev's key: the event reached none of them.
func (e *Engine) decideAll(x *Execution, ev *store.Event, o store.DecisionOutcome, reason string) {
	if x.def == nil {
		return
	}
	for _, ti := range x.def.keyTasks[ev.Key] {
		t := x.def.Tasks[ti]
		for ri := range t.Rules {
			if slices.Contains(t.Rules[ri].Keys, ev.Key) {
				e.decide(x, t.Name, ri+1, ev, o, reason, nil)
			}
		}
	}
}

// ruleReason is the reason of a decision made by what c names without a
// rule.
func (c cause) ruleReason() string {
	switch {
	case c.rule != 0:
		return ""
	case c.label != "":
		return c.label
	}
	return reasonRequest
}
