package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestQuickstart(t *testing.T) {
	t.Setenv("AIFLOW_DATABASE_URL", "") // the memory store
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	status, err := run(ctx, &out)
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowSuccess, status, out.String())

	lines := strings.Split(out.String(), "\n")
	index := func(line string) int {
		for i, l := range lines {
			if l == line {
				return i
			}
		}
		t.Fatalf("output lacks %q:\n%s", line, out.String())
		return -1
	}
	// task3 runs after task1 and task2 succeeded; task4 after task3's event.
	require.Less(t, index("task task1 #1: SUCCESS"), index("task task3 #1: QUEUED"))
	require.Less(t, index("task task2 #1: SUCCESS"), index("task task3 #1: QUEUED"))
	require.Less(t, index(`event "key" = "This is a custom message." from 1_task3_1`), index("task task4 #1: QUEUED"))
	require.Less(t, index("task task4 #1: SUCCESS"), index("workflow execution 1: SUCCESS"))
}
