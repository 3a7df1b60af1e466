package aiflow

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"reflect"
	goruntime "runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/aiflow-go/aiflow/internal/runtime"
	"github.com/aiflow-go/aiflow/store"
)

// InstrumentationName is the name of the library's meter and tracer.
const InstrumentationName = "github.com/aiflow-go/aiflow"

// The attributes of the library's metrics and spans. They are few and of low
// cardinality: never an execution id or an event's value (spans carry ids).
const (
	AttrNamespace   = attribute.Key("aiflow.namespace")
	AttrWorkflow    = attribute.Key("aiflow.workflow")
	AttrTask        = attribute.Key("aiflow.task")
	AttrStatus      = attribute.Key("aiflow.status")
	AttrPartition   = attribute.Key("aiflow.partition")
	AttrEventKind   = attribute.Key("aiflow.event.kind")
	AttrQueue       = attribute.Key("aiflow.queue")
	AttrJobState    = attribute.Key("aiflow.job.state")
	AttrTickOutcome = attribute.Key("aiflow.tick.outcome")
	AttrHolder      = attribute.Key("aiflow.horizon.holder")
	// Span-only attributes (high cardinality: never on metrics).
	attrExecutionID     = attribute.Key("aiflow.execution.id")
	attrTaskExecutionID = attribute.Key("aiflow.task_execution.id")
	attrAttempt         = attribute.Key("aiflow.task.attempt")
	attrEventKey        = attribute.Key("aiflow.event.key")
	attrEvents          = attribute.Key("aiflow.unit.events")
	attrOperator        = attribute.Key("aiflow.operator")
	attrOperation       = attribute.Key("aiflow.operation")
)

// The span kinds of the library's spans, as start options built once, in
// the slices that Start's variadic parameter takes (passing a slice
// allocates nothing; passing one option builds a slice on every call). A
// span's attributes are set after its start, only when it records, in one
// call: the SDK then copies them once, where start options cost three
// allocations more (so samplers see no attributes).
var (
	producerSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}
	consumerSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
)

// maxUnitLinks bounds the links of a unit of work's span to the traces of the
// events it applied.
const maxUnitLinks = 32

// spanAttrs holds the attributes of one SetAttributes call of the library's
// spans (at most seven: an attempt's). Passing a slice to the interface's
// SetAttributes allocates it on every call (192 bytes for a send span's
// three, 448 for an attempt's seven); the SDK's span copies the attributes
// it is given, so that for its spans one array taken from a pool serves
// call after call. Other implementations, which might keep the slice, get
// one of their own.
type spanAttrs [7]attribute.KeyValue

var spanAttrPool = sync.Pool{New: func() any { return new(spanAttrs) }}

// copyingSpanType is the type of the SDK's recording span once seen: the
// spans whose SetAttributes copies its arguments.
var copyingSpanType atomic.Pointer[reflect.Type]

// copiesAttributes reports whether span is the SDK's recording span, whose
// SetAttributes copies the attributes it is given.
func copiesAttributes(span trace.Span) bool {
	t := reflect.TypeOf(span)
	if known := copyingSpanType.Load(); known != nil {
		return t == *known
	}
	if t.Kind() != reflect.Pointer || t.Elem().Name() != "recordingSpan" || t.Elem().PkgPath() != "go.opentelemetry.io/otel/sdk/trace" {
		return false
	}
	known := t // t itself stays on the stack
	copyingSpanType.Store(&known)
	return true
}

// setAttributes sets the attributes that fill appends to an empty slice on
// span, a recording span, in one call.
func setAttributes(span trace.Span, fill func(kv []attribute.KeyValue) []attribute.KeyValue) {
	if !copiesAttributes(span) {
		span.SetAttributes(fill(make([]attribute.KeyValue, 0, len(spanAttrs{})))...)
		return
	}
	buf := spanAttrPool.Get().(*spanAttrs)
	span.SetAttributes(fill(buf[:0])...)
	*buf = spanAttrs{} // keeps no strings alive
	spanAttrPool.Put(buf)
}

