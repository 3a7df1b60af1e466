package aiflow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/memory"
)

func TestScheduleIntervalTicks(t *testing.T) {
	t.Parallel()
	b := newTimerBed(t, nil, nil, quickWorkflow("w"))
	s, err := b.client.AddWorkflowSchedule(b.ctx, "w", "interval@0 0 0 10", nil)
	require.NoError(t, err)
	require.Equal(t, aiflow.OverlapAllow, s.Overlap)
	key := "schedule:" + strconv.FormatInt(s.ID, 10)

	at := b.waitArmed(key, time.Time{}, false)
	require.Equal(t, t0.Add(10*time.Second), at, "ticks are anchored at the schedule's creation")
	b.advanceTo(at)
	xs := b.waitExecutions("w", 1)
	require.Equal(t, aiflow.RunPeriodic, xs[0].RunType)
	require.Equal(t, s.ID, xs[0].ScheduleID)

	at2 := b.waitArmed(key, at, false)
	require.Equal(t, t0.Add(20*time.Second), at2)
	b.advanceTo(at2)
	b.waitExecutions("w", 2)

	got, err := b.client.GetWorkflowSchedule(b.ctx, s.ID)
	require.NoError(t, err)
	require.Equal(t, at2, got.LastFireAt)
}

func TestScheduleCronTicks(t *testing.T) {
	t.Parallel()
	b := newTimerBed(t, nil, nil, quickWorkflow("w"))
	s, err := b.client.AddWorkflowSchedule(b.ctx, "w", "cron@*/5 * * * *", nil)
	require.NoError(t, err)
	key := "schedule:" + strconv.FormatInt(s.ID, 10)
	at := b.waitArmed(key, time.Time{}, false)
	require.Equal(t, t0.Add(5*time.Minute), at)
	b.advanceTo(at)
	b.waitExecutions("w", 1)
	require.Equal(t, t0.Add(10*time.Minute), b.waitArmed(key, at, false))
}

func TestScheduleTimeZone(t *testing.T) {
	t.Parallel()
	b := newTimerBed(t, nil, nil, quickWorkflow("w"))
	s, err := b.client.AddWorkflowSchedule(b.ctx, "w", "cron@0 9 * * *", &aiflow.ScheduleOpts{TimeZone: "Asia/Tokyo"})
	require.NoError(t, err)
	at := b.waitArmed("schedule:"+strconv.FormatInt(s.ID, 10), time.Time{}, false)
	// The clock starts at midnight UTC, which is 09:00 in Tokyo: the next
	// tick is the next day's, strictly after now.
	require.Equal(t, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), at.UTC())
}

func TestScheduleBadExpressions(t *testing.T) {
	t.Parallel()
	b := newTimerBed(t, nil, nil, quickWorkflow("w"))
	for _, expr := range []string{"cron@* * *", "interval@0 0 0 0", "interval@-1 0 0 0", "every 5 minutes"} {
		_, err := b.client.AddWorkflowSchedule(b.ctx, "w", expr, nil)
		require.ErrorIs(t, err, aiflow.ErrInvalid, expr)
		require.ErrorContains(t, err, strconv.Quote(expr))
		require.ErrorContains(t, err, "interval@<days> <hours> <minutes> <seconds>")
	}
	_, err := b.client.AddWorkflowSchedule(b.ctx, "w", "cron@0 0 * * *", &aiflow.ScheduleOpts{TimeZone: "Mars/Olympus"})
	require.ErrorIs(t, err, aiflow.ErrInvalid)
	require.ErrorContains(t, err, `time zone "Mars/Olympus"`)
	_, err = b.client.AddWorkflowSchedule(b.ctx, "w", "cron@0 0 * * *", &aiflow.ScheduleOpts{Overlap: "queue"})
	require.ErrorContains(t, err, `overlap policy "queue"`)
	_, err = b.client.AddWorkflowSchedule(b.ctx, "w", "cron@0 0 * * *", &aiflow.ScheduleOpts{CatchUp: -1})
	require.ErrorContains(t, err, "CatchUp -1")
	_, err = b.client.AddWorkflowSchedule(b.ctx, "nope", "cron@0 0 * * *", nil)
	require.ErrorIs(t, err, aiflow.ErrWorkflowNotFound)

	wf := aiflow.NewWorkflow("p")
	wf.Task("t", operators.Bash("true"), aiflow.Periodic("cron@61 * * * *"))
	err = b.client.Register(b.ctx, wf)
	require.ErrorIs(t, err, aiflow.ErrInvalidWorkflow)
	require.ErrorContains(t, err, `task "t": Periodic: invalid schedule expression "cron@61 * * * *"`)
}

