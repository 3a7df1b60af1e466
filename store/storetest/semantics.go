package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
)

type conformanceTest struct {
	name   string
	adjust func(t *testing.T, c *aiflow.Config)
	fn     func(t *testing.T, b *bed)
}

// Run runs every conformance test, in parallel, each on a store from
// newStore.
func Run(t *testing.T, newStore Factory) {
	tests := []conformanceTest{
		{name: "Rules/StartAfterFollowsTheLatestRuns", fn: testStartAfterLatestRuns},
		{name: "Rules/OnTaskStatusWithOtherStatusesAndActions", fn: testOnTaskStatus},
		{name: "Rules/OnEventStartStopRestart", fn: testOnEvent},
		{name: "Rules/OnConditionStateIsPerExecution", fn: testConditionStatePerExecution},
		{name: "Rules/FirstMetRuleWins", fn: testFirstMetRuleWins},
		{name: "Rules/TasksWithoutStartRuleStartWithTheExecution", fn: testTasksWithoutStartRule},
		{name: "Conditions/AllOfFlagsArePerRuleAndPerExecutionAndFollowTheLatestEvaluation", fn: testAllOf},
		{name: "Conditions/AnyOfIsMetByAnyConditionExpectingTheKey", fn: testAnyOf},
		{name: "Conditions/TaskStatusConditionReadsTheLatestRuns", fn: testTaskStatusCondition},
		{name: "Actions/StartWhileAliveIsIgnoredWithAVisibleReason", fn: testStartIgnoredWhileAlive},
		{name: "Actions/StoppingCountsAsAlive", fn: testStoppingIsAlive},
		{name: "Actions/RestartDispatchesTheNewRunOnlyAfterTheOldStopped", fn: testRestartWaitsForStop},
		{name: "Actions/StopOnANonAliveTaskIsANoOp", fn: testStopNonAliveNoOp},
		{name: "Actions/StopAQueuedTask", fn: testStopQueued,
			adjust: func(_ *testing.T, c *aiflow.Config) { c.Store = &heldWorkers{Store: c.Store} }},
		{name: "Routing/EventsFromATaskReachOnlyItsExecution", fn: testScopedEvents},
		{name: "Routing/StatusChangesReachOnlyTheirExecution", fn: testStatusChangesStayInTheirExecution},
		{name: "Routing/EventsWithoutExecutionReachRunningExecutionsOfTheNamespace", fn: testNamespaceWideEvents},
		{name: "Routing/ExplicitBroadcastFromATask", fn: testBroadcastFromTask},
		{name: "Routing/DisabledWorkflowIsStartedByNothingAndItsExecutionsGoOn", fn: testDisabledWorkflow},
		{name: "Status/SuccessWhenEverythingSucceeded", fn: testExecutionSuccess},
		{name: "Status/FailedDoesNotDependOnDeclarationOrder", fn: testExecutionFailedOrderIndependent},
		{name: "Status/NoHangWhenADownstreamTaskCanNoLongerStart", fn: testNoHang},
		{name: "Status/WaitingForAnOutsideEventKeepsRunning", fn: testWaitingKeepsRunning},
		{name: "Status/StreamingTaskKeepsRunningUntilStopped", fn: testStreamingKeepsRunning},
		{name: "Status/StoppedOnRequest", fn: testStoppedOnRequest},
		{name: "Status/FinishedExecutionsIgnoreEvents", fn: testFinishedIgnoresEvents},
		{name: "Tasks/RetriesShowRetryingAndStopAtMaxAttempts", fn: testRetries},
		{name: "Tasks/RetryBackoffDelaysTheNextAttempt", fn: testRetryBackoff},
		{name: "Tasks/TimeoutFailsTheAttempt", fn: testTimeout},
		{name: "Tasks/ErrorsAndPanicsFail", fn: testErrorsAndPanics},
		{name: "Tasks/SequenceNumbersAreDense", fn: testDenseSequenceNumbers},
		{name: "Tasks/AFinishedStatusIsFinalAndLateReportsAreRefused", fn: testLateReportsRefused},
		{name: "Tasks/LogsAndProgressAreReadable", fn: testLogsAndProgress},
		{name: "Tasks/ProgressReportedWhileStoppingIsKept", fn: testProgressWhileStopping},
		{name: "Tasks/TimedOutAttemptsAreRetriedAndShareOneLog", fn: testTimeoutRetriesShareTheLog},
		{name: "Logs/RetentionPrunesTheLogsOfFinishedTasks", fn: testLogRetention,
			adjust: func(_ *testing.T, c *aiflow.Config) { c.TaskLogRetention = logRetention }},
		{name: "Logs/KeptInADirectory", fn: testLogDir,
			adjust: func(t *testing.T, c *aiflow.Config) { c.TaskLogDir = t.TempDir() }},
		{name: "Conditions/PoisonConditionIsSkippedAndRecorded", fn: testPoisonCondition,
			adjust: func(_ *testing.T, c *aiflow.Config) { c.PoisonAttempts = 2 }},
		{name: "Namespaces/AddListDeleteAndIsolation", fn: testNamespaces},
		{name: "Events/ListAndListenFromAPositionNeverMissOrRepeat", fn: testListenFromPosition},
		{name: "Events/ValueSizeLimit", fn: testEventSizeLimit},
		{name: "Events/SendAsATaskExecutionAndCount", fn: testSendAsTaskExecution},
		{name: "Executions/StopAllAndDelete", fn: testStopAllAndDeleteExecutions},
		{name: "Executions/KeepTheDefinitionVersionTheyBeganWith", fn: testExecutionKeepsItsVersion},
		{name: "Shutdown/GracefulStopDrainsAndInterrupts", fn: testGracefulStop},
		{name: "Shutdown/TasksOutlivingStopTimeoutAreCancelledAndRunAgain", fn: testStopTimeoutCancels,
			adjust: func(_ *testing.T, c *aiflow.Config) { c.StopTimeout = stopTimeout }},
		{name: "Schedules/TicksStartPeriodicExecutions", fn: testScheduleStartsPeriodicExecutions},
		{name: "Schedules/SkipOverlapAndDisabledWorkflows", fn: testScheduleSkipsOverlapAndDisabled},
		{name: "Schedules/PeriodicTaskRunsDownstreamAfterEachTick", fn: testPeriodicTaskRunsDownstreamAfterEachTick},
		{name: "Schedules/CatchUpFiresTheLatestMissedTicksAndRecordsTheOthers", fn: testScheduleCatchUp},
		{name: "Schedules/ResumeFiresNoTickThatFellDueWhilePaused", fn: testScheduleResumeFiresNoPausedTick},
		{name: "Triggers/StatefulTriggerStartsEventExecutions", fn: testTriggerWithStateStartsEventExecutions},
		{name: "Triggers/SeeEventsFromOtherWorkflowsExecutions", fn: testTriggerSeesOtherWorkflowsEvents},
		{name: "Timers/PruneFiringsKeepsTheLatestOfLiveTimers", fn: testPruneFirings},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBed(t, newStore, tc.adjust)
			tc.fn(t, b)
		})
	}
}

