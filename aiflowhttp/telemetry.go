package aiflowhttp

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/aiflow-go/aiflow"
)

// ReadyMaxLagDefault is Options.ReadyMaxLag when it is zero.
const ReadyMaxLagDefault = 5 * time.Minute

// Paths of the health endpoints, served without authentication.
const (
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"
)

// telemetry is the handler's span and request metrics, from the client's
// providers.
type telemetry struct {
	tracer   trace.Tracer
	duration metric.Float64Histogram
	prop     propagation.TraceContext
}

func newTelemetry(c *aiflow.Client) *telemetry {
	mp, tp := otel.GetMeterProvider(), otel.GetTracerProvider()
	if c != nil {
		mp, tp = c.MeterProvider(), c.TracerProvider()
	}
	t := &telemetry{tracer: tp.Tracer(aiflow.InstrumentationName + "/aiflowhttp")}
	// An error leaves a no-op histogram: requests are served all the same.
	t.duration, _ = mp.Meter(aiflow.InstrumentationName+"/aiflowhttp").Float64Histogram(
		"aiflow.http.server.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the HTTP API's requests, by method, route and status code."),
		metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	return t
}

// serve runs next for a request of route (the pattern it matched, or
// "unmatched") inside a server span continuing the caller's W3C trace
// context, and records its duration and status.
func (t *telemetry) serve(w http.ResponseWriter, r *http.Request, route string, next func(http.ResponseWriter, *http.Request)) {
	start := time.Now()
	ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := t.tracer.Start(ctx, r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("http.route", route)))
	defer span.End()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	next(sw, r.WithContext(ctx))
	span.SetAttributes(attribute.Int("http.response.status_code", sw.status))
	t.duration.Record(context.WithoutCancel(ctx), time.Since(start).Seconds(), metric.WithAttributes(
		attribute.String("http.request.method", r.Method), attribute.String("http.route", route),
		attribute.Int("http.response.status_code", sw.status)))
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(p)
}

// Unwrap gives http.ResponseController the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// healthBody is the answer of /healthz and /readyz.
type healthBody struct {
	Status     string   `json:"status"`
	Consuming  bool     `json:"consuming"`
	Partitions []int    `json:"partitions"`
	Lag        int64    `json:"lag"`
	LagSeconds float64  `json:"lag_seconds"`
	Leading    bool     `json:"leading"`
	Problems   []string `json:"problems,omitempty"`
}

// healthz answers liveness: 200 unless Client.Err returns an error (which it
// does not: no background failure is fatal, see aiflow.Client.Done). It
// runs no query.
func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) {
	if err := h.c.Err(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, healthBody{Status: "failed", Problems: []string{err.Error()}})
		return
	}
	writeJSON(w, http.StatusOK, healthBody{Status: "ok"})
}

// readyz answers readiness: 200 when the store answers with a migrated
// schema, Client.Err is nil and the client's lag is under
// Options.ReadyMaxLag; 503 with the problems otherwise.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	hl := h.c.Health(ctx)
	body := healthBody{Status: "ready", Consuming: hl.Consuming, Partitions: hl.Partitions, Lag: hl.Lag,
		LagSeconds: hl.LagAge.Seconds(), Leading: hl.Leading}
	for _, err := range []error{hl.Err, hl.StoreErr, hl.SchemaErr} {
		if err != nil {
			body.Problems = append(body.Problems, err.Error())
		}
	}
	if hl.LagAge > h.opts.ReadyMaxLag {
		body.Problems = append(body.Problems, "lag of "+hl.LagAge.Round(time.Second).String()+" is over "+h.opts.ReadyMaxLag.String())
	}
	if len(body.Problems) > 0 {
		body.Status = "not ready"
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}
