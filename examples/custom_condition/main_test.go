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

func TestCustomCondition(t *testing.T) {
	t.Setenv("AIFLOW_DATABASE_URL", "") // the memory store
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	status, err := run(ctx, &out, 2*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, aiflow.WorkflowSuccess, status, out.String())

	text := out.String()
	// The consumer ran exactly once, after at least 12 numbers (12 x 9 >= 100),
	// and every producer was stopped after it succeeded.
	require.Equal(t, 1, strings.Count(text, "task consumer #1: QUEUED"), text)
	require.NotContains(t, text, "task consumer #2")
	require.GreaterOrEqual(t, strings.Count(text, `event "num_event"`), 12, text)
	consumerDone := strings.Index(text, "task consumer #1: SUCCESS")
	require.Positive(t, consumerDone, text)
	for _, p := range []string{"producer1", "producer2", "producer3"} {
		stopped := strings.Index(text, "task "+p+" #1: STOPPED")
		require.Greater(t, stopped, consumerDone, text)
	}
}
