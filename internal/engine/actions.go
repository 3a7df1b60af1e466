package engine

import (
	"fmt"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

func (e *Engine) note(te *TE, msg string) {
	e.fx.TaskNotes = append(e.fx.TaskNotes, store.TaskNote{TaskExecutionID: te.ID, Note: msg})
}

// cause says what asked for an action, for notes and stop reasons; it is
// formatted only when one is written.
type cause struct {
	rule  int // 0 for a request (start/stop/restart task event)
	task  string
	ev    *store.Event
	label string // overrides the description ("periodic tick")
}

func (c cause) String() string {
	if c.label != "" {
		return fmt.Sprintf("%s (event %d)", c.label, c.ev.ID)
	}
	if c.rule == 0 {
		return fmt.Sprintf("request (event %d)", c.ev.ID)
	}
	return fmt.Sprintf("rule %d of task %q on event %d (%s)", c.rule, c.task, c.ev.ID, c.ev.Key)
}

func (e *Engine) act(x *Execution, t *Task, a Action, ev *store.Event, why cause) {
	ts := x.task(t.Name) // resets x.unsettled: the action may change the task
	cur := ts.Latest
	alive := cur != nil && cur.Status.Alive()
	switch a {
	case ActionStart:
		if alive {
			msg := fmt.Sprintf("START by %s ignored: task execution %d is %s", why, cur.Seq, cur.Status)
			e.note(cur, msg)
			e.decide(x, t.Name, why.rule, ev, store.DecisionTaskAlive, msg, cur)
			return
		}
		e.startNew(x, t, ts, ev)
		e.decide(x, t.Name, why.rule, ev, store.DecisionStarted, why.ruleReason(), ts.Latest)
	case ActionStop:
		if alive {
			e.requestStop(x, cur, "STOP by "+why.String())
			e.decide(x, t.Name, why.rule, ev, store.DecisionStopRequested, why.ruleReason(), cur)
		} else {
			e.decide(x, t.Name, why.rule, ev, store.DecisionNothingToStop, why.ruleReason(), cur)
		}
	case ActionRestart:
		if !alive {
			e.startNew(x, t, ts, ev)
			e.decide(x, t.Name, why.rule, ev, store.DecisionStarted, why.ruleReason(), ts.Latest)
			return
		}
		if cur.Status == store.TaskInit {
			msg := fmt.Sprintf("RESTART by %s ignored: a restart is already waiting for the previous run to stop", why)
			e.note(cur, msg)
			e.decide(x, t.Name, why.rule, ev, store.DecisionTaskAlive, msg, cur)
			return
		}
		e.requestStop(x, cur, "RESTART by "+why.String())
		ts.Stopping = append(ts.Stopping, cur)
		e.startNew(x, t, ts, ev)
		e.decide(x, t.Name, why.rule, ev, store.DecisionRestarted, why.ruleReason(), ts.Latest)
	}
	e.markDirty(x)
}

// startNew creates the next task execution of t; it is dispatched now, or
// left in INIT while earlier runs are still stopping.
func (e *Engine) startNew(x *Execution, t *Task, ts *TaskState, ev *store.Event) {
	at := ev.Time
	id, err := e.ids.NextTaskExecutionID()
	if err != nil {
		panic(idError{err})
	}
	seq := 1
	if ts.Latest != nil {
		seq = ts.Latest.Seq + 1
	}
	te := &TE{ID: id, Seq: seq, Status: store.TaskInit}
	ts.Latest = te
	x.unsettled = false
	maxAttempts := t.Retry.MaxAttempts
	if maxAttempts < 1 {
		maxAttempts = 1
	}
	e.fx.NewTaskExecutions = append(e.fx.NewTaskExecutions, store.TaskExecutionRecord{
		ID: id, ExecutionID: x.ID, Namespace: x.Namespace, Workflow: x.Workflow, Task: t.Name,
		SeqNum: seq, MaxAttempts: maxAttempts, MaxInterruptions: e.maxInterruptions, Status: store.TaskInit, Streaming: t.Streaming,
		Timeout: t.Timeout, CreatedAt: at, UpdatedAt: at, TraceParent: ev.TraceParent,
	})
	if len(ts.Stopping) == 0 {
		e.dispatch(x, t, te, at, ev.TraceParent)
	}
	e.markDirty(x)
}

// dispatch queues te's first attempt. tp is the trace context of the event
// that started te, carried by its QUEUED event ("" when unknown).
func (e *Engine) dispatch(x *Execution, t *Task, te *TE, at time.Time, tp string) {
	te.Status = store.TaskQueued
	te.Attempt = 1
	x.unsettled = false
	e.fx.Dispatches = append(e.fx.Dispatches, store.Dispatch{TaskExecutionID: te.ID, Attempt: 1})
	rec := store.TaskExecutionRecord{
		ID: te.ID, ExecutionID: x.ID, Namespace: x.Namespace, Workflow: x.Workflow, Task: t.Name,
		SeqNum: te.Seq, Attempt: 1, TraceParent: tp,
	}
	e.fx.Events = append(e.fx.Events, store.NewStatusEvent(&rec, store.TaskQueued, store.StatusData{}, store.SenderEngine))
}

func (e *Engine) requestStop(x *Execution, te *TE, reason string) {
	if te.Status.Finished() || te.Status == store.TaskStopping {
		return
	}
	te.Status = store.TaskStopping
	x.unsettled = false
	e.fx.Stops = append(e.fx.Stops, store.StopRequest{TaskExecutionID: te.ID, Reason: reason})
	e.markDirty(x)
}

// idError carries an id allocation failure out of deep calls.
type idError struct{ err error }