// telemetry holds the client's tracer and instruments. Built from
// Config.MeterProvider and Config.TracerProvider (the global ones by
// default); with the no-op providers every call costs a few nanoseconds.
type telemetry struct {
	tracer trace.Tracer

	eventsAppended  metric.Int64Counter
	eventsApplied   metric.Int64Counter
	poison          metric.Int64Counter
	unitDuration    metric.Float64Histogram
	startLatency    metric.Float64Histogram
	execStarted     metric.Int64Counter
	execEnded       metric.Int64Counter
	attemptsStarted metric.Int64Counter
	attemptsEnded   metric.Int64Counter
	retries         metric.Int64Counter
	interruptions   metric.Int64Counter
	taskDuration    metric.Float64Histogram
	ticks           metric.Int64Counter
	triggerFirings  metric.Int64Counter
	reg             metric.Registration

	// attrs caches the attribute sets of measurements, so that the hot
	// path neither sorts nor allocates them again (their values are few by
	// design): a map replaced, never changed, when a set is added, so that
	// lookups take no lock and allocate nothing. mu serialises the
	// additions.
	attrs atomic.Pointer[map[attrKey]*measureOpts]
	mu    sync.Mutex
}

// measureOpts is the options of the measurements with one attribute set,
// as the slices the instruments' variadic parameters take (passing a slice
// allocates nothing; passing one option builds a slice on every call).
type measureOpts struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

// attrKey is the attributes of a measurement; fields left empty are not
// attributes of it.
type attrKey struct {
	namespace, workflow, task, status, kind, outcome string
	partition                                        int
	hasPartition                                     bool
}

// maxAttrSets bounds the cache of attribute sets (a client with more
// combinations builds the others on every measurement).
const maxAttrSets = 10000

// opt returns the measurement options of k's attributes, from the cache.
func (t *telemetry) opt(k attrKey) *measureOpts {
	if m := t.attrs.Load(); m != nil {
		if o, ok := (*m)[k]; ok {
			return o
		}
	}
	kv := make([]attribute.KeyValue, 0, 4)
	for _, a := range []struct {
		key attribute.Key
		v   string
	}{{AttrNamespace, k.namespace}, {AttrWorkflow, k.workflow}, {AttrTask, k.task}, {AttrStatus, k.status},
		{AttrEventKind, k.kind}, {AttrTickOutcome, k.outcome}} {
		if a.v != "" {
			kv = append(kv, a.key.String(a.v))
		}
	}
	if k.hasPartition {
		kv = append(kv, AttrPartition.Int(k.partition))
	}
	set := metric.WithAttributeSet(attribute.NewSet(kv...))
	o := &measureOpts{add: []metric.AddOption{set}, record: []metric.RecordOption{set}}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.attrs.Load()
	if old != nil {
		if cached, ok := (*old)[k]; ok {
			return cached
		}
		if len(*old) >= maxAttrSets {
			return o
		}
	}
	m := map[attrKey]*measureOpts{k: o}
	if old != nil {
		maps.Copy(m, *old)
	}
	t.attrs.Store(&m)
	return o
}

// Bucket bounds, in seconds, of the latency and duration histograms.
var (
	latencyBuckets  = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	durationBuckets = []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 12 * 3600}
)

