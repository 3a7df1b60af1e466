package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

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

	execs     map[int64]*Execution
	routes    map[routeKey][]*Execution // running executions whose definition expects a user key
	workflows map[wfKey]*WorkflowState

	// per unit of work
	ids     IDSource
	skip    map[PoisonKey]string
	fx      *store.Effects
	dirty   map[int64]struct{}
	dirtyWf map[wfKey]struct{}
	env     execEnv

	partitions int
	trig       triggerIndex
}

type routeKey struct{ ns, key string }

// New returns an engine for one partition with empty state.
func New(reg *Registry, partition int, opts ...Option) *Engine {
	e := &Engine{reg: reg, partition: partition, partitions: 1}
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
	e.workflows = map[wfKey]*WorkflowState{}
	e.dirty = map[int64]struct{}{}
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
	e.fx = &store.Effects{}
}

// End finishes a unit of work: it adds the snapshots of everything that
// changed, evicts finished executions and returns the effects. The caller
// sets the position.
func (e *Engine) End() *store.Effects {
	fx := e.fx
	ids := make([]int64, 0, len(e.dirty))
	for id := range e.dirty {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		x := e.execs[id]
		if x == nil {
			continue
		}
		if x.Status.Finished() {
			fx.Snapshots = append(fx.Snapshots, store.Snapshot{Key: execSnapKey(id), Delete: true})
			delete(e.execs, id)
			continue
		}
		fx.Snapshots = append(fx.Snapshots, store.Snapshot{Key: execSnapKey(id), Data: appendExecution(make([]byte, 0, 512), x)})
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
	clear(e.dirty)
	clear(e.dirtyWf)
	e.fx = nil
	e.ids = nil
	e.skip = nil
	return fx
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

func (e *Engine) markDirty(x *Execution) { e.dirty[x.ID] = struct{}{} }

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
			delete(e.routes, rk)
		} else {
			e.routes[rk] = list
		}
	}
}

// ---- user events ----

func (e *Engine) applyUser(ev *store.Event) error {
	if err := e.applyTriggers(ev); err != nil {
		return err
	}
	if ev.ExecutionID != 0 && !ev.Broadcast {
		x := e.execs[ev.ExecutionID]
		if x == nil || x.Status != store.WorkflowRunning || x.def == nil || x.Namespace != ev.Namespace {
			return nil
		}
		return e.evalRules(x, ev)
	}
	list := e.routes[routeKey{ev.Namespace, ev.Key}]
	if len(list) == 0 {
		return nil
	}
	// Evaluating may finish executions and change the list.
	targets := slices.Clone(list)
	// Whether the workflow of the previous target is disabled (only control
	// events change it): targets, in the order of their ids, often come
	// from one workflow.
	var prevNs, prevWf string
	looked, disabled := false, false
	for _, x := range targets {
		if x.Status != store.WorkflowRunning {
			continue
		}
		if !looked || x.Namespace != prevNs || x.Workflow != prevWf {
			prevNs, prevWf, looked = x.Namespace, x.Workflow, true
			w := e.workflows[wfKey{x.Namespace, x.Workflow}]
			disabled = w != nil && w.Disabled
		}
		if disabled {
			continue
		}
		if err := e.evalRules(x, ev); err != nil {
			return err
		}
	}
	return nil
}

func execTarget(id int64) string { return "execution:" + strconv.FormatInt(id, 10) }

// evalRules evaluates the rules of x's tasks that expect ev's key, then
// settles x.
func (e *Engine) evalRules(x *Execution, ev *store.Event) error {
	tasks := x.def.keyTasks[ev.Key]
	if len(tasks) > 0 {
		// The key (a string built per execution) is needed only when
		// applications are skipped or a condition fails.
		if len(e.skip) > 0 {
			key := PoisonKey{ev.ID, execTarget(x.ID)}
			if msg, poisoned := e.skip[key]; poisoned {
				e.recordPoison(ev, key, msg, x)
				return nil
			}
		}
		for _, ti := range tasks {
			t := x.def.Tasks[ti]
			for ri := range t.Rules {
				r := &t.Rules[ri]
				if !slices.Contains(r.Keys, ev.Key) {
					continue
				}
				met, err := e.evalCond(r.Cond, ev, x)
				if err != nil {
					return &EvalError{Key: PoisonKey{ev.ID, execTarget(x.ID)}, Err: fmt.Errorf("workflow %q task %q rule %d: %w", x.Workflow, t.Name, ri+1, err)}
				}
				if met {
					e.act(x, t, r.Action, ev, cause{rule: ri + 1, task: t.Name, ev: ev})
					break
				}
			}
			if x.Status != store.WorkflowRunning {
				break
			}
		}
	}
	e.settle(x, ev.Time)
	return nil
}

