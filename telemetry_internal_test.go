package aiflow

import (
	"context"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/aiflow-go/aiflow/store"
)

// benchTelemetry returns the telemetry of a client built with the providers
// of variant: "noop", "sdk", "sdk-metrics" or "sdk-traces" (as
// BenchmarkTelemetryCost's), or "sdk-noexemplars" (the SDK's, with the
// meter's exemplar filter off).
func benchTelemetry(tb testing.TB, variant string) *telemetry {
	tb.Helper()
	var mp metric.MeterProvider = metricnoop.NewMeterProvider()
	var tp trace.TracerProvider = tracenoop.NewTracerProvider()
	if variant == "sdk" || variant == "sdk-metrics" || variant == "sdk-noexemplars" {
		opts := []sdkmetric.Option{sdkmetric.WithReader(sdkmetric.NewManualReader())}
		if variant == "sdk-noexemplars" {
			opts = append(opts, sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter))
		}
		p := sdkmetric.NewMeterProvider(opts...)
		tb.Cleanup(func() { _ = p.Shutdown(context.Background()) })
		mp = p
	}
	if variant == "sdk" || variant == "sdk-traces" || variant == "sdk-noexemplars" {
		p := sdktrace.NewTracerProvider()
		tb.Cleanup(func() { _ = p.Shutdown(context.Background()) })
		tp = p
	}
	t, err := newTelemetry(&Client{cfg: Config{MeterProvider: mp, TracerProvider: tp}})
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// BenchmarkTelemetryPath measures, per provider variant, the CPU cost of
// each telemetry step on the path of an event that starts a task: its send
// span, the unit of work that applied it, and the task attempt (start and
// end).
func BenchmarkTelemetryPath(b *testing.B) {
	for _, variant := range []string{"noop", "sdk-metrics", "sdk-traces", "sdk", "sdk-noexemplars"} {
		t := benchTelemetry(b, variant)
		ctx := context.Background()
		ev := store.Event{Namespace: "default", Key: "go", Kind: store.KindUser}
		_, span := t.sendSpan(ctx, &ev)
		span.End()
		task := &Task{name: "work"}
		run := &store.TaskRun{TaskExecutionRecord: store.TaskExecutionRecord{
			ID: 2, ExecutionID: 1, Namespace: "default", Workflow: "latency", Task: "work", Attempt: 1,
			CreatedAt: time.Now(), TraceParent: ev.TraceParent,
		}}
		fx := &store.Effects{Events: []store.Event{{Namespace: "default", Kind: store.KindStatus, Key: "x"}}}
		b.Run(variant+"/send", func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				e := store.Event{Namespace: "default", Key: "go", Kind: store.KindUser}
				_, span := t.sendSpan(ctx, &e)
				t.endSend(span, "send event", &e, false, nil)
				t.appended(ctx, []store.Event{e})
			}
		})
		b.Run(variant+"/unit", func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			evs := []store.Event{ev}
			for b.Loop() {
				_, end := unitObserver{t}.BeginUnit(ctx, 1, evs)
				end(fx, len(evs), nil)
			}
		})
		b.Run(variant+"/attempt", func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				a := t.startAttempt(ctx, run, task, time.Now())
				a.started()
				a.ended(nil, false, false, time.Millisecond)
			}
		})
	}
}

// reportCPU reports the process CPU time per operation (user and system,
// every thread's), which waiting for a processor on a loaded machine does not
// inflate as it does the wall-clock ns/op, and the CPU time of the
// benchmark's own goroutine (locked to its thread meanwhile: the work done
// on the event's path, where the step runs, as against work other
// goroutines do for it); call the function it returns when the loop ends
// and whatever the step leaves to other goroutines is done.
func reportCPU(b *testing.B) func() {
	goruntime.LockOSThread()
	before, thread := processCPU(), threadCPU()
	return func() {
		b.ReportMetric(float64(threadCPU()-thread)/float64(b.N), "path-cpu-ns/op")
		b.ReportMetric(float64(processCPU()-before)/float64(b.N), "cpu-ns/op")
		goruntime.UnlockOSThread()
	}
}

