package conformance

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
)

// These tests run on real time (a store may keep its own clock), with
// one-second ticks.

func testScheduleStartsPeriodicExecutions(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("t", nil)
	f.task("t")
	b.register(f.wf)
	s, err := b.client.AddWorkflowSchedule(b.ctx, "w", "interval@0 0 0 1", nil)
	require.NoError(t, err)
	var xs []aiflow.WorkflowExecution
	b.waitFor("two scheduled executions", func() bool {
		var err error
		xs, err = b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
		require.NoError(t, err)
		return len(xs) >= 2
	})
	for _, x := range xs {
		require.Equal(t, aiflow.RunPeriodic, x.RunType)
		require.Equal(t, s.ID, x.ScheduleID)
	}
	require.NoError(t, b.client.PauseWorkflowSchedule(b.ctx, s.ID))
	got, err := b.client.GetWorkflowSchedule(b.ctx, s.ID)
	require.NoError(t, err)
	require.True(t, got.Paused)
	require.False(t, got.LastFireAt.IsZero())
	n, err := b.client.DeleteWorkflowSchedules(b.ctx, "", "w")
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func testScheduleSkipsOverlapAndDisabled(t *testing.T, b *bed) {
	f := b.flow("w")
	f.task("t") // runs until released: the execution stays RUNNING
	b.register(f.wf)
	_, err := b.client.AddWorkflowSchedule(b.ctx, "w", "interval@0 0 0 1", &aiflow.ScheduleOpts{Overlap: aiflow.OverlapSkip})
	require.NoError(t, err)
	// (A tick missed because the timer ran late is skipped too, with an
	// event of its own: look for the overlap's.)
	b.waitFor("a tick skipped by the overlap policy", func() bool {
		return slices.ContainsFunc(b.events(store.KeyScheduleSkipped), func(ev aiflow.Event) bool {
			return strings.Contains(ev.Value, "overlap policy is skip")
		})
	})
	xs, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
	require.NoError(t, err)
	require.Len(t, xs, 1, "ticks are skipped while an execution runs")

	require.NoError(t, b.client.DisableWorkflow(b.ctx, "", "w"))
	b.ctl.waitRun(t, xs[0].ID, "t", 1, 0).succeed()
	b.waitExecution(xs[0].ID, aiflow.WorkflowSuccess)
	b.waitFor("a tick skipped because the workflow is disabled", func() bool {
		return slices.ContainsFunc(b.events(store.KeyScheduleSkipped), func(ev aiflow.Event) bool {
			return ev.Value == "the workflow is disabled"
		})
	})
	xs, err = b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
	require.NoError(t, err)
	require.Len(t, xs, 1, "a disabled workflow is started by nothing")
}

func testPeriodicTaskRunsDownstreamAfterEachTick(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("tick", nil)
	f.ctl.setAuto("after", nil)
	tick := f.task("tick", aiflow.Periodic("interval@0 0 0 1"))
	f.task("after").StartAfter(tick)
	b.register(f.wf)
	x := b.start("w")
	b.waitRun(x, "after", 3, aiflow.TaskSuccess)
	require.GreaterOrEqual(t, len(b.runs(x, "tick")), 3)
	require.Equal(t, aiflow.WorkflowRunning, b.execution(x).Status, "a periodic task keeps its execution running")
	require.NoError(t, b.client.StopWorkflowExecution(b.ctx, x))
	require.Equal(t, aiflow.WorkflowStopped, b.waitExecution(x, aiflow.WorkflowStopped).Status)
}

func testTriggerWithStateStartsEventExecutions(t *testing.T, b *bed) {
	f := b.flow("target")
	f.ctl.setAuto("t", nil)
	f.task("t")
	b.register(f.wf)
	every2, err := b.client.AddWorkflowTrigger(b.ctx, "target", "every-second", sumTo{limit: 2}, nil)
	require.NoError(t, err)
	witness, err := b.client.AddWorkflowTrigger(b.ctx, "target", "witness", aiflow.EventCondition("witness"), nil)
	require.NoError(t, err)
	count := func(trigger int64) int {
		xs, err := b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "target"})
		require.NoError(t, err)
		n := 0
		for _, x := range xs {
			if x.TriggerID == trigger {
				require.Equal(t, aiflow.RunEvent, x.RunType)
				n++
			}
		}
		return n
	}
	sync := func(n int) { // every earlier event has reached the triggers
		b.send("witness", "")
		b.waitFor("the witness execution", func() bool { return count(witness.ID) == n })
	}
	b.send("n", "1")
	sync(1)
	require.Zero(t, count(every2.ID))
	b.send("n", "1") // the sum is kept per workflow across events
	b.waitFor("the triggered execution", func() bool { return count(every2.ID) == 1 })
	require.NoError(t, b.client.PauseWorkflowTrigger(b.ctx, every2.ID))
	b.send("n", "5")
	sync(2)
	require.Equal(t, 1, count(every2.ID), "a paused trigger is not evaluated")
	require.NoError(t, b.client.ResumeWorkflowTrigger(b.ctx, every2.ID))
	b.send("n", "1")
	b.waitFor("the second triggered execution", func() bool { return count(every2.ID) == 2 })
	list, err := b.client.ListWorkflowTriggers(b.ctx, "", "target")
	require.NoError(t, err)
	require.Len(t, list, 2)
}