func TestSchedulePauseResumeDelete(t *testing.T) {
	t.Parallel()
	b := newTimerBed(t, nil, nil, quickWorkflow("w"))
	s, err := b.client.AddWorkflowSchedule(b.ctx, "w", "interval@0 0 0 10", nil)
	require.NoError(t, err)
	key := "schedule:" + strconv.FormatInt(s.ID, 10)
	b.waitArmed(key, time.Time{}, false)

	require.NoError(t, b.client.PauseWorkflowSchedule(b.ctx, s.ID))
	b.waitArmed(key, time.Time{}, true)
	got, _ := b.client.GetWorkflowSchedule(b.ctx, s.ID)
	require.True(t, got.Paused)
	b.advanceTo(t0.Add(35 * time.Second)) // three ticks pass while paused
	require.Empty(t, b.executions("w"), "a paused schedule does not fire")

	require.NoError(t, b.client.ResumeWorkflowSchedule(b.ctx, s.ID))
	at := b.waitArmed(key, time.Time{}, false)
	require.Equal(t, t0.Add(40*time.Second), at, "ticks missed while paused are not fired")
	b.advanceTo(at)
	b.waitExecutions("w", 1)

	list, err := b.client.ListWorkflowSchedules(b.ctx, "", "w")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.NoError(t, b.client.DeleteWorkflowSchedule(b.ctx, s.ID))
	b.waitArmed(key, time.Time{}, true)
	_, err = b.client.GetWorkflowSchedule(b.ctx, s.ID)
	require.ErrorIs(t, err, aiflow.ErrNotFound)
	b.advanceTo(t0.Add(80 * time.Second))
	require.Len(t, b.executions("w"), 1, "a deleted schedule does not fire")

	// Several schedules per workflow; delete them all.
	for _, e := range []string{"interval@0 0 1 0", "cron@0 * * * *"} {
		_, err := b.client.AddWorkflowSchedule(b.ctx, "w", e, nil)
		require.NoError(t, err)
	}
	n, err := b.client.DeleteWorkflowSchedules(b.ctx, "", "w")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	list, _ = b.client.ListWorkflowSchedules(b.ctx, "", "w")
	require.Empty(t, list)
}

// blockingWorkflow has one task that runs until released or stopped.
func blockingWorkflow(name string, release <-chan struct{}) *aiflow.Workflow {
	wf := aiflow.NewWorkflow(name)
	wf.Task("t", operators.Func(func(ctx context.Context, _ *aiflow.TaskContext) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}))
	return wf
}

func TestScheduleOverlapPolicies(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	b := newTimerBed(t, nil, nil, blockingWorkflow("skip", release), blockingWorkflow("allow", release))
	skip, err := b.client.AddWorkflowSchedule(b.ctx, "skip", "interval@0 0 0 10", &aiflow.ScheduleOpts{Overlap: aiflow.OverlapSkip})
	require.NoError(t, err)
	allow, err := b.client.AddWorkflowSchedule(b.ctx, "allow", "interval@0 0 0 10", nil)
	require.NoError(t, err)
	for tick := 1; tick <= 2; tick++ {
		at := t0.Add(time.Duration(tick) * 10 * time.Second)
		b.waitArmed("schedule:"+strconv.FormatInt(skip.ID, 10), at.Add(-time.Second), false)
		b.waitArmed("schedule:"+strconv.FormatInt(allow.ID, 10), at.Add(-time.Second), false)
		b.advanceTo(at)
		b.waitExecutions("allow", tick)
		if tick == 1 {
			b.waitExecutions("skip", 1)
		}
	}
	b.waitFor("the skipped tick", func() bool { return len(b.events(aiflow.KeyScheduleSkipped)) == 1 })
	ev := b.events(aiflow.KeyScheduleSkipped)[0]
	require.Equal(t, "skip", ev.Workflow)
	require.Contains(t, ev.Value, "overlap policy is skip")
	require.Len(t, b.executions("skip"), 1, "the second tick was skipped while the first execution runs")
	close(release)
}

func TestScheduleCatchUpAfterNoLeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		catchUp int
		want    []time.Time // nominal fire times of the executions
		skipped store.TickData
	}{
		{"skip", 0, []time.Time{t0.Add(70 * time.Second)},
			store.TickData{FireTime: t0.Add(60 * time.Second), Missed: 6, FirstMissed: t0.Add(10 * time.Second)}},
		{"catch up 3", 3, []time.Time{t0.Add(40 * time.Second), t0.Add(50 * time.Second), t0.Add(60 * time.Second), t0.Add(70 * time.Second)},
			store.TickData{FireTime: t0.Add(30 * time.Second), Missed: 3, FirstMissed: t0.Add(10 * time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := clockwork.NewFakeClockAt(t0)
			st := memory.New(&memory.Config{Clock: clock})
			first := newTimerBed(t, st, clock, quickWorkflow("w"))
			s, err := first.client.AddWorkflowSchedule(first.ctx, "w", "interval@0 0 0 10", &aiflow.ScheduleOpts{CatchUp: tc.catchUp})
			require.NoError(t, err)
			first.waitArmed("schedule:"+strconv.FormatInt(s.ID, 10), time.Time{}, false)
			require.NoError(t, first.client.Stop(first.ctx)) // no leader from now on
			clock.Advance(65 * time.Second)                  // six ticks pass with no client running

			second := newTimerBed(t, st, clock, quickWorkflow("w"))
			key := "schedule:" + strconv.FormatInt(s.ID, 10)
			at := second.waitArmed(key, time.Time{}, false)
			require.Equal(t, t0.Add(70*time.Second), at)
			second.advanceTo(at)
			xs := second.waitExecutions("w", len(tc.want))
			var fired []time.Time
			for _, ev := range second.events(aiflow.KeyScheduleTick) {
				var d store.TickData
				require.NoError(t, json.Unmarshal([]byte(mustData(t, second, ev.ID)), &d))
				fired = append(fired, d.FireTime)
			}
			require.Equal(t, tc.want, fired)
			tc.skipped.ScheduleID, tc.skipped.Overlap = s.ID, aiflow.OverlapAllow
			require.Equal(t, []store.TickData{tc.skipped}, second.skippedTicks(), "the ticks not caught up are recorded as skipped")
			require.Contains(t, second.events(store.KeyScheduleSkipped)[0].Value, "missed tick(s)")
			for _, x := range xs {
				require.Equal(t, aiflow.RunPeriodic, x.RunType)
			}
		})
	}
}

// mustData returns the JSON payload of an event, read from the store.
func mustData(t *testing.T, b *timerBed, id int64) string {
	t.Helper()
	evs, _, err := b.st.ListEvents(b.ctx, store.EventFilter{})
	require.NoError(t, err)
	for _, ev := range evs {
		if ev.ID == id {
			return string(ev.Data)
		}
	}
	t.Fatalf("event %d not found", id)
	return ""
}

func TestPeriodicTaskWithDownstream(t *testing.T) {
	t.Parallel()
	wf := aiflow.NewWorkflow("p")
	ok := func(context.Context, *aiflow.TaskContext) error { return nil }
	tick := wf.Task("tick", operators.Func(ok), aiflow.Periodic("interval@0 0 0 30"))
	wf.Task("after", operators.Func(ok)).StartAfter(tick)
	b := newTimerBed(t, nil, nil, wf)

	id, err := b.client.StartWorkflowExecution(b.ctx, "p", nil)
	require.NoError(t, err)
	key := fmt.Sprintf("periodic:%d:tick", id)
	runs := func(task string) []aiflow.TaskExecution {
		tes, err := b.client.ListTaskExecutions(b.ctx, &aiflow.TaskExecutionFilter{ExecutionID: id, Task: task})
		require.NoError(t, err)
		return tes
	}
	settled := func(n int) func() bool {
		return func() bool {
			r := runs("after")
			return len(r) == n && r[n-1].Status == aiflow.TaskSuccess
		}
	}
	b.waitFor("the first runs", settled(1))
	at := b.waitArmed(key, time.Time{}, false)
	require.Equal(t, t0.Add(30*time.Second), at)
	for i := 2; i <= 3; i++ {
		b.advanceTo(at)
		b.waitFor(fmt.Sprintf("run %d of tick and after", i), settled(i))
		at = b.waitArmed(key, at, false)
	}
	require.Len(t, runs("tick"), 3)
	x, err := b.client.GetWorkflowExecution(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowRunning, x.Status, "a periodic task keeps its execution running")

	require.NoError(t, b.client.StopWorkflowExecution(b.ctx, id))
	b.waitArmed(key, time.Time{}, true)
	b.advanceTo(at.Add(time.Minute))
	require.Len(t, runs("tick"), 3, "the timer went away with the execution")
	x, _ = b.client.GetWorkflowExecution(b.ctx, id)
	require.Equal(t, aiflow.WorkflowStopped, x.Status)
}

