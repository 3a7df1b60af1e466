package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFlinkWatermark(t *testing.T) {
	t.Setenv("AIFLOW_DATABASE_URL", "") // the memory store
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	status, err := run(ctx, &out, Options{DataDir: t.TempDir(), RecordInterval: time.Millisecond, Hours: 3, Lockstep: true})
	require.NoError(t, err)
	text := out.String()
	require.Equal(t, aiflow.WorkflowStopped, status, text)

	lines := strings.Split(text, "\n")
	index := func(line string) int {
		t.Helper()
		for i, l := range lines {
			if l == line {
				return i
			}
		}
		t.Fatalf("output lacks %q:\n%s", line, text)
		return -1
	}
	running := index("task watermark_job #1: RUNNING")
	stopped := index("stopping workflow execution 1")
	require.NotContains(t, text, "task watermark_job #2", "the streaming task never stops while batch tasks come and go")
	require.NotContains(t, text, "task watermark_job #1: RETRYING")
	require.NotContains(t, text, "task watermark_job #1: FAILED")
	require.GreaterOrEqual(t, strings.Count(text, `event "hour_closed" = `), 3, text)
	for i := 1; i <= 3; i++ {
		trained := index(fmt.Sprintf("task training #%d: SUCCESS", i))
		validated := index(fmt.Sprintf("task validating #%d: SUCCESS", i))
		require.Less(t, running, index(fmt.Sprintf("task training #%d: QUEUED", i)))
		require.Less(t, trained, index(fmt.Sprintf("task validating #%d: QUEUED", i)), "validating follows training")
		require.Less(t, validated, stopped, "the streaming job was running the whole time")
	}
	require.Contains(t, text, "ended STOPPED after 3 validated hours")
}
