package engine_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/internal/engine"
	"github.com/aiflow-go/aiflow/store"
)

// harness drives one engine with hand-built events.
type harness struct {
	t   *testing.T
	reg *engine.Registry
	eng *engine.Engine
	ids *benchIDs
	pos int64
	now time.Time
	// tes holds every task execution created, by id.
	tes map[int64]store.TaskExecutionRecord
}

func newHarness(t *testing.T, defs ...*engine.Definition) *harness {
	reg := engine.NewRegistry()
	for _, d := range defs {
		require.NoError(t, engine.Compile(d))
		reg.Add(d)
	}
	return &harness{t: t, reg: reg, eng: engine.New(reg, 0), ids: &benchIDs{}, now: time.Unix(1_700_000_000, 0).UTC(),
		tes: map[int64]store.TaskExecutionRecord{}}
}

// apply applies events in one unit of work and returns its effects.
func (h *harness) apply(evs ...store.Event) *store.Effects {
	h.t.Helper()
	h.eng.Begin(h.ids, nil)
	for _, ev := range evs {
		h.pos++
		h.now = h.now.Add(time.Second)
		ev.ID, ev.Position, ev.Time = h.pos, store.Position{XID: uint64(h.pos), ID: h.pos}, h.now
		require.NoError(h.t, h.eng.Apply(&ev))
	}
	fx := h.eng.End()
	for _, te := range fx.NewTaskExecutions {
		h.tes[te.ID] = te
	}
	return fx
}

func (h *harness) start(wf string, id int64) *store.Effects {
	data, _ := json.Marshal(store.StartExecutionData{RunType: store.RunManual})
	return h.apply(store.Event{Kind: store.KindControl, Namespace: "default", Key: store.KeyStartExecution, Workflow: wf, ExecutionID: id, Data: data})
}

// status builds the status event of the task execution of task (latest with
// that name in execution exec) entering s.
func (h *harness) status(exec int64, task string, seq int, s store.TaskStatus, d store.StatusData) store.Event {
	h.t.Helper()
	for _, te := range h.tes {
		if te.ExecutionID == exec && te.Task == task && te.SeqNum == seq {
			if d.Attempt == 0 {
				d.Attempt = 1
			}
			return store.NewStatusEvent(&te, s, d, store.SenderWorker)
		}
	}
	h.t.Fatalf("no task execution %d/%s#%d", exec, task, seq)
	return store.Event{}
}

func user(key string, exec int64) store.Event {
	return store.Event{Kind: store.KindUser, Namespace: "default", Key: key, ExecutionID: exec}
}

func control(key string, exec int64, task string) store.Event {
	return store.Event{Kind: store.KindControl, Namespace: "default", Key: key, Workflow: "w", ExecutionID: exec, TaskName: task}
}

func tasksOf(fx *store.Effects) []string {
	var out []string
	for _, te := range fx.NewTaskExecutions {
		out = append(out, fmt.Sprintf("%s#%d", te.Task, te.SeqNum))
	}
	return out
}

func statusOf(fx *store.Effects) []string {
	var out []string
	for _, ev := range fx.Events {
		out = append(out, ev.TaskName+":"+ev.Value)
	}
	return out
}

func def(name string, tasks ...*engine.Task) *engine.Definition {
	return &engine.Definition{Namespace: "default", Name: name, Version: "v1", Tasks: tasks}
}

func statusRule(a engine.Action, wf string, want map[string]store.TaskStatus) engine.Rule {
	var keys []string
	for t := range want {
		keys = append(keys, store.StatusKey(wf, t))
	}
	slices.Sort(keys)
	return engine.Rule{Action: a, Keys: keys, Cond: func(_ *store.Event, env engine.Env) (bool, error) {
		for t, s := range want {
			if got, ok := env.TaskStatus(t); !ok || got != s {
				return false, nil
			}
		}
		return true, nil
	}}
}

func TestStartRunsTasksWithoutAStartRule(t *testing.T) {
	t.Parallel()
	h := newHarness(t, def("w",
		&engine.Task{Name: "plain"},
		&engine.Task{Name: "stoponly", Rules: []engine.Rule{{Action: engine.ActionStop, Keys: []string{"s"}}}},
		&engine.Task{Name: "waits", Rules: []engine.Rule{{Action: engine.ActionStart, Keys: []string{"go"}}}},
	))
	fx := h.start("w", 1)
	require.Len(t, fx.NewExecutions, 1)
	require.Equal(t, store.WorkflowRunning, fx.NewExecutions[0].Status)
	require.Equal(t, []string{"plain#1", "stoponly#1"}, tasksOf(fx))
	require.Len(t, fx.Dispatches, 2)
	require.Equal(t, []string{":RUNNING", "plain:QUEUED", "stoponly:QUEUED"}, statusOf(fx))
	// the unknown workflow and a duplicate start
	fx = h.start("nope", 2)
	require.Equal(t, store.WorkflowFailed, fx.NewExecutions[0].Status)
	require.Contains(t, fx.NewExecutions[0].Note, "not registered")
	fx = h.start("w", 1)
	require.True(t, fx.Empty(), "an execution starts once")
}

