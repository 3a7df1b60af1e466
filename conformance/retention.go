package conformance

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
)

// leaderRetention is the Config.Retention of the test of the leader's
// pruning: short, so that the leader prunes every few tens of milliseconds.
const leaderRetention = 300 * time.Millisecond

// retentionFlows registers "done" (one task that logs a line and succeeds)
// and "live" (a task that logs a line and succeeds, and one waiting for an
// event that never comes, so the execution stays RUNNING).
func retentionFlows(b *bed) {
	logged := func(_ context.Context, tc *aiflow.TaskContext) error {
		fmt.Fprintln(tc.Log, "work done")
		return nil
	}
	done := b.flow("done")
	done.funcTask("work", logged)
	live := b.flow("live")
	live.funcTask("work", logged)
	live.keepAlive()
	b.register(done.wf, live.wf)
}

// gone reports whether an execution was deleted. It reads the store, so
// that it works after the client has stopped.
func (b *bed) gone(id int64) bool {
	b.t.Helper()
	_, err := b.st.GetExecution(b.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return true
	}
	require.NoError(b.t, err)
	return false
}

// taskGone reports whether a task execution was deleted, with its log (read
// from the store, as gone).
func (b *bed) taskGone(id int64) bool {
	b.t.Helper()
	_, errTE := b.st.GetTaskExecution(b.ctx, id)
	_, _, errLog := b.st.ReadTaskLog(b.ctx, id, 0, 0)
	if errors.Is(errTE, store.ErrNotFound) {
		require.ErrorIs(b.t, errLog, store.ErrNotFound, "the log goes with its task execution")
		return true
	}
	require.NoError(b.t, errTE)
	return false
}

// decisions returns the engine's recorded decisions about an execution's
// tasks, read from the store.
func (b *bed) decisions(id int64) []store.Decision {
	b.t.Helper()
	ds, err := b.st.ListDecisions(b.ctx, id, "")
	require.NoError(b.t, err)
	return ds
}

// testPruneKeepsRecentUnconsumedAndRunning prunes through the store with
// cut-offs taken from the store's own times (so that both stores, whatever
// their clock, are cut at the same point): records older than the cut-off
// go; recent ones, the records of a running execution, and events no
// partition has consumed stay; a dry run deletes nothing.
func testPruneKeepsRecentUnconsumedAndRunning(t *testing.T, b *bed) {
	retentionFlows(b)
	live := b.start("live")
	liveWork := b.waitRun(live, "work", 1, aiflow.TaskSuccess)
	old := b.start("done")
	b.waitExecution(old, aiflow.WorkflowSuccess)
	oldWork := b.runs(old, "work")[0]
	b.send("before", "1")

	// The cut-off: the time of an event appended after all of the above.
	mark, err := b.client.SendEvent(b.ctx, "mark", "", nil)
	require.NoError(t, err)
	cut := mark.Time

	recent := b.start("done")
	b.waitExecution(recent, aiflow.WorkflowSuccess)
	b.send("after", "1")
	b.eventsN("after", 1)
	before := len(b.events(""))

	// A dry run counts and deletes nothing.
	p := store.PruneParams{EventsBefore: cut, ExecutionsBefore: cut, DryRun: true, BatchSize: 3}
	dry, err := b.st.Prune(b.ctx, p)
	require.NoError(t, err)
	require.Equal(t, int64(1), dry.WorkflowExecutions, "the old finished execution: %+v", dry)
	require.Equal(t, int64(1), dry.TaskExecutions, "its task execution: %+v", dry)
	require.Equal(t, int64(1), dry.TaskLogs, "its log: %+v", dry)
	oldDecisions := b.decisions(old)
	require.NotEmpty(t, oldDecisions, "the engine recorded why the old execution's task started")
	require.Equal(t, int64(len(oldDecisions)), dry.Decisions, "its decisions: %+v", dry)
	liveDecisions := b.decisions(live)
	require.NotEmpty(t, liveDecisions)
	require.Positive(t, dry.Events, "events before the cut-off")
	require.Len(t, b.events(""), before, "a dry run deletes no event")
	require.False(t, b.gone(old), "a dry run deletes no execution")
	require.False(t, b.taskGone(oldWork.ID))

	// Prune, until every partition has consumed what came before the mark.
	p.DryRun = false
	var res store.PruneResult
	b.waitFor("the events before the cut-off to be pruned", func() bool {
		r, err := b.st.Prune(b.ctx, p)
		require.NoError(t, err)
		res.Add(r)
		for _, ev := range b.events("") {
			if ev.Time.Before(cut) {
				return false
			}
		}
		return true
	})
	require.Equal(t, dry.WorkflowExecutions, res.WorkflowExecutions)
	require.Equal(t, dry.TaskExecutions, res.TaskExecutions)
	require.Equal(t, dry.TaskLogs, res.TaskLogs)
	require.Equal(t, dry.Decisions, res.Decisions)
	require.GreaterOrEqual(t, res.Events, dry.Events)
	require.Len(t, b.events(""), before-int(res.Events), "the counts are what went")

	require.True(t, b.gone(old), "the old finished execution is pruned")
	require.True(t, b.taskGone(oldWork.ID), "with its task execution and log")
	require.Empty(t, b.decisions(old), "and its decisions")
	require.NotEmpty(t, b.decisions(recent), "a recent execution keeps its decisions")
	require.Equal(t, liveDecisions, b.decisions(live), "a running execution keeps its decisions")
	require.False(t, b.gone(recent), "a recent execution is kept")
	require.False(t, b.gone(live), "a running execution is kept")
	require.False(t, b.taskGone(liveWork.ID), "with its finished task executions, however old")
	require.Equal(t, "work done\n", b.log(liveWork.ID))
	require.Empty(t, b.events("before"), "an old event is pruned")
	require.Len(t, b.events("mark"), 1, "the events from the cut-off on are kept")
	require.Len(t, b.events("after"), 1)

	// Without a consumer, a new event is never pruned, however late the
	// cut-off.
	require.NoError(t, b.client.Stop(b.ctx))
	unread, err := b.st.AppendEvents(b.ctx, []store.Event{{Namespace: store.DefaultNamespace, Key: "unread", Sender: "test"}})
	require.NoError(t, err)
	b.eventsN("unread", 1)
	res, err = b.st.Prune(b.ctx, store.PruneParams{EventsBefore: unread[0].Time.Add(time.Hour), ExecutionsBefore: unread[0].Time.Add(time.Hour)})
	require.NoError(t, err)
	require.Positive(t, res.Events)
	require.Len(t, b.events("unread"), 1, "an event no partition has consumed is kept")
	require.Empty(t, b.events("mark"), "a consumed one goes")
	require.True(t, b.gone(recent), "a finished execution goes")
	require.Empty(t, b.decisions(recent), "with its decisions")
	require.False(t, b.gone(live), "a running one stays")
	require.False(t, b.taskGone(liveWork.ID))
}

