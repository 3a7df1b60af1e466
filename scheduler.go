package aiflow

import (
	"context"
	"fmt"
	"time"

	"github.com/aiflow-go/aiflow/internal/engine"
	"github.com/aiflow-go/aiflow/internal/schedule"
	"github.com/aiflow-go/aiflow/store"
)

// Schedule expressions, accepted by Periodic and AddWorkflowSchedule:
//
//	cron@<minute> <hour> <day of month> <month> <day of week>
//	interval@<days> <hours> <minutes> <seconds>
//
// A cron expression is a standard 5-field crontab, evaluated in a time zone
// (UTC unless given). An interval has exactly four space-separated items; a
// blank item counts as 0; negative items and a zero interval are rejected.
// Interval ticks fall at whole multiples of the interval after their anchor:
// the workflow execution's creation for a periodic task, the schedule's
// creation for a workflow schedule, each rounded down to the whole second (so
// the first tick may come up to a second less than one interval after the
// start). A bad expression is rejected where it is declared
// (registration, AddWorkflowSchedule) with an error that quotes it and shows
// the accepted forms.
const ScheduleForms = schedule.Forms

// ValidateSchedule checks a schedule expression, and a time zone name (empty
// means UTC).
func ValidateSchedule(expr, timeZone string) error {
	loc, err := loadLocation(timeZone)
	if err != nil {
		return err
	}
	if _, err := schedule.Parse(expr, loc); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func loadLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w: time zone %q: expected an IANA name such as \"UTC\" or \"Europe/Paris\": %v", ErrInvalid, name, err)
	}
	return loc, nil
}

// Periodic makes a task periodic: on every tick of expr (a schedule
// expression, see ScheduleForms; cron in UTC) the task is restarted within
// its workflow execution, with RESTART semantics (a run still alive is stopped
// first). Downstream StartAfter tasks run after each successful run. A
// periodic task keeps its execution RUNNING until the execution is stopped;
// its timer goes away then. A periodic task without a START rule also starts
// with the execution.
func Periodic(expr string) TaskOption { return PeriodicIn(expr, "") }

// PeriodicIn is Periodic with cron expressions evaluated in the IANA time zone
// timeZone.
func PeriodicIn(expr, timeZone string) TaskOption {
	return func(t *Task) {
		t.periodic, t.periodicTZ = expr, timeZone
		if err := ValidateSchedule(expr, timeZone); err != nil {
			t.optErrs = append(t.optErrs, "Periodic: "+trimSentinel(err))
		}
	}
}

// ---- workflow schedules ----

// WorkflowSchedule is a timer that starts an execution of a workflow (run type
// PERIODIC) on every tick of its expression.
type WorkflowSchedule = store.ScheduleRecord

// Overlap policies of workflow schedules (ScheduleOpts.Overlap).
const (
	OverlapAllow = store.OverlapAllow
	OverlapSkip  = store.OverlapSkip
)

// MaxCatchUp bounds ScheduleOpts.CatchUp.
const MaxCatchUp = 1000

// ScheduleOpts are the options of AddWorkflowSchedule. A nil *ScheduleOpts
// means the defaults.
type ScheduleOpts struct {
	// Namespace of the workflow; "default" when empty.
	Namespace string
	// TimeZone of cron expressions (IANA name); UTC when empty.
	TimeZone string
	// Overlap is OverlapAllow (the default: every tick starts an execution)
	// or OverlapSkip (a tick is skipped while an execution of the workflow
	// is running).
	Overlap string
	// CatchUp is how many missed ticks fire late: ticks that fell due while
	// no client led, or while the leader's timer was late (a stall, a slow
	// store). The most recent CatchUp of them fire, in time order; the
	// others are skipped, and an "aiflow.schedule_skipped" event says how
	// many. 0 (the default) skips missed ticks. At most MaxCatchUp. Ticks
	// that fall due while the schedule is paused never fire.
	CatchUp int
}

