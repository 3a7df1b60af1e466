package aiflow

import (
	"fmt"
	"sort"

	"github.com/aiflow-go/aiflow/internal/engine"
)

// Action is what a task rule does to its task when its condition is met:
// START, STOP or RESTART. Its String method returns those names.
type Action = engine.Action

// The actions.
const (
	// ActionStart starts a new task execution, unless one is alive (then
	// the START is ignored, and the task execution's Note says why).
	ActionStart = engine.ActionStart
	// ActionStop stops the alive task execution; a no-op when none is alive.
	ActionStop = engine.ActionStop
	// ActionRestart stops the alive task execution, if any, and starts a
	// new one once the old one has finished stopping.
	ActionRestart = engine.ActionRestart
)

// ruleKind tells how a rule was declared, for display and validation.
type ruleKind uint8

const (
	ruleStartAfter ruleKind = iota + 1
	ruleOnEvent
	ruleOnTaskStatus
	ruleOnCondition
)

// rule is a task rule as declared: a condition and an action.
type rule struct {
	kind   ruleKind
	action Action
	cond   Condition
	// upstream is set for StartAfter and OnTaskStatus rules.
	upstream map[*Task]TaskStatus
	// key is set for OnEvent rules.
	key string
}

// StartAfter starts t when the latest executions of all upstream tasks are
// SUCCESS. It is evaluated on every status change of any of them, within the
// same workflow execution, so t runs again each time they all have succeeded
// again (unless t is still alive). It is OnTaskStatus({u: TaskSuccess,
// ...}, ActionStart).
func (t *Task) StartAfter(upstream ...*Task) *Task {
	m := make(map[*Task]TaskStatus, len(upstream))
	for _, u := range upstream {
		m[u] = TaskSuccess
	}
	t.rules = append(t.rules, &rule{kind: ruleStartAfter, action: ActionStart, upstream: m, cond: taskStatusCondition{want: m}})
	return t
}

// The rule methods take what the rule waits for first and the action last:
// OnEvent(key, action), OnTaskStatus(statuses, action), OnCondition(cond,
// action).

// OnEvent applies action on every event with key that reaches the workflow
// execution: events sent from inside the execution, and events sent without
// an execution (from clients, the command line, SQL or another system) to the
// workflow's namespace.
func (t *Task) OnEvent(key string, action Action) *Task {
	t.rules = append(t.rules, &rule{kind: ruleOnEvent, action: action, key: key, cond: EventCondition(key)})
	return t
}

// OnTaskStatus applies action when the latest executions of the listed tasks
// all have the listed statuses. It is evaluated on every status change of any
// listed task within the same workflow execution.
func (t *Task) OnTaskStatus(statuses map[*Task]TaskStatus, action Action) *Task {
	m := make(map[*Task]TaskStatus, len(statuses))
	for k, v := range statuses {
		m[k] = v
	}
	t.rules = append(t.rules, &rule{kind: ruleOnTaskStatus, action: action, upstream: m, cond: taskStatusCondition{want: m}})
	return t
}

// OnCondition applies action when cond is met. The condition is evaluated
// only on the events whose keys it expects.
func (t *Task) OnCondition(cond Condition, action Action) *Task {
	t.rules = append(t.rules, &rule{kind: ruleOnCondition, action: action, cond: cond})
	return t
}

// sortedUpstream lists the upstream tasks of a rule by name.
func (r *rule) sortedUpstream() []*Task {
	out := make([]*Task, 0, len(r.upstream))
	for u := range r.upstream {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return taskName(out[i]) < taskName(out[j]) })
	return out
}

func taskName(t *Task) string {
	if t == nil {
		return ""
	}
	return t.name
}

// describe returns a stable description of the rule for versions and display.
func (r *rule) describe() map[string]any {
	d := map[string]any{"action": r.action.String()}
	switch r.kind {
	case ruleStartAfter, ruleOnTaskStatus:
		if r.kind == ruleStartAfter {
			d["kind"] = "start_after"
		} else {
			d["kind"] = "on_task_status"
		}
		up := map[string]string{}
		for _, u := range r.sortedUpstream() {
			up[taskName(u)] = string(r.upstream[u])
		}
		d["upstream"] = up
	case ruleOnEvent:
		d["kind"] = "on_event"
		d["key"] = r.key
	case ruleOnCondition:
		d["kind"] = "on_condition"
		if r.cond != nil {
			d["condition"] = fmt.Sprintf("%T", r.cond)
			d["keys"] = r.cond.ExpectedKeys()
		}
	}
	return d
}