// testPruneFirings calls the store directly: firing records are pruned by
// age and rank, and a pruned tick fires again if tried (which is why the
// leader keeps what a later firing may be checked against).
func testPruneFirings(t *testing.T, b *bed) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fire := func(key string, s int) bool {
		b.t.Helper()
		ok, err := b.st.FireTimer(b.ctx, store.Firing{Key: key, At: base.Add(time.Duration(s) * time.Second),
			Event: store.Event{Kind: store.KindUser, Namespace: "default", Key: "probe", Value: key, Sender: "conformance"}})
		require.NoError(t, err)
		return ok
	}
	for s := 1; s <= 4; s++ {
		require.True(t, fire("conformance:live", s))
		require.True(t, fire("conformance:gone", s))
	}
	require.True(t, fire("conformance:zero", 1))
	keep := map[string]int{"conformance:live": 2, "conformance:zero": 0}
	n, err := b.st.PruneFirings(b.ctx, keep, time.Hour)
	require.NoError(t, err)
	require.Zero(t, n, "records younger than minAge stay")
	require.False(t, fire("conformance:gone", 1))

	n, err = b.st.PruneFirings(b.ctx, keep, 0)
	require.NoError(t, err)
	require.Equal(t, 6, n, "the two oldest of the live key and every record of the other")
	require.False(t, fire("conformance:live", 3), "the latest records of a kept key stay")
	require.False(t, fire("conformance:live", 4))
	require.True(t, fire("conformance:live", 2), "a pruned tick fires again")
	require.True(t, fire("conformance:gone", 4))
	require.False(t, fire("conformance:zero", 1), "a kept key keeps its latest record at least")
	b.waitFor("the eleven probe events listed", func() bool { return len(b.events("probe")) == 11 })
}

// tick is a schedule_tick or schedule_skipped event with its payload.
type tick struct {
	ev store.Event
	d  store.TickData
}

// ticks lists the events with key (schedule_tick or schedule_skipped) in log
// order, with their payloads.
func (b *bed) ticks(key string) []tick {
	b.t.Helper()
	var out []tick
	f := store.EventFilter{Keys: []string{key}}
	for {
		evs, next, err := b.st.ListEvents(b.ctx, f)
		require.NoError(b.t, err)
		for _, ev := range evs {
			var d store.TickData
			require.NoError(b.t, json.Unmarshal(ev.Data, &d))
			out = append(out, tick{ev, d})
		}
		if next == f.After {
			return out
		}
		f.After = next
	}
}

// waitUntil waits for the wall clock to pass at: real-time ticks fall due
// meanwhile (the thing under test, not a synchronisation).
func (b *bed) waitUntil(what string, at time.Time) {
	b.t.Helper()
	b.waitFor(what, func() bool { return time.Now().After(at) })
}

// otherClient starts another client on the test's store, with wfs; its ID is
// the bed client's followed by "-" and name. The test's end stops it.
func (b *bed) otherClient(name string, wfs ...*aiflow.Workflow) *aiflow.Client {
	b.t.Helper()
	cfg := *b.cfg
	cfg.ClientID = b.client.ID() + "-" + name
	c, err := aiflow.New(&cfg)
	require.NoError(b.t, err)
	require.NoError(b.t, c.Register(b.ctx, wfs...))
	require.NoError(b.t, c.Start(b.ctx))
	b.t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}

