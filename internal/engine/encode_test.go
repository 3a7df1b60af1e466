package engine

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/store"
)

func TestAppendExecutionMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	d := &Definition{Name: "w", Tasks: []*Task{{Name: "b"}, {Name: "a"}, {Name: "c<&>"}}}
	require.NoError(t, Compile(d))
	x := &Execution{
		ID: 42, Namespace: "ns", Workflow: "w\"q", Version: "v1", Status: store.WorkflowRunning, RunType: store.RunManual,
		Tasks: map[string]*TaskState{
			"a":    {Latest: &TE{ID: 7, Seq: 2, Status: store.TaskRunning, Attempt: 1}},
			"b":    {Latest: &TE{ID: 9, Seq: 3, Status: store.TaskInit}, Stopping: []*TE{{ID: 8, Seq: 2, Status: store.TaskStopping, Attempt: 2, Failures: 1}}},
			"c<&>": {},
		},
		State:     map[string]json.RawMessage{"z": json.RawMessage(`{"sum":3}`), "a": json.RawMessage(`[true,false]`)},
		CreatedAt: time.Date(2026, 11, 24, 13, 0, 0, 123456789, time.UTC),
		Input:     `{"day":"2026-11-24","note":"<&>"}`,
		def:       d,
	}
	for _, withDef := range []bool{true, false} {
		if !withDef {
			x.def = nil
		}
		want, err := json.Marshal(x)
		require.NoError(t, err)
		got := appendExecution(nil, x)
		require.Equal(t, string(want), string(got))
		var back Execution
		require.NoError(t, json.Unmarshal(got, &back))
		require.Equal(t, x.Tasks, back.Tasks)
		require.Equal(t, x.ID, back.ID)
		require.True(t, x.CreatedAt.Equal(back.CreatedAt))
		require.Equal(t, x.Input, back.Input)
	}
	empty := &Execution{ID: 1, Tasks: map[string]*TaskState{}}
	want, _ := json.Marshal(empty)
	require.Equal(t, string(want), string(appendExecution(nil, empty)))
}
