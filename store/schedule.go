package store

import (
	"context"
	"time"
)

// Overlap policies of workflow schedules.
const (
	// OverlapAllow starts an execution on every tick (the default, as in
	// AIFlow).
	OverlapAllow = "allow"
	// OverlapSkip skips a tick while an execution of the workflow is running.
	OverlapSkip = "skip"
)

// ScheduleRecord is a workflow schedule: a timer that starts an execution
// (run type PERIODIC) on every tick of its expression.
type ScheduleRecord struct {
	ID         int64
	Namespace  string
	Workflow   string
	Expression string
	// TimeZone is the IANA name of the time zone of cron expressions
	// ("UTC" by default).
	TimeZone string
	Paused   bool
	// Overlap is OverlapAllow or OverlapSkip.
	Overlap string
	// CatchUp is how many missed ticks (fallen due while no client led or
	// while the leader's timer was late) fire late, the most recent ones;
	// the others are skipped. 0 skips them all.
	CatchUp   int
	CreatedAt time.Time
	UpdatedAt time.Time
	// LastFireAt is the nominal time of the latest tick that fired (or was
	// recorded as missed and skipped).
	LastFireAt time.Time
	// ResumedAt is when the schedule was last resumed after a pause (zero if
	// it never was). Ticks at or before it that have not fired never fire:
	// ticks missed while paused are not caught up.
	ResumedAt time.Time
}

// TriggerRecord is a workflow trigger: a condition over the events of the
// workflow's namespace that starts an execution (run type EVENT) when met.
// The condition itself is Go code registered in each client; the store keeps
// its identity, the keys it expects and whether it is paused.
type TriggerRecord struct {
	ID        int64
	Namespace string
	Workflow  string
	Name      string
	Keys      []string
	Paused    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Firing is one tick of a timer: a workflow schedule (ScheduleID set) or a
// periodic task. Key and At identify the tick: a backend records each
// (Key, At) once, so a tick fires once whatever the number of leaders.
type Firing struct {
	Key string
	At  time.Time
	// ScheduleID, when set, makes the firing conditional: it happens only
	// if the schedule exists, is not paused and At is after its ResumedAt,
	// and it moves the schedule's LastFireAt forward to At.
	ScheduleID int64
	// Event is appended when the tick fires.
	Event Event
}

// Keys of schedule, timer and trigger control events.
const (
	KeyScheduleTick     = "aiflow.schedule_tick"
	KeyScheduleSkipped  = "aiflow.schedule_skipped"
	KeyScheduleChanged  = "aiflow.schedule_changed"
	KeyPeriodicTick     = "aiflow.periodic_tick"
	KeyTriggerAdded     = "aiflow.trigger_added"
	KeyTriggerPaused    = "aiflow.trigger_paused"
	KeyTriggerResumed   = "aiflow.trigger_resumed"
	KeyTriggerDeleted   = "aiflow.trigger_deleted"
	KeyTriggerSkipped   = "aiflow.trigger_skipped"
	KeyTriggerUnhandled = "aiflow.trigger_unhandled"
)

// TickData is the payload of schedule_tick and periodic_tick events, and of
// the schedule_skipped events of ticks.
type TickData struct {
	ScheduleID int64     `json:"schedule_id,omitempty"`
	FireTime   time.Time `json:"fire_time"`
	Overlap    string    `json:"overlap,omitempty"`
	// Missed, in the schedule_skipped event of missed ticks that were not
	// caught up (beyond the schedule's CatchUp), is how many ticks it
	// covers: from FirstMissed to FireTime. Zero otherwise.
	Missed      int       `json:"missed,omitempty"`
	FirstMissed time.Time `json:"first_missed,omitzero"`
}

// TriggerData is the payload of trigger control events.
type TriggerData struct {
	TriggerID int64  `json:"trigger_id"`
	Name      string `json:"name"`
}

// Schedules stores workflow schedules and timer firings. Every change appends
// its control event (ev) in the same transaction, so that the engine and the
// timers see changes in log order.
type Schedules interface {
	AddSchedule(ctx context.Context, rec ScheduleRecord, ev Event) (ScheduleRecord, error)
	GetSchedule(ctx context.Context, id int64) (ScheduleRecord, error)
	// ListSchedules lists schedules by id; empty namespace or workflow
	// select all.
	ListSchedules(ctx context.Context, namespace, workflow string) ([]ScheduleRecord, error)
	// SetSchedulePaused pauses or resumes a schedule; resuming a paused
	// schedule sets its ResumedAt to now.
	SetSchedulePaused(ctx context.Context, id int64, paused bool, ev Event) error
	DeleteSchedule(ctx context.Context, id int64, ev Event) error
	// FireTimer records a tick and appends its event, once per (Key, At).
	// It returns false when the tick had fired already (or the schedule is
	// paused or gone, or the tick is not after its ResumedAt).
	FireTimer(ctx context.Context, f Firing) (bool, error)
	// PruneFirings deletes the firing records that keep ticks from firing
	// twice once no leader can try those ticks again, and returns how many
	// it deleted: the records made at least minAge ago, except the
	// keep[key] latest (by nominal time, at least one) of each key of keep.
	// Records of keys missing from keep (deleted schedules, timers of
	// finished executions) all go once minAge old. A pruned tick would fire
	// again if a leader tried it.
	PruneFirings(ctx context.Context, keep map[string]int, minAge time.Duration) (int, error)
}

// Triggers stores workflow triggers.
type Triggers interface {
	// UpsertTrigger records a trigger by (namespace, workflow, name): a new
	// one is created (and ev appended, with the id set in its payload by the
	// caller's builder function) and an existing one returned unchanged
	// (created false).
	UpsertTrigger(ctx context.Context, rec TriggerRecord, ev func(TriggerRecord) Event) (TriggerRecord, bool, error)
	GetTrigger(ctx context.Context, id int64) (TriggerRecord, error)
	ListTriggers(ctx context.Context, namespace, workflow string) ([]TriggerRecord, error)
	SetTriggerPaused(ctx context.Context, id int64, paused bool, ev Event) error
	DeleteTrigger(ctx context.Context, id int64, ev Event) error
}

// Elector elects one leader among the clients sharing a store; timers and
// maintenance run on the leader only.
type Elector interface {
	// Elect campaigns for owner until ctx ends. The channel receives true
	// when owner becomes leader and false when it stops being leader, in
	// order, and is closed when ctx ends; a closed channel means not
	// leading.
	Elect(ctx context.Context, owner string) (<-chan bool, error)
}