// testLeaderPrunes checks that a started client prunes by itself, with
// Config.Retention, and keeps a running execution's records.
func testLeaderPrunes(t *testing.T, b *bed) {
	retentionFlows(b)
	live := b.start("live")
	liveWork := b.waitRun(live, "work", 1, aiflow.TaskSuccess)
	old := b.start("done")
	// The run is read before the execution ends: under load, the leader
	// may prune it (leaderRetention after its end) before a read after.
	oldWork := b.waitRun(old, "work", 1, aiflow.TaskQueued, aiflow.TaskRunning, aiflow.TaskSuccess)
	x := b.waitExecution(old, aiflow.WorkflowSuccess)
	b.waitFor("the finished execution to be pruned", func() bool { return b.gone(old) })
	require.GreaterOrEqual(t, time.Since(x.EndedAt), leaderRetention-100*time.Millisecond, "not before the retention")
	require.True(t, b.taskGone(oldWork.ID))
	require.Empty(t, b.decisions(old), "its decisions go with it")
	b.waitFor("the execution's events to be pruned", func() bool {
		for _, ev := range b.events("") {
			if ev.ExecutionID == old {
				return false
			}
		}
		return true
	})
	require.False(t, b.gone(live), "a running execution is kept")
	require.False(t, b.taskGone(liveWork.ID), "with its finished task executions")
}

// testPruneWaitsForEveryPartition checks, on the store with the client
// stopped and the partitions consumed by hand, that an event goes only once
// every partition that reads it has consumed it: a workflow's control event
// once its workflow's partition has, a user event once all have.
func testPruneWaitsForEveryPartition(t *testing.T, b *bed) {
	const owner = "retention-test"
	n := b.takeOverPartitions(owner)
	drain := func(part int) {
		for {
			res, err := b.st.Consume(b.ctx, store.ConsumeParams{Partition: part, Owner: owner},
				func(_ context.Context, bt store.Batch) (*store.Effects, error) {
					evs := bt.Events()
					if len(evs) == 0 {
						return nil, nil
					}
					return &store.Effects{Position: evs[len(evs)-1].Position}, nil
				})
			require.NoError(t, err)
			if res.Events == 0 {
				return
			}
		}
	}
	for p := range n {
		drain(p)
	}
	const wf = "some_workflow"
	part := store.PartitionOf(store.DefaultNamespace, wf, n)
	evs, err := b.st.AppendEvents(b.ctx, []store.Event{
		{Namespace: store.DefaultNamespace, Key: "user_event", Sender: "test"},
		{Kind: store.KindControl, Namespace: store.DefaultNamespace, Key: "aiflow.test_control", Sender: "test", Workflow: wf},
	})
	require.NoError(t, err)
	require.Equal(t, part, evs[1].Partition)
	b.eventsN("aiflow.test_control", 1)
	later := store.PruneParams{EventsBefore: evs[1].Time.Add(time.Hour)}

	drain(part)
	_, err = b.st.Prune(b.ctx, later)
	require.NoError(t, err)
	require.Empty(t, b.events("aiflow.test_control"), "its partition consumed it")
	require.Len(t, b.events("user_event"), 1, "the other partitions have not consumed it")

	for p := range n {
		if p != part {
			drain(p)
		}
	}
	res, err := b.st.Prune(b.ctx, later)
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Events)
	require.Empty(t, b.events("user_event"), "every partition consumed it")
}
