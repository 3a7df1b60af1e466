package aiflow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

// MaxEventValueBytes is the largest event value accepted (64 KiB). A larger
// value is refused with ErrEventTooLarge; send a reference instead.
const MaxEventValueBytes = store.MaxEventValueBytes

// Event is one entry of the event log.
type Event struct {
	// ID identifies the event.
	ID int64
	// Position is the event's place in the log.
	Position Position
	// Time is when the event was appended.
	Time      time.Time
	Namespace string
	Key       string
	Value     string
	Sender    string

	// Workflow and ExecutionID are set for events sent from inside a
	// workflow execution, and for the library's events about one.
	Workflow    string
	ExecutionID int64
	// TaskName, TaskExecutionID and SeqNum are set for events sent by a
	// task, and for status changes.
	TaskName        string
	TaskExecutionID int64
	SeqNum          int
	// Broadcast marks an event sent from a task to its whole namespace.
	Broadcast bool
	// Internal is true for the library's own events: task status changes
	// (key "aiflow.task_status.<workflow>.<task>", see TaskStatusKey; value
	// the status) and control requests (keys starting with "aiflow.").
	Internal bool
	// TraceParent is the W3C trace context the event was sent in, empty
	// when it was sent outside a trace.
	TraceParent string
}

// IsStatusChange reports whether ev is a task status change; its Value is then
// the new TaskStatus.
func (ev *Event) IsStatusChange() bool { return ev.Internal && store.IsStatusKey(ev.Key) }

// IsWorkflowStatusChange reports whether ev is a workflow execution's status
// change (it started running or finished); its Value is then the new
// WorkflowStatus and ExecutionID the execution.
func (ev *Event) IsWorkflowStatusChange() bool {
	return ev.Internal && store.IsWorkflowStatusKey(ev.Key)
}

// LastPosition returns the position of the latest event: listening after it
// sees every event appended from now on.
func (c *Client) LastPosition(ctx context.Context) (Position, error) {
	if err := c.stoppedError("last position"); err != nil {
		return Position{}, err
	}
	p, err := c.store.LastPosition(ctx)
	return Position(p), opError("last position", err)
}

func eventFromStore(ev *store.Event) Event {
	return Event{
		ID: ev.ID, Position: Position(ev.Position), Time: ev.Time, Namespace: ev.Namespace, Key: ev.Key, Value: ev.Value,
		Sender: ev.Sender, Workflow: ev.Workflow, ExecutionID: ev.ExecutionID, TaskName: ev.TaskName,
		TaskExecutionID: ev.TaskExecutionID, SeqNum: ev.SeqNum, Broadcast: ev.Broadcast, Internal: ev.Kind != store.KindUser,
		TraceParent: ev.TraceParent,
	}
}

// SendEventOpts are the options of Client.SendEvent, Client.SendEventTx and
// TaskContext.SendEvent. A nil *SendEventOpts means the defaults.
type SendEventOpts struct {
	// Namespace of the event; when empty, the namespace of the execution or
	// task execution named below, else "default".
	Namespace string
	// Sender names the sender; "aiflow.client" when empty.
	Sender string
	// ExecutionID, when set, sends the event to that workflow execution only
	// (as if sent from inside it), in its namespace, instead of to every
	// running execution of the namespace.
	ExecutionID int64
	// TaskExecutionID, when set, sends the event as that task execution's
	// task would (TaskContext.SendEvent): with its workflow, execution, task
	// and sequence number, and, unless Sender is set, its sender name
	// "<execution>_<task>_<seq>". ExecutionID may then be left zero; if set
	// it must be the task execution's. Programs started by a task find the
	// id in the environment variable EnvTaskExecutionID.
	TaskExecutionID int64
	// ToNamespace, with ExecutionID or TaskExecutionID, reaches every running
	// execution of the namespace whose rules expect the key instead of only
	// that execution, as it does for TaskContext.SendEvent.
	ToNamespace bool
	// IdempotencyKey, when set, makes the call act once: a second SendEvent
	// with the same key in the same namespace, within
	// Config.IdempotencyKeyRetention, returns the first call's event and
	// appends nothing, whatever its other arguments. Retry a call whose
	// answer was lost (a timeout, a dropped connection) with the same key.
	// 1 to 255 bytes of text, such as a UUID; empty means none.
	IdempotencyKey string
	// TraceParent, when set, is the W3C trace context
	// ("00-<trace id>-<span id>-<flags>") to send the event in when ctx
	// carries no span, as a program handed a TRACEPARENT does. Empty: the
	// trace context of ctx, if any.
	TraceParent string
}