func TestStartAfterUsesTheLatestRuns(t *testing.T) {
	t.Parallel()
	h := newHarness(t, def("w",
		&engine.Task{Name: "a"},
		&engine.Task{Name: "b"},
		&engine.Task{Name: "c", Rules: []engine.Rule{statusRule(engine.ActionStart, "w", map[string]store.TaskStatus{"a": store.TaskSuccess, "b": store.TaskSuccess})}},
	))
	h.start("w", 1)
	require.Empty(t, tasksOf(h.apply(h.status(1, "a", 1, store.TaskSuccess, store.StatusData{}))))
	require.Equal(t, []string{"c#1"}, tasksOf(h.apply(h.status(1, "b", 1, store.TaskSuccess, store.StatusData{}))))
	// a runs again: while it runs, b's new success does not start c.
	require.Equal(t, []string{"a#2"}, tasksOf(h.apply(control(store.KeyRestartTask, 1, "a"))))
	h.apply(h.status(1, "c", 1, store.TaskSuccess, store.StatusData{}))
	require.Equal(t, []string{"b#2"}, tasksOf(h.apply(control(store.KeyRestartTask, 1, "b"))))
	require.Empty(t, tasksOf(h.apply(h.status(1, "b", 2, store.TaskSuccess, store.StatusData{}))))
	require.Equal(t, []string{"c#2"}, tasksOf(h.apply(h.status(1, "a", 2, store.TaskSuccess, store.StatusData{}))))
}

func TestRestartWaitsForTheOldRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, def("w", &engine.Task{Name: "t", Rules: []engine.Rule{{Action: engine.ActionRestart, Keys: []string{"again"}}}},
		&engine.Task{Name: "keep", Rules: []engine.Rule{{Action: engine.ActionStart, Keys: []string{"never"}}}}))
	h.start("w", 1)
	h.apply(h.status(1, "t", 1, store.TaskRunning, store.StatusData{}))
	fx := h.apply(user("again", 1))
	require.Equal(t, []string{"t#2"}, tasksOf(fx))
	require.Empty(t, fx.Dispatches, "the new run waits in INIT")
	require.Len(t, fx.Stops, 1)
	require.True(t, h.apply(user("again", 1)).Stops == nil, "a second RESTART while one waits does nothing")
	fx = h.apply(h.status(1, "t", 1, store.TaskStopped, store.StatusData{}))
	require.Len(t, fx.Dispatches, 1, "the new run is dispatched once the old one stopped")
	require.Equal(t, []string{"t:QUEUED"}, statusOf(fx))
}

func TestStopOnANonAliveTaskDoesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, def("w",
		&engine.Task{Name: "never", Rules: []engine.Rule{{Action: engine.ActionStart, Keys: []string{"go"}}, {Action: engine.ActionStop, Keys: []string{"halt"}}}},
		&engine.Task{Name: "done", Rules: []engine.Rule{{Action: engine.ActionStop, Keys: []string{"halt"}}}},
	))
	h.start("w", 1)
	h.apply(h.status(1, "done", 1, store.TaskSuccess, store.StatusData{}))
	fx := h.apply(user("halt", 1))
	require.Empty(t, fx.Stops)
	require.Empty(t, fx.ExecutionUpdates, "the execution goes on: never still waits for go")
}

func TestExecutionStatusDoesNotDependOnOrder(t *testing.T) {
	t.Parallel()
	for _, failFirst := range []string{"t1", "t2"} {
		h := newHarness(t, def("w", &engine.Task{Name: "t1"}, &engine.Task{Name: "t2"}))
		h.start("w", 1)
		other := map[string]string{"t1": "t2", "t2": "t1"}[failFirst]
		fx := h.apply(h.status(1, failFirst, 1, store.TaskFailed, store.StatusData{Failures: 1}))
		require.Empty(t, fx.ExecutionUpdates, "%s failed but %s is alive", failFirst, other)
		fx = h.apply(h.status(1, other, 1, store.TaskSuccess, store.StatusData{}))
		require.Len(t, fx.ExecutionUpdates, 1)
		require.Equal(t, store.WorkflowFailed, fx.ExecutionUpdates[0].Status)
	}
}