func newTelemetry(c *Client) (*telemetry, error) {
	mp, tp := c.MeterProvider(), c.TracerProvider()
	m := mp.Meter(InstrumentationName)
	t := &telemetry{tracer: tp.Tracer(InstrumentationName)}
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		x, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return x
	}
	histogram := func(name, desc string, bounds []float64) metric.Float64Histogram {
		x, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(bounds...))
		errs = append(errs, err)
		return x
	}
	t.eventsAppended = counter("aiflow.events.appended", "{event}", "Events appended by this client: sent through it and written by the units of work it applied.")
	t.eventsApplied = counter("aiflow.events.applied", "{event}", "Events applied by this client's units of work (a user event counts once per partition that reads it).")
	t.poison = counter("aiflow.events.poison", "{event}", "Applications of an event skipped as poison after repeated condition failures.")
	t.unitDuration = histogram("aiflow.unit_of_work.duration", "Duration of the units of work that applied events, commit included.", latencyBuckets)
	t.startLatency = histogram("aiflow.task.start_latency", "Time from the event that started a task execution to the start of its first attempt.", latencyBuckets)
	t.execStarted = counter("aiflow.task.executions.started", "{execution}", "Task executions whose first attempt started on this client.")
	t.execEnded = counter("aiflow.task.executions.ended", "{execution}", "Task executions that ended on this client, by final status.")
	t.attemptsStarted = counter("aiflow.task.attempts.started", "{attempt}", "Task attempts started on this client.")
	t.attemptsEnded = counter("aiflow.task.attempts.ended", "{attempt}", "Task attempts ended on this client, by the status they left their task execution in.")
	t.retries = counter("aiflow.task.retries", "{attempt}", "Task attempts started after an earlier attempt of the same task execution.")
	t.interruptions = counter("aiflow.task.interruptions", "{attempt}", "Task attempts interrupted by a shutdown (run again later, not a failure).")
	t.taskDuration = histogram("aiflow.task.duration", "Duration of task attempts, by the status they ended with.", durationBuckets)
	t.ticks = counter("aiflow.schedule.ticks", "{tick}", "Workflow schedule ticks applied, fired (an execution started) or skipped.")
	t.triggerFirings = counter("aiflow.trigger.firings", "{execution}", "Workflow executions started by workflow triggers.")

	lag, err := m.Int64ObservableGauge("aiflow.consume.lag", metric.WithUnit("{event}"),
		metric.WithDescription("Events waiting to be applied, by partition (bounded by 10000); read from the store on collection."))
	errs = append(errs, err)
	lagAge, err := m.Float64ObservableGauge("aiflow.consume.lag.age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest event waiting to be applied, by partition; 0 when none waits."))
	errs = append(errs, err)
	horizon, err := m.Float64ObservableGauge("aiflow.read_horizon.held", metric.WithUnit("s"),
		metric.WithDescription("How long the store's read horizon has been held back, with what holds it; 0 when it moves."))
	errs = append(errs, err)
	queue, err := m.Int64ObservableGauge("aiflow.queue.jobs", metric.WithUnit("{job}"),
		metric.WithDescription("Task jobs in the store's queues, by queue and state."))
	errs = append(errs, err)
	leader, err := m.Int64ObservableGauge("aiflow.leader",
		metric.WithDescription("1 while this client leads (runs schedules and timers), else 0."))
	errs = append(errs, err)
	owned, err := m.Int64ObservableGauge("aiflow.partitions.owned", metric.WithUnit("{partition}"),
		metric.WithDescription("Partitions this client consumes."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t.reg, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		return c.observe(ctx, o, lag, lagAge, horizon, queue, leader, owned)
	}, lag, lagAge, horizon, queue, leader, owned)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// collectTimeout bounds the store queries of one collection.
const collectTimeout = 5 * time.Second