func TestPeriodicTaskRestartsARunningOne(t *testing.T) {
	t.Parallel()
	wf := aiflow.NewWorkflow("p")
	wf.Task("stream", operators.Func(func(ctx context.Context, _ *aiflow.TaskContext) error {
		<-ctx.Done()
		return nil
	}), aiflow.Periodic("interval@0 0 1 0"))
	b := newTimerBed(t, nil, nil, wf)
	id, err := b.client.StartWorkflowExecution(b.ctx, "p", nil)
	require.NoError(t, err)
	at := b.waitArmed(fmt.Sprintf("periodic:%d:stream", id), time.Time{}, false)
	runs := func() []aiflow.TaskExecution {
		tes, _ := b.client.ListTaskExecutions(b.ctx, &aiflow.TaskExecutionFilter{ExecutionID: id})
		return tes
	}
	b.waitFor("run 1 running", func() bool { r := runs(); return len(r) == 1 && r[0].Status == aiflow.TaskRunning })
	b.advanceTo(at)
	b.waitFor("run 1 stopped and run 2 running", func() bool {
		r := runs()
		return len(r) == 2 && r[0].Status == aiflow.TaskStopped && r[1].Status == aiflow.TaskRunning
	})
}

func TestDisabledWorkflowIsStartedByNothing(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	b := newTimerBed(t, nil, nil, blockingWorkflow("w", release))
	running, err := b.client.StartWorkflowExecution(b.ctx, "w", nil)
	require.NoError(t, err)
	s, err := b.client.AddWorkflowSchedule(b.ctx, "w", "interval@0 0 0 10", nil)
	require.NoError(t, err)
	_, err = b.client.AddWorkflowTrigger(b.ctx, "w", "tr", aiflow.EventCondition("go"), nil)
	require.NoError(t, err)
	require.NoError(t, b.client.DisableWorkflow(b.ctx, "", "w"))

	_, err = b.client.StartWorkflowExecution(b.ctx, "w", nil)
	require.ErrorIs(t, err, aiflow.ErrWorkflowDisabled)
	at := b.waitArmed("schedule:"+strconv.FormatInt(s.ID, 10), time.Time{}, false)
	b.advanceTo(at)
	b.waitFor("the skipped tick", func() bool { return len(b.events(aiflow.KeyScheduleSkipped)) == 1 })
	_, err = b.client.SendEvent(b.ctx, "go", "", nil)
	require.NoError(t, err)
	b.waitFor("the skipped trigger", func() bool { return len(b.events(aiflow.KeyTriggerSkipped)) == 1 })
	require.Len(t, b.executions("w"), 1, "only the execution started before disabling")

	close(release) // the running execution goes on and finishes
	x, err := b.client.WaitWorkflowExecution(b.ctx, running)
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowSuccess, x.Status)

	require.NoError(t, b.client.EnableWorkflow(b.ctx, "", "w"))
	_, err = b.client.StartWorkflowExecution(b.ctx, "w", nil)
	require.NoError(t, err)
}

// tickTimes returns the nominal fire times of the schedule_tick events, in
// log order.
func (b *timerBed) tickTimes() []time.Time {
	b.t.Helper()
	var out []time.Time
	for _, ev := range b.events(store.KeyScheduleTick) {
		var d store.TickData
		require.NoError(b.t, json.Unmarshal([]byte(mustData(b.t, b, ev.ID)), &d))
		out = append(out, d.FireTime)
	}
	return out
}

func secs(ns ...int) []time.Time {
	out := make([]time.Time, len(ns))
	for i, n := range ns {
		out[i] = t0.Add(time.Duration(n) * time.Second)
	}
	return out
}