func TestRetryingDispatchesTheNextAttemptAfterTheBackoff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, def("w", &engine.Task{Name: "t", Retry: engine.RetryPolicy{MaxAttempts: 3, Backoff: func(f int) time.Duration { return time.Duration(f) * time.Minute }}}))
	h.start("w", 1)
	ev := h.status(1, "t", 1, store.TaskRetrying, store.StatusData{Attempt: 1, Failures: 1})
	fx := h.apply(ev)
	require.Len(t, fx.Dispatches, 1)
	d := fx.Dispatches[0]
	require.Equal(t, 2, d.Attempt)
	require.Equal(t, h.now.Add(time.Minute), d.NotBefore)
	// an interrupted attempt is retried at once
	fx = h.apply(h.status(1, "t", 1, store.TaskRetrying, store.StatusData{Attempt: 2, Failures: 1, Interrupted: true}))
	require.Equal(t, 3, fx.Dispatches[0].Attempt)
	require.Equal(t, h.now, fx.Dispatches[0].NotBefore)
	// a late duplicate report does not dispatch twice
	require.Empty(t, h.apply(h.status(1, "t", 1, store.TaskRetrying, store.StatusData{Attempt: 2, Failures: 1})).Dispatches)
}

func TestBroadcastEventsReachOnlyExecutionsExpectingTheKey(t *testing.T) {
	t.Parallel()
	calls := 0
	counting := engine.Rule{Action: engine.ActionStart, Keys: []string{"ping"}, Cond: func(*store.Event, engine.Env) (bool, error) { calls++; return false, nil }}
	h := newHarness(t,
		def("listens", &engine.Task{Name: "t", Rules: []engine.Rule{counting}}),
		def("deaf", &engine.Task{Name: "t", Rules: []engine.Rule{{Action: engine.ActionStart, Keys: []string{"other"}}}}),
	)
	for i := int64(1); i <= 1000; i++ {
		wf := "deaf"
		if i%100 == 0 {
			wf = "listens"
		}
		h.start(wf, i)
	}
	h.apply(user("ping", 0))
	require.Equal(t, 10, calls, "only the executions whose rules expect the key are evaluated")
}

// An event addressed to an execution reaches it only if the workflow it
// names, if any, is the execution's: a store reads it in the partition that
// workflow places the execution in.
func TestAddressedEventNamingAnotherWorkflowMissesTheExecution(t *testing.T) {
	t.Parallel()
	calls := 0
	counting := engine.Rule{Action: engine.ActionStart, Keys: []string{"ping"}, Cond: func(*store.Event, engine.Env) (bool, error) { calls++; return false, nil }}
	h := newHarness(t, def("w", &engine.Task{Name: "t", Rules: []engine.Rule{counting}}))
	h.start("w", 1)
	ev := user("ping", 1)
	ev.Workflow = "other"
	h.apply(ev)
	require.Zero(t, calls, "an event naming another workflow")
	ev.Workflow = "w"
	h.apply(ev, user("ping", 1))
	require.Equal(t, 2, calls, "an event naming the execution's workflow, or none")
}

func TestFinishedExecutionIgnoresEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, def("w", &engine.Task{Name: "t", Rules: []engine.Rule{{Action: engine.ActionRestart, Keys: []string{"again"}}}}))
	h.start("w", 1)
	fx := h.apply(h.status(1, "t", 1, store.TaskSuccess, store.StatusData{}))
	require.Equal(t, store.WorkflowSuccess, fx.ExecutionUpdates[0].Status)
	require.Equal(t, 0, h.eng.Executions(), "a finished execution is evicted")
	require.True(t, h.apply(user("again", 1)).Empty())
}

func TestStateSurvivesASnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	sum := engine.Rule{Action: engine.ActionStart, Keys: []string{"n"}, Cond: func(ev *store.Event, env engine.Env) (bool, error) {
		var s int
		if d, ok := env.State("sum"); ok {
			require.NoError(t, json.Unmarshal(d, &s))
		}
		s++
		env.SetState("sum", []byte(fmt.Sprint(s)))
		return s == 3, nil
	}}
	d := def("w", &engine.Task{Name: "t", Rules: []engine.Rule{sum}})
	h := newHarness(t, d)
	h.start("w", 1)
	fx := h.apply(user("n", 1), user("n", 1))
	// A new engine loaded from the snapshots goes on where this one was.
	h.eng = engine.New(h.reg, 0)
	require.NoError(t, h.eng.Load(fx.Snapshots))
	require.Equal(t, []string{"t#1"}, tasksOf(h.apply(user("n", 1))))
}

