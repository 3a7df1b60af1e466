package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow/examples/internal/exampleenv"
	"github.com/aiflow-go/aiflow/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, pgtest.LeakOptions()...) }

// TestServesMetrics runs the example on the memory store and scrapes
// /metrics until the library's metrics show executions run end to end.
func TestServesMetrics(t *testing.T) {
	t.Setenv(exampleenv.DatabaseURLEnv, "")
	serveAndScrape(t)
}

// TestServesMetricsOnPostgres runs the example on Postgres, where River's
// own metrics (otelriver) are served too, and the queue depths.
func TestServesMetricsOnPostgres(t *testing.T) {
	pool := pgtest.Pool(t, 2)
	t.Setenv(exampleenv.DatabaseURLEnv, pgtest.URL())
	t.Setenv(exampleenv.SchemaEnv, pgtest.SchemaName(t, pool))
	serveAndScrape(t, `river_work_count_total{`, `river_insert_count_total{`)
}

// serveAndScrape runs the example and scrapes /metrics until it has the
// library's metrics and more.
func serveAndScrape(t *testing.T, more ...string) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	var spans bytes.Buffer
	go func() { done <- run(runCtx, ln, 20, &spans) }()

	scrape := func(path string) (int, string) {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	want := []string{
		`aiflow_task_attempts_started_total{aiflow_namespace="default",aiflow_task="task4",aiflow_workflow="observability_workflow"`,
		`aiflow_task_start_latency_seconds_bucket{aiflow_namespace="default",aiflow_task="task1"`,
		`aiflow_events_applied_total{aiflow_namespace="default"`,
		`aiflow_consume_lag{aiflow_partition="0"`,
		`aiflow_leader{`,
	}
	want = append(want, more...)
	var lacked atomic.Value // []string: what the last scrape lacked
	ok := assert.Eventually(t, func() bool {
		code, body := scrape("/metrics")
		if code != http.StatusOK {
			lacked.Store([]string{fmt.Sprintf("/metrics answered %d", code)})
			return false
		}
		var missing []string
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = append(missing, w)
			}
		}
		lacked.Store(missing)
		return len(missing) == 0
	}, 45*time.Second, 100*time.Millisecond, "the aiflow metrics are served")
	require.True(t, ok, "the last scrape lacked %q", lacked.Load())
	code, _ := scrape("/readyz")
	require.Equal(t, http.StatusOK, code)
	stop()
	require.NoError(t, <-done)
	require.Contains(t, spans.String(), `"Name":"aiflow.task.attempt"`, "spans went to the console exporter")
}