func TestScheduleResumeDoesNotCatchUpPausedTicks(t *testing.T) {
	t.Parallel()
	b := newTimerBed(t, nil, nil, quickWorkflow("w"))
	s, err := b.client.AddWorkflowSchedule(b.ctx, "w", "interval@0 0 0 10", &aiflow.ScheduleOpts{CatchUp: 5})
	require.NoError(t, err)
	key := "schedule:" + strconv.FormatInt(s.ID, 10)
	at := b.waitArmed(key, time.Time{}, false)
	b.advanceTo(at)
	b.waitExecutions("w", 1)
	at = b.waitArmed(key, at, false)

	require.NoError(t, b.client.PauseWorkflowSchedule(b.ctx, s.ID))
	b.waitArmed(key, time.Time{}, true)
	b.advanceTo(t0.Add(55 * time.Second)) // the ticks at 20 to 50 s pass while paused
	require.NoError(t, b.client.ResumeWorkflowSchedule(b.ctx, s.ID))
	at = b.waitArmed(key, at, false)
	require.Equal(t, t0.Add(60*time.Second), at)
	// Missed ticks are fired before the next one is armed: none was.
	require.Equal(t, secs(10), b.tickTimes(), "ticks missed while paused are not fired, whatever CatchUp")
	b.advanceTo(at)
	b.waitExecutions("w", 2)
	require.Equal(t, secs(10, 60), b.tickTimes())
	require.Empty(t, b.events(store.KeyScheduleSkipped), "paused ticks are not missed ticks")
}

func TestScheduleCatchesUpTicksMissedAfterAResume(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClockAt(t0)
	st := memory.New(&memory.Config{Clock: clock})
	first := newTimerBed(t, st, clock, quickWorkflow("w"))
	s, err := first.client.AddWorkflowSchedule(first.ctx, "w", "interval@0 0 0 10", &aiflow.ScheduleOpts{CatchUp: 5})
	require.NoError(t, err)
	key := "schedule:" + strconv.FormatInt(s.ID, 10)
	at := first.waitArmed(key, time.Time{}, false)
	first.advanceTo(at)
	first.waitExecutions("w", 1)
	require.NoError(t, first.client.PauseWorkflowSchedule(first.ctx, s.ID))
	require.NoError(t, first.client.Stop(first.ctx))                    // no leader from now on
	clock.Advance(25 * time.Second)                                     // 35 s: the ticks at 20 and 30 s pass while paused
	resumer, err := aiflow.New(&aiflow.Config{Store: st, Clock: clock}) // not started: a stopped client refuses calls
	require.NoError(t, err)
	require.NoError(t, resumer.ResumeWorkflowSchedule(first.ctx, s.ID))
	clock.Advance(30 * time.Second) // 65 s: the ticks at 40 to 60 s pass with no leader

	second := newTimerBed(t, st, clock, quickWorkflow("w"))
	at = second.waitArmed(key, time.Time{}, false)
	require.Equal(t, t0.Add(70*time.Second), at)
	require.Equal(t, secs(10, 40, 50, 60), second.tickTimes(), "ticks missed after the resume are caught up, not those paused")
	second.waitExecutions("w", 4)
}

// skippedTicks decodes the schedule_skipped events of missed ticks.
func (b *timerBed) skippedTicks() []store.TickData {
	b.t.Helper()
	var out []store.TickData
	for _, ev := range b.events(store.KeyScheduleSkipped) {
		var d store.TickData
		require.NoError(b.t, json.Unmarshal([]byte(mustData(b.t, b, ev.ID)), &d))
		out = append(out, d)
	}
	return out
}