// AddWorkflowSchedule adds a schedule to a registered workflow; one workflow
// may have several. Ticks are fired by the elected leader among the clients
// sharing the store, each exactly once. A tick of a disabled workflow starts
// nothing (an "aiflow.schedule_skipped" event says so).
func (c *Client) AddWorkflowSchedule(ctx context.Context, workflow, expr string, opts *ScheduleOpts) (*WorkflowSchedule, error) {
	if opts == nil {
		opts = &ScheduleOpts{}
	}
	op := "add workflow schedule"
	ns := orDefault(opts.Namespace)
	if err := ValidateSchedule(expr, opts.TimeZone); err != nil {
		return nil, opError(op, err)
	}
	overlap := opts.Overlap
	switch overlap {
	case "":
		overlap = OverlapAllow
	case OverlapAllow, OverlapSkip:
	default:
		return nil, opError(op, fmt.Errorf("%w: overlap policy %q: expected %q or %q", ErrInvalid, overlap, OverlapAllow, OverlapSkip))
	}
	if opts.CatchUp < 0 || opts.CatchUp > MaxCatchUp {
		return nil, opError(op, fmt.Errorf("%w: CatchUp %d: expected 0 (skip missed ticks) to %d", ErrInvalid, opts.CatchUp, MaxCatchUp))
	}
	if _, err := c.getWorkflow(ctx, ns, workflow); err != nil {
		return nil, opError(op, err)
	}
	tz := opts.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	rec, err := c.store.AddSchedule(ctx, store.ScheduleRecord{
		Namespace: ns, Workflow: workflow, Expression: expr, TimeZone: tz, Overlap: overlap, CatchUp: opts.CatchUp,
	}, scheduleChanged(ns, workflow))
	if err != nil {
		return nil, opError(op, err)
	}
	return &rec, nil
}

func scheduleChanged(ns, workflow string) store.Event {
	return store.Event{Kind: store.KindControl, Namespace: ns, Key: store.KeyScheduleChanged, Sender: store.SenderClient, Workflow: workflow}
}

// GetWorkflowSchedule returns a workflow schedule.
func (c *Client) GetWorkflowSchedule(ctx context.Context, id int64) (*WorkflowSchedule, error) {
	rec, err := c.store.GetSchedule(ctx, id)
	if err != nil {
		return nil, opError("get workflow schedule", err)
	}
	return &rec, nil
}

// ListWorkflowSchedules lists the schedules of a workflow (of every workflow
// of the namespace when workflow is empty; of every namespace when namespace
// is empty too). It fails with ErrNamespaceNotFound for a namespace that does
// not exist.
func (c *Client) ListWorkflowSchedules(ctx context.Context, namespace, workflow string) ([]WorkflowSchedule, error) {
	if err := c.requireNamespace(ctx, namespace); err != nil {
		return nil, opError("list workflow schedules", err)
	}
	recs, err := c.store.ListSchedules(ctx, namespace, workflow)
	return recs, opError("list workflow schedules", err)
}

// PauseWorkflowSchedule stops a schedule's ticks until it is resumed.
func (c *Client) PauseWorkflowSchedule(ctx context.Context, id int64) error {
	return c.setSchedulePaused(ctx, "pause workflow schedule", id, true)
}

// ResumeWorkflowSchedule resumes a paused schedule. Ticks that fell due
// while it was paused are not fired, whatever its CatchUp; ticks missed after
// the resume (no client leading) are caught up as usual.
func (c *Client) ResumeWorkflowSchedule(ctx context.Context, id int64) error {
	return c.setSchedulePaused(ctx, "resume workflow schedule", id, false)
}

func (c *Client) setSchedulePaused(ctx context.Context, op string, id int64, paused bool) error {
	rec, err := c.store.GetSchedule(ctx, id)
	if err != nil {
		return opError(op, err)
	}
	return opError(op, c.store.SetSchedulePaused(ctx, id, paused, scheduleChanged(rec.Namespace, rec.Workflow)))
}

