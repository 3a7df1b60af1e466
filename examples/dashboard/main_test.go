package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/aiflow-go/aiflow/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, pgtest.LeakOptions()...) }

// TestServesTheDashboard runs the example and reads its overview and API.
func TestServesTheDashboard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + ln.Addr().String()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, ln, "", "", 200*time.Millisecond) }()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	get := func(path string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, "GET", base+path, nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	require.Eventually(t, func() bool {
		status, body := get("/")
		return status == http.StatusOK && strings.Contains(body, `data-workflow="quickstart_workflow"`) &&
			strings.Contains(body, `data-workflow="online_ml"`) && strings.Contains(body, `data-workflow="periodic_task_workflow"`)
	}, 30*time.Second, 50*time.Millisecond)
	// Executions keep coming: quickstarts succeed.
	require.Eventually(t, func() bool {
		_, body := get("/executions?workflow=quickstart_workflow&status=SUCCESS")
		return strings.Contains(body, "st-SUCCESS")
	}, 30*time.Second, 100*time.Millisecond)
	status, body := get("/api/v1/namespaces/default/workflows")
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "nightly_report")
	stop()
	require.NoError(t, <-done)
}
