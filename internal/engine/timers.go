package engine

import (
	"encoding/json"
	"strconv"

	"github.com/aiflow-go/aiflow/store"
)

// applyScheduleTick starts an execution for a workflow schedule's tick,
// unless the workflow is disabled or, with the skip overlap policy, one of
// its executions is running.
func (e *Engine) applyScheduleTick(ev *store.Event) {
	var d store.TickData
	_ = json.Unmarshal(ev.Data, &d)
	w := e.workflow(ev.Namespace, ev.Workflow)
	skip := func(reason string) {
		e.controlEvent(w, store.KeyScheduleSkipped, reason, d)
	}
	switch {
	case w.Disabled:
		skip("the workflow is disabled")
		return
	case d.Overlap == store.OverlapSkip && w.Running > 0:
		skip(strconv.Itoa(w.Running) + " execution(s) running and the overlap policy is skip")
		return
	}
	id, err := e.ids.NextExecutionID()
	if err != nil {
		panic(idError{err})
	}
	e.launchExecution(id, ev.Namespace, ev.Workflow, store.StartExecutionData{
		RunType: store.RunPeriodic, ScheduleID: d.ScheduleID, FireTime: d.FireTime,
	}, ev)
}

// applyPeriodicTick restarts a periodic task in its execution.
func (e *Engine) applyPeriodicTick(ev *store.Event) {
	x := e.execs[ev.ExecutionID]
	if x == nil || x.Status != store.WorkflowRunning || x.def == nil {
		return
	}
	t, ok := x.def.Task(ev.TaskName)
	if !ok || !t.Periodic {
		return
	}
	e.act(x, t, ActionRestart, ev, cause{ev: ev, label: reasonPeriodicTick})
	e.settle(x, ev.Time)
}