// DeleteWorkflowSchedule deletes a schedule.
func (c *Client) DeleteWorkflowSchedule(ctx context.Context, id int64) error {
	rec, err := c.store.GetSchedule(ctx, id)
	if err != nil {
		return opError("delete workflow schedule", err)
	}
	return opError("delete workflow schedule", c.store.DeleteSchedule(ctx, id, scheduleChanged(rec.Namespace, rec.Workflow)))
}

// DeleteWorkflowSchedules deletes every schedule of a workflow and returns
// how many it deleted.
func (c *Client) DeleteWorkflowSchedules(ctx context.Context, namespace, workflow string) (int, error) {
	ns := orDefault(namespace)
	if _, err := c.getWorkflow(ctx, ns, workflow); err != nil {
		return 0, opError("delete workflow schedules", err)
	}
	recs, err := c.store.ListSchedules(ctx, ns, workflow)
	if err != nil {
		return 0, opError("delete workflow schedules", err)
	}
	n := 0
	for _, r := range recs {
		if err := c.store.DeleteSchedule(ctx, r.ID, scheduleChanged(r.Namespace, r.Workflow)); err != nil {
			return n, opError("delete workflow schedules", err)
		}
		n++
	}
	return n, nil
}

// ---- workflow triggers ----

// WorkflowTrigger is a condition over the events of a workflow's namespace
// that starts an execution of the workflow (run type EVENT) when met.
type WorkflowTrigger = store.TriggerRecord

// TriggerOpts are the options of AddWorkflowTrigger. A nil *TriggerOpts means
// the defaults.
type TriggerOpts struct {
	// Namespace of the workflow; "default" when empty.
	Namespace string
}

// AddWorkflowTrigger attaches a trigger named name to a registered workflow:
// when cond is met by a user event of the workflow's namespace (whatever
// execution, if any, sent it), an execution of the workflow starts. The
// condition's state (ValueState) is per workflow and lasts across executions.
// Per workflow, triggers are evaluated in creation order and the first one met
// starts an execution. Paused triggers are not evaluated; a disabled workflow
// is not started (an "aiflow.trigger_skipped" event says so). Task status
// changes are internal to their workflow and never reach triggers.
//
// The condition is Go code: every client that may consume the workflow's
// events must add the trigger (do it at start-up, next to Register). Adding
// an existing trigger (same workflow and name) registers its condition in
// this client and returns the stored trigger unchanged.
func (c *Client) AddWorkflowTrigger(ctx context.Context, workflow, name string, cond Condition, opts *TriggerOpts) (*WorkflowTrigger, error) {
	if opts == nil {
		opts = &TriggerOpts{}
	}
	op := "add workflow trigger"
	ns := orDefault(opts.Namespace)
	if err := store.ValidateName("trigger", name); err != nil {
		return nil, opError(op, err)
	}
	if cond == nil {
		return nil, opError(op, fmt.Errorf("%w: trigger %q: condition is nil", ErrInvalid, name))
	}
	keys := cond.ExpectedKeys()
	if len(keys) == 0 {
		return nil, opError(op, fmt.Errorf("%w: trigger %q: condition %T expects no event keys: expected at least one key", ErrInvalid, name, cond))
	}
	for _, k := range keys {
		if p := keyProblem(k); p != "" {
			return nil, opError(op, fmt.Errorf("%w: trigger %q: %s", ErrInvalid, name, p))
		}
	}
	if _, err := c.getWorkflow(ctx, ns, workflow); err != nil {
		return nil, opError(op, err)
	}
	cond = assignStateNames(cond, "trigger."+name)
	c.reg.AddTrigger(&engine.Trigger{Namespace: ns, Workflow: workflow, Name: name, Keys: keys, Cond: compileCondition(cond)})
	rec, _, err := c.store.UpsertTrigger(ctx, store.TriggerRecord{Namespace: ns, Workflow: workflow, Name: name, Keys: keys},
		func(r store.TriggerRecord) store.Event {
			return triggerEvent(store.KeyTriggerAdded, r)
		})
	if err != nil {
		return nil, opError(op, err)
	}
	return &rec, nil
}