// keepAlive adds a task waiting for an event that never comes, which keeps
// the execution RUNNING after its other tasks have finished.
func (f *flow) keepAlive() {
	f.task("keep").OnEvent("never", aiflow.ActionStart)
}

// witnessTask adds a task that starts on the event "witness"; witness uses it.
func (f *flow) witnessTask() {
	f.ctl.setAuto("witness", nil)
	f.task("witness").OnEvent("witness", aiflow.ActionStart)
}

// witness sends "witness" to an execution and waits until its witness task
// has run once more: every event appended before has been applied to the
// execution by then.
func (b *bed) witness(exec int64) {
	b.t.Helper()
	n := len(b.runs(exec, "witness"))
	ns := b.execution(exec).Namespace
	_, err := b.client.SendEvent(b.ctx, "witness", "", &aiflow.SendEventOpts{ExecutionID: exec, Namespace: ns})
	require.NoError(b.t, err)
	b.waitRun(exec, "witness", n+1, aiflow.TaskSuccess)
}

func statuses(rs []aiflow.TaskExecution) []aiflow.TaskStatus {
	out := make([]aiflow.TaskStatus, len(rs))
	for i, r := range rs {
		out[i] = r.Status
	}
	return out
}

// ---- rules ----

func testStartAfterLatestRuns(t *testing.T, b *bed) {
	f := b.flow("w")
	a, u := f.task("a"), f.task("b")
	f.task("c").StartAfter(a, u)
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")

	ra, rb := b.ctl.waitRun(t, x, "a", 1, 0), b.ctl.waitRun(t, x, "b", 1, 0)
	ra.succeed()
	b.waitRun(x, "a", 1, aiflow.TaskSuccess)
	b.witness(x)
	require.Empty(t, b.runs(x, "c"), "c waits while b runs")
	rb.succeed()
	b.ctl.waitRun(t, x, "c", 1, 0).succeed()
	b.waitRun(x, "c", 1, aiflow.TaskSuccess)

	// a runs again: while a's latest run is RUNNING, b succeeding again does
	// not start c.
	require.NoError(t, b.client.RestartTaskExecution(b.ctx, x, "a"))
	ra2 := b.ctl.waitRun(t, x, "a", 2, 0)
	require.NoError(t, b.client.RestartTaskExecution(b.ctx, x, "b"))
	b.ctl.waitRun(t, x, "b", 2, 0).succeed()
	b.waitRun(x, "b", 2, aiflow.TaskSuccess)
	b.witness(x)
	require.Len(t, b.runs(x, "c"), 1, "a's latest run is RUNNING: c does not start")
	// Once a's latest run succeeds too, c runs again.
	ra2.succeed()
	b.ctl.waitRun(t, x, "c", 2, 0).succeed()
	b.waitRun(x, "c", 2, aiflow.TaskSuccess)
}

func testOnTaskStatus(t *testing.T, b *bed) {
	f := b.flow("w")
	job := f.task("job")
	f.task("alarm").OnTaskStatus(aiflow.ActionStart, map[*aiflow.Task]aiflow.TaskStatus{job: aiflow.TaskFailed})
	f.task("watch").OnTaskStatus(aiflow.ActionStop, map[*aiflow.Task]aiflow.TaskStatus{job: aiflow.TaskFailed})
	b.register(f.wf)
	x := b.start("w")
	watch := b.ctl.waitRun(t, x, "watch", 1, 0) // no START rule: starts with the execution
	watch.allowStop()
	b.ctl.waitRun(t, x, "job", 1, 0).fail(errBoom)
	b.waitRun(x, "watch", 1, aiflow.TaskStopped)
	b.ctl.waitRun(t, x, "alarm", 1, 0).succeed()
	b.waitRun(x, "alarm", 1, aiflow.TaskSuccess)
	require.Equal(t, aiflow.WorkflowFailed, b.waitExecution(x, aiflow.WorkflowFailed).Status)
}

func testOnEvent(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t").
		OnEvent("start", aiflow.ActionStart).
		OnEvent("stop", aiflow.ActionStop).
		OnEvent("restart", aiflow.ActionRestart)
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)
	require.Empty(t, b.runs(x, "t"), "a task with a START rule waits for it")

	b.send("start", "")
	r1 := b.ctl.waitRun(t, x, "t", 1, 0)
	b.send("restart", "")
	r1.waitCancelled(t)
	r1.allowStop()
	r2 := b.ctl.waitRun(t, x, "t", 2, 0)
	require.Equal(t, aiflow.TaskStopped, b.runs(x, "t")[0].Status)
	b.send("stop", "")
	r2.waitCancelled(t)
	r2.allowStop()
	b.waitRun(x, "t", 2, aiflow.TaskStopped)
	// RESTART of a task that is not alive starts it.
	b.send("restart", "")
	b.ctl.waitRun(t, x, "t", 3, 0).succeed()
	b.waitRun(x, "t", 3, aiflow.TaskSuccess)
}

// sumTo is met once the values of "n" events add up to at least limit; it
// keeps the sum in the execution's state "sum".
type sumTo struct{ limit int }

func (sumTo) ExpectedKeys() []string { return []string{"n"} }
func (c sumTo) IsMet(cc *aiflow.ConditionContext, ev *aiflow.Event) (bool, error) {
	st := aiflow.ValueState[int](cc, "sum")
	sum, _, err := st.Value()
	if err != nil {
		return false, err
	}
	var v int
	if _, err := fmt.Sscan(ev.Value, &v); err != nil {
		return false, err
	}
	sum += v
	return sum >= c.limit, st.Update(sum)
}

func testConditionStatePerExecution(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t").OnCondition(aiflow.ActionStart, sumTo{limit: 10})
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")
	send := func(x int64, v string) {
		_, err := b.client.SendEvent(b.ctx, "n", v, &aiflow.SendEventOpts{ExecutionID: x})
		require.NoError(t, err)
	}
	send(x1, "6")
	send(x2, "6")
	b.witness(x1)
	b.witness(x2)
	require.Empty(t, b.runs(x1, "t"))
	send(x1, "4") // x1 reaches 10; x2 stays at 6
	b.ctl.waitRun(t, x1, "t", 1, 0).succeed()
	b.witness(x2)
	require.Empty(t, b.runs(x2, "t"), "state is per execution")
	send(x2, "3")
	b.witness(x2)
	require.Empty(t, b.runs(x2, "t"))
	send(x2, "1")
	b.ctl.waitRun(t, x2, "t", 1, 0).succeed()
}

