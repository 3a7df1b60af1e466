package main

import (
	"bytes"
	"context"
	"regexp"
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
	// Under load a run of task_1 can outlast its one-second period, and the
	// next tick restarts it before it succeeds: count runs, whatever their
	// numbers.
	task1 := regexp.MustCompile(`periodic_task_workflow: task_1 #\d+ succeeded`).FindAllStringIndex(text, -1)
	task2 := regexp.MustCompile(`periodic_task_workflow: task_2 #\d+ succeeded`).FindAllStringIndex(text, -1)
	require.GreaterOrEqual(t, len(task1), 2, text)
	require.NotEmpty(t, task2, text)
	// task_2 runs only after a run of task_1 has succeeded.
	require.Less(t, task1[0][0], task2[0][0], text)
	require.Contains(t, text, "execution 1 of periodic_task_workflow: STOPPED")
	require.GreaterOrEqual(t, strings.Count(text, "interval_workflow: execution"), 2, text)
}