func TestScheduleLateTimerAppliesTheMissedTickPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		catchUp int
		fired   []time.Time
		skipped []store.TickData
	}{
		{"catch up 5", 5, secs(10, 20, 30, 40), nil},
		{"catch up 1", 1, secs(10, 40), []store.TickData{{FireTime: t0.Add(30 * time.Second), Missed: 2, FirstMissed: t0.Add(20 * time.Second)}}},
		{"skip", 0, secs(10), []store.TickData{{FireTime: t0.Add(40 * time.Second), Missed: 3, FirstMissed: t0.Add(20 * time.Second)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newTimerBed(t, nil, nil, quickWorkflow("w"))
			s, err := b.client.AddWorkflowSchedule(b.ctx, "w", "interval@0 0 0 10", &aiflow.ScheduleOpts{CatchUp: tc.catchUp})
			require.NoError(t, err)
			key := "schedule:" + strconv.FormatInt(s.ID, 10)
			at := b.waitArmed(key, time.Time{}, false)
			require.Equal(t, t0.Add(10*time.Second), at)
			b.advanceTo(t0.Add(45 * time.Second)) // the timer rings 35 s late
			require.Equal(t, t0.Add(50*time.Second), b.waitArmed(key, at, false))
			require.Equal(t, tc.fired, b.tickTimes())
			for i := range tc.skipped {
				tc.skipped[i].ScheduleID, tc.skipped[i].Overlap = s.ID, aiflow.OverlapAllow
			}
			require.Equal(t, tc.skipped, b.skippedTicks(), "ticks not caught up are recorded as skipped")
			b.waitExecutions("w", len(tc.fired))
			got, err := b.client.GetWorkflowSchedule(b.ctx, s.ID)
			require.NoError(t, err)
			require.Equal(t, t0.Add(40*time.Second), got.LastFireAt, "every missed tick was handled")
		})
	}
}

func TestLeaderPrunesFiringRecords(t *testing.T) {
	t.Parallel()
	p := aiflow.NewWorkflow("p")
	p.Task("tick", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil }), aiflow.Periodic("interval@0 0 0 10"))
	b := newTimerBed(t, nil, nil, quickWorkflow("w"), p)
	add := func(catchUp int) string {
		s, err := b.client.AddWorkflowSchedule(b.ctx, "w", "interval@0 0 0 10", &aiflow.ScheduleOpts{CatchUp: catchUp})
		require.NoError(t, err)
		return "schedule:" + strconv.FormatInt(s.ID, 10)
	}
	live, deleted, paused := add(0), add(0), add(2)
	x, err := b.client.StartWorkflowExecution(b.ctx, "p", nil)
	require.NoError(t, err)
	periodic := fmt.Sprintf("periodic:%d:tick", x)
	keys := []string{live, deleted, paused, periodic}
	for _, tick := range secs(10, 20, 30) {
		for _, k := range keys {
			b.waitArmed(k, tick.Add(-time.Second), false)
		}
		b.advanceTo(tick)
	}
	for _, k := range keys {
		b.waitArmed(k, t0.Add(30*time.Second), false) // every timer fired the tick at 30 s
	}
	id := func(key string) int64 {
		n, err := strconv.ParseInt(strings.TrimPrefix(key, "schedule:"), 10, 64)
		require.NoError(t, err)
		return n
	}
	require.NoError(t, b.client.PauseWorkflowSchedule(b.ctx, id(paused)))
	require.NoError(t, b.client.DeleteWorkflowSchedule(b.ctx, id(deleted)))
	require.NoError(t, b.client.StopWorkflowExecution(b.ctx, x))
	for _, k := range keys[1:] {
		b.waitArmed(k, time.Time{}, true)
	}

	// refire tries a tick again, as a stale leader would, with an inert
	// event: it fires only if the tick's record is gone.
	refire := func(key string, at time.Time) bool {
		ok, err := b.st.FireTimer(b.ctx, store.Firing{Key: key, At: at,
			Event: store.Event{Kind: store.KindUser, Namespace: "default", Key: "probe", Sender: "test"}})
		require.NoError(t, err)
		return ok
	}
	for _, k := range keys {
		require.False(t, refire(k, t0.Add(10*time.Second)), "%s: nothing is pruned before the retention", k)
	}
	b.advanceTo(t0.Add(2 * time.Hour)) // past the retention: the leader prunes
	b.waitFor("the records of the deleted schedule pruned", func() bool { return refire(deleted, t0.Add(30*time.Second)) })
	require.True(t, refire(periodic, t0.Add(30*time.Second)), "the records of a finished execution's timer are pruned")
	require.True(t, refire(live, t0.Add(10*time.Second)), "old records of a live schedule are pruned")
	require.True(t, refire(paused, t0.Add(10*time.Second)))
	require.False(t, refire(paused, t0.Add(20*time.Second)), "a schedule's latest CatchUp records are kept")
	require.False(t, refire(paused, t0.Add(30*time.Second)))
}