func (e *Engine) evalCond(c CondFunc, ev *store.Event, x *Execution) (met bool, err error) {
	if c == nil {
		return true, nil
	}
	defer func() {
		if r := recover(); r != nil {
			met, err = false, fmt.Errorf("condition panicked: %v", r)
		}
	}()
	e.env.e, e.env.x = e, x
	return c(ev, &e.env)
}

func (e *Engine) recordPoison(ev *store.Event, key PoisonKey, msg string, x *Execution) {
	data, _ := json.Marshal(store.PoisonData{
		EventID: ev.ID, EventPosition: ev.Position.String(), EventKey: ev.Key, Error: msg, Target: key.Target,
	})
	out := store.Event{
		Kind: store.KindControl, Namespace: ev.Namespace, Key: store.KeyPoisonEvent,
		Value: msg, Sender: store.SenderEngine, Data: data,
	}
	// Poison records stay in this partition: they name the execution.
	out.Workflow, out.ExecutionID = x.Workflow, x.ID
	e.fx.Events = append(e.fx.Events, out)
}

// ---- actions ----

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
	ts := x.task(t.Name)
	cur := ts.Latest
	alive := cur != nil && cur.Status.Alive()
	switch a {
	case ActionStart:
		if alive {
			e.note(cur, fmt.Sprintf("START by %s ignored: task execution %d is %s", why, cur.Seq, cur.Status))
			return
		}
		e.startNew(x, t, ts, ev.Time)
	case ActionStop:
		if alive {
			e.requestStop(x, cur, "STOP by "+why.String())
		}
	case ActionRestart:
		if !alive {
			e.startNew(x, t, ts, ev.Time)
			return
		}
		if cur.Status == store.TaskInit {
			e.note(cur, fmt.Sprintf("RESTART by %s ignored: a restart is already waiting for the previous run to stop", why))
			return
		}
		e.requestStop(x, cur, "RESTART by "+why.String())
		ts.Stopping = append(ts.Stopping, cur)
		e.startNew(x, t, ts, ev.Time)
	}
	e.markDirty(x)
}

// startNew creates the next task execution of t; it is dispatched now, or
// left in INIT while earlier runs are still stopping.
func (e *Engine) startNew(x *Execution, t *Task, ts *TaskState, at time.Time) {
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
	maxAttempts := t.Retry.MaxAttempts
	if maxAttempts < 1 {
		maxAttempts = 1
	}
	e.fx.NewTaskExecutions = append(e.fx.NewTaskExecutions, store.TaskExecutionRecord{
		ID: id, ExecutionID: x.ID, Namespace: x.Namespace, Workflow: x.Workflow, Task: t.Name,
		SeqNum: seq, MaxAttempts: maxAttempts, Status: store.TaskInit, Streaming: t.Streaming,
		Timeout: t.Timeout, CreatedAt: at, UpdatedAt: at,
	})
	if len(ts.Stopping) == 0 {
		e.dispatch(x, t, te, at)
	}
	e.markDirty(x)
}

func (e *Engine) dispatch(x *Execution, t *Task, te *TE, at time.Time) {
	te.Status = store.TaskQueued
	te.Attempt = 1
	e.fx.Dispatches = append(e.fx.Dispatches, store.Dispatch{TaskExecutionID: te.ID, Attempt: 1})
	rec := store.TaskExecutionRecord{
		ID: te.ID, ExecutionID: x.ID, Namespace: x.Namespace, Workflow: x.Workflow, Task: t.Name,
		SeqNum: te.Seq, Attempt: 1,
	}
	e.fx.Events = append(e.fx.Events, store.NewStatusEvent(&rec, store.TaskQueued, store.StatusData{}, store.SenderEngine))
}

func (e *Engine) requestStop(x *Execution, te *TE, reason string) {
	if te.Status.Finished() || te.Status == store.TaskStopping {
		return
	}
	te.Status = store.TaskStopping
	e.fx.Stops = append(e.fx.Stops, store.StopRequest{TaskExecutionID: te.ID, Reason: reason})
	e.markDirty(x)
}

// idError carries an id allocation failure out of deep calls.
type idError struct{ err error }

// ---- status events ----

func (e *Engine) applyStatus(ev *store.Event) error {
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
	var t *Task
	if x.def != nil {
		t, _ = x.def.Task(ev.TaskName)
	}
	e.transition(x, t, te, store.TaskStatus(ev.Value), store.DecodeStatusData(ev), ev.Time)
	e.markDirty(x)
	if stopping >= 0 && te.Status.Finished() {
		ts.Stopping = slices.Delete(ts.Stopping, stopping, stopping+1)
		if len(ts.Stopping) == 0 && ts.Latest != nil && ts.Latest.Status == store.TaskInit &&
			x.Status == store.WorkflowRunning && t != nil {
			e.dispatch(x, t, ts.Latest, ev.Time)
		}
	}
	if x.Status != store.WorkflowRunning || x.def == nil {
		return nil
	}
	return e.evalRules(x, ev)
}