// observe reports the gauges read from the client and its store.
func (c *Client) observe(ctx context.Context, o metric.Observer, lag metric.Int64ObservableGauge, lagAge, horizon metric.Float64ObservableGauge,
	queue, leader, owned metric.Int64ObservableGauge) error {
	ctx, cancel := context.WithTimeout(ctx, collectTimeout)
	defer cancel()
	c.mu.Lock()
	rt, timers := c.rt, c.timers
	c.mu.Unlock()
	leads := int64(0)
	if timers != nil && timers.Leading() {
		leads = 1
	}
	o.ObserveInt64(leader, leads)
	if rt != nil {
		o.ObserveInt64(owned, int64(len(rt.Owned())))
	}
	now := c.clock.Now()
	var errs []error
	if lr, ok := c.store.(store.LagReader); ok {
		lags, err := lr.PartitionLag(ctx)
		errs = append(errs, err)
		for _, l := range lags {
			at := metric.WithAttributes(AttrPartition.Int(l.Partition))
			o.ObserveInt64(lag, l.Events, at)
			age := 0.0
			if !l.Oldest.IsZero() {
				age = max(now.Sub(l.Oldest).Seconds(), 0)
			}
			o.ObserveFloat64(lagAge, age, at)
		}
	}
	if qr, ok := c.store.(store.QueueDepthReader); ok {
		qs, err := qr.QueueDepths(ctx)
		errs = append(errs, err)
		for _, q := range qs {
			o.ObserveInt64(queue, q.Jobs, metric.WithAttributes(AttrQueue.String(q.Queue), AttrJobState.String(q.State)))
		}
	}
	if hh, ok := c.store.(store.HorizonReporter); ok {
		h, err := hh.HorizonHold(ctx)
		errs = append(errs, err)
		held := 0.0
		if !h.Since.IsZero() {
			held = max(now.Sub(h.Since).Seconds(), 0)
		}
		o.ObserveFloat64(horizon, held, metric.WithAttributes(AttrHolder.String(h.Holder)))
	}
	return errors.Join(errs...)
}

// traceParent returns the W3C traceparent of ctx's span, or "" when ctx
// carries no valid span context.
func (t *telemetry) traceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	tid, sid := sc.TraceID(), sc.SpanID()
	flags := sc.TraceFlags() & trace.FlagsSampled
	var b [55]byte
	copy(b[:], "00-")
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(flags)})
	return string(b[:])
}

// remoteContext returns ctx with the remote span context of a traceparent
// (ctx itself when tp is empty or malformed).
func (t *telemetry) remoteContext(ctx context.Context, tp string) context.Context {
	if sc := parseTraceParent(tp); sc.IsValid() {
		return trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return ctx
}

// parseTraceParent returns the span context of a W3C traceparent of version
// 00, or an invalid one when tp is not one.
func parseTraceParent(tp string) trace.SpanContext {
	if len(tp) != 55 || tp[:3] != "00-" || tp[35] != '-' || tp[52] != '-' {
		return trace.SpanContext{}
	}
	tid, err1 := trace.TraceIDFromHex(tp[3:35])
	sid, err2 := trace.SpanIDFromHex(tp[36:52])
	var flags [1]byte
	_, err3 := hex.Decode(flags[:], []byte(tp[53:55]))
	if err1 != nil || err2 != nil || err3 != nil {
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags[0]) & trace.FlagsSampled, Remote: true,
	})
}

// withTraceParent returns ctx with the remote span context of tp, unless ctx
// carries a span already.
func (t *telemetry) withTraceParent(ctx context.Context, tp string) context.Context {
	if trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return t.remoteContext(ctx, tp)
}

// sendSpan starts the span of an event sent through the client and stamps
// ev with its trace context; endSend ends it. The caller appends ev in the
// returned context, and counts it (appended) in its own: the counters of
// the send path take no exemplar from the send span (see attempt).
func (t *telemetry) sendSpan(ctx context.Context, ev *store.Event) (context.Context, trace.Span) {
	ctx, span := t.tracer.Start(ctx, "aiflow.event.send", producerSpan...)
	if ev.TraceParent == "" {
		ev.TraceParent = t.traceParent(ctx)
	}
	return ctx, span
}

