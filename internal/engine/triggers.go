package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aiflow-go/aiflow/store"
)

// triggerIndex maps (namespace, key) to the registered triggers of this
// partition's workflows that expect the key.
type triggerIndex struct {
	gen    int64
	routes map[routeKey][]*Trigger
}

func (e *Engine) triggersFor(ns, key string) []*Trigger {
	if gen := e.reg.gen.Load(); e.trig.routes == nil || gen != e.trig.gen {
		e.trig.gen = gen
		e.trig.routes = map[routeKey][]*Trigger{}
		for _, t := range e.reg.allTriggers() {
			if e.pl.Workflow(t.Namespace, t.Workflow) != e.partition {
				continue
			}
			for _, k := range t.Keys {
				rk := routeKey{t.Namespace, k}
				e.trig.routes[rk] = append(e.trig.routes[rk], t)
			}
		}
		for _, list := range e.trig.routes {
			slices.SortFunc(list, func(a, b *Trigger) int {
				if a.Workflow != b.Workflow {
					return strings.Compare(a.Workflow, b.Workflow)
				}
				return strings.Compare(a.Name, b.Name)
			})
		}
	}
	return e.trig.routes[routeKey{ns, key}]
}

func triggerTarget(t *Trigger) string {
	return "trigger:" + t.Namespace + "/" + t.Workflow + "/" + t.Name
}

// applyTriggers evaluates the triggers that expect a user event's key. Per
// workflow, triggers are evaluated in creation order and the first one met
// starts an execution; the others are not evaluated for that event.
func (e *Engine) applyTriggers(ev *store.Event) error {
	list := e.triggersFor(ev.Namespace, ev.Key)
	for i := 0; i < len(list); {
		j := i
		for j < len(list) && list[j].Workflow == list[i].Workflow {
			j++
		}
		if err := e.applyWorkflowTriggers(ev, list[i:j]); err != nil {
			return err
		}
		i = j
	}
	return nil
}

func (e *Engine) applyWorkflowTriggers(ev *store.Event, group []*Trigger) error {
	w := e.workflows[wfKey{group[0].Namespace, group[0].Workflow}]
	if w == nil || len(w.Triggers) == 0 {
		return nil
	}
	type active struct {
		t  *Trigger
		id int64
	}
	var act []active
	for _, t := range group {
		if ts := w.Triggers[t.Name]; ts != nil && !ts.Paused {
			act = append(act, active{t, ts.ID})
		}
	}
	slices.SortFunc(act, func(a, b active) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	for _, a := range act {
		key := PoisonKey{ev.ID, triggerTarget(a.t)}
		if msg, poisoned := e.skip[key]; poisoned {
			e.recordTriggerPoison(ev, key, msg, a.t)
			continue
		}
		met, err := e.evalTrigger(a.t.Cond, ev, w)
		if err != nil {
			return &EvalError{Key: key, Err: fmt.Errorf("workflow %q trigger %q: %w", a.t.Workflow, a.t.Name, err)}
		}
		if !met {
			continue
		}
		if w.Disabled {
			e.controlEvent(w, store.KeyTriggerSkipped, "the workflow is disabled", store.TriggerData{TriggerID: a.id, Name: a.t.Name})
			return nil
		}
		id, err := e.ids.NextExecutionID()
		if err != nil {
			panic(idError{err})
		}
		e.launchExecution(id, w.Namespace, w.Name, store.StartExecutionData{RunType: store.RunEvent, TriggerID: a.id}, ev)
		return nil
	}
	return nil
}

func (e *Engine) evalTrigger(c CondFunc, ev *store.Event, w *WorkflowState) (met bool, err error) {
	if c == nil {
		return true, nil
	}
	return evalCondition(c, ev, &wfEnv{e: e, w: w})
}

func (e *Engine) recordTriggerPoison(ev *store.Event, key PoisonKey, msg string, t *Trigger) {
	e.poisonEvent(ev, key, msg, t.Namespace, t.Workflow, 0)
}

// controlEvent appends a control event about a workflow (skipped ticks and
// triggers) so users can see why nothing started.
func (e *Engine) controlEvent(w *WorkflowState, key, reason string, payload any) {
	data, _ := json.Marshal(payload)
	e.fx.Events = append(e.fx.Events, store.Event{
		Kind: store.KindControl, Namespace: w.Namespace, Key: key, Value: reason,
		Sender: store.SenderEngine, Workflow: w.Name, Data: data,
	})
}

func (e *Engine) applyTriggerControl(ev *store.Event) {
	var d store.TriggerData
	if err := json.Unmarshal(ev.Data, &d); err != nil || d.Name == "" {
		return
	}
	w := e.workflow(ev.Namespace, ev.Workflow)
	switch ev.Key {
	case store.KeyTriggerAdded:
		if w.Triggers == nil {
			w.Triggers = map[string]*TriggerState{}
		}
		w.Triggers[d.Name] = &TriggerState{ID: d.TriggerID}
	case store.KeyTriggerPaused, store.KeyTriggerResumed:
		if ts := w.Triggers[d.Name]; ts != nil && ts.ID == d.TriggerID {
			ts.Paused = ev.Key == store.KeyTriggerPaused
		}
	case store.KeyTriggerDeleted:
		if ts := w.Triggers[d.Name]; ts != nil && ts.ID == d.TriggerID {
			delete(w.Triggers, d.Name)
		}
	}
	e.dirtyWf[wfKey{ev.Namespace, ev.Workflow}] = struct{}{}
}
