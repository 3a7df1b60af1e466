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
	"github.com/aiflow-go/aiflow/aiflowtest"
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

// NumCondition on its own, through the test kit: met once, on the event
// that brings the sum to 100, with its state kept between events.
func TestNumConditionWithTheTestKit(t *testing.T) {
	var evs []aiflow.Event
	for _, v := range []string{"60", "39", "1", "5"} {
		evs = append(evs, aiflow.Event{Key: NumEvent, Value: v})
	}
	evs = append(evs, aiflow.Event{Key: "other", Value: "x"}, aiflow.Event{Key: NumEvent, Value: "nine"})
	res := aiflowtest.RunCondition(NumCondition{}, evs, nil)
	var met []bool
	for _, d := range res.Decisions[:4] {
		require.NoError(t, d.Err)
		met = append(met, d.Met)
	}
	require.Equal(t, []bool{false, false, true, false}, met, "met once, when the sum reaches 100")
	require.False(t, res.Decisions[4].Expected)
	require.False(t, res.Decisions[5].Met, "fired already: the value is not read")
	require.JSONEq(t, `{"sum":100,"fired":true}`, string(res.State["num_state"]))

	res = aiflowtest.RunCondition(NumCondition{}, []aiflow.Event{{Key: NumEvent, Value: "nine"}}, nil)
	require.ErrorContains(t, res.Decisions[0].Err, `num_event value "nine": expected an integer`)
	require.Empty(t, res.State, "a failed evaluation leaves no state")
}