// countingCondition counts its evaluations (outside the engine's state, to
// observe them) and is met when met is true.
type countingCondition struct {
	key   string
	met   bool
	calls *atomic.Int64
}

func (c countingCondition) ExpectedKeys() []string { return []string{c.key} }
func (c countingCondition) IsMet(cc *aiflow.ConditionContext, _ *aiflow.Event) (bool, error) {
	c.calls.Add(1)
	return c.met, nil
}

func testFirstMetRuleWins(t *testing.T, b *bed) {
	var first, second, third atomic.Int64
	f := b.flow("w")
	f.task("t").
		OnCondition(aiflow.ActionStart, countingCondition{key: "go", met: false, calls: &first}).
		OnCondition(aiflow.ActionStart, countingCondition{key: "go", met: true, calls: &second}).
		OnCondition(aiflow.ActionStop, countingCondition{key: "go", met: true, calls: &third})
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)
	b.send("go", "")
	b.ctl.waitRun(t, x, "t", 1, 0)
	b.witness(x)
	require.EqualValues(t, 1, first.Load(), "rules are evaluated in declaration order")
	require.EqualValues(t, 1, second.Load(), "the first met rule decides")
	require.EqualValues(t, 0, third.Load(), "rules after the first met one are not evaluated")
	require.Equal(t, aiflow.TaskRunning, b.runs(x, "t")[0].Status, "the STOP rule did not run")
}

func testTasksWithoutStartRule(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("plain")
	f.task("stoponly").OnEvent("s", aiflow.ActionStop)
	f.task("restartonly").OnEvent("r", aiflow.ActionRestart)
	f.task("waits").OnEvent("go", aiflow.ActionStart)
	f.witnessTask()
	b.register(f.wf)
	x := b.start("w")
	for _, task := range []string{"plain", "stoponly", "restartonly"} {
		b.ctl.waitRun(t, x, task, 1, 0)
	}
	b.witness(x)
	require.Empty(t, b.runs(x, "waits"), "a task with a START rule does not start with the execution")
}

// ---- actions ----

func testStartIgnoredWhileAlive(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t").OnEvent("go", aiflow.ActionStart)
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)
	b.send("go", "")
	r := b.ctl.waitRun(t, x, "t", 1, 0)
	b.waitRun(x, "t", 1, aiflow.TaskRunning)
	b.send("go", "")
	b.witness(x)
	rs := b.runs(x, "t")
	require.Len(t, rs, 1, "a START while alive is ignored")
	require.True(t, containsAll(rs[0].Note, "START", "ignored", "RUNNING"), "the reason is visible: %q", rs[0].Note)
	r.succeed()
	b.waitRun(x, "t", 1, aiflow.TaskSuccess)
	b.send("go", "")
	b.ctl.waitRun(t, x, "t", 2, 0).succeed()
}

func testStoppingIsAlive(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t").OnEvent("go", aiflow.ActionStart).OnEvent("halt", aiflow.ActionStop)
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)
	b.send("go", "")
	r := b.ctl.waitRun(t, x, "t", 1, 0)
	b.waitRun(x, "t", 1, aiflow.TaskRunning)
	b.send("halt", "")
	r.waitCancelled(t) // the operator holds on: the run stays STOPPING
	b.waitRun(x, "t", 1, aiflow.TaskStopping)
	b.send("go", "")
	b.witness(x)
	rs := b.runs(x, "t")
	require.Len(t, rs, 1, "STOPPING counts as alive: no second run beside it")
	require.Contains(t, rs[0].Note, "STOPPING")
	r.allowStop()
	b.waitRun(x, "t", 1, aiflow.TaskStopped)
	b.send("go", "")
	b.ctl.waitRun(t, x, "t", 2, 0).succeed()
}

func testRestartWaitsForStop(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t").OnEvent("again", aiflow.ActionRestart)
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	r1 := b.ctl.waitRun(t, x, "t", 1, 0)
	b.waitRun(x, "t", 1, aiflow.TaskRunning)
	b.send("again", "")
	r1.waitCancelled(t)
	b.witness(x)
	rs := b.runs(x, "t")
	require.Len(t, rs, 2)
	require.Equal(t, aiflow.TaskStopping, rs[0].Status)
	require.Equal(t, aiflow.TaskInit, rs[1].Status, "the new run waits in INIT while the old one stops")
	require.Equal(t, 1, b.ctl.started("t"), "the new run has not started")
	b.send("again", "") // a second RESTART while one is pending is ignored
	b.witness(x)
	require.Len(t, b.runs(x, "t"), 2)
	r1.allowStop()
	b.ctl.waitRun(t, x, "t", 2, 0)
	rs = b.runs(x, "t")
	require.Equal(t, aiflow.TaskStopped, rs[0].Status)
	require.Len(t, rs, 2)
}

func testStopNonAliveNoOp(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("never").OnEvent("go", aiflow.ActionStart).OnEvent("halt", aiflow.ActionStop)
	f.task("done").OnEvent("halt", aiflow.ActionStop)
	f.task("keep").OnEvent("halt", aiflow.ActionStop)
	f.witnessTask()
	b.register(f.wf)
	x := b.start("w")
	b.ctl.waitRun(t, x, "done", 1, 0).succeed()
	b.waitRun(x, "done", 1, aiflow.TaskSuccess)
	keep := b.ctl.waitRun(t, x, "keep", 1, 0)
	keep.allowStop()
	b.send("halt", "") // STOP on a task that never ran and one that finished: nothing
	b.waitRun(x, "keep", 1, aiflow.TaskStopped)
	b.witness(x)
	require.Empty(t, b.runs(x, "never"))
	require.Equal(t, aiflow.TaskSuccess, b.runs(x, "done")[0].Status)
	require.Equal(t, aiflow.WorkflowRunning, b.execution(x).Status, "the execution goes on")
	b.send("go", "")
	b.ctl.waitRun(t, x, "never", 1, 0).succeed()
}