// TestMetricAttributeLookupsDoNotAllocate checks that the measurements of the
// hot path find their cached attribute sets without allocating, so that with
// the no-op meter (no SDK installed) they allocate nothing at all.
func TestMetricAttributeLookupsDoNotAllocate(t *testing.T) {
	tel := benchTelemetry(t, "noop")
	ctx := context.Background()
	evs := []store.Event{{Namespace: "default", Kind: store.KindUser, Key: "go"}, {Namespace: "other", Kind: store.KindStatus, Key: "s"}}
	run := &store.TaskRun{TaskExecutionRecord: store.TaskExecutionRecord{
		ID: 2, ExecutionID: 1, Namespace: "default", Workflow: "w", Task: "a", Attempt: 1, Status: store.TaskRunning,
	}}
	fx := &store.Effects{Events: evs}
	_, noopSpan := tel.tracer.Start(ctx, "x")
	for name, f := range map[string]func(){
		"opt":          func() { tel.opt(attrKey{namespace: "default", workflow: "w", task: "a"}) },
		"appended":     func() { tel.appended(ctx, evs) },
		"countApplied": func() { tel.countApplied(ctx, evs) },
		"countEffects": func() { tel.countEffects(ctx, fx) },
		"attempt": func() {
			a := attempt{t: tel, mctx: ctx, ctx: ctx, span: noopSpan, run: run}
			a.started()
			a.ended(nil, false, false, time.Second)
		},
	} {
		f() // caches the attribute sets
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times a call with the no-op meter: expected none", name, n)
		}
	}
}

// BenchmarkTraceContext measures the library's own work on the W3C trace
// context an event carries: formatting the send span's, checking it where an
// event is appended (once for the event, once for each of its task's status
// events), and parsing it for the attempt's remote parent (with the context
// that carries it) and for a unit's link.
func BenchmarkTraceContext(b *testing.B) {
	t := benchTelemetry(b, "sdk-traces")
	ctx, span := t.tracer.Start(context.Background(), "x")
	defer span.End()
	tp := t.traceParent(ctx)
	b.Run("format", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			_ = t.traceParent(ctx)
		}
	})
	b.Run("check", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if !store.ValidTraceParent(tp) {
				b.Fatal(tp)
			}
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if !parseTraceParent(tp).IsValid() {
				b.Fatal(tp)
			}
		}
	})
	b.Run("remote-context", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			_ = t.remoteContext(ctx, tp)
		}
	})
}

// retainingSpan is a span that keeps the slices SetAttributes is given, as
// an implementation of the API may.
type retainingSpan struct {
	trace.Span
	kept [][]attribute.KeyValue
}

func (s *retainingSpan) SetAttributes(kv ...attribute.KeyValue) { s.kept = append(s.kept, kv) }

// TestSpanAttributesScratch checks that the SDK's span is the one whose
// attributes are set from a pooled scratch array, and that any other span
// keeps the attributes it was given, whatever is set after them.
func TestSpanAttributesScratch(t *testing.T) {
	tel := benchTelemetry(t, "sdk-traces")
	_, sdkSpan := tel.tracer.Start(context.Background(), "x")
	defer sdkSpan.End()
	require.True(t, copiesAttributes(sdkSpan))
	require.True(t, copiesAttributes(sdkSpan), "the second time, from the type seen")
	_, noopSpan := tracenoop.NewTracerProvider().Tracer("x").Start(context.Background(), "x")
	require.False(t, copiesAttributes(noopSpan))

	span := &retainingSpan{Span: noopSpan}
	require.False(t, copiesAttributes(span))
	for _, v := range []string{"a", "b"} {
		setAttributes(span, func(kv []attribute.KeyValue) []attribute.KeyValue {
			return append(kv, AttrNamespace.String(v))
		})
	}
	require.Equal(t, [][]attribute.KeyValue{{AttrNamespace.String("a")}, {AttrNamespace.String("b")}}, span.kept)
}
