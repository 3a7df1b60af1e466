package store

// TaskStatus is the status of one task execution.
type TaskStatus string

// The task statuses. A task execution is alive while it is INIT, QUEUED,
// RUNNING, RETRYING or STOPPING, and finished once it is SUCCESS, FAILED or
// STOPPED; a finished status is final.
const (
	TaskInit     TaskStatus = "INIT"
	TaskQueued   TaskStatus = "QUEUED"
	TaskRunning  TaskStatus = "RUNNING"
	TaskSuccess  TaskStatus = "SUCCESS"
	TaskFailed   TaskStatus = "FAILED"
	TaskStopping TaskStatus = "STOPPING"
	TaskStopped  TaskStatus = "STOPPED"
	TaskRetrying TaskStatus = "RETRYING"
)

// TaskStatuses lists every task status in lifecycle order.
var TaskStatuses = []TaskStatus{TaskInit, TaskQueued, TaskRunning, TaskSuccess, TaskFailed, TaskStopping, TaskStopped, TaskRetrying}

// Finished reports whether s is SUCCESS, FAILED or STOPPED.
func (s TaskStatus) Finished() bool {
	return s == TaskSuccess || s == TaskFailed || s == TaskStopped
}

// Alive reports whether s is INIT, QUEUED, RUNNING, RETRYING or STOPPING.
// STOPPING counts as alive: a task is not started again while its previous
// execution is still stopping.
func (s TaskStatus) Alive() bool {
	switch s {
	case TaskInit, TaskQueued, TaskRunning, TaskRetrying, TaskStopping:
		return true
	}
	return false
}

// Valid reports whether s is one of the task statuses.
func (s TaskStatus) Valid() bool {
	for _, v := range TaskStatuses {
		if s == v {
			return true
		}
	}
	return false
}

// WorkflowStatus is the status of one workflow execution.
type WorkflowStatus string

// The workflow execution statuses. SUCCESS, FAILED and STOPPED are final.
const (
	WorkflowInit    WorkflowStatus = "INIT"
	WorkflowRunning WorkflowStatus = "RUNNING"
	WorkflowSuccess WorkflowStatus = "SUCCESS"
	WorkflowFailed  WorkflowStatus = "FAILED"
	WorkflowStopped WorkflowStatus = "STOPPED"
)

// WorkflowStatuses lists every workflow execution status.
var WorkflowStatuses = []WorkflowStatus{WorkflowInit, WorkflowRunning, WorkflowSuccess, WorkflowFailed, WorkflowStopped}

// Finished reports whether s is SUCCESS, FAILED or STOPPED.
func (s WorkflowStatus) Finished() bool {
	return s == WorkflowSuccess || s == WorkflowFailed || s == WorkflowStopped
}

// Valid reports whether s is one of the workflow statuses.
func (s WorkflowStatus) Valid() bool {
	for _, v := range WorkflowStatuses {
		if s == v {
			return true
		}
	}
	return false
}

// RunType says what started a workflow execution.
type RunType string

// The run types.
const (
	RunManual   RunType = "MANUAL"   // started by a call (API, CLI, HTTP)
	RunPeriodic RunType = "PERIODIC" // started by a workflow schedule
	RunEvent    RunType = "EVENT"    // started by a workflow trigger
)