func testStopQueued(t *testing.T, b *bed) {
	// The client's workers are held (heldWorkers): a dispatched run stays
	// QUEUED until the test releases them. A STOP reaching it ends it
	// STOPPED, and the worker that gets its job late does not run it.
	held := b.cfg.Store.(*heldWorkers)
	f := b.flow("w")
	f.task("t").OnEvent("go", aiflow.ActionStart).OnEvent("halt", aiflow.ActionStop)
	f.witnessTask()
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)
	require.NoError(t, b.client.StopTaskExecution(b.ctx, x, "t")) // nothing alive: a no-op
	b.send("go", "")
	b.waitRun(x, "t", 1, aiflow.TaskQueued)
	b.send("halt", "")
	te := b.waitRun(x, "t", 1, aiflow.TaskStopped, aiflow.TaskRunning)
	require.Equal(t, aiflow.TaskStopped, te.Status, "no worker runs: the QUEUED run is stopped at once")

	require.NoError(t, held.release(b.ctx))
	b.witness(x) // the workers run: the witness's run went through them
	require.Zero(t, b.ctl.started("t"), "the stopped run's job is not run")
	te = b.runs(x, "t")[0]
	require.Equal(t, aiflow.TaskStopped, te.Status)
	var seen []string
	for _, ev := range b.eventsN(store.StatusKey("w", "t"), 2) {
		seen = append(seen, ev.Value)
	}
	require.Equal(t, []string{"QUEUED", "STOPPED"}, seen, "the run never ran")
	// The task can start again.
	b.send("go", "")
	b.ctl.waitRun(t, x, "t", 2, 0).succeed()
	b.waitRun(x, "t", 2, aiflow.TaskSuccess)
}

// ---- routing ----

func testScopedEvents(t *testing.T, b *bed) {
	// TaskContext.SendEvent without options: the event reaches only the
	// sending task's execution.
	f := b.flow("w")
	f.funcTask("sender", func(ctx context.Context, tc *aiflow.TaskContext) error {
		_, err := tc.SendEvent(ctx, "ping", "from the task")
		return err
	}).OnEvent("cast", aiflow.ActionStart)
	f.ctl.setAuto("receiver", nil)
	f.task("receiver").OnEvent("ping", aiflow.ActionStart)
	f.witnessTask()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")
	b.waitExecution(x1, aiflow.WorkflowRunning)
	b.waitExecution(x2, aiflow.WorkflowRunning)
	b.sendTo(x1, "cast", "") // runs x1's sender, which sends "ping"
	sender := b.waitRun(x1, "sender", 1, aiflow.TaskSuccess)
	b.waitRun(x1, "receiver", 1, aiflow.TaskSuccess)
	b.witness(x2)
	require.Empty(t, b.runs(x2, "receiver"), "an event sent from a task reaches only its execution")
	require.Empty(t, b.runs(x2, "sender"))
	var pings []aiflow.Event
	b.waitFor("the ping event to be listed", func() bool { pings = b.events("ping"); return len(pings) == 1 })
	ev := pings[0]
	require.Equal(t, "from the task", ev.Value)
	require.Equal(t, x1, ev.ExecutionID)
	require.Equal(t, "w", ev.Workflow)
	require.Equal(t, "sender", ev.TaskName)
	require.Equal(t, sender.ID, ev.TaskExecutionID)
	require.Equal(t, 1, ev.SeqNum)
	require.Equal(t, fmt.Sprintf("%d_sender_1", x1), ev.Sender)
	require.False(t, ev.Broadcast)
}

func testStatusChangesStayInTheirExecution(t *testing.T, b *bed) {
	f := b.flow("w")
	a := f.task("a")
	f.ctl.setAuto("b", nil)
	f.task("b").StartAfter(a)
	f.witnessTask()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")
	ra1, ra2 := b.ctl.waitRun(t, x1, "a", 1, 0), b.ctl.waitRun(t, x2, "a", 1, 0)
	ra1.succeed()
	b.waitRun(x1, "b", 1, aiflow.TaskSuccess)
	b.witness(x2)
	require.Empty(t, b.runs(x2, "b"), "a's SUCCESS in x1 does not start b in x2")
	require.Equal(t, aiflow.TaskRunning, b.runs(x2, "a")[0].Status)
	ra2.succeed()
	b.waitRun(x2, "b", 1, aiflow.TaskSuccess)
	b.witness(x1)
	require.Len(t, b.runs(x1, "b"), 1, "a's SUCCESS in x2 does not start b in x1 again")
}

func testNamespaceWideEvents(t *testing.T, b *bed) {
	require.NoError(t, b.client.AddNamespace(b.ctx, "other"))
	mk := func(name string, opts ...aiflow.WorkflowOption) *aiflow.Workflow {
		f := b.flow(name, opts...)
		f.ctl.setAuto("on", nil)
		f.task("on").OnEvent("ping", aiflow.ActionStart)
		f.witnessTask()
		return f.wf
	}
	b.register(mk("w"), mk("deaf"), mk("far", aiflow.WithNamespace("other")))
	x1, x2 := b.start("w"), b.start("w")
	deaf := b.start("deaf")
	far := b.startIn("other", "far")
	for _, x := range []int64{x1, x2, deaf, far} {
		b.waitExecution(x, aiflow.WorkflowRunning)
	}
	require.NoError(t, b.client.DisableWorkflow(b.ctx, "", "deaf"))
	b.send("ping", "") // no execution: the namespace's running executions
	b.waitRun(x1, "on", 1, aiflow.TaskSuccess)
	b.waitRun(x2, "on", 1, aiflow.TaskSuccess)
	b.witness(deaf)
	b.witness(far)
	require.Empty(t, b.runs(deaf, "on"), "executions of disabled workflows are not reached")
	require.Empty(t, b.runs(far, "on"), "events never cross namespaces")
}

func testBroadcastFromTask(t *testing.T, b *bed) {
	f := b.flow("w")
	var sends atomic.Int64
	f.funcTask("caster", func(ctx context.Context, tc *aiflow.TaskContext) error {
		if sends.Add(1) == 1 { // only the first execution's task broadcasts
			_, err := tc.SendEvent(ctx, "ping", "all", aiflow.ToNamespace())
			return err
		}
		return nil
	}).OnEvent("cast", aiflow.ActionStart)
	f.ctl.setAuto("on", nil)
	f.task("on").OnEvent("ping", aiflow.ActionStart)
	f.witnessTask()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")
	b.waitExecution(x1, aiflow.WorkflowRunning)
	b.waitExecution(x2, aiflow.WorkflowRunning)
	_, err := b.client.SendEvent(b.ctx, "cast", "", &aiflow.SendEventOpts{ExecutionID: x1})
	require.NoError(t, err)
	b.waitRun(x1, "on", 1, aiflow.TaskSuccess)
	b.waitRun(x2, "on", 1, aiflow.TaskSuccess)
	ev := b.eventsN("ping", 1)[0]
	require.True(t, ev.Broadcast)
	require.Equal(t, x1, ev.ExecutionID, "the sender's context is kept")
}