// endSend ends the send span of ev, appended by operation op, recording
// err. Its attributes are set here, after the append rather than before it.
// woke tells that the append has just woken the consumers of this process
// (every append but one in a caller's transaction): Go's scheduler runs a
// goroutine woken so on this goroutine's processor once this one blocks or
// yields (another processor takes it only after a few microseconds), so a
// recording span yields first, and the consumers apply the event before
// this span's bookkeeping rather than after it (measured:
// BenchmarkTelemetryCost). The no-op span has none, and does not yield.
func (t *telemetry) endSend(span trace.Span, op string, ev *store.Event, woke bool, err error) {
	if span.IsRecording() {
		if woke && err == nil {
			goruntime.Gosched()
		}
		setAttributes(span, func(kv []attribute.KeyValue) []attribute.KeyValue {
			return append(kv, AttrNamespace.String(ev.Namespace), attrEventKey.String(ev.Key), attrOperation.String(op))
		})
	}
	endSpan(span, err)
}

// appended counts events appended through the client.
func (t *telemetry) appended(ctx context.Context, evs []store.Event) {
	for i := range evs {
		t.eventsAppended.Add(ctx, 1, t.opt(attrKey{namespace: evs[i].Namespace, kind: evs[i].Kind.String()}).add...)
	}
}

// endSpan ends span, recording err.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// unitObserver is the runtime's Observer: a span and metrics per unit of
// work.
type unitObserver struct{ t *telemetry }

var _ runtime.Observer = unitObserver{}

// BeginUnit times a unit of work. Its span, linked to the traces of the
// events it applied, is recorded when the unit ends (from its start time)
// and only when the unit wrote something or failed: a user event is read by
// every partition, and a unit that found no rule for its events in its
// partition would record an empty span for each of them. No span is in the
// unit's context meanwhile (nothing the unit calls starts one).
func (u unitObserver) BeginUnit(ctx context.Context, partition int, events []store.Event) (context.Context, func(*store.Effects, int, error)) {
	t := u.t
	start := time.Now()
	return ctx, func(fx *store.Effects, applied int, err error) {
		if err == nil {
			// A unit cut short applies the rest of its events later.
			events = events[:applied]
		}
		if fx != nil && len(fx.Dispatches) > 0 {
			// The commit has just woken the workers of the tasks it
			// started, and Go's scheduler runs a goroutine woken so on
			// this goroutine's processor once this one blocks or yields
			// (unless another processor takes it first): yield, so that
			// the tasks start before this unit's telemetry is recorded
			// rather than after it (measured: BenchmarkTelemetryCost).
			goruntime.Gosched()
		}
		if err != nil || (fx != nil && !fx.Empty()) {
			t.unitSpan(ctx, partition, events, start, err)
		}
		if err != nil {
			return
		}
		t.unitDuration.Record(ctx, time.Since(start).Seconds(), t.opt(attrKey{partition: partition, hasPartition: true}).record...)
		t.countApplied(ctx, events)
		if fx != nil {
			t.countEffects(ctx, fx)
		}
	}
}

// unitSpan records the span of a unit of work that began at start and ends
// now.
func (t *telemetry) unitSpan(ctx context.Context, partition int, events []store.Event, start time.Time, err error) {
	_, span := t.tracer.Start(ctx, "aiflow.unit_of_work", trace.WithTimestamp(start))
	if span.IsRecording() {
		setAttributes(span, func(kv []attribute.KeyValue) []attribute.KeyValue {
			return append(kv, AttrPartition.Int(partition), attrEvents.Int(len(events)))
		})
		addEventLinks(span, events)
	}
	endSpan(span, err)
}

// addEventLinks links the span of a unit of work to the traces of the
// events it applied: one link per distinct trace context, at most
// maxUnitLinks.
func addEventLinks(span trace.Span, events []store.Event) {
	var linked [maxUnitLinks]string
	n := 0
	for i := range events {
		tp := events[i].TraceParent
		if tp == "" || slices.Contains(linked[:n], tp) {
			continue
		}
		if sc := parseTraceParent(tp); sc.IsValid() {
			span.AddLink(trace.Link{SpanContext: sc})
			linked[n] = tp
			if n++; n == maxUnitLinks {
				return
			}
		}
	}
}

