package engine

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

// Action is what a met rule does to its task.
type Action uint8

// The actions.
const (
	// ActionStart starts a new task execution, unless one is alive.
	ActionStart Action = iota + 1
	// ActionStop stops the alive task execution, if any.
	ActionStop
	// ActionRestart stops the alive task execution, if any, and starts a
	// new one once the old one has finished stopping.
	ActionRestart
)

// Valid reports whether a is one of the actions.
func (a Action) Valid() bool { return a >= ActionStart && a <= ActionRestart }

// String returns "START", "STOP" or "RESTART".
func (a Action) String() string {
	switch a {
	case ActionStart:
		return "START"
	case ActionStop:
		return "STOP"
	case ActionRestart:
		return "RESTART"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Env is what a condition sees while it is evaluated.
type Env interface {
	Namespace() string
	Workflow() string
	// ExecutionID is 0 for workflow triggers.
	ExecutionID() int64
	// Input is the execution's input; empty for workflow triggers.
	Input() string
	// TaskStatus is the status of the latest execution of task in this
	// workflow execution; ok is false if it never ran (always for
	// triggers).
	TaskStatus(task string) (status store.TaskStatus, ok bool)
	// State reads named state: per execution for task rules, per workflow
	// for triggers. data is valid until the next SetState or DeleteState
	// (the engine writes a value over in place): a caller that keeps it
	// copies it.
	State(name string) (data []byte, ok bool)
	// SetState sets named state to a copy of data: the caller may reuse
	// data afterwards.
	SetState(name string, data []byte)
	DeleteState(name string)
}

// CondFunc decides whether a rule is met by an event. A nil CondFunc is always
// met.
type CondFunc func(ev *store.Event, env Env) (bool, error)

// Rule is a compiled task rule.
type Rule struct {
	Action Action
	Keys   []string
	Cond   CondFunc
	// Desc describes the condition in words; it is the reason recorded
	// when the condition is not met.
	Desc string
	// external is true when some key is not a task status key.
	external bool
}

// RetryPolicy bounds and spaces the attempts of a task execution.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts, 1 (no retries) when zero.
	MaxAttempts int
	// Backoff is the delay before the attempt after failures failed ones;
	// nil means no delay.
	Backoff func(failures int) time.Duration
}

// Task is a compiled task.
type Task struct {
	Name      string
	Rules     []Rule
	Retry     RetryPolicy
	Timeout   time.Duration
	Streaming bool
	// Periodic tasks keep their execution running until it is stopped; the
	// timers restart them on every tick of PeriodicExpr (in the IANA time
	// zone PeriodicTZ, UTC when empty).
	Periodic     bool
	PeriodicExpr string
	PeriodicTZ   string

	hasStart      bool // has a START rule
	waitsExternal bool // has a START or RESTART rule expecting a non-status key
}

// Definition is a compiled workflow definition. It is immutable once
// compiled.
type Definition struct {
	Namespace string
	Name      string
	Version   string
	Tasks     []*Task

	index    map[string]int
	keyRules map[string][]keyRule // event key -> the rules expecting it, by task then rule
	initial  []int                // tasks with no START rule
	userKeys []string             // expected keys that are not status keys
	// sortedNames lists the task names in sorted order (snapshot encoding).
	sortedNames []string
}

// Compile checks internal invariants and builds the indexes. The public API
// validates user input before it gets here; an error means a bug.
func Compile(d *Definition) error {
	d.index = make(map[string]int, len(d.Tasks))
	d.keyRules = make(map[string][]keyRule)
	d.initial = d.initial[:0]
	seenUser := map[string]bool{}
	for i, t := range d.Tasks {
		if t == nil || t.Name == "" {
			return fmt.Errorf("engine: workflow %q: task %d has no name", d.Name, i)
		}
		if _, dup := d.index[t.Name]; dup {
			return fmt.Errorf("engine: workflow %q: duplicate task %q", d.Name, t.Name)
		}
		d.index[t.Name] = i
		t.hasStart, t.waitsExternal = false, false
		for ri := range t.Rules {
			r := &t.Rules[ri]
			r.external = false
			for ki, k := range r.Keys {
				if !store.IsStatusKey(k) {
					r.external = true
					if !seenUser[k] {
						seenUser[k] = true
						d.userKeys = append(d.userKeys, k)
					}
				}
				if !slices.Contains(r.Keys[:ki], k) {
					d.keyRules[k] = append(d.keyRules[k], keyRule{task: int32(i), rule: int32(ri)})
				}
			}
			if r.Action == ActionStart {
				t.hasStart = true
			}
			if (r.Action == ActionStart || r.Action == ActionRestart) && r.external {
				t.waitsExternal = true
			}
		}
		if !t.hasStart {
			d.initial = append(d.initial, i)
		}
		d.sortedNames = append(d.sortedNames, t.Name)
	}
	slices.Sort(d.sortedNames)
	return nil
}

// keyRule is a rule that expects a key: rule Rules[rule] of Tasks[task].
type keyRule struct{ task, rule int32 }

// Task returns the task named name.
func (d *Definition) Task(name string) (*Task, bool) {
	i, ok := d.index[name]
	if !ok {
		return nil, false
	}
	return d.Tasks[i], true
}

// WaitsExternal reports whether the named task has a START or RESTART rule
// that expects an event from outside.
func (t *Task) WaitsExternal() bool { return t.waitsExternal }

// wfKey identifies a workflow.
type wfKey struct{ ns, name string }

type registered struct {
	latest   *Definition
	versions map[string]*Definition
}

// Trigger is a compiled workflow trigger: a condition that starts an
// execution of its workflow when met.
type Trigger struct {
	Namespace string
	Workflow  string
	Name      string
	Keys      []string
	Cond      CondFunc
}

// Registry holds the definitions and triggers registered in this process. It
// is safe for concurrent use.
type Registry struct {
	mu       sync.RWMutex
	defs     map[wfKey]*registered
	triggers map[wfKey]map[string]*Trigger
	gen      atomic.Int64 // bumped on every change

	keysMu sync.Mutex
	keys   map[keysKey]partitionKeys
}

// keysKey identifies a result of PartitionKeys: a partition among
// partitions, where executions are spread or not.
type keysKey struct {
	partition, partitions int
	spread                bool
}

// partitionKeys is the cached result of PartitionKeys at a generation.
type partitionKeys struct {
	gen            int64
	keys, triggers *store.KeySet
}

// Gen counts the changes of the registry: it moves whenever a definition or
// a trigger is registered.
func (r *Registry) Gen() int64 { return r.gen.Load() }

// PartitionKeys returns the user event keys that the engine of partition
// (of placement pl) may apply, as far as the registry tells: those expected
// by a registered trigger of a workflow of the partition and, unless pl
// spreads executions, those expected by a rule of any registered version of
// a workflow of the partition. When pl spreads executions, the rules' keys
// are those of the executions the partition holds, which only its engine
// knows (Engine.ExpectedKeys: the caller adds them). (The enabling and
// disabling of workflows, which every partition applies, are read whatever
// the set: see store.ConsumeParams.UserKeys.) An event of another key
// changes nothing there, so the partition's consumer need not read it
// (store.ConsumeParams.UserKeys). triggers is the part of the set that the
// registered triggers of the partition's workflows expect: of a user event
// addressed to an execution of another partition, nothing else applies in
// the partition (store.ConsumeParams.AddressedKeys). It also returns the
// registry's generation (see Gen) the sets were computed at. The sets are
// cached until the registry changes; it is safe for concurrent use.
func (r *Registry) PartitionKeys(partition int, pl store.Placement) (keys, triggers *store.KeySet, gen int64) {
	gen = r.gen.Load()
	ck := keysKey{partition, pl.Partitions, pl.Spreads()}
	r.keysMu.Lock()
	if c, ok := r.keys[ck]; ok && c.gen == gen {
		r.keysMu.Unlock()
		return c.keys, c.triggers, gen
	}
	r.keysMu.Unlock()
	var pairs, trig [][2]string
	r.mu.RLock()
	for k, e := range r.defs {
		if ck.spread || pl.Workflow(k.ns, k.name) != partition {
			continue
		}
		for _, d := range e.versions {
			for _, key := range d.userKeys {
				pairs = append(pairs, [2]string{k.ns, key})
			}
		}
	}
	for k, m := range r.triggers {
		if pl.Workflow(k.ns, k.name) != partition {
			continue
		}
		for _, t := range m {
			for _, key := range t.Keys {
				trig = append(trig, [2]string{k.ns, key})
			}
		}
	}
	// Read under the same lock as the definitions: a change after it
	// bumps gen past this value.
	gen = r.gen.Load()
	r.mu.RUnlock()
	keys, triggers = store.NewKeySet(append(pairs, trig...)), store.NewKeySet(trig)
	r.keysMu.Lock()
	if r.keys == nil {
		r.keys = map[keysKey]partitionKeys{}
	}
	r.keys[ck] = partitionKeys{gen: gen, keys: keys, triggers: triggers}
	r.keysMu.Unlock()
	return keys, triggers, gen
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{defs: map[wfKey]*registered{}, triggers: map[wfKey]map[string]*Trigger{}}
}

// AddTrigger registers (or replaces) a trigger's condition.
func (r *Registry) AddTrigger(t *Trigger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := wfKey{t.Namespace, t.Workflow}
	if r.triggers[k] == nil {
		r.triggers[k] = map[string]*Trigger{}
	}
	r.triggers[k][t.Name] = t
	r.gen.Add(1)
}

// Trigger returns a registered trigger.
func (r *Registry) Trigger(ns, wf, name string) (*Trigger, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.triggers[wfKey{ns, wf}][name]
	return t, ok
}

// allTriggers lists every registered trigger.
func (r *Registry) allTriggers() []*Trigger {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*Trigger
	for _, m := range r.triggers {
		for _, t := range m {
			out = append(out, t)
		}
	}
	return out
}

// Add registers a compiled definition as the latest version of its workflow.
func (r *Registry) Add(d *Definition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := wfKey{d.Namespace, d.Name}
	e := r.defs[k]
	if e == nil {
		e = &registered{versions: map[string]*Definition{}}
		r.defs[k] = e
	}
	e.latest = d
	e.versions[d.Version] = d
	r.gen.Add(1)
}

// Latest returns the latest registered definition of a workflow.
func (r *Registry) Latest(ns, name string) (*Definition, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e := r.defs[wfKey{ns, name}]
	if e == nil {
		return nil, false
	}
	return e.latest, true
}

// Version returns the definition of a workflow at version, or the latest one
// (exact false) when this process does not have that version.
func (r *Registry) Version(ns, name, version string) (d *Definition, exact bool, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e := r.defs[wfKey{ns, name}]
	if e == nil {
		return nil, false, false
	}
	if d := e.versions[version]; d != nil {
		return d, true, true
	}
	return e.latest, false, true
}

// PeriodicWorkflows returns the workflows (namespace, name) of which some
// registered version has a periodic task: the only ones whose executions
// carry timers.
func (r *Registry) PeriodicWorkflows() [][2]string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out [][2]string
	for k, e := range r.defs {
	versions:
		for _, d := range e.versions {
			for _, t := range d.Tasks {
				if t.Periodic {
					out = append(out, [2]string{k.ns, k.name})
					break versions
				}
			}
		}
	}
	return out
}

// All returns the latest definition of every registered workflow.
func (r *Registry) All() []*Definition {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Definition, 0, len(r.defs))
	for _, e := range r.defs {
		out = append(out, e.latest)
	}
	return out
}
