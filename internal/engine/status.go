package engine

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

func (e *Engine) applyStatus(ev *store.Event) error {
	if store.IsWorkflowStatusKey(ev.Key) {
		e.applyWorkflowStatus(ev)
		return nil
	}
	x := e.execs[ev.ExecutionID]
	if x == nil {
		return nil
	}
	ts := x.Tasks[ev.TaskName]
	if ts == nil {
		return nil
	}
	var te *TE
	stopping := -1
	if ts.Latest != nil && ts.Latest.Seq == ev.SeqNum {
		te = ts.Latest
	} else {
		for i, s := range ts.Stopping {
			if s.Seq == ev.SeqNum {
				te, stopping = s, i
				break
			}
		}
	}
	if te == nil {
		return nil // a run the engine no longer tracks
	}
	x.unsettled = false // the status may change the task (see settle)
	var t *Task
	if x.def != nil {
		t, _ = x.def.Task(ev.TaskName)
	}
	// A status that changes nothing (the QUEUED the engine set itself when
	// dispatching, a repeat) leaves the execution's snapshot as it is.
	changed := e.transition(x, t, te, store.TaskStatus(ev.Value), store.DecodeStatusData(ev), ev.Time)
	if stopping >= 0 && te.Status.Finished() {
		changed = true
		ts.Stopping = slices.Delete(ts.Stopping, stopping, stopping+1)
		if len(ts.Stopping) == 0 && ts.Latest != nil && ts.Latest.Status == store.TaskInit &&
			x.Status == store.WorkflowRunning && t != nil {
			e.dispatch(x, t, ts.Latest, ev.Time, "") // the trace of the event that started it is not kept
		}
	}
	if changed {
		e.markDirty(x)
	}
	if x.Status != store.WorkflowRunning || x.def == nil {
		return nil
	}
	return e.evalRules(x, ev, x.def.keyRules[ev.Key])
}

// transition applies a status of te and reports whether te changed.
func (e *Engine) transition(x *Execution, t *Task, te *TE, s store.TaskStatus, d store.StatusData, at time.Time) bool {
	if te.Status.Finished() {
		return false
	}
	before := *te
	switch s {
	case store.TaskQueued:
		if te.Status == store.TaskInit {
			te.Status = store.TaskQueued
		}
	case store.TaskRunning:
		if te.Status == store.TaskQueued || te.Status == store.TaskRetrying || te.Status == store.TaskInit {
			te.Status = store.TaskRunning
		}
		if d.Attempt > te.Attempt {
			te.Attempt = d.Attempt
		}
	case store.TaskStopping:
		te.Status = store.TaskStopping
	case store.TaskRetrying:
		te.Failures = d.Failures
		if te.Status == store.TaskStopping {
			return *te != before // the backend reports STOPPED next
		}
		te.Status = store.TaskRetrying
		next := d.Attempt + 1
		if next <= te.Attempt {
			return *te != before // already dispatched
		}
		te.Attempt = next
		notBefore := at
		if !d.Interrupted && t != nil && t.Retry.Backoff != nil {
			notBefore = at.Add(t.Retry.Backoff(d.Failures))
		}
		if x.Status == store.WorkflowRunning {
			e.fx.Dispatches = append(e.fx.Dispatches, store.Dispatch{TaskExecutionID: te.ID, Attempt: next, NotBefore: notBefore})
		}
	case store.TaskSuccess, store.TaskFailed, store.TaskStopped:
		te.Status = s
		te.Failures = d.Failures
	}
	return *te != before
}

// workflowStatusEvent appends the status event of an execution.
// running is the change of the workflow's count of running executions that
// the workflow's partition applies when it reads the event (see
// applyWorkflowStatus).
func (e *Engine) workflowStatusEvent(ns, wf string, id int64, s store.WorkflowStatus, note string, running int) {
	var data []byte
	if note != "" || running != 0 {
		data, _ = json.Marshal(store.ControlData{Reason: note, Running: running})
	}
	e.fx.Events = append(e.fx.Events, store.Event{
		Kind: store.KindStatus, Namespace: ns, Key: store.WorkflowStatusKey(wf), Value: string(s),
		Sender: store.SenderEngine, Workflow: wf, ExecutionID: id, Data: data,
	})
}

// applyWorkflowStatus applies, in the workflow's partition, the change of
// its count of running executions that the status event of an execution in
// another partition carries (the events of the executions of this
// partition carry none: their change was made with them).
func (e *Engine) applyWorkflowStatus(ev *store.Event) {
	if len(ev.Data) == 0 || !e.home(ev.Namespace, ev.Workflow) {
		return
	}
	var d store.ControlData
	if json.Unmarshal(ev.Data, &d) != nil || d.Running == 0 {
		return
	}
	w := e.workflow(ev.Namespace, ev.Workflow)
	w.Running = max(w.Running+d.Running, 0)
	e.dirtyWf[wfKey{ev.Namespace, ev.Workflow}] = struct{}{}
}