// countApplied adds the events of a committed unit of work, by namespace.
func (t *telemetry) countApplied(ctx context.Context, events []store.Event) {
	ns, n := "", int64(0)
	for i := range events {
		if events[i].Namespace != ns && n > 0 {
			t.eventsApplied.Add(ctx, n, t.opt(attrKey{namespace: ns}).add...)
			n = 0
		}
		ns = events[i].Namespace
		n++
	}
	if n > 0 {
		t.eventsApplied.Add(ctx, n, t.opt(attrKey{namespace: ns}).add...)
	}
}

// countEffects counts what a committed unit of work wrote: its events,
// poison events, schedule ticks and trigger firings.
func (t *telemetry) countEffects(ctx context.Context, fx *store.Effects) {
	t.appended(ctx, fx.Events)
	for i := range fx.Events {
		ev := &fx.Events[i]
		switch ev.Key {
		case store.KeyPoisonEvent:
			t.poison.Add(ctx, 1, t.opt(attrKey{namespace: ev.Namespace, workflow: ev.Workflow}).add...)
		case store.KeyScheduleSkipped:
			t.ticks.Add(ctx, 1, t.opt(attrKey{namespace: ev.Namespace, workflow: ev.Workflow, outcome: "skipped"}).add...)
		}
	}
	for i := range fx.NewExecutions {
		x := &fx.NewExecutions[i]
		switch x.RunType {
		case store.RunPeriodic:
			t.ticks.Add(ctx, 1, t.opt(attrKey{namespace: x.Namespace, workflow: x.Workflow, outcome: "fired"}).add...)
		case store.RunEvent:
			t.triggerFirings.Add(ctx, 1, t.opt(attrKey{namespace: x.Namespace, workflow: x.Workflow}).add...)
		}
	}
}

// attempt is the telemetry of one task attempt. Only its span is started
// before the operator runs (the operator runs in the span's context); its
// attributes and the start's metrics are recorded by started once the
// operator's goroutine has begun, off the path from the event to the start.
//
// The counters are measured in the worker's context (mctx), outside the
// attempt's span, so that they take no exemplar from it: an SDK's default
// exemplar filter records one for every measurement in a sampled span,
// which cost about as much as the measurement itself. The histograms
// (start latency and duration) are measured in the span: their exemplars
// lead from a slow start or a long attempt to its trace.
type attempt struct {
	t    *telemetry
	mctx context.Context // the worker's context, outside the span
	ctx  context.Context // in the attempt's span
	span trace.Span
	run  *store.TaskRun
	task *Task // nil when this client lacks it
	now  time.Time
	done bool
}

// startAttempt starts the span of a task attempt of run, a child of the
// trace context of the event that started its task execution. now is the
// client's clock.
func (t *telemetry) startAttempt(ctx context.Context, run *store.TaskRun, task *Task, now time.Time) attempt {
	a := attempt{t: t, mctx: ctx, run: run, task: task, now: now}
	a.ctx, a.span = t.tracer.Start(t.remoteContext(ctx, run.TraceParent), "aiflow.task.attempt", consumerSpan...)
	return a
}

// started sets the span's attributes (which name the operator) and counts
// the start; the second call does nothing.
func (a *attempt) started() {
	if a.done {
		return
	}
	a.done = true
	t, run := a.t, a.run
	if a.span.IsRecording() {
		setAttributes(a.span, func(kv []attribute.KeyValue) []attribute.KeyValue {
			kv = append(kv, AttrNamespace.String(run.Namespace), AttrWorkflow.String(run.Workflow), AttrTask.String(run.Task),
				attrExecutionID.Int64(run.ExecutionID), attrTaskExecutionID.Int64(run.ID), attrAttempt.Int(run.Attempt))
			if a.task != nil {
				kv = append(kv, a.task.operatorAttr())
			}
			return kv
		})
	}
	attrs := t.opt(attrKey{namespace: run.Namespace, workflow: run.Workflow, task: run.Task})
	t.attemptsStarted.Add(a.mctx, 1, attrs.add...)
	if run.Attempt > 1 {
		t.retries.Add(a.mctx, 1, attrs.add...)
		return
	}
	t.execStarted.Add(a.mctx, 1, attrs.add...)
	started := run.StartedAt
	if started.IsZero() {
		started = a.now
	}
	if !run.CreatedAt.IsZero() {
		t.startLatency.Record(a.ctx, max(started.Sub(run.CreatedAt).Seconds(), 0), attrs.record...)
	}
}