func testDisabledWorkflow(t *testing.T, b *bed) {
	f := b.flow("w")
	a := f.task("a")
	f.task("b").StartAfter(a)
	b.register(f.wf)
	x := b.start("w")
	ra := b.ctl.waitRun(t, x, "a", 1, 0)
	require.NoError(t, b.client.DisableWorkflow(b.ctx, "", "w"))
	w, err := b.client.GetWorkflow(b.ctx, "", "w")
	require.NoError(t, err)
	require.False(t, w.Enabled)
	_, err = b.client.StartWorkflowExecution(b.ctx, "w", nil)
	require.ErrorIs(t, err, aiflow.ErrWorkflowDisabled)
	ra.succeed() // the running execution goes on: b still starts after a
	b.ctl.waitRun(t, x, "b", 1, 0).succeed()
	require.Equal(t, aiflow.WorkflowSuccess, b.waitExecution(x, aiflow.WorkflowSuccess).Status)
	require.NoError(t, b.client.EnableWorkflow(b.ctx, "", "w"))
	b.start("w")
}

// ---- execution status ----

func testExecutionSuccess(t *testing.T, b *bed) {
	f := b.flow("w")
	a := f.task("a")
	f.task("b").StartAfter(a)
	b.register(f.wf)
	x := b.start("w")
	// The execution exists when the call returns: INIT until the engine
	// handles its start (the running client may have done so already).
	first := b.execution(x)
	require.Contains(t, []aiflow.WorkflowStatus{aiflow.WorkflowInit, aiflow.WorkflowRunning}, first.Status)
	require.Equal(t, "w", first.Workflow)
	require.Equal(t, aiflow.RunManual, first.RunType)
	require.True(t, first.EndedAt.IsZero())
	b.ctl.waitRun(t, x, "a", 1, 0).succeed()
	b.ctl.waitRun(t, x, "b", 1, 0).succeed()
	got := b.waitExecution(x, aiflow.WorkflowSuccess, aiflow.WorkflowFailed, aiflow.WorkflowStopped)
	require.Equal(t, aiflow.WorkflowSuccess, got.Status)
	require.False(t, got.EndedAt.IsZero())
	require.Equal(t, aiflow.RunManual, got.RunType)
}

func testExecutionFailedOrderIndependent(t *testing.T, b *bed) {
	// t1 is declared first; its failure while t2 runs does not end the
	// execution; when t2 ends, the execution is FAILED. And the reverse.
	for _, failFirst := range []bool{true, false} {
		name := fmt.Sprintf("w%v", failFirst)
		f := b.flow(name)
		f.task("t1")
		f.task("t2")
		b.register(f.wf)
		x := b.start(name)
		r1, r2 := b.ctl.waitRun(t, x, "t1", 1, 0), b.ctl.waitRun(t, x, "t2", 1, 0)
		first, second := r1, r2
		if !failFirst {
			first, second = r2, r1
		}
		first.fail(errBoom)
		b.waitRun(x, first.key.task, 1, aiflow.TaskFailed)
		require.Equal(t, aiflow.WorkflowRunning, b.execution(x).Status, "a task is still alive")
		second.succeed()
		require.Equal(t, aiflow.WorkflowFailed, b.waitExecution(x, aiflow.WorkflowFailed, aiflow.WorkflowSuccess).Status)
	}
}

func testNoHang(t *testing.T, b *bed) {
	f := b.flow("w")
	up := f.task("up")
	f.task("down").StartAfter(up)
	b.register(f.wf)
	x := b.start("w")
	b.ctl.waitRun(t, x, "up", 1, 0).fail(errBoom)
	got := b.waitExecution(x, aiflow.WorkflowFailed, aiflow.WorkflowSuccess)
	require.Equal(t, aiflow.WorkflowFailed, got.Status, "down can never start: the execution ends FAILED instead of hanging")
	require.Empty(t, b.runs(x, "down"))
}

func testWaitingKeepsRunning(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("first")
	f.task("deploy").OnEvent("model_validated", aiflow.ActionStart)
	f.witnessTask()
	b.register(f.wf)
	x := b.start("w")
	b.ctl.waitRun(t, x, "first", 1, 0).succeed()
	b.waitRun(x, "first", 1, aiflow.TaskSuccess)
	b.witness(x)
	require.Equal(t, aiflow.WorkflowRunning, b.execution(x).Status, "deploy waits for an event from outside")
	b.send("model_validated", "v1")
	b.ctl.waitRun(t, x, "deploy", 1, 0).succeed()
	require.Equal(t, aiflow.WorkflowSuccess, b.waitExecution(x, aiflow.WorkflowSuccess).Status)
}

func testStreamingKeepsRunning(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("stream", aiflow.Streaming())
	f.ctl.setAuto("batch", nil)
	f.task("batch")
	f.witnessTask()
	b.register(f.wf)
	x := b.start("w")
	r := b.ctl.waitRun(t, x, "stream", 1, 0)
	b.waitRun(x, "batch", 1, aiflow.TaskSuccess)
	b.witness(x)
	require.Equal(t, aiflow.WorkflowRunning, b.execution(x).Status)
	require.True(t, b.runs(x, "stream")[0].Streaming)
	r.allowStop()
	require.NoError(t, b.client.StopWorkflowExecution(b.ctx, x))
	b.waitRun(x, "stream", 1, aiflow.TaskStopped)
	require.Equal(t, aiflow.WorkflowStopped, b.execution(x).Status)
}

func testStoppedOnRequest(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("a")
	f.task("b")
	f.task("later").OnEvent("never", aiflow.ActionStart)
	b.register(f.wf)
	x := b.start("w")
	ra, rb := b.ctl.waitRun(t, x, "a", 1, 0), b.ctl.waitRun(t, x, "b", 1, 0)
	ra.allowStop()
	rb.allowStop()
	require.NoError(t, b.client.StopWorkflowExecution(b.ctx, x))
	got := b.waitExecution(x, aiflow.WorkflowStopped)
	require.Contains(t, got.Note, "stop request")
	b.waitRun(x, "a", 1, aiflow.TaskStopped)
	b.waitRun(x, "b", 1, aiflow.TaskStopped)
	err := b.client.StopWorkflowExecution(b.ctx, x)
	require.ErrorIs(t, err, aiflow.ErrExecutionFinished)
}

