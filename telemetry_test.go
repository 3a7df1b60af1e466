package aiflow_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/pgtest"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store"
	"github.com/aiflow-go/aiflow/store/memory"
	"github.com/aiflow-go/aiflow/store/postgres"
)

// telemetryStores opens the stores the telemetry tests run on.
var telemetryStores = map[string]func(t *testing.T) store.Store{
	"memory": func(t *testing.T) store.Store { return memory.New(nil) },
	"postgres": func(t *testing.T) store.Store {
		pgtest.Require(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pool := pgtest.Pool(t, 10)
		cfg := &postgres.Config{
			Schema: pgtest.SchemaName(t, pool), Partitions: 2,
			EventPollInterval: 50 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond,
		}
		_, err := postgres.Migrate(ctx, pool, cfg)
		require.NoError(t, err)
		st, err := postgres.New(ctx, pool, cfg)
		require.NoError(t, err)
		return st
	},
}

// telemetryBed is a started client with the SDK's in-memory reader and
// span recorder.
type telemetryBed struct {
	client *aiflow.Client
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
}

func newTelemetryBed(t *testing.T, st store.Store, wfs ...*aiflow.Workflow) *telemetryBed {
	t.Helper()
	b := &telemetryBed{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	b.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(b.reader))
	c, err := aiflow.New(&aiflow.Config{
		Store: st, MeterProvider: mp, TracerProvider: b.tp, PollInterval: 20 * time.Millisecond, LeaseTTL: 2 * time.Second,
		StopTimeout: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, c.Register(ctx, wfs...))
	require.NoError(t, c.Start(ctx))
	b.client = c
	t.Cleanup(func() {
		_ = c.Stop(context.Background())
		_ = st.Close()
		_ = mp.Shutdown(context.Background())
		_ = b.tp.Shutdown(context.Background())
	})
	return b
}

// metric returns the named metric of a collection.
func (b *telemetryBed) metric(t *testing.T, name string) metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, b.reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m.Data
			}
		}
	}
	return nil
}

// sum adds the data points of an int64 counter or gauge whose attributes
// include attrs.
func (b *telemetryBed) sum(t *testing.T, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	var n int64
	var points []metricdata.DataPoint[int64]
	switch d := b.metric(t, name).(type) {
	case metricdata.Sum[int64]:
		points = d.DataPoints
	case metricdata.Gauge[int64]:
		points = d.DataPoints
	case nil:
		return 0
	default:
		t.Fatalf("metric %s is a %T", name, d)
	}
	for _, p := range points {
		if hasAttrs(p.Attributes, attrs) {
			n += p.Value
		}
	}
	return n
}

// histogramCount counts the observations of a histogram whose attributes
// include attrs, and returns the largest.
func (b *telemetryBed) histogramCount(t *testing.T, name string, attrs ...attribute.KeyValue) (uint64, float64) {
	t.Helper()
	d, ok := b.metric(t, name).(metricdata.Histogram[float64])
	require.True(t, ok, "metric %s is a float64 histogram", name)
	var n uint64
	var top float64
	for _, p := range d.DataPoints {
		if hasAttrs(p.Attributes, attrs) {
			n += p.Count
			if m, ok := p.Max.Value(); ok {
				top = max(top, m)
			}
		}
	}
	return n, top
}

func hasAttrs(set attribute.Set, attrs []attribute.KeyValue) bool {
	for _, a := range attrs {
		if v, ok := set.Value(a.Key); !ok || v != a.Value {
			return false
		}
	}
	return true
}

