package engine

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aiflow-go/aiflow/store"
)

func (e *Engine) applyUser(ev *store.Event) error {
	if err := e.applyTriggers(ev); err != nil {
		return err
	}
	if ev.ExecutionID != 0 && !ev.Broadcast {
		// An event that names a workflow reaches the execution only if it
		// is the execution's: a store reads it only in the partition that
		// workflow places the execution in (store.Placement.Target).
		x := e.execs[ev.ExecutionID]
		if x == nil || x.Status != store.WorkflowRunning || x.def == nil || x.Namespace != ev.Namespace ||
			(ev.Workflow != "" && x.Workflow != ev.Workflow) {
			return nil
		}
		return e.evalRules(x, ev, x.def.keyRules[ev.Key])
	}
	list := e.routes[routeKey{ev.Namespace, ev.Key}]
	if len(list) == 0 {
		return nil
	}
	// Evaluating may finish executions and change the list: the targets
	// are copied into a buffer the engine keeps (events are applied one at
	// a time), cleared after so that it holds no finished execution.
	targets := append(e.targets[:0], list...)
	defer func() { clear(targets); e.targets = targets[:0] }()
	// Whether the workflow of the previous target is disabled (only control
	// events change it): targets, in the order of their ids, often come
	// from one workflow. A routed execution has a definition, of its own
	// namespace and workflow (bindDefinition), so the same definition means
	// the same workflow, and comparing it reads nothing of the execution's
	// own names.
	// The rules that expect the key are the definition's too: looked up
	// once per definition, not per execution.
	var prev *Definition
	var rules []keyRule
	disabled := false
	for _, x := range targets {
		if !x.running {
			continue
		}
		if x.def != prev || prev == nil {
			prev = x.def
			rules = prev.keyRules[ev.Key]
			w := e.workflows[wfKey{x.Namespace, x.Workflow}]
			disabled = w != nil && w.Disabled
		}
		if disabled {
			e.decideAll(x, ev, store.DecisionWorkflowDisabled, "the workflow was disabled")
			continue
		}
		if err := e.evalRules(x, ev, rules); err != nil {
			return err
		}
	}
	return nil
}

func execTarget(id int64) string { return "execution:" + strconv.FormatInt(id, 10) }

// evalRules evaluates the rules of x that expect ev's key (rules,
// x.def.keyRules[ev.Key]), then settles x. A task's rules are evaluated in
// order until one is met.
func (e *Engine) evalRules(x *Execution, ev *store.Event, rules []keyRule) error {
	if len(rules) > 0 {
		// The key (a string built per execution) is needed only when
		// applications are skipped or a condition fails.
		if len(e.skip) > 0 {
			key := PoisonKey{ev.ID, execTarget(x.ID)}
			if msg, poisoned := e.skip[key]; poisoned {
				e.recordPoison(ev, key, msg, x)
				return nil
			}
		}
		for i := 0; i < len(rules); i++ {
			kr := rules[i]
			t := x.def.Tasks[kr.task]
			r := &t.Rules[kr.rule]
			met, err := e.evalCond(r.Cond, ev, x)
			if err != nil {
				return &EvalError{Key: PoisonKey{ev.ID, execTarget(x.ID)}, Err: fmt.Errorf("workflow %q task %q rule %d: %w", x.Workflow, t.Name, kr.rule+1, err)}
			}
			if met {
				e.act(x, t, r.Action, ev, cause{rule: int(kr.rule) + 1, task: t.Name, ev: ev})
				for i+1 < len(rules) && rules[i+1].task == kr.task {
					i++ // the task's later rules are not evaluated
				}
			} else {
				e.decide(x, t.Name, int(kr.rule)+1, ev, store.DecisionConditionFalse, r.Desc, nil)
			}
			if (i+1 == len(rules) || rules[i+1].task != kr.task) && !x.running {
				break
			}
		}
	}
	e.settle(x, ev.Time)
	return nil
}

func (e *Engine) evalCond(c CondFunc, ev *store.Event, x *Execution) (met bool, err error) {
	if c == nil {
		return true, nil
	}
	e.env.e, e.env.x = e, x
	return evalCondition(c, ev, &e.env)
}

// evalCondition evaluates a condition and turns its panic into an error.
func evalCondition(c CondFunc, ev *store.Event, env Env) (met bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			met, err = false, fmt.Errorf("condition panicked: %v", r)
		}
	}()
	return c(ev, env)
}

func (e *Engine) recordPoison(ev *store.Event, key PoisonKey, msg string, x *Execution) {
	// Poison records stay in this partition: they name the execution.
	e.decideAll(x, ev, store.DecisionConditionFailed, msg)
	e.poisonEvent(ev, key, msg, ev.Namespace, x.Workflow, x.ID)
}

// poisonEvent records that applying ev to key's target was skipped after
// failing with msg, as an event of workflow (and execution, when not 0).
func (e *Engine) poisonEvent(ev *store.Event, key PoisonKey, msg, ns, workflow string, execID int64) {
	data, _ := json.Marshal(store.PoisonData{
		EventID: ev.ID, EventPosition: ev.Position.String(), EventKey: ev.Key, Error: msg, Target: key.Target,
	})
	e.fx.Events = append(e.fx.Events, store.Event{
		Kind: store.KindControl, Namespace: ns, Key: store.KeyPoisonEvent, Value: msg,
		Sender: store.SenderEngine, Workflow: workflow, ExecutionID: execID, Data: data,
	})
}