// SendEvent appends a user event. Without an ExecutionID it reaches every
// running execution of the namespace whose rules expect the key, and the
// namespace's workflow triggers. An ExecutionID or TaskExecutionID implies
// the namespace: Namespace may then be left empty. With
// opts.IdempotencyKey a retried call appends the event once.
func (c *Client) SendEvent(ctx context.Context, key, value string, opts *SendEventOpts) (*Event, error) {
	if err := c.stoppedError("send event"); err != nil {
		return nil, err
	}
	ctx, err := c.withTraceParent(ctx, opts)
	if err != nil {
		return nil, opError("send event", err)
	}
	ev, err := c.userEvent(ctx, key, value, opts)
	if err != nil {
		return nil, opError("send event", err)
	}
	var idem string
	if opts != nil {
		idem = opts.IdempotencyKey
	}
	return c.appendOnce(ctx, "send event", idem, ev)
}

// withTraceParent checks opts.TraceParent and, when set, returns ctx
// carrying it, so that the send span continues the caller's trace.
func (c *Client) withTraceParent(ctx context.Context, opts *SendEventOpts) (context.Context, error) {
	if opts == nil || opts.TraceParent == "" {
		return ctx, nil
	}
	if !store.ValidTraceParent(opts.TraceParent) {
		return ctx, fmt.Errorf("%w: SendEventOpts.TraceParent is %.80q: expected a W3C traceparent, 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>",
			ErrInvalid, opts.TraceParent)
	}
	return c.tel.withTraceParent(ctx, opts.TraceParent), nil
}

// SendEventTx appends a user event, as SendEvent does, inside tx, a
// transaction of the store's database that the caller owns: the event
// exists if and only if the caller commits tx, so that it is sent exactly
// when the caller's own writes are. On the Postgres store tx is a pgx.Tx
// (from the pool the store uses, or any connection to its database); the
// event's position is final when the call returns, and consumers see it
// once tx has committed. Keep tx short: until it commits it holds back
// every consumer of the store. A store without transactions (the memory
// store) refuses the call with an error matching ErrInvalid; so does a tx
// of another type, and an opts.IdempotencyKey (the caller's transaction
// already makes the send happen once: commit it or not).
func (c *Client) SendEventTx(ctx context.Context, tx any, key, value string, opts *SendEventOpts) (*Event, error) {
	const op = "send event in a transaction"
	if err := c.stoppedError(op); err != nil {
		return nil, err
	}
	ta, ok := c.store.(store.TxAppender)
	if !ok {
		return nil, opError(op, fmt.Errorf("%w: the store (%T) cannot append in a caller's transaction: use SendEvent, or the Postgres store", ErrInvalid, c.store))
	}
	if opts != nil && opts.IdempotencyKey != "" {
		return nil, opError(op, fmt.Errorf("%w: SendEventOpts.IdempotencyKey %q: expected empty in SendEventTx (the caller's transaction decides whether the event is sent)", ErrInvalid, opts.IdempotencyKey))
	}
	ctx, err := c.withTraceParent(ctx, opts)
	if err != nil {
		return nil, opError(op, err)
	}
	ev, err := c.userEvent(ctx, key, value, opts)
	if err != nil {
		return nil, opError(op, err)
	}
	sctx, span := c.tel.sendSpan(ctx, &ev)
	out, err := ta.AppendEventsInTx(sctx, tx, []store.Event{ev})
	c.tel.endSend(span, op, &ev, false, err) // the commit wakes the consumers
	if err != nil {
		return nil, opError(op, err)
	}
	c.tel.appended(ctx, out)
	return ptr(eventFromStore(&out[0])), nil
}

