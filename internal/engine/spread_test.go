package engine_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/internal/engine"
	"github.com/aiflow-go/aiflow/store"
)

// spreadHarnesses returns two harnesses, one per partition of a placement
// that spreads executions over two partitions: the first is the partition
// of workflow "w", the second the other one.
func spreadHarnesses(t *testing.T, d *engine.Definition) (home, other *harness, pl store.Placement) {
	pl = store.Placement{Partitions: 2, SpreadFrom: 1}
	home = newHarness(t, d)
	other = &harness{t: t, reg: home.reg, ids: &benchIDs{te: 1000}, now: home.now, tes: map[int64]store.TaskExecutionRecord{}}
	h := pl.Workflow("default", "w")
	home.eng = engine.New(home.reg, h, engine.WithPlacement(pl))
	other.eng = engine.New(home.reg, 1-h, engine.WithPlacement(pl))
	return home, other, pl
}

func tick(overlap string) store.Event {
	data, _ := json.Marshal(store.TickData{ScheduleID: 7, FireTime: time.Unix(1_700_000_000, 0).UTC(), Overlap: overlap})
	return store.Event{Kind: store.KindControl, Namespace: "default", Key: store.KeyScheduleTick, Workflow: "w", Data: data}
}

func runningDelta(t *testing.T, ev store.Event) int {
	t.Helper()
	require.True(t, store.IsWorkflowStatusKey(ev.Key), ev.Key)
	if len(ev.Data) == 0 {
		return 0
	}
	var d store.ControlData
	require.NoError(t, json.Unmarshal(ev.Data, &d))
	return d.Running
}

// TestAStartInAnotherPartitionIsHandedOverAndCounted follows an execution
// that a schedule tick starts in its workflow's partition but that belongs
// to the other one: the workflow's partition counts it at once (a second
// tick of the batch is skipped under the skip overlap policy), the other
// partition runs it from the start request handed over, and its end,
// reported back by its status event, lets the next tick start one.
func TestAStartInAnotherPartitionIsHandedOverAndCounted(t *testing.T) {
	home, other, pl := spreadHarnesses(t, def("w", &engine.Task{Name: "t"}))
	require.NotEqual(t, pl.Workflow("default", "w"), pl.Execution("default", "w", 1), "execution 1 belongs to the other partition")

	fx := home.apply(tick(store.OverlapSkip), tick(store.OverlapSkip))
	require.Len(t, fx.NewExecutions, 1)
	require.Equal(t, store.WorkflowInit, fx.NewExecutions[0].Status)
	require.Empty(t, fx.NewTaskExecutions, "the other partition starts its tasks")
	require.Len(t, fx.Events, 2)
	start, skipped := fx.Events[0], fx.Events[1]
	require.Equal(t, store.KeyStartExecution, start.Key)
	require.Equal(t, pl.Execution("default", "w", 1), pl.Event(&start), "the start request goes to the execution's partition")
	require.Equal(t, store.KeyScheduleSkipped, skipped.Key, "the handed-over execution counts as running")

	fx = other.apply(start)
	require.Equal(t, store.WorkflowRunning, fx.NewExecutions[0].Status)
	require.Equal(t, store.RunPeriodic, fx.NewExecutions[0].RunType)
	require.Equal(t, []string{"t#1"}, tasksOf(fx))
	require.Zero(t, runningDelta(t, fx.Events[0]), "it was counted when it was handed over")

	fx = other.apply(other.status(1, "t", 1, store.TaskSuccess, store.StatusData{}))
	var ended store.Event
	for _, ev := range fx.Events {
		if store.IsWorkflowStatusKey(ev.Key) {
			ended = ev
		}
	}
	require.Equal(t, string(store.WorkflowSuccess), ended.Value)
	require.Equal(t, -1, runningDelta(t, ended))
	require.Equal(t, pl.Workflow("default", "w"), pl.Event(&ended), "the end is told to the workflow's partition")

	fx = home.apply(tick(store.OverlapSkip))
	require.Equal(t, store.KeyScheduleSkipped, fx.Events[0].Key, "still running as far as the workflow's partition knows")
	home.apply(ended)
	fx = home.apply(tick(store.OverlapSkip))
	require.Len(t, fx.NewExecutions, 1)
	require.Equal(t, int64(2), fx.NewExecutions[0].ID)
	require.Equal(t, store.WorkflowRunning, fx.NewExecutions[0].Status, "execution 2 belongs to the workflow's partition: started here")
}

// TestAManualStartInAnotherPartitionIsCountedByItsStatusEvents checks the
// count for an execution started by a call in another partition than its
// workflow's: +1 when it runs, -1 when it ends; one that could not start
// (its workflow disabled) changes nothing.
func TestAManualStartInAnotherPartitionIsCountedByItsStatusEvents(t *testing.T) {
	home, other, _ := spreadHarnesses(t, def("w", &engine.Task{Name: "t"}))
	fx := other.start("w", 1)
	require.Equal(t, 1, runningDelta(t, fx.Events[0]))
	home.apply(fx.Events[0])
	require.Equal(t, store.KeyScheduleSkipped, home.apply(tick(store.OverlapSkip)).Events[0].Key)

	disable := store.Event{Kind: store.KindControl, Namespace: "default", Key: store.KeyDisableWorkflow, Workflow: "w"}
	other.apply(disable)
	fx = other.start("w", 3)
	require.Equal(t, store.WorkflowFailed, fx.NewExecutions[0].Status)
	require.Zero(t, runningDelta(t, fx.Events[0]))
	other.apply(store.Event{Kind: store.KindControl, Namespace: "default", Key: store.KeyEnableWorkflow, Workflow: "w"})

	fx = other.apply(other.status(1, "t", 1, store.TaskSuccess, store.StatusData{}))
	var ended store.Event
	for _, ev := range fx.Events {
		if store.IsWorkflowStatusKey(ev.Key) {
			ended = ev
		}
	}
	require.Equal(t, -1, runningDelta(t, ended))
	home.apply(ended)
	fx = home.apply(tick(store.OverlapSkip))
	require.Len(t, fx.NewExecutions, 1, "nothing runs any more")
}