func testFinishedIgnoresEvents(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("a", nil)
	f.task("a").OnEvent("again", aiflow.ActionStart)
	f.witnessTask()
	b.register(f.wf)
	x := b.start("w")
	b.send("again", "")
	b.waitRun(x, "a", 1, aiflow.TaskSuccess)
	b.witness(x) // both tasks have run: the execution settles
	b.waitExecution(x, aiflow.WorkflowSuccess)
	other := b.start("w") // a running execution, as a witness
	b.waitExecution(other, aiflow.WorkflowRunning)
	_, err := b.client.SendEvent(b.ctx, "again", "", &aiflow.SendEventOpts{ExecutionID: x})
	require.NoError(t, err)
	b.send("again", "")
	b.waitRun(other, "a", 1, aiflow.TaskSuccess)
	require.Len(t, b.runs(x, "a"), 1, "a finished execution ignores events")
	require.Equal(t, aiflow.WorkflowSuccess, b.execution(x).Status)
}

// ---- tasks ----

func testRetries(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("flaky", aiflow.WithRetry(aiflow.RetryPolicy{MaxAttempts: 3}))
	f.task("broken", aiflow.WithRetry(aiflow.RetryPolicy{MaxAttempts: 2}))
	b.register(f.wf)
	x := b.start("w")
	b.ctl.waitRun(t, x, "flaky", 1, 1).fail(errBoom)
	b.waitRun(x, "flaky", 1, aiflow.TaskRetrying, aiflow.TaskRunning)
	b.ctl.waitRun(t, x, "flaky", 1, 2).fail(errBoom)
	b.ctl.waitRun(t, x, "flaky", 1, 3).succeed()
	te := b.waitRun(x, "flaky", 1, aiflow.TaskSuccess)
	require.Equal(t, 3, te.Attempt)
	require.Equal(t, 2, te.Failures)
	require.Len(t, b.runs(x, "flaky"), 1, "retries are attempts of one task execution")

	b.ctl.waitRun(t, x, "broken", 1, 1).fail(errBoom)
	b.ctl.waitRun(t, x, "broken", 1, 2).fail(errors.New("still broken"))
	te = b.waitRun(x, "broken", 1, aiflow.TaskFailed)
	require.Equal(t, 2, te.Failures)
	require.Contains(t, te.Error, "still broken")
	var seen []string
	for _, ev := range b.eventsN(store.StatusKey("w", "flaky"), 7) {
		seen = append(seen, ev.Value)
	}
	require.Equal(t, []string{"QUEUED", "RUNNING", "RETRYING", "RUNNING", "RETRYING", "RUNNING", "SUCCESS"}, seen)
	require.Equal(t, aiflow.WorkflowFailed, b.waitExecution(x, aiflow.WorkflowFailed).Status)
}

func testRetryBackoff(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t", aiflow.WithRetry(aiflow.RetryPolicy{MaxAttempts: 2, InitialBackoff: 300 * time.Millisecond}))
	b.register(f.wf)
	x := b.start("w")
	b.ctl.waitRun(t, x, "t", 1, 1).fail(errBoom)
	failedAt := time.Now()
	b.ctl.waitRun(t, x, "t", 1, 2).succeed()
	require.GreaterOrEqual(t, time.Since(failedAt), 250*time.Millisecond, "the second attempt waited for the backoff")
	b.waitRun(x, "t", 1, aiflow.TaskSuccess)
}

func testTimeout(t *testing.T, b *bed) {
	f := b.flow("w")
	f.funcTask("slow", func(ctx context.Context, _ *aiflow.TaskContext) error {
		<-ctx.Done()
		return nil // even if the operator returns nil, a timed-out attempt fails
	}, aiflow.WithTimeout(100*time.Millisecond))
	b.register(f.wf)
	x := b.start("w")
	te := b.waitRun(x, "slow", 1, aiflow.TaskFailed)
	require.Contains(t, te.Error, "timed out after 100ms")
}

func testErrorsAndPanics(t *testing.T, b *bed) {
	f := b.flow("w")
	f.funcTask("errs", func(context.Context, *aiflow.TaskContext) error { return errors.New("disk full") })
	f.funcTask("panics", func(context.Context, *aiflow.TaskContext) error { panic("nil map") })
	b.register(f.wf)
	x := b.start("w")
	require.Contains(t, b.waitRun(x, "errs", 1, aiflow.TaskFailed).Error, "disk full")
	require.Contains(t, b.waitRun(x, "panics", 1, aiflow.TaskFailed).Error, "panicked: nil map")
}

func testDenseSequenceNumbers(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("t", nil)
	f.task("t").OnEvent("go", aiflow.ActionStart)
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	b.waitExecution(x, aiflow.WorkflowRunning)
	for i := 1; i <= 5; i++ {
		require.NoError(t, b.client.StartTaskExecution(b.ctx, x, "t"))
		b.waitRun(x, "t", i, aiflow.TaskSuccess)
	}
	rs := b.runs(x, "t")
	require.Len(t, rs, 5)
	ids := map[int64]bool{}
	for i, r := range rs {
		require.Equal(t, i+1, r.SeqNum)
		require.False(t, ids[r.ID], "ids are unique")
		ids[r.ID] = true
	}
}

func testLogsAndProgress(t *testing.T, b *bed) {
	f := b.flow("w")
	reported := make(chan struct{})
	f.funcTask("chatty", func(ctx context.Context, tc *aiflow.TaskContext) error {
		fmt.Fprintln(tc.Log, "line one")
		fmt.Fprintln(tc.Log, "line two")
		if err := tc.ReportStatus(ctx, "halfway"); err != nil {
			return err
		}
		if err := tc.ReportMetrics(ctx, map[string]float64{"rows": 42}); err != nil {
			return err
		}
		close(reported)
		<-ctx.Done()
		return nil
	})
	b.register(f.wf)
	x := b.start("w")
	select {
	case <-reported:
	case <-time.After(waitTimeout):
		t.Fatalf("the task did not report within %s", waitTimeout)
	}
	te := b.runs(x, "chatty")[0]
	require.Equal(t, "halfway", te.StatusMessage)
	require.Equal(t, 42.0, te.Metrics["rows"])
	require.NoError(t, b.client.StopWorkflowExecution(b.ctx, x))
	b.waitRun(x, "chatty", 1, aiflow.TaskStopped)
	b.waitFor("the task log", func() bool {
		data, _, err := b.client.ReadTaskLog(b.ctx, te.ID, 0, 0)
		require.NoError(t, err)
		return strings.Contains(string(data), "line one\nline two\n")
	})
	part, next, err := b.client.ReadTaskLog(b.ctx, te.ID, 5, 3)
	require.NoError(t, err)
	require.Equal(t, "one", string(part))
	require.EqualValues(t, 8, next)
}

// ---- conditions ----

// explodes panics on events whose value is "bad" and is met otherwise.
type explodes struct{ calls *sync.Map }