// userEvent builds the user event that SendEvent and SendEventTx append,
// reading the execution or task execution the options name.
func (c *Client) userEvent(ctx context.Context, key, value string, opts *SendEventOpts) (store.Event, error) {
	if opts == nil {
		opts = &SendEventOpts{}
	}
	ev := store.Event{Kind: store.KindUser, Namespace: opts.Namespace, Key: key, Value: value, Sender: opts.Sender}
	if err := checkIdempotencyKey(opts.IdempotencyKey); err != nil {
		return ev, err
	}
	// inNamespace fills the namespace from the execution (ns) or checks
	// that the one given is it.
	inNamespace := func(what string, id int64, ns string) error {
		if ev.Namespace != "" && ev.Namespace != ns {
			return fmt.Errorf("%w: SendEventOpts.Namespace %q: %s %d is in namespace %q: leave Namespace empty or give %q", ErrInvalid, ev.Namespace, what, id, ns, ns)
		}
		ev.Namespace = ns
		return nil
	}
	switch {
	case opts.TaskExecutionID != 0:
		te, err := c.store.GetTaskExecution(ctx, opts.TaskExecutionID)
		if err != nil {
			return ev, err
		}
		if opts.ExecutionID != 0 && opts.ExecutionID != te.ExecutionID {
			return ev, fmt.Errorf("%w: task execution %d belongs to workflow execution %d, not %d", ErrInvalid, te.ID, te.ExecutionID, opts.ExecutionID)
		}
		if err := inNamespace("task execution", te.ID, te.Namespace); err != nil {
			return ev, err
		}
		ev.Workflow, ev.ExecutionID, ev.TaskName, ev.TaskExecutionID, ev.SeqNum = te.Workflow, te.ExecutionID, te.Task, te.ID, te.SeqNum
		ev.Sender = cmp.Or(ev.Sender, taskSender(te.ExecutionID, te.Task, te.SeqNum))
		ev.Broadcast = opts.ToNamespace
	case opts.ExecutionID != 0:
		x, err := c.store.GetExecution(ctx, opts.ExecutionID)
		if err != nil {
			return ev, err
		}
		if err := inNamespace("workflow execution", x.ID, x.Namespace); err != nil {
			return ev, err
		}
		ev.Workflow, ev.ExecutionID = x.Workflow, x.ID
		ev.Broadcast = opts.ToNamespace
	}
	ev.Namespace = orDefault(ev.Namespace)
	ev.Sender = cmp.Or(ev.Sender, store.SenderClient)
	return ev, nil
}

// append appends one event. The store checks it (store.ValidateEvent, the
// one place the rules are written) before anything is written, and its error
// names the field, the value and the expected form.
func (c *Client) append(ctx context.Context, op string, ev store.Event) (*Event, error) {
	sctx, span := c.tel.sendSpan(ctx, &ev)
	out, err := c.store.AppendEvents(sctx, []store.Event{ev})
	c.tel.endSend(span, op, &ev, true, err)
	if err != nil {
		return nil, opError(op, err)
	}
	c.tel.appended(ctx, out)
	pub := eventFromStore(&out[0])
	return &pub, nil
}

// EventFilter selects events. Zero fields select everything.
type EventFilter struct {
	// Namespace selects one namespace; every namespace when empty.
	Namespace string
	// Keys selects events with one of these keys.
	Keys []string
	// Sender selects events from one sender.
	Sender string
	// ExecutionID selects the events of one workflow execution.
	ExecutionID int64
	// After selects events after this position (exclusive).
	After Position
	// Since selects events appended at or after this time.
	Since time.Time
	// UserOnly leaves out the library's own events.
	UserOnly bool
	// Limit bounds the number of events a list returns; 1000 when zero.
	Limit int
	// Max makes ListenEvents return nil once it has called fn with Max
	// events; 0 (the default) listens until ctx ends. Other calls ignore
	// it.
	Max int
}

func (f *EventFilter) toStore() store.EventFilter {
	sf := store.EventFilter{
		Namespace: f.Namespace, Keys: f.Keys, Sender: f.Sender, ExecutionID: f.ExecutionID,
		After: store.Position(f.After), Since: f.Since, Limit: f.Limit,
	}
	if f.UserOnly {
		sf.Kinds = []store.EventKind{store.KindUser}
	}
	return sf
}

// checkNamespace refuses (ErrInvalid) a namespace that is not a valid name
// (see store.ValidateName): no such namespace can exist, and a NUL byte or
// invalid UTF-8 must not reach the store. An empty ns (the default, or
// every namespace) passes.
func checkNamespace(ns string) error {
	if ns == "" {
		return nil
	}
	return store.ValidateName("namespace", ns)
}

// requireNamespace fails with ErrInvalid when ns is not a valid name, and
// with ErrNamespaceNotFound when ns is not a
// namespace, so that listing in a misspelt namespace is an error rather than
// an empty answer. An empty ns (every namespace) and "default" pass without a
// query.
func (c *Client) requireNamespace(ctx context.Context, ns string) error {
	if ns == "" || ns == store.DefaultNamespace {
		return nil
	}
	if err := checkNamespace(ns); err != nil {
		return err
	}
	nss, err := c.store.ListNamespaces(ctx)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(nss, func(n store.NamespaceRecord) bool { return n.Name == ns }) {
		return nil
	}
	return fmt.Errorf("%w: %q: add it with Client.AddNamespace or \"aiflow namespace add %s\"", store.ErrNamespaceNotFound, ns, ns)
}

