package store

import (
	"strings"
	"testing"
)

func TestDispatchStatus(t *testing.T) {
	tests := []struct {
		name       string
		status     TaskStatus
		curAttempt int
		attempt    int
		want       TaskStatus
		ok         bool
	}{
		{"first attempt of INIT queues it", TaskInit, 0, 1, TaskQueued, true},
		{"a later attempt of INIT does nothing", TaskInit, 0, 2, TaskInit, false},
		{"a later attempt of RETRYING keeps it RETRYING", TaskRetrying, 1, 2, TaskRetrying, true},
		{"the same attempt of RETRYING does nothing", TaskRetrying, 2, 2, TaskRetrying, false},
		{"an earlier attempt of RETRYING does nothing", TaskRetrying, 3, 2, TaskRetrying, false},
		{"QUEUED does nothing", TaskQueued, 1, 1, TaskQueued, false},
		{"RUNNING does nothing", TaskRunning, 1, 2, TaskRunning, false},
		{"STOPPING does nothing", TaskStopping, 1, 2, TaskStopping, false},
		{"STOPPED does nothing", TaskStopped, 1, 1, TaskStopped, false},
		{"SUCCESS does nothing", TaskSuccess, 1, 2, TaskSuccess, false},
		{"FAILED does nothing", TaskFailed, 1, 2, TaskFailed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := &TaskExecutionRecord{Status: tt.status, Attempt: tt.curAttempt}
			got, ok := DispatchStatus(te, tt.attempt)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("DispatchStatus(%s attempt %d, %d) = %s, %v; want %s, %v", tt.status, tt.curAttempt, tt.attempt, got, ok, tt.want, tt.ok)
			}
			if te.Status != tt.status || te.Attempt != tt.curAttempt {
				t.Fatalf("DispatchStatus changed its argument to %s attempt %d", te.Status, te.Attempt)
			}
		})
	}
}

func TestStop(t *testing.T) {
	tests := []struct {
		status      TaskStatus
		action      StopAction
		wantStatus  TaskStatus
		wantAttempt int
	}{
		{TaskInit, StopNow, TaskStopped, 3},
		{TaskQueued, StopNow, TaskStopped, 3},
		{TaskRetrying, StopNow, TaskStopped, 3},
		{TaskRunning, StopRunning, TaskStopping, 2},
		{TaskStopping, StopIgnored, TaskStopping, 2},
		{TaskStopped, StopIgnored, TaskStopped, 2},
		{TaskSuccess, StopIgnored, TaskSuccess, 2},
		{TaskFailed, StopIgnored, TaskFailed, 2},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			te := &TaskExecutionRecord{ID: 7, ExecutionID: 3, Namespace: "ns", Workflow: "wf", Task: "t", SeqNum: 4, Status: tt.status, Attempt: 2}
			got := Stop(te, "by user")
			if got.Action != tt.action || got.Status != tt.wantStatus || got.Attempt != tt.wantAttempt {
				t.Fatalf("Stop(%s attempt 2) = action %d, %s attempt %d; want action %d, %s attempt %d",
					tt.status, got.Action, got.Status, got.Attempt, tt.action, tt.wantStatus, tt.wantAttempt)
			}
			if te.Status != tt.status || te.Attempt != 2 {
				t.Fatalf("Stop changed its argument to %s attempt %d", te.Status, te.Attempt)
			}
			if tt.action == StopIgnored {
				if got.Event.Kind != 0 || got.Event.Data != nil {
					t.Fatalf("Stop(%s) wrote an event: %+v", tt.status, got.Event)
				}
				return
			}
			ev := got.Event
			if ev.Kind != KindStatus || ev.Value != string(tt.wantStatus) || ev.Sender != SenderEngine || ev.TaskExecutionID != 7 || ev.SeqNum != 4 {
				t.Fatalf("Stop(%s) event = %+v; want the %s status event of task execution 7 from the engine", tt.status, ev, tt.wantStatus)
			}
			if d := DecodeStatusData(&ev); d.Attempt != tt.wantAttempt || d.Reason != "by user" {
				t.Fatalf("Stop(%s) event data = %+v; want attempt %d, reason %q", tt.status, d, tt.wantAttempt, "by user")
			}
		})
	}
}

func TestWorkerLost(t *testing.T) {
	const cause = "heartbeat lost"
	tests := []struct {
		name              string
		status            TaskStatus
		interruptions     int
		max               int
		want              TaskStatus
		wantInterruptions int
		interrupted       bool
	}{
		{"the first interruption runs it again", TaskRunning, 0, 3, TaskRetrying, 1, true},
		{"the last allowed interruption runs it again", TaskRunning, 2, 3, TaskRetrying, 3, true},
		{"one more fails it", TaskRunning, 3, 3, TaskFailed, 4, false},
		{"a limit of 0 fails at the first", TaskRunning, 0, 0, TaskFailed, 1, false},
		{"a negative limit counts as 0", TaskRunning, 0, -1, TaskFailed, 1, false},
		{"a stopping task ends stopped", TaskStopping, 3, 3, TaskStopped, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := &TaskExecutionRecord{Status: tt.status, Attempt: 2, Failures: 1, MaxAttempts: 1,
				Interruptions: tt.interruptions, MaxInterruptions: tt.max}
			got, d := WorkerLost(te, cause)
			if got != tt.want || d.Interruptions != tt.wantInterruptions || d.Interrupted != tt.interrupted {
				t.Fatalf("WorkerLost(%s, %d of %d) = %s, %+v; want %s with %d interruptions, interrupted %v",
					tt.status, tt.interruptions, tt.max, got, d, tt.want, tt.wantInterruptions, tt.interrupted)
			}
			if d.Failures != 1 || d.Attempt != 2 {
				t.Fatalf("WorkerLost changed the failures or the attempt: %+v", d)
			}
			if !strings.HasPrefix(d.Reason, ReasonWorkerLost) || !strings.Contains(d.Reason, cause) {
				t.Fatalf("reason %q: want it to start with %q and name the cause", d.Reason, ReasonWorkerLost)
			}
			if failed := strings.HasPrefix(d.Error, WorkersKeptDying); failed != (got == TaskFailed) {
				t.Fatalf("error %q for %s: want it to start with %q exactly when FAILED", d.Error, got, WorkersKeptDying)
			}
			if te.Status != tt.status || te.Interruptions != tt.interruptions {
				t.Fatalf("WorkerLost changed its argument")
			}
		})
	}
}

func TestWorkerLostBeforeStart(t *testing.T) {
	te := &TaskExecutionRecord{Status: TaskQueued, Attempt: 2, Failures: 1, MaxAttempts: 1, Interruptions: 3, MaxInterruptions: 3}
	got, d := WorkerLostBeforeStart(te)
	if got != TaskRetrying || !d.Interrupted || d.Failures != 1 || d.Interruptions != 3 || d.Reason != ReasonWorkerLost+" before the attempt started" {
		t.Fatalf("WorkerLostBeforeStart = %s, %+v; want RETRYING, interrupted, counted neither as a failure nor as an interruption", got, d)
	}
}
