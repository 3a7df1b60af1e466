package conformance

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/store"
)

// Routing: which executions an event reaches.

func testScopedEvents(t *testing.T, b *bed) {
	// TaskContext.SendEvent without options: the event reaches only the
	// sending task's execution.
	f := b.flow("w")
	f.funcTask("sender", func(ctx context.Context, tc *aiflow.TaskContext) error {
		_, err := tc.SendEvent(ctx, "ping", "from the task", nil)
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
			_, err := tc.SendEvent(ctx, "ping", "all", &aiflow.SendEventOpts{ToNamespace: true})
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

// testConsumerReadsOnlyItsUserKeys: a unit of work read with
// ConsumeParams.UserKeys holds the user events of those keys and every
// event of its partition, and its End moves past the user events it left
// out (to its last event when it is full), so that no partition reads
// events that concern none of its workflows, and none is read twice.
func testConsumerReadsOnlyItsUserKeys(t *testing.T, b *bed) {
	const owner = "routing-test"
	n := b.takeOverPartitions(owner)
	// consume reads one batch of part and commits its End; it returns the
	// keys read and the batch.
	consume := func(part, max int, keys *store.KeySet) ([]string, store.Batch) {
		var got []string
		var batch store.Batch
		_, err := b.st.Consume(b.ctx, store.ConsumeParams{Partition: part, Owner: owner, MaxEvents: max, UserKeys: keys},
			func(_ context.Context, bt store.Batch) (*store.Effects, error) {
				batch = bt
				for _, ev := range bt.Events() {
					got = append(got, ev.Key)
				}
				if !bt.Position().Less(bt.End()) {
					return nil, nil
				}
				return &store.Effects{Position: bt.End()}, nil
			})
		require.NoError(t, err)
		return got, batch
	}
	for p := range n {
		for {
			if got, _ := consume(p, 0, nil); len(got) == 0 {
				break
			}
		}
	}
	const wf = "some_workflow"
	part := store.PartitionOf(store.DefaultNamespace, wf, n)
	other := (part + 1) % n
	evs, err := b.st.AppendEvents(b.ctx, []store.Event{
		{Namespace: store.DefaultNamespace, Key: "a", Sender: "test"},
		{Namespace: store.DefaultNamespace, Key: "b", Sender: "test"},
		{Kind: store.KindControl, Namespace: store.DefaultNamespace, Key: "aiflow.test_control", Sender: "test", Workflow: wf},
		{Namespace: store.DefaultNamespace, Key: "a", Sender: "test"},
		{Namespace: store.DefaultNamespace, Key: "b", Sender: "test"},
	})
	require.NoError(t, err)
	b.eventsN("b", 2)
	a := store.NewKeySet([][2]string{{store.DefaultNamespace, "a"}})

	got, bt := consume(part, 2, a)
	require.Equal(t, []string{"a", "aiflow.test_control"}, got)
	require.Equal(t, evs[2].Position, bt.End(), "a full batch ends at its last event")
	got, bt = consume(part, 0, a)
	require.Equal(t, []string{"a"}, got)
	require.Equal(t, evs[4].Position, bt.End(), "past the last user event it left out")
	got, _ = consume(part, 0, nil)
	require.Empty(t, got, "nothing is read twice")

	got, bt = consume(other, 0, store.NewKeySet(nil))
	require.Empty(t, got)
	require.Equal(t, evs[4].Position, bt.End())
	got, _ = consume(other, 0, nil)
	require.Empty(t, got, "the position moved past them")
}

// testConsumerReadsAddressedEventsInTheirPartition: of the consumers read
// with ConsumeParams.AddressedKeys, a user event addressed to one execution
// (its ExecutionID and Workflow set, not Broadcast) is read by the
// execution's partition (store.Placement.Target) and by those whose
// AddressedKeys hold its key (their triggers expect it); the others move past
// it. The events sent to the namespace, or naming no workflow, are read as
// UserKeys says, and nil AddressedKeys limits nothing.
func testConsumerReadsAddressedEventsInTheirPartition(t *testing.T, b *bed) {
	const owner = "routing-test"
	n := b.takeOverPartitions(owner)
	if n < 4 {
		t.Skip("needs four partitions")
	}
	pl := b.st.Placement()
	// consume reads one batch of part and commits its End; it returns the
	// ids of the events read and the batch.
	consume := func(part, max int, keys, addressed *store.KeySet) ([]int64, store.Batch) {
		var got []int64
		var batch store.Batch
		_, err := b.st.Consume(b.ctx, store.ConsumeParams{Partition: part, Owner: owner, MaxEvents: max, UserKeys: keys, AddressedKeys: addressed},
			func(_ context.Context, bt store.Batch) (*store.Effects, error) {
				batch = bt
				for _, ev := range bt.Events() {
					got = append(got, ev.ID)
				}
				if !bt.Position().Less(bt.End()) {
					return nil, nil
				}
				return &store.Effects{Position: bt.End()}, nil
			})
		require.NoError(t, err)
		return got, batch
	}
	for p := range n {
		for {
			if got, _ := consume(p, 0, nil, nil); len(got) == 0 {
				break
			}
		}
	}
	const wf, x = "some_workflow", int64(7)
	target := pl.Execution(store.DefaultNamespace, wf, x)
	triggered, deaf, open := (target+1)%n, (target+2)%n, (target+3)%n
	ev := func(exec int64, workflow string, broadcast bool) store.Event {
		return store.Event{Namespace: store.DefaultNamespace, Key: "a", Sender: "test", Workflow: workflow, ExecutionID: exec, Broadcast: broadcast}
	}
	evs, err := b.st.AppendEvents(b.ctx, []store.Event{
		ev(x, wf, false), // addressed
		ev(x, wf, true),  // to the namespace, from x
		ev(x, "", false), // no workflow: no partition to address
		ev(0, "", false), // to the namespace
		ev(x, wf, false), // addressed
	})
	require.NoError(t, err)
	b.eventsN("a", len(evs))
	ids := func(is ...int) []int64 {
		var out []int64
		for _, i := range is {
			out = append(out, evs[i].ID)
		}
		return out
	}
	for i := range evs {
		require.Equal(t, -1, evs[i].Partition, "a user event belongs to no partition, whatever its target")
	}
	require.Equal(t, target, pl.Target(&evs[0]))
	require.Equal(t, -1, pl.Target(&evs[1]))
	require.Equal(t, -1, pl.Target(&evs[2]))
	a, none := store.NewKeySet([][2]string{{store.DefaultNamespace, "a"}}), store.NewKeySet(nil)

	got, _ := consume(target, 0, a, none)
	require.Equal(t, ids(0, 1, 2, 3, 4), got, "the execution's partition reads the events addressed to it")
	got, _ = consume(triggered, 0, a, a)
	require.Equal(t, ids(0, 1, 2, 3, 4), got, "a partition whose triggers expect the key reads them")
	got, _ = consume(open, 0, a, nil)
	require.Equal(t, ids(0, 1, 2, 3, 4), got, "nil AddressedKeys limits nothing")

	got, bt := consume(deaf, 2, a, none)
	require.Equal(t, ids(1, 2), got)
	require.Equal(t, evs[2].Position, bt.End(), "a full batch ends at its last event")
	got, bt = consume(deaf, 0, a, none)
	require.Equal(t, ids(3), got)
	require.Equal(t, evs[4].Position, bt.End(), "past the addressed event it left out")
	got, _ = consume(deaf, 0, nil, nil)
	require.Empty(t, got, "the position moved past them")
}

// takeOverPartitions stops the bed's client and has owner claim every
// partition, so that the test runs the units of work itself; it returns the
// number of partitions, and skips the test when there are fewer than two.
func (b *bed) takeOverPartitions(owner string) int {
	b.t.Helper()
	require.NoError(b.t, b.client.Stop(b.ctx))
	n := b.st.Partitions()
	if n < 2 {
		b.t.Skip("needs two partitions")
	}
	parts, err := b.st.ClaimPartitions(b.ctx, owner, time.Minute)
	require.NoError(b.t, err)
	require.Len(b.t, parts, n)
	return n
}
