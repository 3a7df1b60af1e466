package store

import (
	"encoding/json"
	"time"
)

// StatusData is the JSON payload of a status event.
type StatusData struct {
	Attempt  int `json:"attempt"`
	Failures int `json:"failures,omitempty"`
	// Interruptions is the task execution's count of attempts interrupted
	// by the loss of their worker (see WorkerLost).
	Interruptions int `json:"interruptions,omitempty"`
	// Error is the failed attempt's error.
	Error string `json:"error,omitempty"`
	// Interrupted marks an attempt that ended without failing: cancelled by
	// a shutdown, or whose worker was lost. Its next attempt is dispatched
	// at once, without the retry policy's backoff.
	Interrupted bool `json:"interrupted,omitempty"`
	// Reason says why the status changed when a user may wonder (a stop
	// request, a lost worker).
	Reason string `json:"reason,omitempty"`
}

// Senders of the library's own events.
const (
	SenderEngine = "aiflow.engine"
	SenderWorker = "aiflow.worker"
	SenderReaper = "aiflow.reaper"
	SenderClient = "aiflow.client"
)

// NewStatusEvent builds the status event of te entering status. Every backend
// and the engine build status events with it, so they look the same
// everywhere. The event carries te's TraceParent (the trace context of the
// event that started te), so that the task's status events, and the tasks
// they start in turn, stay in that event's trace.
func NewStatusEvent(te *TaskExecutionRecord, status TaskStatus, data StatusData, sender string) Event {
	if data.Attempt == 0 {
		data.Attempt = te.Attempt
	}
	payload := data.appendJSON(make([]byte, 0, 32))
	return Event{
		Kind:            KindStatus,
		Namespace:       te.Namespace,
		Key:             StatusKey(te.Workflow, te.Task),
		Value:           string(status),
		Sender:          sender,
		Workflow:        te.Workflow,
		ExecutionID:     te.ExecutionID,
		TaskName:        te.Task,
		TaskExecutionID: te.ID,
		SeqNum:          te.SeqNum,
		Data:            payload,
		TraceParent:     te.TraceParent,
	}
}

// DecodeStatusData decodes the payload of a status event; a malformed or
// empty payload gives the zero StatusData.
func DecodeStatusData(ev *Event) StatusData {
	if d, ok := decodeStatusFast(ev.Data); ok {
		return d
	}
	var d StatusData
	if len(ev.Data) > 0 {
		_ = json.Unmarshal(ev.Data, &d)
	}
	return d
}

// FinalStatus decides how an attempt ends. cur is the task execution as stored
// when the attempt returns; runErr is what the handler returned; interrupted
// is true when the attempt was cancelled because the workers were stopping.
//
//   - a task execution that is STOPPING ends STOPPED, whatever the attempt did;
//   - a nil error is SUCCESS;
//   - an interrupted attempt is RETRYING without counting as a failure;
//   - a failure is RETRYING while failures stay below MaxAttempts, else FAILED.
func FinalStatus(cur *TaskExecutionRecord, runErr error, interrupted bool) (TaskStatus, StatusData) {
	data := StatusData{Attempt: cur.Attempt, Failures: cur.Failures, Interruptions: cur.Interruptions}
	switch {
	case cur.Status == TaskStopping:
		return TaskStopped, data
	case runErr == nil:
		return TaskSuccess, data
	case interrupted:
		data.Interrupted = true
		data.Error = runErr.Error()
		return TaskRetrying, data
	}
	data.Failures++
	data.Error = runErr.Error()
	max := cur.MaxAttempts
	if max < 1 {
		max = 1
	}
	if data.Failures < max {
		return TaskRetrying, data
	}
	return TaskFailed, data
}

// StartExecutionData is the JSON payload of a start_execution control event.
// The execution id is allocated by the requester and carried in the event's
// ExecutionID.
type StartExecutionData struct {
	RunType    RunType `json:"run_type"`
	ScheduleID int64   `json:"schedule_id,omitempty"`
	TriggerID  int64   `json:"trigger_id,omitempty"`
	// FireTime is the nominal time of the schedule tick that started it.
	FireTime time.Time `json:"fire_time,omitzero"`
	// Input is the execution's input (WorkflowExecutionRecord.Input), for
	// its conditions.
	Input string `json:"input,omitempty"`
	// Counted is set on the start request that a workflow's partition
	// hands to the partition of an execution it started (a trigger or a
	// schedule tick; see Placement): the workflow's partition already counts
	// the execution as running.
	Counted bool `json:"counted,omitempty"`
}

// ControlData is the JSON payload of the other control events.
type ControlData struct {
	Reason string `json:"reason,omitempty"`
	// Running, on the status event of an execution that lives outside its
	// workflow's partition (see Placement), is how the event changes the
	// workflow's count of running executions (+1 when it starts, -1 when it
	// ends), which the workflow's partition applies when it reads it; 0
	// otherwise.
	Running int `json:"running,omitempty"`
}

// PoisonData is the JSON payload of a poison_event event: the engine could not
// apply an event to an execution after repeated attempts and skipped it.
type PoisonData struct {
	EventID       int64  `json:"event_id"`
	EventPosition string `json:"event_position"`
	EventKey      string `json:"event_key"`
	Error         string `json:"error"`
	Target        string `json:"target"`
}
