package engine

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

func (e *Engine) applyControl(ev *store.Event) error {
	switch ev.Key {
	case store.KeyStartExecution:
		return e.startExecution(ev)
	case store.KeyStopExecution:
		x := e.execs[ev.ExecutionID]
		if x == nil || x.Status != store.WorkflowRunning {
			return nil
		}
		var d store.ControlData
		_ = json.Unmarshal(ev.Data, &d)
		reason := "stop request (event " + strconv.FormatInt(ev.ID, 10) + ")"
		if d.Reason != "" {
			reason += ": " + d.Reason
		}
		e.stopExecution(x, reason, ev.Time)
	case store.KeyStartTask, store.KeyStopTask, store.KeyRestartTask:
		x := e.execs[ev.ExecutionID]
		if x == nil || x.Status != store.WorkflowRunning || x.def == nil {
			return nil
		}
		t, ok := x.def.Task(ev.TaskName)
		if !ok {
			return nil
		}
		a := map[string]Action{store.KeyStartTask: ActionStart, store.KeyStopTask: ActionStop, store.KeyRestartTask: ActionRestart}[ev.Key]
		e.act(x, t, a, ev, cause{ev: ev})
		e.settle(x, ev.Time)
	case store.KeyScheduleTick:
		e.applyScheduleTick(ev)
	case store.KeyPeriodicTick:
		e.applyPeriodicTick(ev)
	case store.KeyTriggerAdded, store.KeyTriggerPaused, store.KeyTriggerResumed, store.KeyTriggerDeleted:
		e.applyTriggerControl(ev)
	case store.KeyEnableWorkflow, store.KeyDisableWorkflow:
		w := e.workflow(ev.Namespace, ev.Workflow)
		w.Disabled = ev.Key == store.KeyDisableWorkflow
		e.dirtyWf[wfKey{ev.Namespace, ev.Workflow}] = struct{}{}
	}
	return nil
}

// StartNote explains why a start request made a FAILED execution.
const (
	noteNotRegistered = "the workflow is not registered in the client that handled the start request"
	noteDisabled      = "the workflow was disabled when the start request was handled"
)

// startExecution handles a start request. Execution ids are allocated by the
// store and never reused, so a request for an id this engine holds is a
// replay and is ignored.
func (e *Engine) startExecution(ev *store.Event) error {
	if ev.ExecutionID == 0 {
		return nil
	}
	if _, exists := e.execs[ev.ExecutionID]; exists {
		return nil
	}
	var d store.StartExecutionData
	_ = json.Unmarshal(ev.Data, &d)
	if d.RunType == "" {
		d.RunType = store.RunManual
	}
	e.createExecution(ev.ExecutionID, ev.Namespace, ev.Workflow, d, ev)
	return nil
}

// launchExecution starts execution id of a workflow of this partition for a
// trigger or a schedule tick (ev). When the placement puts the execution in
// another partition, it is handed over: this partition counts it running
// at once (so that a later tick of the same batch sees it), records it in
// INIT and appends its start request, which that partition applies as it
// applies StartWorkflowExecution's.
func (e *Engine) launchExecution(id int64, ns, wf string, d store.StartExecutionData, ev *store.Event) {
	if e.pl.Execution(ns, wf, id) == e.partition {
		e.createExecution(id, ns, wf, d, ev)
		return
	}
	w := e.workflow(ns, wf)
	w.Running++
	e.dirtyWf[wfKey{ns, wf}] = struct{}{}
	e.fx.NewExecutions = append(e.fx.NewExecutions, store.WorkflowExecutionRecord{
		ID: id, Namespace: ns, Workflow: wf, Status: store.WorkflowInit, RunType: d.RunType,
		ScheduleID: d.ScheduleID, TriggerID: d.TriggerID, CreatedAt: ev.Time, UpdatedAt: ev.Time, Input: d.Input,
	})
	d.Counted = true
	data, _ := json.Marshal(d)
	e.fx.Events = append(e.fx.Events, store.Event{
		Kind: store.KindControl, Namespace: ns, Key: store.KeyStartExecution, Sender: store.SenderEngine,
		Workflow: wf, ExecutionID: id, Data: data, TraceParent: ev.TraceParent,
	})
}

// home reports whether this partition is the partition of workflow wf in
// ns, which counts its running executions.
func (e *Engine) home(ns, wf string) bool { return e.pl.Workflow(ns, wf) == e.partition }