func (explodes) ExpectedKeys() []string { return []string{"n"} }
func (c explodes) IsMet(cc *aiflow.ConditionContext, ev *aiflow.Event) (bool, error) {
	if ev.Value == "bad" {
		panic("condition bug")
	}
	if ev.Value == "err" {
		return false, errors.New("cannot decide")
	}
	return true, nil
}

func testPoisonCondition(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("t", nil)
	f.task("t").OnCondition(aiflow.ActionStart, explodes{})
	f.witnessTask()
	b.register(f.wf)
	x1, x2 := b.start("w"), b.start("w")
	b.waitExecution(x1, aiflow.WorkflowRunning)
	b.waitExecution(x2, aiflow.WorkflowRunning)
	send := func(x int64, v string) {
		_, err := b.client.SendEvent(b.ctx, "n", v, &aiflow.SendEventOpts{ExecutionID: x})
		require.NoError(t, err)
	}
	send(x1, "bad")
	send(x1, "err")
	send(x2, "good") // other executions are not stalled for long
	b.waitRun(x2, "t", 1, aiflow.TaskSuccess)
	send(x1, "good") // x1 goes on after the skipped events
	b.waitRun(x1, "t", 1, aiflow.TaskSuccess)
	var poison []aiflow.Event
	b.waitFor("two poison records", func() bool {
		poison = b.events(store.KeyPoisonEvent)
		return len(poison) == 2
	})
	require.Contains(t, poison[0].Value, "condition panicked: condition bug")
	require.Contains(t, poison[1].Value, "cannot decide")
	for _, p := range poison {
		require.Equal(t, x1, p.ExecutionID)
	}
}

// ---- namespaces and events ----

func testNamespaces(t *testing.T, b *bed) {
	require.NoError(t, b.client.AddNamespace(b.ctx, "team-a"))
	require.ErrorIs(t, b.client.AddNamespace(b.ctx, "team-a"), aiflow.ErrAlreadyExists)
	ns, err := b.client.ListNamespaces(b.ctx)
	require.NoError(t, err)
	var names []string
	for _, n := range ns {
		names = append(names, n.Name)
	}
	require.Equal(t, []string{"default", "team-a"}, names)

	f := b.flow("w", aiflow.WithNamespace("team-a"))
	f.ctl.setAuto("t", nil)
	f.task("t")
	b.register(f.wf)
	err = b.client.DeleteNamespace(b.ctx, "team-a")
	require.ErrorIs(t, err, aiflow.ErrNamespaceNotEmpty)
	require.ErrorIs(t, b.client.DeleteNamespace(b.ctx, "default"), aiflow.ErrConflict)
	_, err = b.client.SendEvent(b.ctx, "k", "v", &aiflow.SendEventOpts{Namespace: "nowhere"})
	require.ErrorIs(t, err, aiflow.ErrNamespaceNotFound)
	_, err = b.client.StartWorkflowExecution(b.ctx, "w", nil)
	require.ErrorIs(t, err, aiflow.ErrWorkflowNotFound, "workflow names are per namespace")
	x := b.startIn("team-a", "w")
	require.Equal(t, aiflow.WorkflowSuccess, b.waitExecution(x, aiflow.WorkflowSuccess).Status)
	require.Equal(t, "team-a", b.execution(x).Namespace)

	require.NoError(t, b.client.AddNamespace(b.ctx, "empty"))
	require.NoError(t, b.client.DeleteNamespace(b.ctx, "empty"))
	require.ErrorIs(t, b.client.DeleteNamespace(b.ctx, "empty"), aiflow.ErrNamespaceNotFound)
}

func testListenFromPosition(t *testing.T, b *bed) {
	from, err := b.client.LastPosition(b.ctx)
	require.NoError(t, err)
	const n = 120
	var got []string
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	go func() {
		defer close(done)
		done <- b.client.ListenEvents(ctx, &aiflow.EventFilter{After: from, Keys: []string{"seq"}}, func(ev aiflow.Event) error {
			got = append(got, ev.Value)
			if len(got) == n {
				return errors.New("all seen")
			}
			return nil
		})
	}()
	// Concurrent senders, each in order.
	var wg sync.WaitGroup
	for s := 0; s < 3; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/3; i++ {
				_, err := b.client.SendEvent(b.ctx, "seq", fmt.Sprintf("%d-%03d", s, i), nil)
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-done:
		require.EqualError(t, err, "all seen")
	case <-time.After(waitTimeout):
		cancel()
		<-done
		t.Fatalf("the listener saw %d of %d events", len(got), n)
	}
	seen := map[string]bool{}
	last := map[byte]string{}
	for _, v := range got {
		require.False(t, seen[v], "event %s repeated", v)
		seen[v] = true
		require.Greater(t, v, last[v[0]], "events of one sender in order")
		last[v[0]] = v
	}
	// Paging from a position with a small limit gives the same events.
	var paged []string
	f := &aiflow.EventFilter{After: from, Keys: []string{"seq"}, Limit: 7}
	for {
		evs, next, err := b.client.ListEvents(b.ctx, f)
		require.NoError(t, err)
		for _, ev := range evs {
			paged = append(paged, ev.Value)
		}
		if next == f.After {
			break
		}
		f.After = next
	}
	require.Equal(t, got, paged)
}

func testEventSizeLimit(t *testing.T, b *bed) {
	_, err := b.client.SendEvent(b.ctx, "big", strings.Repeat("x", aiflow.MaxEventValueBytes+1), nil)
	require.ErrorIs(t, err, aiflow.ErrEventTooLarge)
	_, err = b.client.SendEvent(b.ctx, "big", strings.Repeat("x", aiflow.MaxEventValueBytes), nil)
	require.NoError(t, err)
	// Listing shows an event once no earlier transaction can still commit
	// (the Postgres store's horizon): wait for it.
	b.waitFor("the accepted event", func() bool { return len(b.events("big")) == 1 })
	require.Len(t, b.events("big")[0].Value, aiflow.MaxEventValueBytes, "only the accepted event was stored")
}

// ---- shutdown ----

func testGracefulStop(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("batch")
	f.funcTask("stream", func(ctx context.Context, tc *aiflow.TaskContext) error {
		<-ctx.Done()
		return ctx.Err()
	}, aiflow.Streaming())
	b.register(f.wf)
	x := b.start("w")
	rb := b.ctl.waitRun(t, x, "batch", 1, 0)
	b.waitRun(x, "stream", 1, aiflow.TaskRunning)
	stopped := make(chan error, 1)
	go func() { stopped <- b.client.Stop(context.Background()) }()
	// The streaming task is interrupted at once; the batch task drains.
	te := b.waitRun(x, "stream", 1, aiflow.TaskRetrying)
	require.Equal(t, 1, te.Attempt)
	rb.succeed()
	require.NoError(t, <-stopped)
	require.Equal(t, aiflow.TaskSuccess, b.runs(x, "batch")[0].Status, "a batch task finishes within StopTimeout")
}