// TestTelemetryOfARun runs a workflow whose task starts on an event sent
// inside a traced request, and checks the metrics and spans it leaves on
// both stores: the task's attempt is a child of the event's send span, and
// the counters have the run's values.
func TestTelemetryOfARun(t *testing.T) {
	for name, open := range telemetryStores {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			release, ranA := make(chan struct{}), make(chan struct{})
			wf := aiflow.NewWorkflow("otel")
			wf.Task("wait", operators.Func(func(ctx context.Context, _ *aiflow.TaskContext) error {
				select {
				case <-release:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}))
			wf.Task("a", operators.Func(func(context.Context, *aiflow.TaskContext) error {
				close(ranA)
				return nil
			})).OnEvent("go", aiflow.ActionStart)
			b := newTelemetryBed(t, open(t), wf)

			id, err := b.client.StartWorkflowExecution(ctx, "otel", nil)
			require.NoError(t, err)
			require.Eventually(t, func() bool { return b.sum(t, "aiflow.task.attempts.started", aiflow.AttrTask.String("wait")) == 1 },
				30*time.Second, 10*time.Millisecond, "the task wait starts")
			reqCtx, req := b.tp.Tracer("test").Start(ctx, "request")
			_, err = b.client.SendEvent(reqCtx, "go", "v", &aiflow.SendEventOpts{ExecutionID: id})
			require.NoError(t, err)
			req.End()
			select {
			case <-ranA:
			case <-ctx.Done():
				t.Fatal("task a did not run")
			}
			close(release)
			x, err := b.client.WaitWorkflowExecution(ctx, id)
			require.NoError(t, err)
			require.Equal(t, aiflow.WorkflowSuccess, x.Status)

			// Spans: request -> aiflow.event.send -> aiflow.task.attempt (which
			// names the operator).
			byName := map[string][]sdktrace.ReadOnlySpan{}
			for _, s := range b.spans.Ended() {
				byName[s.Name()] = append(byName[s.Name()], s)
			}
			send := findSpan(t, byName["aiflow.event.send"], "aiflow.event.key", "go")
			require.Equal(t, req.SpanContext().TraceID(), send.SpanContext().TraceID(), "the send span is in the request's trace")
			attempt := findSpan(t, byName["aiflow.task.attempt"], "aiflow.task", "a")
			require.Equal(t, send.SpanContext().TraceID(), attempt.SpanContext().TraceID(), "the task's span is in the trace of the event that started it")
			require.Equal(t, send.SpanContext().SpanID(), attempt.Parent().SpanID(), "the task's span is a child of the send span")
			require.True(t, attempt.Parent().IsRemote(), "the parent came through the store")
			require.Empty(t, byName["aiflow.operator.run"], "the operator runs in the attempt's span")
			opAttr := ""
			for _, a := range attempt.Attributes() {
				if a.Key == "aiflow.operator" {
					opAttr = a.Value.AsString()
				}
			}
			require.Contains(t, opAttr, "*operators.FuncOperator: ", "the operator's type and public description")
			linked := false
			for _, u := range byName["aiflow.unit_of_work"] {
				for _, l := range u.Links() {
					linked = linked || l.SpanContext.SpanID() == send.SpanContext().SpanID()
				}
			}
			require.True(t, linked, "a unit of work's span links to the send span of the event it applied")
			wait := findSpan(t, byName["aiflow.task.attempt"], "aiflow.task", "wait")
			require.NotEqual(t, send.SpanContext().TraceID(), wait.SpanContext().TraceID(), "the execution was started in another trace")
			start := findSpan(t, byName["aiflow.event.send"], "aiflow.event.key", store.KeyStartExecution)
			require.Equal(t, start.SpanContext().SpanID(), wait.Parent().SpanID(), "an initial task is a child of the start request's span")

			// Metrics, with the run's values.
			ns := aiflow.AttrNamespace.String("default")
			for _, task := range []string{"wait", "a"} {
				at := aiflow.AttrTask.String(task)
				require.EqualValues(t, 1, b.sum(t, "aiflow.task.executions.started", at), task)
				require.EqualValues(t, 1, b.sum(t, "aiflow.task.attempts.started", at), task)
				require.EqualValues(t, 1, b.sum(t, "aiflow.task.attempts.ended", at, aiflow.AttrStatus.String("SUCCESS")), task)
				require.EqualValues(t, 1, b.sum(t, "aiflow.task.executions.ended", at, aiflow.AttrStatus.String("SUCCESS")), task)
				n, _ := b.histogramCount(t, "aiflow.task.duration", at)
				require.EqualValues(t, 1, n, task)
				n, top := b.histogramCount(t, "aiflow.task.start_latency", at, ns, aiflow.AttrWorkflow.String("otel"))
				require.EqualValues(t, 1, n, task)
				require.Less(t, top, 30.0, task)
			}
			// Exemplars: the start latency's leads to the attempt's trace;
			// the counters take none from the library's spans.
			lat, ok := b.metric(t, "aiflow.task.start_latency").(metricdata.Histogram[float64])
			require.True(t, ok)
			for _, p := range lat.DataPoints {
				if v, _ := p.Attributes.Value(aiflow.AttrTask); v.AsString() == "a" {
					require.NotEmpty(t, p.Exemplars, "task a's start latency has an exemplar")
					require.Equal(t, attempt.SpanContext().TraceID(), trace.TraceID(p.Exemplars[0].TraceID))
					require.Equal(t, attempt.SpanContext().SpanID(), trace.SpanID(p.Exemplars[0].SpanID))
				}
			}
			for _, name := range []string{"aiflow.task.attempts.started", "aiflow.task.attempts.ended", "aiflow.events.appended"} {
				sum, ok := b.metric(t, name).(metricdata.Sum[int64])
				require.True(t, ok, name)
				for _, p := range sum.DataPoints {
					for _, e := range p.Exemplars { // the caller's span, SendEvent's context
						require.Equal(t, req.SpanContext().SpanID(), trace.SpanID(e.SpanID), "%s %v", name, p.Attributes.ToSlice())
					}
				}
			}
			require.Zero(t, b.sum(t, "aiflow.task.retries"))
			require.Zero(t, b.sum(t, "aiflow.task.interruptions"))
			require.EqualValues(t, 1, b.sum(t, "aiflow.events.appended", ns, aiflow.AttrEventKind.String("user")))
			require.EqualValues(t, 1, b.sum(t, "aiflow.events.appended", ns, aiflow.AttrEventKind.String("control")), "the start request")
			// The status events of the engine: QUEUED of each task, and the
			// workflow's RUNNING and SUCCESS.
			require.GreaterOrEqual(t, b.sum(t, "aiflow.events.appended", ns, aiflow.AttrEventKind.String("status")), int64(2))
			// Every partition applies the user event; the workflow's own
			// partition applies its start and status events too.
			require.GreaterOrEqual(t, b.sum(t, "aiflow.events.applied", ns), int64(1+3))
			require.Zero(t, b.sum(t, "aiflow.events.poison"))
			require.Eventually(t, func() bool { return b.sum(t, "aiflow.leader") == 1 }, 30*time.Second, 10*time.Millisecond, "the only client leads")
			require.Eventually(t, func() bool { return b.sum(t, "aiflow.consume.lag") == 0 }, 30*time.Second, 10*time.Millisecond, "nothing is left to apply")
			require.Equal(t, int64(len(b.client.Owned())), b.sum(t, "aiflow.partitions.owned"))

			h := b.client.Health(ctx)
			require.True(t, h.Healthy(), "%+v", h)
			require.Zero(t, h.Lag)
		})
	}
}

