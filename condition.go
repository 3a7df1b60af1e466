package aiflow

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aiflow-go/aiflow/internal/engine"
	"github.com/aiflow-go/aiflow/store"
)

// Condition decides whether a rule is met by an event. It declares the event
// keys it expects and is evaluated only on events with those keys.
//
// IsMet runs inside the unit of work that applies the event: it must be quick,
// do no I/O and depend only on the event and the context. State written
// through the context commits with the decision. An error or a panic rolls the
// unit back; it is retried, and after a few attempts the event is skipped for
// that execution and an "aiflow.poison_event" event ([KeyPoisonEvent])
// records why. There is no timeout: Go cannot interrupt a running function,
// so an IsMet that never returns stalls the consumption of its partition
// until the process stops.
type Condition interface {
	// ExpectedKeys lists the event keys the condition reacts to.
	ExpectedKeys() []string
	// IsMet reports whether the condition holds after event ev. ev is
	// shared by the evaluations of every execution the event reaches: IsMet
	// must not modify it.
	IsMet(cc *ConditionContext, ev *Event) (bool, error)
}

// ConditionContext is what a condition sees: the workflow execution (or, for
// workflow triggers, the workflow), the statuses of its tasks and named
// state. State is per workflow execution for task rules and per workflow for
// triggers.
type ConditionContext struct {
	env engine.Env
	// buf is where State.Update encodes a scalar value (every SetState
	// copies what it is given), kept from one evaluation to the next.
	buf []byte
}

// Namespace is the workflow's namespace.
func (cc *ConditionContext) Namespace() string { return cc.env.Namespace() }

// Workflow is the workflow's name.
func (cc *ConditionContext) Workflow() string { return cc.env.Workflow() }

// ExecutionID is the workflow execution's id; 0 for workflow triggers.
func (cc *ConditionContext) ExecutionID() int64 { return cc.env.ExecutionID() }

// Input is the workflow execution's input (StartWorkflowOpts.Input); empty
// for executions without one and for workflow triggers.
func (cc *ConditionContext) Input() string { return cc.env.Input() }

// TaskStatus returns the status of the latest execution of task in this
// workflow execution; ok is false if the task never ran (always for
// triggers).
func (cc *ConditionContext) TaskStatus(task string) (status TaskStatus, ok bool) {
	s, ok := cc.env.TaskStatus(task)
	return TaskStatus(s), ok
}

// RawState returns the JSON of the named state; ok is false if it is unset.
// data is a copy: later changes of the state do not change it.
func (cc *ConditionContext) RawState(name string) (data []byte, ok bool) {
	// A copy: an execution's state is written over in place (see
	// engine.Env.SetState).
	d, ok := cc.env.State(name)
	return slices.Clone(d), ok
}

// SetRawState sets the named state to a JSON document. It returns ErrInvalid
// (and changes nothing) if data is not valid JSON.
func (cc *ConditionContext) SetRawState(name string, data []byte) error {
	if !json.Valid(data) {
		return fmt.Errorf("%w: state %q: %.40q is not a JSON document", ErrInvalid, name, data)
	}
	cc.env.SetState(name, data)
	return nil
}

// ClearState removes the named state.
func (cc *ConditionContext) ClearState(name string) { cc.env.DeleteState(name) }

// State is typed, named state of a condition, stored as JSON. Get one with
// [ValueState].
type State[T any] struct {
	cc   *ConditionContext
	name string
}

// ValueState returns the named state of cc as a T. Names are shared by every
// rule of the workflow execution (or, for triggers, of the workflow).
func ValueState[T any](cc *ConditionContext, name string) State[T] {
	return State[T]{cc: cc, name: name}
}

// Value returns the state's value; ok is false (and v the zero T) if unset.
func (s State[T]) Value() (v T, ok bool, err error) {
	data, ok := s.cc.env.State(s.name)
	if !ok {
		return v, false, nil
	}
	if decodeScalar(data, &v) {
		return v, true, nil
	}
	v, err = decodeState[T](s.name, data)
	return v, true, err
}