func TestConditionErrorsAreReportedAndSkippedWhenAsked(t *testing.T) {
	t.Parallel()
	bad := engine.Rule{Action: engine.ActionStart, Keys: []string{"n"}, Cond: func(*store.Event, engine.Env) (bool, error) { panic("bug") }}
	h := newHarness(t, def("w", &engine.Task{Name: "t", Rules: []engine.Rule{bad}}))
	h.start("w", 1)
	h.eng.Begin(h.ids, nil)
	ev := user("n", 1)
	ev.ID = 99
	err := h.eng.Apply(&ev)
	h.eng.End()
	ee, ok := engine.IsEvalError(err)
	require.True(t, ok)
	require.Equal(t, engine.PoisonKey{EventID: 99, Target: "execution:1"}, ee.Key)
	require.ErrorContains(t, err, "condition panicked: bug")
	h.eng.Begin(h.ids, map[engine.PoisonKey]string{ee.Key: "condition panicked: bug"})
	require.NoError(t, h.eng.Apply(&ev))
	fx := h.eng.End()
	require.Len(t, fx.Events, 1)
	require.Equal(t, store.KeyPoisonEvent, fx.Events[0].Key)
	require.Equal(t, int64(1), fx.Events[0].ExecutionID)
}

func TestAFinishedTaskStatusIsFinal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, def("w",
		&engine.Task{Name: "a"},
		&engine.Task{Name: "alarm", Rules: []engine.Rule{statusRule(engine.ActionStart, "w", map[string]store.TaskStatus{"a": store.TaskFailed})}},
		&engine.Task{Name: "keep", Rules: []engine.Rule{{Action: engine.ActionStart, Keys: []string{"never"}}}},
	))
	h.start("w", 1)
	h.apply(h.status(1, "a", 1, store.TaskRunning, store.StatusData{}))
	h.apply(h.status(1, "a", 1, store.TaskSuccess, store.StatusData{}))
	// Late or repeated reports of a#1 (a worker that lost its fence, a
	// replayed event) change nothing: no rule sees them, nothing is
	// dispatched or stopped, and a#1 stays SUCCESS.
	for _, late := range []store.TaskStatus{store.TaskFailed, store.TaskRunning, store.TaskRetrying, store.TaskStopping, store.TaskQueued, store.TaskStopped} {
		fx := h.apply(h.status(1, "a", 1, late, store.StatusData{Failures: 1}))
		require.Empty(t, fx.NewTaskExecutions, "a late %s starts nothing", late)
		require.Empty(t, fx.Dispatches, "a late %s dispatches nothing", late)
		require.Empty(t, fx.Stops, "a late %s stops nothing", late)
		require.Empty(t, fx.ExecutionUpdates, "a late %s does not end the execution", late)
		x, ok := h.eng.Execution(1)
		require.True(t, ok)
		require.Equal(t, store.TaskSuccess, x.Tasks["a"].Latest.Status, "after a late %s", late)
		require.Zero(t, x.Tasks["a"].Latest.Failures, "after a late %s", late)
	}
}

// TestStatusThatChangesNothingWritesNoSnapshot: the QUEUED status the engine
// set itself when dispatching, or a status repeated, leaves the execution's
// snapshot as it is; one that changes the task execution writes it.
func TestStatusThatChangesNothingWritesNoSnapshot(t *testing.T) {
	t.Parallel()
	h := newHarness(t, def("w", &engine.Task{Name: "t"}, &engine.Task{Name: "keep", Rules: []engine.Rule{{Action: engine.ActionStart, Keys: []string{"never"}}}}))
	require.NotEmpty(t, h.start("w", 1).Snapshots)
	fx := h.apply(h.status(1, "t", 1, store.TaskQueued, store.StatusData{}))
	require.Empty(t, fx.Snapshots, "QUEUED was the engine's own")
	fx = h.apply(h.status(1, "t", 1, store.TaskRunning, store.StatusData{}))
	require.Len(t, fx.Snapshots, 1, "RUNNING changes the task execution")
	fx = h.apply(h.status(1, "t", 1, store.TaskRunning, store.StatusData{}))
	require.Empty(t, fx.Snapshots, "a repeated RUNNING")
	fx = h.apply(h.status(1, "t", 1, store.TaskSuccess, store.StatusData{}))
	require.Len(t, fx.Snapshots, 1)
	x, ok := h.eng.Execution(1)
	require.True(t, ok)
	require.Equal(t, store.TaskSuccess, x.Tasks["t"].Latest.Status)
}