func findSpan(t *testing.T, spans []sdktrace.ReadOnlySpan, key, value string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range spans {
		for _, a := range s.Attributes() {
			if string(a.Key) == key && a.Value.AsString() == value {
				return s
			}
		}
	}
	t.Fatalf("no span with %s=%s among %d", key, value, len(spans))
	return nil
}

// TestHealthAndDone checks Health before Start, while running and after Stop,
// and that Done is closed by Stop with a nil Err.
func TestHealthAndDone(t *testing.T) {
	ctx := context.Background()
	c, err := aiflow.New(&aiflow.Config{Store: memory.New(nil), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.False(t, c.Health(ctx).Consuming)
	require.NoError(t, c.Start(ctx))
	require.Eventually(t, func() bool { return c.Health(ctx).Healthy() && len(c.Health(ctx).Partitions) > 0 }, 10*time.Second, 5*time.Millisecond)
	select {
	case <-c.Done():
		t.Fatal("Done is closed while the client runs")
	default:
	}
	require.NoError(t, c.Stop(ctx))
	<-c.Done()
	require.NoError(t, c.Err())
	require.False(t, c.Health(ctx).Healthy())
}

// failingStore is a store whose consumers, partition claims and pings fail
// while fail is set.
type failingStore struct {
	store.Store
	fail   atomic.Bool
	failed atomic.Int64 // consumes refused
}

var errStoreDown = errors.New("the store is down")

func (f *failingStore) Consume(ctx context.Context, p store.ConsumeParams, fn store.BatchFunc) (store.ConsumeResult, error) {
	if f.fail.Load() {
		f.failed.Add(1)
		return store.ConsumeResult{}, errStoreDown
	}
	return f.Store.Consume(ctx, p, fn)
}

func (f *failingStore) ClaimPartitions(ctx context.Context, owner string, ttl time.Duration) ([]int, error) {
	if f.fail.Load() {
		return nil, errStoreDown
	}
	return f.Store.ClaimPartitions(ctx, owner, ttl)
}

func (f *failingStore) Ping(context.Context) error {
	if f.fail.Load() {
		return errStoreDown
	}
	return nil
}

// TestStoreFailureIsNotFatal checks that a client whose store fails keeps
// running (Done stays open, Err nil), reports the failure in Health, and
// consumes again once the store answers.
func TestStoreFailureIsNotFatal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := &failingStore{Store: memory.New(nil)}
	ran := make(chan struct{}, 1)
	wf := aiflow.NewWorkflow("survive")
	wf.Task("a", operators.Func(func(context.Context, *aiflow.TaskContext) error { ran <- struct{}{}; return nil })).
		OnEvent("go", aiflow.ActionStart)
	c, err := aiflow.New(&aiflow.Config{Store: st, PollInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, c.Register(ctx, wf))
	require.NoError(t, c.Start(ctx))
	defer func() { _ = c.Stop(context.Background()) }()
	_, err = c.StartWorkflowExecution(ctx, "survive", nil)
	require.NoError(t, err)

	st.fail.Store(true)
	_, err = c.SendEvent(ctx, "go", "", nil) // appended: only consuming fails
	require.NoError(t, err)
	h := c.Health(ctx)
	require.ErrorIs(t, h.StoreErr, errStoreDown)
	require.False(t, h.Healthy())
	require.Eventually(t, func() bool { return st.failed.Load() >= 10 }, 30*time.Second, time.Millisecond, "the consumers keep trying")
	select {
	case <-c.Done():
		t.Fatal("a failing store stopped the client")
	case <-ran:
		t.Fatal("the event was applied while the store failed")
	default:
	}
	require.NoError(t, c.Err())
	require.True(t, c.Health(ctx).Consuming)

	st.fail.Store(false)
	select {
	case <-ran:
	case <-ctx.Done():
		t.Fatal("the client did not consume again once the store answered")
	}
	require.True(t, c.Health(ctx).Healthy())
	require.NoError(t, c.Err())
}

// TestTraceParentFromOptionsAndSQL sends events with an explicit
// traceparent, through SendEventOpts on both stores and through the SQL
// function send_event on Postgres, and reads it back with the event.
func TestTraceParentFromOptionsAndSQL(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for name, open := range telemetryStores {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			st := open(t)
			t.Cleanup(func() { _ = st.Close() })
			c, err := aiflow.New(&aiflow.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			ev, err := c.SendEvent(ctx, "k", "v", &aiflow.SendEventOpts{TraceParent: tp})
			require.NoError(t, err)
			require.Equal(t, tp, ev.TraceParent, "with the no-op tracer the event keeps the caller's trace context")
			_, err = c.SendEvent(ctx, "k", "v", &aiflow.SendEventOpts{TraceParent: "00-xyz"})
			require.ErrorIs(t, err, aiflow.ErrInvalid)
			require.ErrorContains(t, err, "SendEventOpts.TraceParent")

			if pg, ok := st.(*postgres.Store); ok {
				_, err := pg.Pool().Exec(ctx, "SELECT "+pg.Schema()+".send_event('default', 'sql', 'v', traceparent => $1)", tp)
				require.NoError(t, err)
				_, err = pg.Pool().Exec(ctx, "SELECT "+pg.Schema()+".send_event('default', 'sql', 'v', traceparent => 'nope')")
				require.ErrorContains(t, err, "expected a W3C traceparent")
				_, err = pg.Pool().Exec(ctx, "SELECT "+pg.Schema()+".send_event('default', 'sql', 'v')")
				require.NoError(t, err, "the earlier arguments work as before")
				evs := listed(t, c, "sql", 2)
				require.Equal(t, tp, evs[0].TraceParent)
				require.Empty(t, evs[1].TraceParent)
			}
			evs := listed(t, c, "k", 1)
			require.Equal(t, tp, evs[0].TraceParent)
		})
	}
}

// listed waits until n events of key are listed (Postgres lists an event once
// every older transaction has ended) and returns them.
func listed(t *testing.T, c *aiflow.Client, key string, n int) []aiflow.Event {
	t.Helper()
	var evs []aiflow.Event
	require.Eventually(t, func() bool {
		var err error
		evs, _, err = c.ListEvents(context.Background(), &aiflow.EventFilter{Keys: []string{key}})
		require.NoError(t, err)
		return len(evs) >= n
	}, 30*time.Second, 10*time.Millisecond, "%d events %q are listed", n, key)
	require.Len(t, evs, n)
	return evs
}

// TestStatusEventsJoinTheTrace checks, on both stores, that the status
// events of a task execution (the engine's QUEUED, the worker's RUNNING and
// SUCCESS or FAILED) carry the trace context of the event that started it,
// so that a task started after it (StartAfter) joins the same trace.
func TestStatusEventsJoinTheTrace(t *testing.T) {
	for name, open := range telemetryStores {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			wf := aiflow.NewWorkflow("chain")
			a := wf.Task("a", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).OnEvent("go", aiflow.ActionStart)
			bad := wf.Task("bad", operators.Func(func(context.Context, *aiflow.TaskContext) error { return errors.New("boom") })).
				OnEvent("go", aiflow.ActionStart)
			wf.Task("b", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).StartAfter(a)
			wf.Task("c", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).
				OnTaskStatus(map[*aiflow.Task]aiflow.TaskStatus{bad: aiflow.TaskFailed}, aiflow.ActionStart)
			b := newTelemetryBed(t, open(t), wf)

			id, err := b.client.StartWorkflowExecution(ctx, "chain", nil)
			require.NoError(t, err)
			reqCtx, req := b.tp.Tracer("test").Start(ctx, "request")
			_, err = b.client.SendEvent(reqCtx, "go", "v", &aiflow.SendEventOpts{ExecutionID: id})
			require.NoError(t, err)
			req.End()
			trace := req.SpanContext().TraceID()

			// The status events of a and bad, worker's included, carry the
			// request's trace.
			want := map[string][]aiflow.TaskStatus{
				"a":   {aiflow.TaskQueued, aiflow.TaskRunning, aiflow.TaskSuccess},
				"bad": {aiflow.TaskQueued, aiflow.TaskRunning, aiflow.TaskFailed},
			}
			for task, statuses := range want {
				evs := listed(t, b.client, store.StatusKey("chain", task), len(statuses))
				for i, ev := range evs {
					require.Equal(t, string(statuses[i]), ev.Value, task)
					require.NotEmpty(t, ev.TraceParent, "%s %s carries a trace context", task, ev.Value)
					require.Equal(t, trace.String(), ev.TraceParent[3:35], "%s %s is in the request's trace", task, ev.Value)
				}
			}
			// b (after a's SUCCESS) and c (after bad's FAILED) run in it too.
			require.Eventually(t, func() bool {
				n := 0
				for _, s := range b.spans.Ended() {
					if s.Name() == "aiflow.task.attempt" && s.SpanContext().TraceID() == trace {
						n++
					}
				}
				return n == 4
			}, 30*time.Second, 10*time.Millisecond, "the attempts of a, bad, b and c are in the request's trace")
		})
	}
}