// decodeState decodes state with encoding/json (the types and forms the fast
// paths of decodeScalar do not cover).
func decodeState[T any](name string, data []byte) (v T, err error) {
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("aiflow: state %q: decoding %s: %w", name, data, err)
	}
	return v, nil
}

// Update sets the state's value.
func (s State[T]) Update(v T) error {
	data, ok := appendScalar(s.cc.buf[:0], &v)
	if ok {
		s.cc.buf = data[:0]
	} else {
		var err error
		if data, err = json.Marshal(v); err != nil {
			return fmt.Errorf("aiflow: state %q: encoding %T: %w", s.name, v, err)
		}
	}
	s.cc.env.SetState(s.name, data)
	return nil
}

// Clear removes the state.
func (s State[T]) Clear() { s.cc.env.DeleteState(s.name) }

// NewCondition builds a Condition from the keys it expects and a function.
func NewCondition(keys []string, isMet func(cc *ConditionContext, ev *Event) (bool, error)) Condition {
	return funcCondition{keys: slices.Clone(keys), fn: isMet}
}

type funcCondition struct {
	keys []string
	fn   func(*ConditionContext, *Event) (bool, error)
}

func (c funcCondition) ExpectedKeys() []string { return c.keys }
func (c funcCondition) IsMet(cc *ConditionContext, ev *Event) (bool, error) {
	if c.fn == nil {
		return false, nil
	}
	return c.fn(cc, ev)
}

// EventCondition is met by every event with key.
func EventCondition(key string) Condition { return eventCondition{key: key} }

type eventCondition struct{ key string }

func (c eventCondition) ExpectedKeys() []string                        { return []string{c.key} }
func (c eventCondition) IsMet(*ConditionContext, *Event) (bool, error) { return true, nil }

// AnyOf is met when the event's key is expected by one of conds and that
// condition is met. It keeps no state of its own.
func AnyOf(conds ...Condition) Condition { return anyOf{conds: conds} }

type anyOf struct{ conds []Condition }

func (c anyOf) ExpectedKeys() []string { return unionKeys(c.conds) }
func (c anyOf) IsMet(cc *ConditionContext, ev *Event) (bool, error) {
	for _, sub := range c.conds {
		if !slices.Contains(sub.ExpectedKeys(), ev.Key) {
			continue
		}
		met, err := sub.IsMet(cc, ev)
		if err != nil || met {
			return met, err
		}
	}
	return false, nil
}

// AllOf is met once each of conds has been met by an event it expects; it
// remembers which were met in state of its own, and each condition's flag
// follows its latest evaluation (it can go back to false). Once all are met it
// is met on every further expected event while they stay met.
func AllOf(conds ...Condition) Condition { return allOf{conds: conds} }

type allOf struct {
	conds []Condition
	// state names the flags; assigned at registration from the rule's
	// place (workflow, task, rule, position in the condition).
	state string
}

func (c allOf) ExpectedKeys() []string { return unionKeys(c.conds) }
func (c allOf) IsMet(cc *ConditionContext, ev *Event) (bool, error) {
	st := ValueState[[]bool](cc, c.state)
	flags, _, err := st.Value()
	if err != nil {
		return false, err
	}
	if len(flags) != len(c.conds) {
		flags = make([]bool, len(c.conds))
	}
	changed := false
	for i, sub := range c.conds {
		if !slices.Contains(sub.ExpectedKeys(), ev.Key) {
			continue
		}
		met, err := sub.IsMet(cc, ev)
		if err != nil {
			return false, err
		}
		if flags[i] != met {
			flags[i] = met
			changed = true
		}
	}
	if changed {
		if err := st.Update(flags); err != nil {
			return false, err
		}
	}
	return !slices.Contains(flags, false), nil
}

