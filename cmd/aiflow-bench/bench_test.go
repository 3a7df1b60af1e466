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

// TestMain runs the test binary as a worker process of the scaling
// measurement when asked to (worker.go), and otherwise the tests, checking
// for leaked goroutines.
func TestMain(m *testing.M) {
	runWorkerIfAsked()
	goleak.VerifyTestMain(m, pgtest.LeakOptions()...)
}

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
	require.Len(t, r.Curve, len(Quick.Curve))
	for i, p := range r.Curve {
		require.Equal(t, Quick.Curve[i], p.Executions)
		require.Positive(t, p.Expected)
		require.Positive(t, p.Unexpected)
	}
	require.Len(t, r.Scaling, len(Quick.Processes))
	for i, p := range r.Scaling {
		require.Equal(t, Quick.Processes[i], p.Processes)
		require.Positive(t, p.EventsApplied)
		require.Positive(t, p.TaskStarts)
		require.Len(t, p.Ran, p.Processes)
		require.Len(t, p.Counted, p.Processes)
		require.Len(t, p.Partitions, p.Processes)
		require.NotEmpty(t, p.CPULimit, "how the workers' CPU was limited")
	}
	for _, line := range []string{"event to operator start, p50", "River insert to work", "events applied, no rule met",
		"events applied, stateful condition, each event to one of", "events applied, each deciding in all", "task starts", "bulk starts", "idle CPU",
		"an event every execution expects, 50 running executions", "an event no execution expects: cost at 50 / at 10",
		"one workflow, 2 processes", "one workflow: task starts, 2 / 1 processes"} {
		require.Contains(t, out.String(), line)
	}
	require.Regexp(t, `(PASS|MISS)`, out.String())
}

// TestBenchmarksQuick measures once each, briefly, what the benchmarks of
// the execution-count curve and of the multi-process scaling measure, with
// the same code, so that it runs in CI (the figures mean nothing here).
func TestBenchmarksQuick(t *testing.T) {
	pool := pgtest.Pool(t, 20)
	m, err := curveMetrics(pool, 10, 100)
	require.NoError(t, err)
	require.Positive(t, m["expected-events/s"])
	t.Log("curve:", m)
	m, err = scalingMetrics(pool, 2, ScalingSetup{Executions: 10, Events: 100, Rounds: 1, Partitions: 2, Conns: 8})
	require.NoError(t, err)
	require.Positive(t, m["starts/s"])
	t.Log("scaling:", m)
}

func TestLatencyQuantile(t *testing.T) {
	l := Latency{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	require.Equal(t, time.Duration(6), l.Quantile(0.5))
	require.Equal(t, time.Duration(10), l.Quantile(0.99))
	require.Equal(t, time.Duration(10), l.Quantile(1))
	require.Zero(t, Latency(nil).Quantile(0.5))
}
