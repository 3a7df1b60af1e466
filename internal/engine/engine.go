package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/aiflow-go/aiflow/store"
)

// IDSource hands out ids for the records the engine creates.
type IDSource interface {
	NextExecutionID() (int64, error)
	NextTaskExecutionID() (int64, error)
}

// PoisonKey identifies the application of one event to one target (an
// execution or a workflow's triggers).
type PoisonKey struct {
	EventID int64
	Target  string
}

// EvalError is a condition that failed (returned an error or panicked) while
// an event was applied to a target. The unit of work is rolled back; after a
// bounded number of attempts the runtime asks the engine to skip that
// application ([Engine.Begin]).
type EvalError struct {
	Key PoisonKey
	Err error
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("engine: applying event %d to %s: %v", e.Key.EventID, e.Key.Target, e.Err)
}

func (e *EvalError) Unwrap() error { return e.Err }

// Engine applies the events of one partition. See the package documentation.
type Engine struct {
	reg       *Registry
	partition int
	// maxInterruptions is the MaxInterruptions of the task executions it
	// creates.
	maxInterruptions int

	execs  map[int64]*Execution
	routes map[routeKey][]*Execution // running executions whose definition expects a user key
	// keysGen moves whenever a key enters or leaves routes (or the state is
	// reset); added lists the keys that entered routes in this unit of
	// work, in order.
	keysGen   int64
	added     [][2]string
	workflows map[wfKey]*WorkflowState

	// per unit of work
	ids     IDSource
	skip    map[PoisonKey]string
	fx      *store.Effects
	dirty   []int64 // executions changed in the unit, each once (Execution.dirtyGen)
	dirtyWf map[wfKey]struct{}
	env     execEnv
	dec     decisionFold

	// pl places workflows and executions (store.Placement): the engine
	// evaluates the triggers and schedule ticks of the workflows of its
	// partition, and hands the executions they start to the partition the
	// placement gives them.
	pl   store.Placement
	trig triggerIndex
	// targets is applyUser's copy of the executions an event reaches.
	targets []*Execution
}

type routeKey struct{ ns, key string }

// New returns an engine for one partition with empty state.
func New(reg *Registry, partition int, opts ...Option) *Engine {
	e := &Engine{reg: reg, partition: partition, pl: store.Placement{Partitions: 1}, maxInterruptions: store.MaxInterruptionsDefault}
	for _, o := range opts {
		o(e)
	}
	e.Reset()
	return e
}

// Reset drops all state.
func (e *Engine) Reset() {
	e.execs = map[int64]*Execution{}
	e.routes = map[routeKey][]*Execution{}
	e.keysGen++
	e.workflows = map[wfKey]*WorkflowState{}
	e.dirty = e.dirty[:0]
	e.dirtyWf = map[wfKey]struct{}{}
	e.fx = nil
}

// Load replaces the state with the partition's snapshots.
func (e *Engine) Load(snaps []store.Snapshot) error {
	e.Reset()
	for _, s := range snaps {
		if err := e.decodeSnapshot(s); err != nil {
			return fmt.Errorf("engine: decoding snapshot %q: %w", s.Key, err)
		}
	}
	return nil
}

// ExpectedKeys returns the (namespace, key) pairs of the user events that
// the running executions of the engine expect (their rules' keys that are
// not status keys), in no particular order, and a generation that moves
// whenever the set changes.
func (e *Engine) ExpectedKeys() ([][2]string, int64) {
	out := make([][2]string, 0, len(e.routes))
	for rk := range e.routes {
		out = append(out, [2]string{rk.ns, rk.key})
	}
	return out, e.keysGen
}

// AddedKeys returns the pairs that ExpectedKeys gained in the current unit
// of work, in the order they came (they may have left again since). The
// result must not be modified; it is valid until the next Begin.
func (e *Engine) AddedKeys() [][2]string { return e.added }

// Executions returns the number of executions the engine holds (running).
func (e *Engine) Executions() int { return len(e.execs) }

// Execution returns the engine's state of a running execution, for tests and
// diagnostics. The result must not be modified.
func (e *Engine) Execution(id int64) (*Execution, bool) {
	x, ok := e.execs[id]
	return x, ok
}

// Begin starts a unit of work. skip lists the applications to skip as poison,
// with the error to record for each.
func (e *Engine) Begin(ids IDSource, skip map[PoisonKey]string) {
	e.ids = ids
	e.skip = skip
	e.added = e.added[:0]
	e.fx = &store.Effects{}
	e.dec.reset()
}

// End finishes a unit of work: it adds the snapshots of everything that
// changed, evicts finished executions and returns the effects. The caller
// sets the position.
func (e *Engine) End() *store.Effects {
	fx := e.fx
	e.dec.materialize(fx)
	e.dec.compact(fx)
	e.dec.end(fx)
	slices.Sort(e.dirty)
	fx.Snapshots = slices.Grow(fx.Snapshots, len(e.dirty)+len(e.dirtyWf))
	var arena snapshotArena
	for _, id := range e.dirty {
		x := e.execs[id]
		if x == nil {
			continue
		}
		if x.Status.Finished() {
			fx.Snapshots = append(fx.Snapshots, store.Snapshot{Key: execSnapKey(id), Delete: true})
			delete(e.execs, id)
			continue
		}
		fx.Snapshots = append(fx.Snapshots, store.Snapshot{Key: execSnapKey(id), Data: arena.execution(x, len(e.dirty))})
	}
	wks := make([]wfKey, 0, len(e.dirtyWf))
	for k := range e.dirtyWf {
		wks = append(wks, k)
	}
	slices.SortFunc(wks, func(a, b wfKey) int {
		if a.ns != b.ns {
			if a.ns < b.ns {
				return -1
			}
			return 1
		}
		if a.name < b.name {
			return -1
		} else if a.name > b.name {
			return 1
		}
		return 0
	})
	for _, k := range wks {
		data, _ := json.Marshal(e.workflows[k])
		fx.Snapshots = append(fx.Snapshots, store.Snapshot{Key: wfSnapKey(k.ns, k.name), Data: data})
	}
	e.dirty = e.dirty[:0]
	clear(e.dirtyWf)
	e.fx = nil
	e.ids = nil
	e.skip = nil
	return fx
}