// ListEvents lists events in log order and returns the position to continue
// from (pass it as After to get the next page). It fails with
// ErrNamespaceNotFound when filter.Namespace is set and does not exist. An
// event is listed once no
// transaction that might precede it in the log can still commit: on the
// Postgres store, an event may show up shortly after SendEvent returned, while
// older transactions of the database finish. Paging from a returned position
// never misses or repeats an event.
func (c *Client) ListEvents(ctx context.Context, filter *EventFilter) ([]Event, Position, error) {
	if err := c.stoppedError("list events"); err != nil {
		return nil, Position{}, err
	}
	if filter == nil {
		filter = &EventFilter{}
	}
	if err := c.requireNamespace(ctx, filter.Namespace); err != nil {
		return nil, filter.After, opError("list events", err)
	}
	evs, next, err := c.store.ListEvents(ctx, filter.toStore())
	if err != nil {
		return nil, filter.After, opError("list events", err)
	}
	out := make([]Event, len(evs))
	for i := range evs {
		out[i] = eventFromStore(&evs[i])
	}
	return out, Position(next), nil
}

// CountEvents counts the events that ListEvents would list with filter
// (ignoring its Limit), paging through them: it reads every matching event,
// so bound large logs with After or Since. Like ListEvents, it fails with
// ErrNamespaceNotFound for a namespace that does not exist.
func (c *Client) CountEvents(ctx context.Context, filter *EventFilter) (int, error) {
	if err := c.stoppedError("count events"); err != nil {
		return 0, err
	}
	var f EventFilter
	if filter != nil {
		f = *filter
	}
	if err := c.requireNamespace(ctx, f.Namespace); err != nil {
		return 0, opError("count events", err)
	}
	f.Limit = store.DefaultListLimit
	sf := f.toStore()
	n := 0
	for {
		evs, next, err := c.store.ListEvents(ctx, sf)
		if err != nil {
			return n, opError("count events", err)
		}
		n += len(evs)
		if len(evs) < sf.Limit || next == sf.After {
			return n, nil
		}
		sf.After = next
	}
}

// ListenEvents calls fn with every event that matches filter, in log order,
// until ctx ends (it then returns ctx's error), fn returns an error (which
// it returns) or, when filter.Max is set, fn has had Max events (it then
// returns nil). It starts after filter.After; a zero After starts at the
// beginning of the log: to listen from now on, pass LastPosition. It never
// misses or repeats an event. Like ListEvents, it fails with
// ErrNamespaceNotFound, before listening, for a namespace that does not
// exist.
func (c *Client) ListenEvents(ctx context.Context, filter *EventFilter, fn func(Event) error) error {
	if err := c.stoppedError("listen events"); err != nil {
		return err
	}
	var f EventFilter
	if filter != nil {
		f = *filter
	}
	if err := c.requireNamespace(ctx, f.Namespace); err != nil {
		return opError("listen events", err)
	}
	n := 0
	err := listen(ctx, c.store, c.cfg.PollInterval, c.clock, f.toStore(), func(ev *store.Event) error {
		if err := fn(eventFromStore(ev)); err != nil {
			return err
		}
		if n++; f.Max > 0 && n >= f.Max {
			return errListenDone
		}
		return nil
	})
	if errors.Is(err, errListenDone) {
		return nil
	}
	return err
}

// errListenDone ends a listen that had its Max events.
var errListenDone = errors.New("aiflow: listened to Max events")

// listen pages through the log from f.After, waking on notifications and
// polling.
func listen(ctx context.Context, st store.Store, poll time.Duration, clock interface {
	After(time.Duration) <-chan time.Time
}, f store.EventFilter, fn func(*store.Event) error) error {
	wake, unsubscribe := st.Subscribe()
	defer unsubscribe()
	for {
		for {
			evs, next, err := st.ListEvents(ctx, f)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
			for i := range evs {
				if err := fn(&evs[i]); err != nil {
					return err
				}
			}
			moved := next != f.After
			f.After = next
			if !moved {
				break
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-clock.After(poll):
		}
	}
}

func orDefault(ns string) string {
	if ns == "" {
		return store.DefaultNamespace
	}
	return ns
}
