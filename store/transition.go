package store

import (
	"errors"
	"fmt"
)

// This file is the one home of what a dispatch or a stop request does to a
// task execution. Both backends call these functions and only write their
// result; FinalStatus (task.go) decides how an attempt ends, and WorkerLost
// how it ends when its worker was lost.

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

// MaxInterruptionsDefault is the number of interruptions by a lost worker
// that a task execution survives when its client's Config.MaxInterruptions
// is zero.
const MaxInterruptionsDefault = 3

// WorkersKeptDying starts the error of a task execution failed by WorkerLost
// because its interruptions went over their limit.
const WorkersKeptDying = "the workers kept dying"

// ReasonWorkerLost starts the reason of the status events WorkerLost
// decides.
const ReasonWorkerLost = "worker lost"

// WorkerLostBeforeStart decides how an attempt ends whose worker was lost
// before the attempt recorded RUNNING (the task's code never ran): RETRYING,
// interrupted (the next attempt is dispatched at once), counted neither as a
// failure nor as an interruption. te is not changed.
func WorkerLostBeforeStart(te *TaskExecutionRecord) (TaskStatus, StatusData) {
	status, data := FinalStatus(te, errLostBeforeStart, true)
	data.Reason = ReasonWorkerLost + " before the attempt started"
	return status, data
}

var errLostBeforeStart = errors.New("the worker was lost before the attempt started")

// WorkerLost decides how an attempt ends when the worker that ran it was
// lost after the attempt recorded RUNNING (its process died, or was cut off
// from the store or paused for longer than its lease), whether its body had
// started, was running or had even returned. cause says how the loss was
// noticed (a lease that expired, a lease the worker could no longer prove).
// te is the task execution as stored; it is not changed.
//
// The death of a worker is not the task's failure:
//
//   - a STOPPING task execution ends STOPPED;
//   - otherwise the loss is an interruption: while the task execution's
//     interruptions, this one included, stay within MaxInterruptions it goes
//     to RETRYING, interrupted (its next attempt is dispatched at once, and
//     its retry policy's failures are not touched);
//   - the interruption after those ends it FAILED with an error that starts
//     with WorkersKeptDying.
//
// The status event's reason starts with ReasonWorkerLost and says which of
// these happened.
func WorkerLost(te *TaskExecutionRecord, cause string) (TaskStatus, StatusData) {
	data := StatusData{Attempt: te.Attempt, Failures: te.Failures, Interruptions: te.Interruptions}
	if te.Status == TaskStopping {
		data.Reason = ReasonWorkerLost + " while stopping: " + cause
		return TaskStopped, data
	}
	data.Interruptions++
	limit := max(te.MaxInterruptions, 0)
	if data.Interruptions <= limit {
		data.Interrupted = true
		data.Error = cause
		data.Reason = fmt.Sprintf("%s: %s; interruption %d of at most %d, the task runs again as a new attempt",
			ReasonWorkerLost, cause, data.Interruptions, limit)
		return TaskRetrying, data
	}
	data.Error = fmt.Sprintf("%s: %d attempts were interrupted by the loss of their worker, more than the %d that run again "+
		"(the client's Config.MaxInterruptions); the last one: %s", WorkersKeptDying, data.Interruptions, limit, cause)
	data.Reason = fmt.Sprintf("%s: %s; too many interruptions (%d, at most %d)", ReasonWorkerLost, cause, data.Interruptions, limit)
	return TaskFailed, data
}