func testScheduleCatchUp(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("t", nil)
	f.task("t")
	b.register(f.wf)
	require.NoError(t, b.client.Stop(b.ctx)) // no client leads from now on
	s, err := b.reader.AddWorkflowSchedule(b.ctx, "w", "interval@0 0 0 1", &aiflow.ScheduleOpts{CatchUp: 2})
	require.NoError(t, err)
	anchor := s.CreatedAt.Truncate(time.Second)
	b.waitUntil("three ticks due with no leader", anchor.Add(3500*time.Millisecond))

	g := b.flow("w")
	g.task("t")
	b.otherClient("second", g.wf)
	b.waitFor("three ticks", func() bool { return len(b.ticks(store.KeyScheduleTick)) >= 3 })
	skipped := b.ticks(store.KeyScheduleSkipped)
	require.NotEmpty(t, skipped, "the ticks beyond CatchUp are recorded as skipped")
	first := skipped[0].d
	require.Equal(t, s.ID, first.ScheduleID)
	require.True(t, first.FirstMissed.Equal(anchor.Add(time.Second)), "the first missed tick is the schedule's first: %s", first.FirstMissed)
	require.Positive(t, first.Missed)
	require.True(t, first.FireTime.Equal(anchor.Add(time.Duration(first.Missed)*time.Second)), "%+v", first)
	ticks := b.ticks(store.KeyScheduleTick)
	for i, tk := range ticks[:3] {
		require.True(t, tk.d.FireTime.Equal(first.FireTime.Add(time.Duration(i+1)*time.Second)),
			"tick %d at %s: the ticks after the skipped ones, none missing", i, tk.d.FireTime)
	}
	require.GreaterOrEqual(t, ticks[0].ev.Time.Sub(ticks[0].d.FireTime), time.Second,
		"the first tick fired late: it was caught up (the last two due when the leader started are)")
	xs, err := b.reader.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "w"})
	require.NoError(t, err)
	for _, x := range xs {
		require.Equal(t, aiflow.RunPeriodic, x.RunType)
	}
}

func testScheduleResumeFiresNoPausedTick(t *testing.T, b *bed) {
	f := b.flow("w")
	f.ctl.setAuto("t", nil)
	f.task("t")
	b.register(f.wf)
	s, err := b.client.AddWorkflowSchedule(b.ctx, "w", "interval@0 0 0 1", &aiflow.ScheduleOpts{CatchUp: 5, TimeZone: "Europe/Paris"})
	require.NoError(t, err)
	require.Equal(t, "Europe/Paris", s.TimeZone)
	b.waitFor("a tick", func() bool { return len(b.ticks(store.KeyScheduleTick)) >= 1 })
	require.NoError(t, b.client.PauseWorkflowSchedule(b.ctx, s.ID))
	pausedAt := time.Now()
	b.waitUntil("two ticks due while paused", pausedAt.Add(2500*time.Millisecond))
	resumedAt := time.Now()
	require.NoError(t, b.client.ResumeWorkflowSchedule(b.ctx, s.ID))
	got, err := b.client.GetWorkflowSchedule(b.ctx, s.ID)
	require.NoError(t, err)
	require.False(t, got.Paused)
	require.False(t, got.ResumedAt.IsZero())
	require.Equal(t, "Europe/Paris", got.TimeZone)
	b.waitFor("a tick after the resume", func() bool {
		return slices.ContainsFunc(b.ticks(store.KeyScheduleTick), func(tk tick) bool { return tk.d.FireTime.After(resumedAt) })
	})
	for _, tk := range b.ticks(store.KeyScheduleTick) {
		require.False(t, tk.d.FireTime.After(pausedAt) && tk.d.FireTime.Before(resumedAt),
			"tick at %s fell due while paused (%s to %s) and fired although CatchUp is 5", tk.d.FireTime, pausedAt, resumedAt)
	}
	for _, tk := range b.ticks(store.KeyScheduleSkipped) {
		if tk.d.Missed > 0 {
			require.True(t, !tk.d.FireTime.After(pausedAt) || !tk.d.FirstMissed.Before(resumedAt),
				"paused ticks are not missed ticks: %+v", tk.d)
		}
	}
}

func testTriggerSeesOtherWorkflowsEvents(t *testing.T, b *bed) {
	src := b.flow("source")
	src.funcTask("send", func(ctx context.Context, tc *aiflow.TaskContext) error {
		_, err := tc.SendEvent(ctx, "go", "from source", nil) // scoped to source's own execution
		return err
	})
	tgt := b.flow("target")
	tgt.ctl.setAuto("t", nil)
	tgt.task("t")
	b.register(src.wf, tgt.wf)
	tr, err := b.client.AddWorkflowTrigger(b.ctx, "target", "on-go", aiflow.EventCondition("go"), nil)
	require.NoError(t, err)
	x := b.start("source")
	require.Equal(t, aiflow.WorkflowSuccess, b.waitExecution(x, aiflow.WorkflowSuccess).Status)
	var xs []aiflow.WorkflowExecution
	b.waitFor("the triggered execution of target", func() bool {
		xs, err = b.client.ListWorkflowExecutions(b.ctx, &aiflow.ExecutionFilter{Workflow: "target"})
		require.NoError(t, err)
		return len(xs) >= 1
	})
	require.Len(t, xs, 1)
	require.Equal(t, aiflow.RunEvent, xs[0].RunType)
	require.Equal(t, tr.ID, xs[0].TriggerID)
}