// ended records the end of the attempt: its duration and the status it
// leaves its task execution in (as the store will decide it), and ends its
// span with err.
func (a *attempt) ended(err error, interrupted, stopped bool, d time.Duration) {
	a.started()
	t, run := a.t, a.run
	status, _ := store.FinalStatus(&run.TaskExecutionRecord, err, interrupted)
	if stopped {
		status = store.TaskStopped
	}
	attrs := t.opt(attrKey{namespace: run.Namespace, workflow: run.Workflow, task: run.Task, status: string(status)})
	t.attemptsEnded.Add(a.mctx, 1, attrs.add...)
	t.taskDuration.Record(a.ctx, d.Seconds(), attrs.record...)
	if interrupted {
		t.interruptions.Add(a.mctx, 1, attrs.add...)
	}
	if status.Finished() {
		t.execEnded.Add(a.mctx, 1, attrs.add...)
	}
	endSpan(a.span, err)
}

// observedTask is the store's task handler: runTask inside the attempt's
// span (which names the operator: there is no span of the operator's Run),
// with its metrics.
func (c *Client) observedTask(ctx context.Context, run *store.TaskRun) error {
	start := time.Now()
	task, err := c.taskOf(run)
	a := c.tel.startAttempt(ctx, run, task, c.clock.Now())
	ctx = a.ctx
	if err == nil {
		err = c.runTask(ctx, run, task, &a)
	}
	interrupted := err != nil && Interrupted(ctx)
	stopped := err != nil && !interrupted && ctx.Err() != nil
	a.ended(err, interrupted, stopped, time.Since(start))
	return err
}

// operatorStopSpan starts the span of an operator's Stop, a child of the
// attempt's span.
func (c *Client) operatorStopSpan(ctx context.Context, tc *TaskContext, t *Task) (context.Context, trace.Span) {
	ctx, span := c.tel.tracer.Start(ctx, "aiflow.operator.stop")
	if span.IsRecording() {
		span.SetAttributes(AttrNamespace.String(tc.Namespace), AttrWorkflow.String(tc.Workflow), AttrTask.String(tc.Task), t.operatorAttr())
	}
	return ctx, span
}

// operatorAttr returns the attribute that names t's operator on spans: its
// type and public description (never Describe, which may hold a secret),
// built on first use.
func (t *Task) operatorAttr() attribute.KeyValue {
	t.opDescOnce.Do(func() { t.opDesc = publicOperator(t.op) })
	return attrOperator.String(t.opDesc)
}

// Logger returns the client's logger (Config.Logger or its default), for
// the parts of an application built around the client, such as its HTTP
// handler.
func (c *Client) Logger() *slog.Logger { return c.log }

// MeterProvider returns the meter provider of the client's metrics
// (Config.MeterProvider, or the global one).
func (c *Client) MeterProvider() metric.MeterProvider {
	if c.cfg.MeterProvider != nil {
		return c.cfg.MeterProvider
	}
	return otel.GetMeterProvider()
}

// TracerProvider returns the tracer provider of the client's spans
// (Config.TracerProvider, or the global one).
func (c *Client) TracerProvider() trace.TracerProvider {
	if c.cfg.TracerProvider != nil {
		return c.cfg.TracerProvider
	}
	return otel.GetTracerProvider()
}
