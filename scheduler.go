package aiflow

import (
	"context"
	"fmt"
	"time"

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
	if err := c.stoppedError("add workflow schedule"); err != nil {
		return nil, err
	}
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
	if err := c.stoppedError("get workflow schedule"); err != nil {
		return nil, err
	}
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
	if err := c.stoppedError("list workflow schedules"); err != nil {
		return nil, err
	}
	if err := c.requireNamespace(ctx, namespace); err != nil {
		return nil, opError("list workflow schedules", err)
	}
	recs, err := c.store.ListSchedules(ctx, namespace, workflow)
	return recs, opError("list workflow schedules", err)
}

// PauseWorkflowSchedule stops a schedule's ticks until it is resumed.
func (c *Client) PauseWorkflowSchedule(ctx context.Context, id int64) error {
	if err := c.stoppedError("pause workflow schedule"); err != nil {
		return err
	}
	return c.setSchedulePaused(ctx, "pause workflow schedule", id, true)
}

// ResumeWorkflowSchedule resumes a paused schedule. Ticks that fell due
// while it was paused are not fired, whatever its CatchUp; ticks missed after
// the resume (no client leading) are caught up as usual.
func (c *Client) ResumeWorkflowSchedule(ctx context.Context, id int64) error {
	if err := c.stoppedError("resume workflow schedule"); err != nil {
		return err
	}
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
	if err := c.stoppedError("delete workflow schedule"); err != nil {
		return err
	}
	rec, err := c.store.GetSchedule(ctx, id)
	if err != nil {
		return opError("delete workflow schedule", err)
	}
	return opError("delete workflow schedule", c.store.DeleteSchedule(ctx, id, scheduleChanged(rec.Namespace, rec.Workflow)))
}

// DeleteWorkflowSchedules deletes every schedule of a workflow and returns
// how many it deleted.
func (c *Client) DeleteWorkflowSchedules(ctx context.Context, namespace, workflow string) (int, error) {
	if err := c.stoppedError("delete workflow schedules"); err != nil {
		return 0, err
	}
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
