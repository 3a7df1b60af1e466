package aiflow

import (
	"fmt"
	"maps"
	"slices"

	"github.com/aiflow-go/aiflow/store"
)

// ConditionRun evaluates one condition outside a client, as a task rule of
// one workflow execution would: events whose key the condition does not
// expect are passed over, the others are handed to IsMet in order, and the
// condition's state lasts from one event to the next. Package aiflowtest
// builds on it (aiflowtest.RunCondition); tests of conditions use that.
// Create it with NewConditionRun.
type ConditionRun struct {
	cond          Condition
	ns, wf, input string
	exec          int64
	statuses      map[string]TaskStatus
	state         map[string][]byte
}

// ConditionRunOpts are the options of NewConditionRun. A nil
// *ConditionRunOpts means the defaults.
type ConditionRunOpts struct {
	// Namespace, Workflow, ExecutionID and Input are what ConditionContext
	// reports; "default", "", 0 and "" when unset.
	Namespace   string
	Workflow    string
	ExecutionID int64
	Input       string
	// TaskStatuses are the statuses ConditionContext.TaskStatus reports, by
	// task name; a task that is not listed never ran.
	TaskStatuses map[string]TaskStatus
}

// NewConditionRun returns a run of cond with empty state.
func NewConditionRun(cond Condition, opts *ConditionRunOpts) *ConditionRun {
	if opts == nil {
		opts = &ConditionRunOpts{}
	}
	return &ConditionRun{
		cond: assignStateNames(cond, "test.1"), ns: orDefault(opts.Namespace), wf: opts.Workflow, input: opts.Input, exec: opts.ExecutionID,
		statuses: maps.Clone(opts.TaskStatuses), state: map[string][]byte{},
	}
}

// Apply evaluates the condition on ev: expected reports whether the
// condition expects ev's key (when not, it was not evaluated and met is
// false). An error or a panic of IsMet is returned, and the state is left as
// it was before the event, as a unit of work would roll it back.
func (r *ConditionRun) Apply(ev Event) (expected, met bool, err error) {
	if r.cond == nil || !slices.Contains(r.cond.ExpectedKeys(), ev.Key) {
		return false, false, nil
	}
	env := &runEnv{r: r, state: maps.Clone(r.state)}
	met, err = safeIsMet(r.cond, &ConditionContext{env: env}, &ev)
	if err != nil {
		return true, false, err
	}
	r.state = env.state
	return true, met, nil
}

// SetTaskStatus changes the status ConditionContext.TaskStatus reports for
// task (as a task's status change would before its status event).
func (r *ConditionRun) SetTaskStatus(task string, status TaskStatus) {
	if r.statuses == nil {
		r.statuses = map[string]TaskStatus{}
	}
	r.statuses[task] = status
}

// State returns a copy of the condition's state: the JSON of each named
// state (ValueState, SetRawState), including the built-in conditions' own
// (AllOf's flags, under names starting with "aiflow.").
func (r *ConditionRun) State() map[string][]byte {
	out := make(map[string][]byte, len(r.state))
	for k, v := range r.state {
		out[k] = slices.Clone(v)
	}
	return out
}

func safeIsMet(c Condition, cc *ConditionContext, ev *Event) (met bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("condition panicked: %v", p)
		}
	}()
	return c.IsMet(cc, ev)
}

// runEnv is the engine environment of a ConditionRun.
type runEnv struct {
	r     *ConditionRun
	state map[string][]byte
}

func (e *runEnv) Namespace() string  { return e.r.ns }
func (e *runEnv) Workflow() string   { return e.r.wf }
func (e *runEnv) ExecutionID() int64 { return e.r.exec }
func (e *runEnv) Input() string      { return e.r.input }
func (e *runEnv) TaskStatus(task string) (store.TaskStatus, bool) {
	s, ok := e.r.statuses[task]
	return store.TaskStatus(s), ok
}
func (e *runEnv) State(name string) ([]byte, bool)  { d, ok := e.state[name]; return d, ok }
func (e *runEnv) SetState(name string, data []byte) { e.state[name] = slices.Clone(data) }
func (e *runEnv) DeleteState(name string)           { delete(e.state, name) }
