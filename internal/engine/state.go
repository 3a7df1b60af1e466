package engine

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

// TE is the engine's view of one task execution.
type TE struct {
	ID       int64            `json:"id"`
	Seq      int              `json:"seq"`
	Status   store.TaskStatus `json:"status"`
	Attempt  int              `json:"attempt"`
	Failures int              `json:"failures,omitempty"`
}

// TaskState is the engine's view of one task in one execution.
type TaskState struct {
	// Latest is the task execution with the highest sequence number.
	Latest *TE `json:"latest,omitempty"`
	// Stopping holds earlier task executions still stopping after a
	// RESTART. While it is not empty a new run waits in INIT: two runs of
	// one task never overlap in an execution.
	Stopping []*TE `json:"stopping,omitempty"`
}

// alive reports whether any run of the task is alive.
func (ts *TaskState) alive() bool {
	if ts.Latest != nil && ts.Latest.Status.Alive() {
		return true
	}
	for _, te := range ts.Stopping {
		if te.Status.Alive() {
			return true
		}
	}
	return false
}

// Execution is the engine's state of one workflow execution. It is persisted
// as a snapshot after every unit of work that changed it.
//
// The fields an event that reaches every running execution reads and
// writes in each (the unexported ones, then ID and Status) come first, so
// that they share the first cache lines of the struct: with many running
// executions each evaluation otherwise misses the caches on three or four
// lines of its execution. The exported fields keep their order (that of
// the snapshot's JSON).
type Execution struct {
	def *Definition
	// fold links the execution to its decisions of the unit of work, and
	// dirtyGen is the unit that marked it dirty (see Engine.markDirty).
	fold     foldLink
	dirtyGen uint64
	// hot is the state value the execution's conditions read or wrote
	// last, the very bytes State holds for its name: a condition evaluated
	// on every event finds its value without a look-up in State (see
	// execEnv.State).
	hot hotState
	// unsettled is true when Engine.settle found the execution unsettled
	// and its tasks have not changed since: every change of a task (its
	// creation, a new run, a status, a stop) goes through Engine.act,
	// Engine.applyStatus or task, which reset it.
	unsettled bool
	// running is Status == store.WorkflowRunning, kept beside the fields
	// above (Status changes only in Engine.createExecution,
	// Engine.finishExecution and decodeSnapshot).
	running bool
	// inl holds the hot state's value when it is this short (a counter
	// below a million, true, false), in the struct's padding: reading it
	// then misses no cache line more. Only hot's value may be held here
	// (see Execution.setHot).
	inl [6]byte

	ID        int64                      `json:"id"`
	Namespace string                     `json:"ns"`
	Workflow  string                     `json:"wf"`
	Version   string                     `json:"version"`
	Status    store.WorkflowStatus       `json:"status"`
	RunType   store.RunType              `json:"run_type"`
	Tasks     map[string]*TaskState      `json:"tasks"`
	State     map[string]json.RawMessage `json:"state,omitempty"`
	CreatedAt time.Time                  `json:"created_at"`
	// Input is the execution's input, which its conditions read.
	Input string `json:"input,omitempty"`
}

// hotState is a name of Execution.State and its value (nil: none).
type hotState struct {
	name string
	data json.RawMessage
}

func (x *Execution) task(name string) *TaskState {
	x.unsettled = false
	ts := x.Tasks[name]
	if ts == nil {
		ts = &TaskState{}
		x.Tasks[name] = ts
	}
	return ts
}

// WorkflowState is the partition's state of one workflow.
type WorkflowState struct {
	Namespace string `json:"ns"`
	Name      string `json:"name"`
	Disabled  bool   `json:"disabled,omitempty"`
	// Running counts the workflow's executions that are not finished.
	Running int `json:"running,omitempty"`
	// Triggers are the workflow's triggers recorded in the store (by
	// name), as the control events told.
	Triggers map[string]*TriggerState `json:"triggers,omitempty"`
	// State is the named state of the workflow's trigger conditions.
	State map[string]json.RawMessage `json:"state,omitempty"`
}

// TriggerState is the partition's view of one workflow trigger.
type TriggerState struct {
	ID     int64 `json:"id"`
	Paused bool  `json:"paused,omitempty"`
}

const (
	snapExecPrefix = "x/"
	snapWfPrefix   = "w/"
)

func execSnapKey(id int64) string { return snapExecPrefix + strconv.FormatInt(id, 10) }
func wfSnapKey(ns, name string) string {
	return snapWfPrefix + ns + "\x00" + name
}

// decodeSnapshot restores one snapshot into the engine.
func (e *Engine) decodeSnapshot(s store.Snapshot) error {
	switch {
	case strings.HasPrefix(s.Key, snapExecPrefix):
		var x Execution
		if err := json.Unmarshal(s.Data, &x); err != nil {
			return err
		}
		if x.Tasks == nil {
			x.Tasks = map[string]*TaskState{}
		}
		e.bindDefinition(&x)
		e.execs[x.ID] = &x
		x.running = x.Status == store.WorkflowRunning
		if x.running {
			e.route(&x)
		}
	case strings.HasPrefix(s.Key, snapWfPrefix):
		var w WorkflowState
		if err := json.Unmarshal(s.Data, &w); err != nil {
			return err
		}
		e.workflows[wfKey{w.Namespace, w.Name}] = &w
	}
	return nil
}
