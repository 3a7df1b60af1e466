package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPeriodic(t *testing.T) {
	t.Setenv("AIFLOW_DATABASE_URL", "") // the memory store
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, 2))
	text := out.String()
	for _, line := range []string{
		"periodic_task_workflow: task_1 #1 succeeded",
		"periodic_task_workflow: task_2 #1 succeeded",
		"periodic_task_workflow: task_1 #2 succeeded",
		"periodic_task_workflow: task_2 #2 succeeded",
		"interval_workflow: execution",
		"execution 1 of periodic_task_workflow: STOPPED",
	} {
		require.Contains(t, text, line)
	}
	require.GreaterOrEqual(t, strings.Count(text, "interval_workflow: execution"), 2, text)
	// task_2 ran after each run of task_1.
	require.Less(t, strings.Index(text, "task_1 #2 succeeded"), strings.Index(text, "task_2 #2 succeeded"))
}