// stopTimeout is the StopTimeout of the test of its expiry.
const stopTimeout = 500 * time.Millisecond

func testStopTimeoutCancels(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("batch")
	b.register(f.wf)
	x := b.start("w")
	r := b.ctl.waitRun(t, x, "batch", 1, 0)
	b.waitRun(x, "batch", 1, aiflow.TaskRunning)
	r.allowStop() // once cancelled, the operator returns at once

	began := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- b.client.Stop(context.Background()) }()
	// The batch task is drained first, then cancelled when StopTimeout ends.
	r.waitCancelled(t)
	require.GreaterOrEqual(t, time.Since(began), stopTimeout-50*time.Millisecond, "the task was given StopTimeout to finish")
	select {
	case err := <-stopped:
		require.NoError(t, err, "StopTimeout expiring is the documented path, not an error")
	case <-time.After(waitTimeout):
		t.Fatalf("Stop did not return within %s", waitTimeout)
	}
	// Interrupted, not failed: it ends RETRYING for another client to run.
	te := b.waitRun(x, "batch", 1, aiflow.TaskRetrying, aiflow.TaskFailed, aiflow.TaskSuccess, aiflow.TaskStopped)
	require.Equal(t, aiflow.TaskRetrying, te.Status)
	require.Equal(t, 1, te.Attempt)
	require.Zero(t, te.Failures, "an interrupted attempt is not a failure")
	require.Equal(t, aiflow.WorkflowRunning, b.execution(x).Status)

	// The next client on the store runs it again, as attempt 2 of the same
	// task execution.
	next, err := aiflow.New(&aiflow.Config{
		Store: b.cfg.Store, Logger: b.cfg.Logger, PollInterval: b.cfg.PollInterval, StopTimeout: b.cfg.StopTimeout,
		StopGracePeriod: b.cfg.StopGracePeriod, LeaseTTL: b.cfg.LeaseTTL, ClientID: "next",
	})
	require.NoError(t, err)
	require.NoError(t, next.Register(b.ctx, f.wf))
	require.NoError(t, next.Start(b.ctx))
	t.Cleanup(func() { _ = next.Stop(context.Background()) })
	b.ctl.waitRun(t, x, "batch", 1, 2).succeed()
	te = b.waitRun(x, "batch", 1, aiflow.TaskSuccess)
	require.Equal(t, 2, te.Attempt)
	require.Len(t, b.runs(x, "batch"), 1, "the same task execution, not a new one")
	require.Equal(t, aiflow.WorkflowSuccess, b.waitExecution(x, aiflow.WorkflowSuccess).Status)
	require.NoError(t, next.Stop(b.ctx))
}

func testLateReportsRefused(t *testing.T, b *bed) {
	f := b.flow("w")
	kept := make(chan *aiflow.TaskContext, 1)
	f.funcTask("t", func(ctx context.Context, tc *aiflow.TaskContext) error {
		if err := tc.ReportStatus(ctx, "working"); err != nil {
			return err
		}
		kept <- tc
		return nil
	})
	f.keepAlive()
	b.register(f.wf)
	x := b.start("w")
	var tc *aiflow.TaskContext
	select {
	case tc = <-kept:
	case <-time.After(waitTimeout):
		t.Fatalf("the task did not run within %s", waitTimeout)
	}
	te := b.waitRun(x, "t", 1, aiflow.TaskSuccess)
	// The operator reports after its run ended: refused, and nothing changes.
	err := tc.ReportStatus(b.ctx, "late")
	require.ErrorIs(t, err, aiflow.ErrConflict)
	err = tc.ReportMetrics(b.ctx, map[string]float64{"late": 1})
	require.ErrorIs(t, err, aiflow.ErrConflict)
	got, gerr := b.client.GetTaskExecution(b.ctx, te.ID)
	require.NoError(t, gerr)
	require.Equal(t, aiflow.TaskSuccess, got.Status, "a finished status is final")
	require.Equal(t, "working", got.StatusMessage)
	require.NotContains(t, got.Metrics, "late")
	require.Equal(t, te.EndedAt, got.EndedAt)
}

func testExecutionKeepsItsVersion(t *testing.T, b *bed) {
	// Version 1: b starts after a.
	v1 := b.flow("w")
	a := v1.task("a")
	v1.task("b").StartAfter(a)
	v1.witnessTask()
	v1.keepAlive()
	b.register(v1.wf)
	x1 := b.start("w")
	ra1 := b.ctl.waitRun(t, x1, "a", 1, 0)
	first := b.execution(x1).Version
	require.NotEmpty(t, first)

	// Version 2: b waits for an event instead, and runs another operator.
	var v2Runs atomic.Int64
	v2 := b.flow("w")
	v2.task("a")
	v2.funcTask("b", func(context.Context, *aiflow.TaskContext) error {
		v2Runs.Add(1)
		return nil
	}).OnEvent("go", aiflow.ActionStart)
	v2.witnessTask()
	v2.keepAlive()
	b.register(v2.wf)
	x2 := b.start("w")
	second := b.execution(x2).Version
	require.NotEqual(t, first, second, "a changed definition is a new version")
	w, err := b.client.GetWorkflow(b.ctx, "", "w")
	require.NoError(t, err)
	require.Equal(t, second, w.Version, "the workflow shows its latest version")
	vs, err := b.client.ListWorkflowVersions(b.ctx, "", "w")
	require.NoError(t, err)
	require.Len(t, vs, 2)
	require.Equal(t, []string{first, second}, []string{vs[0].Version, vs[1].Version})

	// x1 keeps version 1: b starts after a, and runs version 1's operator.
	ra1.succeed()
	b.ctl.waitRun(t, x1, "b", 1, 0).succeed()
	b.waitRun(x1, "b", 1, aiflow.TaskSuccess)
	require.Zero(t, v2Runs.Load(), "x1's b ran version 1's operator")
	require.Equal(t, first, b.execution(x1).Version)

	// x2 runs version 2: a's success does not start b; the event does.
	b.ctl.waitRun(t, x2, "a", 1, 0).succeed()
	b.waitRun(x2, "a", 1, aiflow.TaskSuccess)
	b.witness(x2)
	require.Empty(t, b.runs(x2, "b"), "version 2's b does not start after a")
	b.sendTo(x2, "go", "")
	b.waitRun(x2, "b", 1, aiflow.TaskSuccess)
	require.EqualValues(t, 1, v2Runs.Load(), "x2's b ran version 2's operator")
}
