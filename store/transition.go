package store

// This file is the one home of what a dispatch or a stop request does to a
// task execution. Both backends call these functions and only write their
// result; FinalStatus (task.go) decides how an attempt ends.

// DispatchStatus decides what dispatching attempt does to te. The first
// attempt of an INIT task execution makes it QUEUED; a later attempt of a
// RETRYING one leaves it RETRYING. In both cases te's attempt becomes
// attempt. ok is false when the dispatch does nothing: te was stopped,
// finished or dispatched again since the engine decided it. te is not
// changed.
func DispatchStatus(te *TaskExecutionRecord, attempt int) (status TaskStatus, ok bool) {
	switch {
	case te.Status == TaskInit && attempt == 1:
		return TaskQueued, true
	case te.Status == TaskRetrying && attempt > te.Attempt:
		return TaskRetrying, true
	}
	return te.Status, false
}

// StopAction says what a backend does for a stop request, beyond writing
// the task execution's new status.
type StopAction int

const (
	// StopIgnored: the task execution is finished or already STOPPING;
	// nothing changes.
	StopIgnored StopAction = iota
	// StopNow: no attempt runs (INIT, QUEUED or RETRYING). The task
	// execution ends STOPPED at once with its attempt counted, and its
	// pending dispatches are cancelled.
	StopNow
	// StopRunning: an attempt runs. The task execution becomes STOPPING and
	// the running attempt is cancelled; FinalStatus ends it STOPPED.
	StopRunning
)

// StopTransition is what a stop request does to a task execution.
type StopTransition struct {
	Action StopAction
	// Status and Attempt are the task execution's new status and attempt
	// (unchanged with StopIgnored).
	Status  TaskStatus
	Attempt int
	// Event is the status event to append (zero with StopIgnored).
	Event Event
}

// Stop decides what a stop request for reason does to te. te is not changed.
func Stop(te *TaskExecutionRecord, reason string) StopTransition {
	var t StopTransition
	switch te.Status {
	case TaskInit, TaskQueued, TaskRetrying:
		t = StopTransition{Action: StopNow, Status: TaskStopped, Attempt: te.Attempt + 1}
	case TaskRunning:
		t = StopTransition{Action: StopRunning, Status: TaskStopping, Attempt: te.Attempt}
	default:
		return StopTransition{Action: StopIgnored, Status: te.Status, Attempt: te.Attempt}
	}
	t.Event = NewStatusEvent(te, t.Status, StatusData{Attempt: t.Attempt, Reason: reason}, SenderEngine)
	return t
}
