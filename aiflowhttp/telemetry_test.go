package aiflowhttp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
	"github.com/aiflow-go/aiflow/store/memory"
)

// TestHealthEndpointsAndRequestMetrics checks /healthz and /readyz (served
// without the token), the request duration metric by route and status, and
// that an event sent with a traceparent header joins the caller's trace.
func TestHealthEndpointsAndRequestMetrics(t *testing.T) {
	ctx := context.Background()
	reader, spans := sdkmetric.NewManualReader(), tracetest.NewSpanRecorder()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	st := memory.New(nil)
	c, err := aiflow.New(&aiflow.Config{Store: st, MeterProvider: mp, TracerProvider: tp})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() { _ = c.Stop(ctx); _ = st.Close() })
	srv := httptest.NewServer(aiflowhttp.NewHandler(c, &aiflowhttp.Options{Auth: aiflowhttp.Auth{Token: "secret"}}))
	t.Cleanup(srv.Close)

	get := func(path string) (int, map[string]any) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp.StatusCode, body
	}
	code, body := get("/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok", body["status"])
	code, body = get("/readyz")
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Equal(t, "ready", body["status"])
	code, _ = get("/v1/events")
	require.Equal(t, http.StatusUnauthorized, code, "the API still wants the token")

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, err := http.NewRequest("POST", srv.URL+"/v1/events", strings.NewReader(`{"key":"k","value":"v"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Less(t, resp.StatusCode, 300)
	evs, _, err := c.ListEvents(ctx, &aiflow.EventFilter{Keys: []string{"k"}})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	found := false
	for _, s := range spans.Ended() {
		if s.Name() == "aiflow.event.send" {
			require.Equal(t, traceID, s.SpanContext().TraceID().String())
			found = true
		}
	}
	require.True(t, found, "the send span continues the caller's trace")

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	counts := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "aiflow.http.server.request.duration" {
				continue
			}
			for _, p := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				route, _ := p.Attributes.Value(attribute.Key("http.route"))
				status, _ := p.Attributes.Value(attribute.Key("http.response.status_code"))
				counts[route.AsString()+" "+status.Emit()] += p.Count
			}
		}
	}
	require.Equal(t, map[string]uint64{"/healthz 200": 1, "/readyz 200": 1, "/v1/events 401": 1, "/v1/events 201": 1}, counts)
}