func (e *Engine) transition(x *Execution, t *Task, te *TE, s store.TaskStatus, d store.StatusData, at time.Time) {
	if te.Status.Finished() {
		return
	}
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
			return // the backend reports STOPPED next
		}
		te.Status = store.TaskRetrying
		next := d.Attempt + 1
		if next <= te.Attempt {
			return // already dispatched
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
}

// workflowStatusEvent appends the status event of an execution.
func (e *Engine) workflowStatusEvent(ns, wf string, id int64, s store.WorkflowStatus, note string) {
	var data []byte
	if note != "" {
		data, _ = json.Marshal(store.ControlData{Reason: note})
	}
	e.fx.Events = append(e.fx.Events, store.Event{
		Kind: store.KindStatus, Namespace: ns, Key: store.WorkflowStatusKey(wf), Value: string(s),
		Sender: store.SenderEngine, Workflow: wf, ExecutionID: id, Data: data,
	})
}

// ---- control events ----

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
	e.createExecution(ev.ExecutionID, ev.Namespace, ev.Workflow, d, ev.Time)
	return nil
}

// createExecution records a new execution and starts its initial tasks; it
// returns the execution, or nil when it could not run.
func (e *Engine) createExecution(id int64, ns, wf string, d store.StartExecutionData, at time.Time) *Execution {
	rec := store.WorkflowExecutionRecord{
		ID: id, Namespace: ns, Workflow: wf, RunType: d.RunType,
		ScheduleID: d.ScheduleID, TriggerID: d.TriggerID, CreatedAt: at, UpdatedAt: at,
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
	e.workflowStatusEvent(ns, wf, id, rec.Status, rec.Note)
	if rec.Status != store.WorkflowRunning {
		return nil
	}
	x := &Execution{
		ID: id, Namespace: ns, Workflow: wf, Version: def.Version, Status: store.WorkflowRunning,
		RunType: d.RunType, Tasks: make(map[string]*TaskState, len(def.Tasks)), CreatedAt: at, def: def,
	}
	e.execs[id] = x
	e.route(x)
	w.Running++
	e.dirtyWf[wfKey{ns, wf}] = struct{}{}
	e.markDirty(x)
	for _, ti := range def.initial {
		t := def.Tasks[ti]
		e.startNew(x, t, x.task(t.Name), at)
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

// settle finishes x when nothing in it can run any more.
func (e *Engine) settle(x *Execution, at time.Time) {
	if x.Status != store.WorkflowRunning || x.def == nil {
		return
	}
	failed := false
	for _, t := range x.def.Tasks {
		ts := x.Tasks[t.Name]
		if t.Periodic {
			return
		}
		if ts == nil || ts.Latest == nil {
			if t.waitsExternal {
				return
			}
			continue
		}
		if ts.alive() {
			return
		}
		if ts.Latest.Status == store.TaskFailed {
			failed = true
		}
	}
	if failed {
		e.finishExecution(x, store.WorkflowFailed, "", at)
	} else {
		e.finishExecution(x, store.WorkflowSuccess, "", at)
	}
}

func (e *Engine) finishExecution(x *Execution, s store.WorkflowStatus, note string, at time.Time) {
	x.Status = s
	e.fx.ExecutionUpdates = append(e.fx.ExecutionUpdates, store.ExecutionUpdate{ID: x.ID, Status: s, Note: note, EndedAt: at})
	e.workflowStatusEvent(x.Namespace, x.Workflow, x.ID, s, note)
	e.unroute(x)
	w := e.workflow(x.Namespace, x.Workflow)
	if w.Running > 0 {
		w.Running--
	}
	e.dirtyWf[wfKey{x.Namespace, x.Workflow}] = struct{}{}
	e.markDirty(x)
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

// ---- condition environment ----

type execEnv struct {
	e *Engine
	x *Execution
}

func (v *execEnv) Namespace() string  { return v.x.Namespace }
func (v *execEnv) Workflow() string   { return v.x.Workflow }
func (v *execEnv) ExecutionID() int64 { return v.x.ID }

func (v *execEnv) TaskStatus(task string) (store.TaskStatus, bool) {
	ts := v.x.Tasks[task]
	if ts == nil || ts.Latest == nil {
		return "", false
	}
	return ts.Latest.Status, true
}

func (v *execEnv) State(name string) ([]byte, bool) {
	d, ok := v.x.State[name]
	return d, ok
}

func (v *execEnv) SetState(name string, data []byte) {
	if v.x.State == nil {
		v.x.State = map[string]json.RawMessage{}
	}
	v.x.State[name] = append(json.RawMessage(nil), data...)
	v.e.markDirty(v.x)
}

func (v *execEnv) DeleteState(name string) {
	if _, ok := v.x.State[name]; ok {
		delete(v.x.State, name)
		v.e.markDirty(v.x)
	}
}