func triggerEvent(key string, r store.TriggerRecord) store.Event {
	data := fmt.Appendf(nil, `{"trigger_id":%d,"name":%q}`, r.ID, r.Name)
	return store.Event{Kind: store.KindControl, Namespace: r.Namespace, Key: key, Sender: store.SenderClient, Workflow: r.Workflow, Data: data}
}

// GetWorkflowTrigger returns a workflow trigger.
func (c *Client) GetWorkflowTrigger(ctx context.Context, id int64) (*WorkflowTrigger, error) {
	rec, err := c.store.GetTrigger(ctx, id)
	if err != nil {
		return nil, opError("get workflow trigger", err)
	}
	return &rec, nil
}

// ListWorkflowTriggers lists the triggers of a workflow (of every workflow of
// the namespace when workflow is empty; of every namespace when namespace is
// empty too). It fails with ErrNamespaceNotFound for a namespace that does
// not exist.
func (c *Client) ListWorkflowTriggers(ctx context.Context, namespace, workflow string) ([]WorkflowTrigger, error) {
	if err := c.requireNamespace(ctx, namespace); err != nil {
		return nil, opError("list workflow triggers", err)
	}
	recs, err := c.store.ListTriggers(ctx, namespace, workflow)
	return recs, opError("list workflow triggers", err)
}

// PauseWorkflowTrigger stops evaluating a trigger until it is resumed.
func (c *Client) PauseWorkflowTrigger(ctx context.Context, id int64) error {
	return c.setTriggerPaused(ctx, "pause workflow trigger", id, true)
}

// ResumeWorkflowTrigger resumes a paused trigger.
func (c *Client) ResumeWorkflowTrigger(ctx context.Context, id int64) error {
	return c.setTriggerPaused(ctx, "resume workflow trigger", id, false)
}

func (c *Client) setTriggerPaused(ctx context.Context, op string, id int64, paused bool) error {
	rec, err := c.store.GetTrigger(ctx, id)
	if err != nil {
		return opError(op, err)
	}
	key := store.KeyTriggerResumed
	if paused {
		key = store.KeyTriggerPaused
	}
	return opError(op, c.store.SetTriggerPaused(ctx, id, paused, triggerEvent(key, rec)))
}

// DeleteWorkflowTrigger deletes a trigger.
func (c *Client) DeleteWorkflowTrigger(ctx context.Context, id int64) error {
	rec, err := c.store.GetTrigger(ctx, id)
	if err != nil {
		return opError("delete workflow trigger", err)
	}
	return opError("delete workflow trigger", c.store.DeleteTrigger(ctx, id, triggerEvent(store.KeyTriggerDeleted, rec)))
}

// DeleteWorkflowTriggers deletes every trigger of a workflow and returns how
// many it deleted.
func (c *Client) DeleteWorkflowTriggers(ctx context.Context, namespace, workflow string) (int, error) {
	ns := orDefault(namespace)
	if _, err := c.getWorkflow(ctx, ns, workflow); err != nil {
		return 0, opError("delete workflow triggers", err)
	}
	recs, err := c.store.ListTriggers(ctx, ns, workflow)
	if err != nil {
		return 0, opError("delete workflow triggers", err)
	}
	n := 0
	for _, r := range recs {
		if err := c.store.DeleteTrigger(ctx, r.ID, triggerEvent(store.KeyTriggerDeleted, r)); err != nil {
			return n, opError("delete workflow triggers", err)
		}
		n++
	}
	return n, nil
}
