package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, pgtest.LeakOptions()...) }

// TestRunQuick is the benchmark command's smoke run: every measurement runs
// briefly and reports a figure. No figure is judged here: speed is measured
// by the command and recorded in docs/benchmarks.md.
func TestRunQuick(t *testing.T) {
	pool := pgtest.Pool(t, 20)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	r, err := Run(ctx, pool, Quick, &out)
	require.NoError(t, err, out.String())
	t.Log("\n" + out.String())
	require.Len(t, r.EventToStart, Quick.Latencies)
	require.Len(t, r.RiverInsertToWork, Quick.Latencies)
	require.Positive(t, r.EventToStart.Quantile(0.5))
	require.Positive(t, r.RiverInsertToWork.Quantile(0.5))
	require.Positive(t, r.AppendOne)
	require.Positive(t, r.AppendBatch)
	require.Positive(t, r.EventsApplied)
	require.Positive(t, r.StatefulApplied)
	require.Positive(t, r.ScopedApplied)
	require.Positive(t, r.TaskStarts)
	require.GreaterOrEqual(t, r.IdleProcess, 0.0)
	require.GreaterOrEqual(t, r.IdleBackends, 0.0)
	for _, line := range []string{"event to operator start, p50", "River insert to work", "events applied, no rule met", "events applied, each deciding in one of", "events applied, each deciding in all", "task starts", "idle CPU"} {
		require.Contains(t, out.String(), line)
	}
}

func TestLatencyQuantile(t *testing.T) {
	l := Latency{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	require.Equal(t, time.Duration(6), l.Quantile(0.5))
	require.Equal(t, time.Duration(10), l.Quantile(0.99))
	require.Equal(t, time.Duration(10), l.Quantile(1))
	require.Zero(t, Latency(nil).Quantile(0.5))
}
