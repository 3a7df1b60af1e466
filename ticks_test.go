package aiflow_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
)

// TestPeriodicTicksAreCountedFromTheStartRoundedDown pins where a periodic
// task's interval ticks fall, as the documentation states: at whole
// multiples of the interval after the execution's creation rounded down to
// the second, so the first one comes less than one interval after the start.
func TestPeriodicTicksAreCountedFromTheStartRoundedDown(t *testing.T) {
	t.Parallel()
	wf := aiflow.NewWorkflow("p")
	wf.Task("tick", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil }),
		aiflow.Periodic("interval@0 0 0 10"))
	start := t0.Add(900 * time.Millisecond)
	b := newTimerBed(t, nil, clockwork.NewFakeClockAt(start), wf)

	id, err := b.client.StartWorkflowExecution(b.ctx, "p", nil)
	require.NoError(t, err)
	x, err := b.client.GetWorkflowExecution(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, start, x.CreatedAt.UTC())

	key := fmt.Sprintf("periodic:%d:tick", id)
	at := b.waitArmed(key, time.Time{}, false)
	require.Equal(t, t0.Add(10*time.Second), at, "the first tick is 9.1 s after the start, not 10 s")
	b.advanceTo(at)
	require.Equal(t, t0.Add(20*time.Second), b.waitArmed(key, at, false), "the next ones follow every 10 s")
}