// TestIdempotentSendIsTraced checks that an event sent with an idempotency
// key has a send span and joins the caller's trace, and that a replayed
// call counts no second appended event.
func TestIdempotentSendIsTraced(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := newTelemetryBed(t, memory.New(nil))
	reqCtx, req := b.tp.Tracer("test").Start(ctx, "request")
	for range 2 {
		ev, err := b.client.SendEvent(reqCtx, "k", "v", &aiflow.SendEventOpts{IdempotencyKey: "once"})
		require.NoError(t, err)
		require.Equal(t, req.SpanContext().TraceID().String(), ev.TraceParent[3:35], "the event is in the request's trace")
	}
	req.End()
	n := 0
	for _, s := range b.spans.Ended() {
		if s.Name() == "aiflow.event.send" && s.Parent().SpanID() == req.SpanContext().SpanID() {
			n++
		}
	}
	require.Equal(t, 2, n, "each call has a send span")
	require.EqualValues(t, 1, b.sum(t, "aiflow.events.appended", aiflow.AttrEventKind.String("user")), "the replayed call appended nothing")
}

// TestEventsAppliedOnceWhenABatchIsCut checks that aiflow.events.applied
// counts each event once per partition that applies it when a unit of work
// stops after an event that started an execution expecting a key its
// partition did not read (the memory store spreads executions, so the
// batch is cut there and the events after the cut are read again).
func TestEventsAppliedOnceWhenABatchIsCut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := memory.New(&memory.Config{Partitions: 2})
	require.True(t, st.Placement().Spreads())
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	b := &telemetryBed{reader: reader}
	wf := aiflow.NewWorkflow("cut")
	wf.Task("a", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil })).OnEvent("k", aiflow.ActionStart)
	c, err := aiflow.New(&aiflow.Config{Store: st, MeterProvider: mp, PollInterval: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop(context.Background()); _ = mp.Shutdown(context.Background()) })
	require.NoError(t, c.Register(ctx, wf))
	require.NoError(t, c.Start(ctx))
	// Four start requests appended at once: each partition reads two in
	// one batch and stops after the first, whose execution expects "k".
	ids, err := c.StartWorkflowExecutions(ctx, "cut", []string{"", "", "", ""}, nil)
	require.NoError(t, err)
	for _, id := range ids {
		require.Eventually(t, func() bool {
			x, err := c.GetWorkflowExecution(ctx, id)
			return err == nil && x.Status == aiflow.WorkflowRunning
		}, 30*time.Second, 5*time.Millisecond, "execution %d runs", id)
	}
	require.Eventually(t, func() bool { return b.sum(t, "aiflow.consume.lag") == 0 }, 30*time.Second, 5*time.Millisecond, "nothing is left to apply")
	// Each start request and status event belongs to one partition, which
	// applies it once (no user event was sent).
	evs, _, err := st.ListEvents(ctx, store.EventFilter{})
	require.NoError(t, err)
	want := int64(0)
	for _, ev := range evs {
		require.GreaterOrEqual(t, ev.Partition, 0, "%s of execution %d belongs to one partition", ev.Key, ev.ExecutionID)
		want++
	}
	require.Eventually(t, func() bool { return b.sum(t, "aiflow.events.applied") >= want }, 30*time.Second, 5*time.Millisecond,
		"the %d events are counted", want)
	require.Equal(t, want, b.sum(t, "aiflow.events.applied"), "each event is counted once")
}
