package aiflow

import "github.com/aiflow-go/aiflow/store"

// Keys of events the library appends to the log itself, in the namespace
// they concern, so that programs can list, count or listen to them
// (Client.ListEvents, "aiflow event list") without spelling the keys. Their
// values and meanings do not change before v1. User events may not use keys
// that start with "aiflow.".
const (
	// KeyPoisonEvent records an event skipped for an execution or a trigger
	// after applying it failed Config.PoisonAttempts times (a condition
	// returned an error or panicked); its value says why.
	KeyPoisonEvent = store.KeyPoisonEvent // "aiflow.poison_event"
	// KeyScheduleTick records a firing of a workflow schedule's tick.
	KeyScheduleTick = store.KeyScheduleTick // "aiflow.schedule_tick"
	// KeyPeriodicTick records a firing of a periodic task's tick.
	KeyPeriodicTick = store.KeyPeriodicTick // "aiflow.periodic_tick"
	// KeyScheduleSkipped records ticks of a workflow schedule that did not
	// start an execution (missed beyond its catch-up, or skipped by its
	// overlap policy); its value says why.
	KeyScheduleSkipped = store.KeyScheduleSkipped // "aiflow.schedule_skipped"
	// KeyTriggerSkipped records a met trigger condition that started no
	// execution because its workflow is disabled.
	KeyTriggerSkipped = store.KeyTriggerSkipped // "aiflow.trigger_skipped"
)

// TaskStatusKey returns the key of the status events of a task:
// "aiflow.task_status.<workflow>.<task>". Their value is the new TaskStatus;
// a Condition that expects this key sees the task's status changes.
func TaskStatusKey(workflow, task string) string { return store.StatusKey(workflow, task) }

// WorkflowStatusKey returns the key of the status events of a workflow's
// executions: "aiflow.workflow_status.<workflow>", appended when an
// execution starts running and when it finishes; their value is the
// WorkflowStatus.
func WorkflowStatusKey(workflow string) string { return store.WorkflowStatusKey(workflow) }