// TestSettleAfterStatusWithoutAction: an execution found unsettled (its
// first task alive) is settled again when a status changes its tasks, even
// though the status's rules are not met (settle skips the tasks only while
// they have not changed since it last looked).
func TestSettleAfterStatusWithoutAction(t *testing.T) {
	d := &engine.Definition{Namespace: "default", Name: "wf", Version: "v1"}
	d.Tasks = append(d.Tasks, &engine.Task{Name: "a"})
	d.Tasks = append(d.Tasks, &engine.Task{Name: "b", Rules: []engine.Rule{{
		Action: engine.ActionStart, Keys: []string{store.StatusKey("wf", "a")},
		Cond: func(*store.Event, engine.Env) (bool, error) { return false, nil },
	}}})
	h := newHarness(t, d)
	h.start("wf", 1)
	// RUNNING: b's rule is evaluated (false), a is alive: unsettled.
	h.apply(h.status(1, "a", 1, store.TaskRunning, store.StatusData{}))
	x, ok := h.eng.Execution(1)
	require.True(t, ok)
	require.Equal(t, store.WorkflowRunning, x.Status)
	// SUCCESS: b's rule is false again, but a ended: b never ran and
	// expects no event from outside, so the execution is settled.
	fx := h.apply(h.status(1, "a", 1, store.TaskSuccess, store.StatusData{}))
	require.Len(t, fx.ExecutionUpdates, 1)
	require.Equal(t, store.WorkflowSuccess, fx.ExecutionUpdates[0].Status)
}

// TestStateWrittenInPlace: SetState copies what it is given (the caller may
// reuse it), a value of another length replaces the old one, and counting
// in the state many times gives the count.
func TestStateWrittenInPlace(t *testing.T) {
	d := &engine.Definition{Namespace: "default", Name: "wf", Version: "v1"}
	buf := []byte("00")
	d.Tasks = append(d.Tasks, &engine.Task{Name: "keep", Rules: []engine.Rule{{Action: engine.ActionStart, Keys: []string{"never"}}}})
	d.Tasks = append(d.Tasks, &engine.Task{Name: "counted", Rules: []engine.Rule{{
		Action: engine.ActionStart, Keys: []string{"tick"},
		Cond: func(_ *store.Event, env engine.Env) (bool, error) {
			n := 0
			if data, ok := env.State("n"); ok {
				fmt.Sscan(string(data), &n)
			}
			buf = fmt.Appendf(buf[:0], "%d", n+1)
			env.SetState("n", buf)
			buf[0] = 'x' // the state holds a copy
			return false, nil
		},
	}}})
	h := newHarness(t, d)
	h.start("wf", 1)
	for range 12 {
		h.apply(user("tick", 1))
	}
	x, _ := h.eng.Execution(1)
	require.Equal(t, "12", string(x.State["n"]))
}

// TestStateDeletedAndSetAgain: a state deleted reads as unset, whatever was
// read or written last, and a second name does not disturb the first.
func TestStateDeletedAndSetAgain(t *testing.T) {
	d := &engine.Definition{Namespace: "default", Name: "wf", Version: "v1"}
	var seen []string
	d.Tasks = append(d.Tasks, &engine.Task{Name: "keep", Rules: []engine.Rule{{Action: engine.ActionStart, Keys: []string{"never"}}}})
	d.Tasks = append(d.Tasks, &engine.Task{Name: "t", Rules: []engine.Rule{{
		Action: engine.ActionStart, Keys: []string{"tick"},
		Cond: func(_ *store.Event, env engine.Env) (bool, error) {
			a, okA := env.State("a")
			b, _ := env.State("b")
			seen = append(seen, fmt.Sprintf("%s/%v/%s", a, okA, b))
			switch {
			case !okA:
				env.SetState("a", []byte("1"))
				env.SetState("b", []byte(`"x"`))
			case string(a) == "1":
				env.SetState("a", []byte("22"))
			default:
				env.DeleteState("a")
			}
			return false, nil
		},
	}}})
	h := newHarness(t, d)
	h.start("wf", 1)
	for range 4 {
		h.apply(user("tick", 1))
	}
	require.Equal(t, []string{"/false/", `1/true/"x"`, `22/true/"x"`, `/false/"x"`}, seen)
}
