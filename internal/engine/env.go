package engine

import (
	"encoding/json"
	"unsafe"

	"github.com/aiflow-go/aiflow/store"
)

// execEnv is the condition environment of an execution's rules.
type execEnv struct {
	e *Engine
	x *Execution
	// memo is what the conditions keep about the event being applied (see
	// EventMemo); Apply clears it.
	memo any
}

// EventMemo returns a place where the conditions evaluated on the event
// being applied keep what they derive from it alone, once for every
// execution the event reaches; it is cleared before every event. It is
// found by a type assertion (interface{ EventMemo() *any }) since other
// environments have none.
func (v *execEnv) EventMemo() *any { return &v.memo }

func (v *execEnv) Namespace() string  { return v.x.Namespace }
func (v *execEnv) Workflow() string   { return v.x.Workflow }
func (v *execEnv) ExecutionID() int64 { return v.x.ID }
func (v *execEnv) Input() string      { return v.x.Input }

func (v *execEnv) TaskStatus(task string) (store.TaskStatus, bool) {
	ts := v.x.Tasks[task]
	if ts == nil || ts.Latest == nil {
		return "", false
	}
	return ts.Latest.Status, true
}

func (v *execEnv) State(name string) ([]byte, bool) {
	x := v.x
	if x.hot.data != nil && name == x.hot.name {
		return x.hot.data, true
	}
	d, ok := x.State[name]
	if ok {
		x.setHot(hotState{name, d})
	}
	return d, ok
}

func (v *execEnv) SetState(name string, data []byte) {
	x := v.x
	switch {
	case x.hot.data != nil && name == x.hot.name && len(x.hot.data) == len(data):
		copy(x.hot.data, data) // the map's value: the same bytes
	case x.hot.data != nil && name == x.hot.name && len(data) <= len(x.inl):
		// The hot state's value changes size: held in the execution.
		d := json.RawMessage(x.inl[:len(data):len(x.inl)])
		copy(d, data)
		x.State[name], x.hot.data = d, d
	default:
		if x.State == nil {
			x.State = map[string]json.RawMessage{}
		}
		x.setHot(hotState{name, setState(x.State, name, data)})
	}
	v.e.markDirty(x)
}

// setHot makes h the hot state; the value of the previous one leaves x.inl
// for a copy of its own.
func (x *Execution) setHot(h hotState) {
	if old := x.hot; old.data != nil && old.name != h.name && cap(old.data) > 0 && unsafe.SliceData(old.data) == &x.inl[0] {
		if _, ok := x.State[old.name]; ok {
			x.State[old.name] = append(json.RawMessage(nil), old.data...)
		}
	}
	x.hot = h
}

// setState sets m[name] to a copy of data, written over the previous value
// when that one has room: a condition that counts in its state, evaluated
// in every running execution on every event, then allocates nothing. The
// values of m are held by m alone (State's callers must not keep them; see
// Env.State).
// It returns the value set.
func setState(m map[string]json.RawMessage, name string, data []byte) json.RawMessage {
	old, ok := m[name]
	switch {
	case ok && len(old) == len(data):
		copy(old, data)
		return old
	case ok && cap(old) >= len(data):
		old = append(old[:0], data...)
	default:
		old = append(json.RawMessage(nil), data...)
	}
	m[name] = old
	return old
}

func (v *execEnv) DeleteState(name string) {
	if name == v.x.hot.name {
		v.x.hot = hotState{}
	}
	if _, ok := v.x.State[name]; ok {
		delete(v.x.State, name)
		v.e.markDirty(v.x)
	}
}

// wfEnv is the condition environment of a workflow trigger.
type wfEnv struct {
	e *Engine
	w *WorkflowState
}

func (v *wfEnv) Namespace() string                          { return v.w.Namespace }
func (v *wfEnv) Workflow() string                           { return v.w.Name }
func (v *wfEnv) ExecutionID() int64                         { return 0 }
func (v *wfEnv) Input() string                              { return "" }
func (v *wfEnv) TaskStatus(string) (store.TaskStatus, bool) { return "", false }

func (v *wfEnv) State(name string) ([]byte, bool) {
	d, ok := v.w.State[name]
	return d, ok
}

func (v *wfEnv) SetState(name string, data []byte) {
	if v.w.State == nil {
		v.w.State = map[string]json.RawMessage{}
	}
	setState(v.w.State, name, data)
	v.e.dirtyWf[wfKey{v.w.Namespace, v.w.Name}] = struct{}{}
}

func (v *wfEnv) DeleteState(name string) {
	if _, ok := v.w.State[name]; ok {
		delete(v.w.State, name)
		v.e.dirtyWf[wfKey{v.w.Namespace, v.w.Name}] = struct{}{}
	}
}
