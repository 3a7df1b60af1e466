// Command observability runs the quickstart's workflow under load with the
// OpenTelemetry SDK: the library's metrics are served in the Prometheus text
// format at /metrics on -addr (127.0.0.1:9464 by default), and its spans go
// to an OTLP collector when the standard environment variables name one
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, with
// OTEL_EXPORTER_OTLP_PROTOCOL "grpc" or "http/protobuf", the default), or to
// standard output with OTEL_TRACES_EXPORTER=console. The health endpoints of
// aiflowhttp are served beside them, at /healthz and /readyz.
//
//	go run ./examples/observability -rate 5
//	curl -s 127.0.0.1:9464/metrics | grep aiflow_
//
// It runs on the memory store, or on Postgres when AIFLOW_DATABASE_URL is
// set (in the schema AIFLOW_SCHEMA), until interrupted or -duration passes.
// On Postgres, River's OpenTelemetry middleware (otelriver) is wired through
// postgres.Config.RiverMiddleware. This is its own Go module, so that the
// SDK, the exporters and otelriver stay out of the library's dependencies.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river/rivertype"
	"github.com/riverqueue/rivercontrib/otelriver"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
	"github.com/aiflow-go/aiflow/examples/internal/exampleenv"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// EventKey is the key of the event task3 sends and task4 starts on.
const EventKey = "key"

// Workflow is the quickstart's workflow with in-process tasks (so that the
// load measures the library, not process start-up): task3 runs after task1
// and task2 and sends an event that starts task4.
func Workflow() *aiflow.Workflow {
	wf := aiflow.NewWorkflow("observability_workflow")
	echo := func(msg string) aiflow.Operator {
		return operators.Func(func(_ context.Context, tc *aiflow.TaskContext) error {
			_, err := fmt.Fprintln(tc.Log, msg)
			return err
		})
	}
	task1 := wf.Task("task1", echo("I am the 1st task."))
	task2 := wf.Task("task2", echo("I am the 2nd task."))
	task3 := wf.Task("task3", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		_, err := tc.SendEvent(ctx, EventKey, "This is a custom message.", nil)
		return err
	}))
	task4 := wf.Task("task4", echo("I am the 4th task."))
	task3.StartAfter(task1, task2)
	task4.OnEvent(EventKey, aiflow.ActionStart)
	return wf
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9464", "address to serve /metrics, /healthz and /readyz on")
	rate := flag.Float64("rate", 5, "workflow executions started per second")
	duration := flag.Duration("duration", 0, "stop after this long (0: run until interrupted)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	ln, err := net.Listen("tcp", *addr)
	if err == nil {
		fmt.Fprintf(os.Stderr, "observability: serving http://%s/metrics\n", ln.Addr())
		err = run(ctx, ln, *rate, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "observability:", err)
		os.Exit(1)
	}
}

// run serves the metrics on ln and starts rate executions a second until ctx
// ends. Console spans go to out.
func run(ctx context.Context, ln net.Listener, rate float64, out io.Writer) error {
	if rate <= 0 {
		return fmt.Errorf("-rate is %v: expected a positive number of executions per second", rate)
	}
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer mp.Shutdown(context.WithoutCancel(ctx))
	tp, err := tracerProvider(ctx, out)
	if err != nil {
		return err
	}
	defer tp.Shutdown(context.WithoutCancel(ctx))

	// On Postgres, River's own OpenTelemetry middleware traces and measures
	// the task jobs it inserts and runs (river.* metrics and spans). The
	// attempts that the consuming process hands off to itself have no River
	// job, so River counts neither an insert nor work for them (aiflow's own
	// metrics count every attempt); handoff is turned off here so that
	// River's metrics show every attempt.
	st, closeStore, err := exampleenv.OpenStoreWith(ctx, func(cfg *postgres.Config) {
		cfg.HandoffMaxWorkers = -1
		cfg.RiverMiddleware = []rivertype.Middleware{otelriver.NewMiddleware(&otelriver.MiddlewareConfig{
			MeterProvider: mp, TracerProvider: tp,
		})}
	})
	if err != nil {
		return err
	}
	defer closeStore()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	client, err := aiflow.New(&aiflow.Config{Store: st, MeterProvider: mp, TracerProvider: tp, Logger: logger})
	if err != nil {
		return err
	}
	wf := Workflow()
	if err := client.Register(ctx, wf); err != nil {
		return err
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	defer client.Stop(context.WithoutCancel(ctx))

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	api := aiflowhttp.NewHandler(client, nil)
	mux.Handle("GET /healthz", api)
	mux.Handle("GET /readyz", api)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer srv.Shutdown(context.WithoutCancel(ctx))

	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-served:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		case <-tick.C:
			if _, err := client.StartWorkflowExecution(ctx, wf.Name(), nil); err != nil && ctx.Err() == nil {
				logger.Warn("starting an execution", slog.Any("error", err))
			}
		}
	}
}

// tracerProvider returns the SDK's tracer provider with the exporter the
// standard environment variables ask for, or none.
func tracerProvider(ctx context.Context, out io.Writer) (*sdktrace.TracerProvider, error) {
	var exp sdktrace.SpanExporter
	var err error
	switch {
	case os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "":
		proto := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
		if proto == "" {
			proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
		}
		if proto == "grpc" {
			exp, err = otlptracegrpc.New(ctx) // reads the OTEL_EXPORTER_OTLP_* variables
		} else {
			exp, err = otlptracehttp.New(ctx)
		}
	case os.Getenv("OTEL_TRACES_EXPORTER") == "console":
		exp, err = stdouttrace.New(stdouttrace.WithWriter(out))
	}
	if err != nil {
		return nil, err
	}
	if exp == nil {
		return sdktrace.NewTracerProvider(), nil
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp)), nil
}
