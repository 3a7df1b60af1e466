package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEventTrigger(t *testing.T) {
	t.Setenv("AIFLOW_DATABASE_URL", "") // the memory store
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	x, err := run(ctx, &out)
	require.NoError(t, err, out.String())
	require.Equal(t, aiflow.WorkflowSuccess, x.Status)
	require.Equal(t, aiflow.RunEvent, x.RunType)
	require.NotZero(t, x.TriggerID)
	require.Equal(t, "event_trigger_workflow_2", x.Workflow)
	require.Contains(t, out.String(), `event "trigger_workflow" = "go" from`)
}