// TaskStatusCondition is met when the latest executions of the given tasks
// all have the given statuses. It expects the status events of those tasks
// and reads the statuses from the workflow execution (not from the event),
// so it sees the latest run of each task. The tasks must be tasks of the
// rule's own workflow (status events reach only their own execution):
// registration refuses a nil task, a task of another workflow, an empty map
// and an unknown status.
func TaskStatusCondition(statuses map[*Task]TaskStatus) Condition {
	m := make(map[*Task]TaskStatus, len(statuses))
	for k, v := range statuses {
		m[k] = v
	}
	return taskStatusCondition{want: m}
}

type taskStatusCondition struct{ want map[*Task]TaskStatus }

func (c taskStatusCondition) ExpectedKeys() []string {
	keys := make([]string, 0, len(c.want))
	for t := range c.want {
		if t == nil || t.wf == nil {
			continue
		}
		keys = append(keys, store.StatusKey(t.wf.name, t.name))
	}
	slices.Sort(keys)
	return keys
}

func (c taskStatusCondition) IsMet(cc *ConditionContext, _ *Event) (bool, error) {
	for t, want := range c.want {
		got, ok := cc.TaskStatus(t.name)
		if !ok || got != want {
			return false, nil
		}
	}
	return true, nil
}

func unionKeys(conds []Condition) []string {
	var out []string
	for _, c := range conds {
		if c == nil {
			continue
		}
		for _, k := range c.ExpectedKeys() {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// assignStateNames returns a copy of c in which every built-in stateful
// condition has a state name derived from prefix and its position.
func assignStateNames(c Condition, prefix string) Condition {
	switch v := c.(type) {
	case allOf:
		subs := make([]Condition, len(v.conds))
		for i, s := range v.conds {
			subs[i] = assignStateNames(s, fmt.Sprintf("%s.%d", prefix, i))
		}
		return allOf{conds: subs, state: "aiflow.all_of." + prefix}
	case anyOf:
		subs := make([]Condition, len(v.conds))
		for i, s := range v.conds {
			subs[i] = assignStateNames(s, fmt.Sprintf("%s.%d", prefix, i))
		}
		return anyOf{conds: subs}
	}
	return c
}

// statusConditions returns the TaskStatusConditions in c, nested in AllOf and
// AnyOf or not.
func statusConditions(c Condition) []taskStatusCondition {
	if sc, ok := c.(taskStatusCondition); ok {
		return []taskStatusCondition{sc}
	}
	var out []taskStatusCondition
	for _, sub := range subConditions(c) {
		out = append(out, statusConditions(sub)...)
	}
	return out
}

// sortedTasks lists the condition's tasks by name.
func (c taskStatusCondition) sortedTasks() []*Task {
	out := make([]*Task, 0, len(c.want))
	for t := range c.want {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *Task) int { return strings.Compare(taskName(a), taskName(b)) })
	return out
}

// subConditions returns the conditions nested in a built-in condition.
func subConditions(c Condition) []Condition {
	switch v := c.(type) {
	case allOf:
		return v.conds
	case anyOf:
		return v.conds
	}
	return nil
}

// compileCondition turns a Condition into the engine's CondFunc.
func compileCondition(c Condition) engine.CondFunc {
	if _, ok := c.(eventCondition); ok {
		return nil // always met
	}
	return func(ev *store.Event, env engine.Env) (bool, error) {
		if m, ok := env.(eventMemo); ok {
			// The engine's environment: one context and one public event
			// serve every execution the event reaches.
			p := m.EventMemo()
			cm, _ := (*p).(*condMemo)
			if cm == nil {
				cm = &condMemo{cc: ConditionContext{env: env}, ev: eventFromStore(ev)}
				*p = cm
			}
			return c.IsMet(&cm.cc, &cm.ev)
		}
		cc := ConditionContext{env: env}
		pub := eventFromStore(ev)
		return c.IsMet(&cc, &pub)
	}
}

// eventMemo is implemented by the engine's environment of an execution's
// rules: conditions keep there what they derive from the event being
// applied, for every execution it reaches.
type eventMemo interface{ EventMemo() *any }

// condMemo is what conditions keep about the event being applied.
type condMemo struct {
	cc ConditionContext
	ev Event
}