// snapshotArena holds the encoded snapshots of a unit's executions in a
// few large buffers rather than one allocation each; each snapshot's Data is
// capped at its own end.
type snapshotArena struct {
	buf []byte
	// hint is the size of a new buffer.
	hint int
}

// snapshotChunk bounds the buffers of a snapshotArena.
const snapshotChunk = 1 << 20

func (a *snapshotArena) execution(x *Execution, executions int) []byte {
	if cap(a.buf)-len(a.buf) < 1024 {
		if a.hint == 0 {
			// 512 bytes an execution, as one snapshot's own buffer was:
			// a unit of one execution (an event that starts a task, its
			// status events) allocates no more than it did.
			a.hint = min(max(executions, 1)*512, snapshotChunk)
		}
		a.buf = make([]byte, 0, a.hint)
	}
	start := len(a.buf)
	a.buf = appendExecution(a.buf, x)
	return a.buf[start:len(a.buf):len(a.buf)]
}

// Apply applies one event. It returns an [*EvalError] when a condition fails
// and an error when an id cannot be allocated; the unit of work must then be
// abandoned and the state reloaded.
func (e *Engine) Apply(ev *store.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if ie, ok := r.(idError); ok {
				err = fmt.Errorf("engine: allocating an id: %w", ie.err)
				return
			}
			panic(r)
		}
	}()
	e.env.memo = nil
	e.dec.applying()
	switch ev.Kind {
	case store.KindStatus:
		return e.applyStatus(ev)
	case store.KindControl:
		return e.applyControl(ev)
	default:
		return e.applyUser(ev)
	}
}

func (e *Engine) workflow(ns, name string) *WorkflowState {
	k := wfKey{ns, name}
	w := e.workflows[k]
	if w == nil {
		w = &WorkflowState{Namespace: ns, Name: name}
		e.workflows[k] = w
	}
	return w
}

// markDirty records that x changed in this unit of work.
func (e *Engine) markDirty(x *Execution) {
	if x.dirtyGen != e.dec.gen {
		x.dirtyGen = e.dec.gen
		e.dirty = append(e.dirty, x.ID)
	}
}

func (e *Engine) bindDefinition(x *Execution) {
	if d, _, ok := e.reg.Version(x.Namespace, x.Workflow, x.Version); ok {
		x.def = d
	}
}

func (e *Engine) route(x *Execution) {
	if x.def == nil {
		return
	}
	for _, k := range x.def.userKeys {
		rk := routeKey{x.Namespace, k}
		list := e.routes[rk]
		i, found := slices.BinarySearchFunc(list, x.ID, func(a *Execution, id int64) int {
			switch {
			case a.ID < id:
				return -1
			case a.ID > id:
				return 1
			}
			return 0
		})
		if !found {
			if len(list) == 0 {
				e.keysGen++
				e.added = append(e.added, [2]string{rk.ns, rk.key})
			}
			e.routes[rk] = slices.Insert(list, i, x)
		}
	}
}

func (e *Engine) unroute(x *Execution) {
	if x.def == nil {
		return
	}
	for _, k := range x.def.userKeys {
		rk := routeKey{x.Namespace, k}
		list := e.routes[rk]
		if i := slices.Index(list, x); i >= 0 {
			list = slices.Delete(list, i, i+1)
		}
		if len(list) == 0 {
			if _, ok := e.routes[rk]; ok {
				e.keysGen++
			}
			delete(e.routes, rk)
		} else {
			e.routes[rk] = list
		}
	}
}

// ApplyBatch applies events in order and stops at the first error.
func (e *Engine) ApplyBatch(events []store.Event) error {
	for i := range events {
		if err := e.Apply(&events[i]); err != nil {
			return err
		}
	}
	return nil
}

// IsEvalError reports whether err is a condition failure and returns it.
func IsEvalError(err error) (*EvalError, bool) {
	var ee *EvalError
	ok := errors.As(err, &ee)
	return ee, ok
}

// Option configures an Engine.
type Option func(*Engine)

// WithPartitions tells the engine how many partitions the store has (1 by
// default), so it evaluates only the triggers of its partition's workflows;
// it places every execution in its workflow's partition.
func WithPartitions(n int) Option { return func(e *Engine) { e.pl = store.Placement{Partitions: n} } }

// WithPlacement tells the engine where the store places workflows and
// executions (store.Consumer.Placement): it evaluates only the triggers and
// schedule ticks of its partition's workflows, and an execution they start
// that belongs to another partition is handed to it (see the package
// documentation).
func WithPlacement(pl store.Placement) Option { return func(e *Engine) { e.pl = pl } }

// WithMaxInterruptions sets the MaxInterruptions of the task executions the
// engine creates (store.MaxInterruptionsDefault by default; a negative n
// counts as 0: no attempt interrupted by a lost worker is run again).
func WithMaxInterruptions(n int) Option {
	return func(e *Engine) { e.maxInterruptions = max(n, 0) }
}