// createExecution records a new execution and starts its initial tasks; it
// returns the execution, or nil when it could not run.
// ev is the event that started it (a start request, a schedule tick, an
// event that met a trigger).
func (e *Engine) createExecution(id int64, ns, wf string, d store.StartExecutionData, ev *store.Event) *Execution {
	at := ev.Time
	rec := store.WorkflowExecutionRecord{
		ID: id, Namespace: ns, Workflow: wf, RunType: d.RunType,
		ScheduleID: d.ScheduleID, TriggerID: d.TriggerID, CreatedAt: at, UpdatedAt: at, Input: d.Input,
	}
	def, ok := e.reg.Latest(ns, wf)
	w := e.workflow(ns, wf)
	switch {
	case !ok:
		rec.Status, rec.Note, rec.EndedAt = store.WorkflowFailed, noteNotRegistered, at
	case w.Disabled:
		rec.Status, rec.Note, rec.EndedAt = store.WorkflowFailed, noteDisabled, at
	default:
		rec.Status, rec.Version = store.WorkflowRunning, def.Version
	}
	e.fx.NewExecutions = append(e.fx.NewExecutions, rec)
	// The change of the workflow's count of running executions: applied
	// here in the workflow's partition, else told to it by the status
	// event. A handed-over execution is counted already.
	delta := 0
	switch {
	case rec.Status == store.WorkflowRunning && !d.Counted:
		delta = 1
	case rec.Status != store.WorkflowRunning && d.Counted:
		delta = -1
	}
	if e.home(ns, wf) && delta != 0 {
		w.Running = max(w.Running+delta, 0)
		e.dirtyWf[wfKey{ns, wf}] = struct{}{}
		delta = 0
	}
	e.workflowStatusEvent(ns, wf, id, rec.Status, rec.Note, delta)
	if rec.Status != store.WorkflowRunning {
		return nil
	}
	x := &Execution{
		ID: id, Namespace: ns, Workflow: wf, Version: def.Version, Status: store.WorkflowRunning, running: true,
		RunType: d.RunType, Tasks: make(map[string]*TaskState, len(def.Tasks)), CreatedAt: at, Input: d.Input, def: def,
	}
	e.execs[id] = x
	e.route(x)
	e.markDirty(x)
	for _, ti := range def.initial {
		t := def.Tasks[ti]
		ts := x.task(t.Name)
		e.startNew(x, t, ts, ev)
		e.decide(x, t.Name, 0, ev, store.DecisionStarted, reasonExecutionStart, ts.Latest)
	}
	e.settle(x, at)
	return x
}

func (e *Engine) stopExecution(x *Execution, reason string, at time.Time) {
	// In a fixed order: decisions must not depend on map iteration.
	for _, name := range sortedKeys(x.Tasks, x.def) {
		if ts := x.Tasks[name]; ts.Latest != nil && ts.Latest.Status.Alive() {
			e.requestStop(x, ts.Latest, reason)
		}
	}
	e.finishExecution(x, store.WorkflowStopped, reason, at)
}

// settle finishes x when nothing in it can run any more. It looks at x's
// tasks only when they changed since it last found x unsettled
// (Execution.unsettled): an event that every running execution evaluates
// without acting (a condition not met) then costs no look at the tasks.
func (e *Engine) settle(x *Execution, at time.Time) {
	if !x.running || x.def == nil || x.unsettled {
		return
	}
	settled, failed := x.settled()
	switch {
	case !settled:
		x.unsettled = true
	case failed:
		e.finishExecution(x, store.WorkflowFailed, "", at)
	default:
		e.finishExecution(x, store.WorkflowSuccess, "", at)
	}
}

// settled reports whether nothing in x can run any more (see the package
// documentation), and then whether it failed.
func (x *Execution) settled() (settled, failed bool) {
	for _, t := range x.def.Tasks {
		ts := x.Tasks[t.Name]
		if t.Periodic {
			return false, false
		}
		if ts == nil || ts.Latest == nil {
			if t.waitsExternal {
				return false, false
			}
			continue
		}
		if ts.alive() {
			return false, false
		}
		if ts.Latest.Status == store.TaskFailed {
			failed = true
		}
	}
	return true, failed
}

func (e *Engine) finishExecution(x *Execution, s store.WorkflowStatus, note string, at time.Time) {
	x.Status, x.running = s, s == store.WorkflowRunning
	e.fx.ExecutionUpdates = append(e.fx.ExecutionUpdates, store.ExecutionUpdate{ID: x.ID, Status: s, Note: note, EndedAt: at})
	delta := -1
	if e.home(x.Namespace, x.Workflow) {
		w := e.workflow(x.Namespace, x.Workflow)
		if w.Running > 0 {
			w.Running--
		}
		e.dirtyWf[wfKey{x.Namespace, x.Workflow}] = struct{}{}
		delta = 0
	}
	e.workflowStatusEvent(x.Namespace, x.Workflow, x.ID, s, note, delta)
	e.unroute(x)
	e.markDirty(x)
}
