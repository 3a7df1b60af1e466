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

func TestOnlineML(t *testing.T) {
	t.Setenv("AIFLOW_DATABASE_URL", "") // the memory store
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	status, err := run(ctx, &out, Options{Dir: t.TempDir(), BatchSize: 200, SampleInterval: time.Millisecond, Rounds: 3, Lockstep: true})
	require.NoError(t, err)
	text := out.String()
	require.Equal(t, aiflow.WorkflowStopped, status, text)

	lines := strings.Split(text, "\n")
	index := func(prefix string) int {
		t.Helper()
		for i, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return i
			}
		}
		t.Fatalf("output lacks %q:\n%s", prefix, text)
		return -1
	}
	stop := index("stopping workflow execution")
	for _, streaming := range []string{"pre_processing", "predicting"} {
		require.Less(t, index("task "+streaming+" #1: RUNNING"), index("task training #1: QUEUED"))
		require.NotContains(t, text, "task "+streaming+" #2", "streaming tasks run the whole time")
	}
	for i := 1; i <= 3; i++ {
		require.Less(t, index(`event "data_prepared" = `), index(fmt.Sprintf("task training #%d: QUEUED", i)))
		require.Less(t, index(fmt.Sprintf("task training #%d: SUCCESS", i)), index(fmt.Sprintf("task validating #%d: QUEUED", i)))
		require.Less(t, index(fmt.Sprintf("task validating #%d: SUCCESS", i)), stop+1)
	}
	// The first model always beats "no model": it is deployed and loaded.
	require.Less(t, index(`event "model_validated" = `), index("task deploying #1: QUEUED"))
	require.Less(t, index("task deploying #1: SUCCESS"), stop)
	require.Less(t, index(`event "model_deployed" = "model-1"`), stop)
	require.Contains(t, text, "log of predicting #1 (STOPPED):\n")
	require.Contains(t, text, "loaded model-1\n", "predicting reloaded the deployed model")
}
