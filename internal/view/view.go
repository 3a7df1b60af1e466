// Package view holds the JSON (and YAML) shapes of the library's records as
// the command line prints them and the HTTP handler serves them, so that both
// speak the same language. Field names are snake_case; times are RFC 3339
// with nanoseconds in UTC, left out when unset.
//
// view depends only on what it shows. Its inputs are its own record types
// (NamespaceRecord, WorkflowRecord, ExecutionRecord, ...), each the struct
// type of the root package's public type: the same fields in the same order
// and of the same types. Each constructor (NewExecution, NewEvent, ...)
// takes any type whose underlying type is its record, so that the command
// line and the HTTP handler pass the public value as it is
// (view.NewExecution(x) for an aiflow.WorkflowExecution); the compiler
// refuses the call if the two drift apart. The status kinds are type
// parameters, inferred from the value.
//
// Import rule: view imports the standard library only.
package view

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Time formats t (empty when zero).
func Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Namespace is a namespace.
type Namespace struct {
	Name      string `json:"name" yaml:"name"`
	CreatedAt string `json:"created_at,omitempty" yaml:"created_at,omitempty"`
}

// NamespaceRecord has the fields of a namespace (aiflow.NamespaceInfo).
type NamespaceRecord = struct {
	Name      string
	CreatedAt time.Time
}

// NewNamespace converts a namespace.
func NewNamespace[N ~NamespaceRecord](nv N) Namespace {
	n := NamespaceRecord(nv)
	return Namespace{Name: n.Name, CreatedAt: Time(n.CreatedAt)}
}

// Workflow is a registered workflow; Definition and Versions are set by show
// only.
type Workflow struct {
	Namespace  string            `json:"namespace" yaml:"namespace"`
	Name       string            `json:"name" yaml:"name"`
	Version    string            `json:"version" yaml:"version"`
	Enabled    bool              `json:"enabled" yaml:"enabled"`
	CreatedAt  string            `json:"created_at,omitempty" yaml:"created_at,omitempty"`
	UpdatedAt  string            `json:"updated_at,omitempty" yaml:"updated_at,omitempty"`
	Definition any               `json:"definition,omitempty" yaml:"definition,omitempty"`
	Versions   []WorkflowVersion `json:"versions,omitempty" yaml:"versions,omitempty"`
}

// WorkflowVersion is one recorded version of a workflow.
type WorkflowVersion struct {
	Version   string `json:"version" yaml:"version"`
	CreatedAt string `json:"created_at,omitempty" yaml:"created_at,omitempty"`
}

// WorkflowRecord has the fields of a registered workflow
// (aiflow.WorkflowInfo).
type WorkflowRecord = struct {
	Namespace  string
	Name       string
	Version    string
	Definition []byte
	Enabled    bool
	Partition  int
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// WorkflowVersionRecord has the fields of a workflow version
// (aiflow.WorkflowVersion).
type WorkflowVersionRecord = struct {
	Namespace  string
	Workflow   string
	Version    string
	Definition []byte
	CreatedAt  time.Time
}

// NewWorkflow converts a workflow, without its definition.
func NewWorkflow[W ~WorkflowRecord](wv W) Workflow {
	w := WorkflowRecord(wv)
	return Workflow{Namespace: w.Namespace, Name: w.Name, Version: w.Version, Enabled: w.Enabled,
		CreatedAt: Time(w.CreatedAt), UpdatedAt: Time(w.UpdatedAt)}
}

// NewWorkflowDetail converts a workflow with its definition (decoded JSON)
// and versions.
func NewWorkflowDetail[W ~WorkflowRecord, V ~WorkflowVersionRecord](wv W, versions []V) Workflow {
	w := WorkflowRecord(wv)
	out := NewWorkflow(w)
	var def any
	if len(w.Definition) > 0 && json.Unmarshal(w.Definition, &def) == nil {
		out.Definition = def
	}
	out.Versions = make([]WorkflowVersion, len(versions))
	for i, vv := range versions {
		v := WorkflowVersionRecord(vv)
		out.Versions[i] = WorkflowVersion{Version: v.Version, CreatedAt: Time(v.CreatedAt)}
	}
	return out
}

// Execution is a workflow execution.
type Execution struct {
	ID         int64  `json:"id" yaml:"id"`
	Namespace  string `json:"namespace" yaml:"namespace"`
	Workflow   string `json:"workflow" yaml:"workflow"`
	Version    string `json:"version" yaml:"version"`
	Status     string `json:"status" yaml:"status"`
	RunType    string `json:"run_type" yaml:"run_type"`
	Note       string `json:"note,omitempty" yaml:"note,omitempty"`
	ScheduleID int64  `json:"schedule_id,omitempty" yaml:"schedule_id,omitempty"`
	TriggerID  int64  `json:"trigger_id,omitempty" yaml:"trigger_id,omitempty"`
	CreatedAt  string `json:"created_at,omitempty" yaml:"created_at,omitempty"`
	UpdatedAt  string `json:"updated_at,omitempty" yaml:"updated_at,omitempty"`
	EndedAt    string `json:"ended_at,omitempty" yaml:"ended_at,omitempty"`
	Input      string `json:"input,omitempty" yaml:"input,omitempty"`
}

// ExecutionRecord has the fields of a workflow execution
// (aiflow.WorkflowExecution); S is its status kind and R its run type kind.
type ExecutionRecord[S, R ~string] = struct {
	ID         int64
	Namespace  string
	Workflow   string
	Version    string
	Status     S
	RunType    R
	Note       string
	ScheduleID int64
	TriggerID  int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
	EndedAt    time.Time
	Input      string
}

// NewExecution converts a workflow execution.
func NewExecution[X ~ExecutionRecord[S, R], S, R ~string](xv X) Execution {
	x := ExecutionRecord[S, R](xv)
	return Execution{ID: x.ID, Namespace: x.Namespace, Workflow: x.Workflow, Version: x.Version, Status: string(x.Status),
		RunType: string(x.RunType), Note: x.Note, ScheduleID: x.ScheduleID, TriggerID: x.TriggerID,
		CreatedAt: Time(x.CreatedAt), UpdatedAt: Time(x.UpdatedAt), EndedAt: Time(x.EndedAt), Input: x.Input}
}

// TaskExecution is a task execution.
type TaskExecution struct {
	ID          int64  `json:"id" yaml:"id"`
	ExecutionID int64  `json:"execution_id" yaml:"execution_id"`
	Namespace   string `json:"namespace" yaml:"namespace"`
	Workflow    string `json:"workflow" yaml:"workflow"`
	Task        string `json:"task" yaml:"task"`
	SeqNum      int    `json:"seq_num" yaml:"seq_num"`
	Status      string `json:"status" yaml:"status"`
	Attempt     int    `json:"attempt" yaml:"attempt"`
	Failures    int    `json:"failures" yaml:"failures"`
	MaxAttempts int    `json:"max_attempts" yaml:"max_attempts"`
	// Interruptions counts the attempts interrupted by the loss of their
	// worker; MaxInterruptions of them run again.
	Interruptions    int                `json:"interruptions" yaml:"interruptions"`
	MaxInterruptions int                `json:"max_interruptions" yaml:"max_interruptions"`
	Streaming        bool               `json:"streaming" yaml:"streaming"`
	Timeout          string             `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	Error            string             `json:"error,omitempty" yaml:"error,omitempty"`
	Note             string             `json:"note,omitempty" yaml:"note,omitempty"`
	StatusMessage    string             `json:"status_message,omitempty" yaml:"status_message,omitempty"`
	Metrics          map[string]float64 `json:"metrics,omitempty" yaml:"metrics,omitempty"`
	CreatedAt        string             `json:"created_at,omitempty" yaml:"created_at,omitempty"`
	UpdatedAt        string             `json:"updated_at,omitempty" yaml:"updated_at,omitempty"`
	StartedAt        string             `json:"started_at,omitempty" yaml:"started_at,omitempty"`
	EndedAt          string             `json:"ended_at,omitempty" yaml:"ended_at,omitempty"`
}

// TaskExecutionRecord has the fields of a task execution
// (aiflow.TaskExecution); S is its status kind.
type TaskExecutionRecord[S ~string] = struct {
	ID               int64
	ExecutionID      int64
	Namespace        string
	Workflow         string
	Task             string
	SeqNum           int
	Attempt          int
	Failures         int
	MaxAttempts      int
	Interruptions    int
	MaxInterruptions int
	Status           S
	Error            string
	Note             string
	StatusMessage    string
	Metrics          map[string]float64
	Streaming        bool
	Timeout          time.Duration
	CreatedAt        time.Time
	UpdatedAt        time.Time
	StartedAt        time.Time
	EndedAt          time.Time
	// TraceParent is not shown (yet): it is here so that the root
	// package's TaskExecution converts to a TaskExecutionRecord.
	TraceParent string
}

// NewTaskExecution converts a task execution.
func NewTaskExecution[T ~TaskExecutionRecord[S], S ~string](tv T) TaskExecution {
	te := TaskExecutionRecord[S](tv)
	out := TaskExecution{ID: te.ID, ExecutionID: te.ExecutionID, Namespace: te.Namespace, Workflow: te.Workflow, Task: te.Task,
		SeqNum: te.SeqNum, Status: string(te.Status), Attempt: te.Attempt, Failures: te.Failures, MaxAttempts: te.MaxAttempts,
		Interruptions: te.Interruptions, MaxInterruptions: te.MaxInterruptions,
		Streaming: te.Streaming, Error: te.Error, Note: te.Note, StatusMessage: te.StatusMessage, Metrics: te.Metrics,
		CreatedAt: Time(te.CreatedAt), UpdatedAt: Time(te.UpdatedAt), StartedAt: Time(te.StartedAt), EndedAt: Time(te.EndedAt)}
	if te.Timeout > 0 {
		out.Timeout = te.Timeout.String()
	}
	return out
}

// Schedule is a workflow schedule.
type Schedule struct {
	ID         int64  `json:"id" yaml:"id"`
	Namespace  string `json:"namespace" yaml:"namespace"`
	Workflow   string `json:"workflow" yaml:"workflow"`
	Expression string `json:"expression" yaml:"expression"`
	TimeZone   string `json:"time_zone" yaml:"time_zone"`
	Paused     bool   `json:"paused" yaml:"paused"`
	Overlap    string `json:"overlap" yaml:"overlap"`
	CatchUp    int    `json:"catch_up" yaml:"catch_up"`
	CreatedAt  string `json:"created_at,omitempty" yaml:"created_at,omitempty"`
	UpdatedAt  string `json:"updated_at,omitempty" yaml:"updated_at,omitempty"`
	LastFireAt string `json:"last_fire_at,omitempty" yaml:"last_fire_at,omitempty"`
}

// ScheduleRecord has the fields of a workflow schedule
// (aiflow.WorkflowSchedule).
type ScheduleRecord = struct {
	ID         int64
	Namespace  string
	Workflow   string
	Expression string
	TimeZone   string
	Paused     bool
	Overlap    string
	CatchUp    int
	CreatedAt  time.Time
	UpdatedAt  time.Time
	LastFireAt time.Time
	ResumedAt  time.Time
}

// NewSchedule converts a workflow schedule.
func NewSchedule[S ~ScheduleRecord](sv S) Schedule {
	s := ScheduleRecord(sv)
	return Schedule{ID: s.ID, Namespace: s.Namespace, Workflow: s.Workflow, Expression: s.Expression, TimeZone: s.TimeZone,
		Paused: s.Paused, Overlap: s.Overlap, CatchUp: s.CatchUp, CreatedAt: Time(s.CreatedAt), UpdatedAt: Time(s.UpdatedAt),
		LastFireAt: Time(s.LastFireAt)}
}

// Trigger is a workflow trigger.
type Trigger struct {
	ID        int64    `json:"id" yaml:"id"`
	Namespace string   `json:"namespace" yaml:"namespace"`
	Workflow  string   `json:"workflow" yaml:"workflow"`
	Name      string   `json:"name" yaml:"name"`
	Keys      []string `json:"keys" yaml:"keys"`
	Paused    bool     `json:"paused" yaml:"paused"`
	CreatedAt string   `json:"created_at,omitempty" yaml:"created_at,omitempty"`
	UpdatedAt string   `json:"updated_at,omitempty" yaml:"updated_at,omitempty"`
}

// TriggerRecord has the fields of a workflow trigger
// (aiflow.WorkflowTrigger).
type TriggerRecord = struct {
	ID        int64
	Namespace string
	Workflow  string
	Name      string
	Keys      []string
	Paused    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NewTrigger converts a workflow trigger.
func NewTrigger[T ~TriggerRecord](tv T) Trigger {
	t := TriggerRecord(tv)
	return Trigger{ID: t.ID, Namespace: t.Namespace, Workflow: t.Workflow, Name: t.Name, Keys: t.Keys, Paused: t.Paused,
		CreatedAt: Time(t.CreatedAt), UpdatedAt: Time(t.UpdatedAt)}
}

// Event is an event of the log.
type Event struct {
	ID              int64  `json:"id" yaml:"id"`
	Position        string `json:"position" yaml:"position"`
	Time            string `json:"time" yaml:"time"`
	Namespace       string `json:"namespace" yaml:"namespace"`
	Key             string `json:"key" yaml:"key"`
	Value           string `json:"value" yaml:"value"`
	Sender          string `json:"sender" yaml:"sender"`
	Workflow        string `json:"workflow,omitempty" yaml:"workflow,omitempty"`
	ExecutionID     int64  `json:"execution_id,omitempty" yaml:"execution_id,omitempty"`
	Task            string `json:"task,omitempty" yaml:"task,omitempty"`
	TaskExecutionID int64  `json:"task_execution_id,omitempty" yaml:"task_execution_id,omitempty"`
	SeqNum          int    `json:"seq_num,omitempty" yaml:"seq_num,omitempty"`
	Broadcast       bool   `json:"broadcast,omitempty" yaml:"broadcast,omitempty"`
	Internal        bool   `json:"internal,omitempty" yaml:"internal,omitempty"`
}

// EventRecord is an event as the client lists it: the struct type of the
// root package's Event (P is its Position type).
type EventRecord[P fmt.Stringer] = struct {
	ID              int64
	Position        P
	Time            time.Time
	Namespace       string
	Key             string
	Value           string
	Sender          string
	Workflow        string
	ExecutionID     int64
	TaskName        string
	TaskExecutionID int64
	SeqNum          int
	Broadcast       bool
	Internal        bool
	// TraceParent is not shown (yet): it is here so that the root
	// package's Event converts to an EventRecord.
	TraceParent string
}

// NewEvent converts an event.
func NewEvent[E ~EventRecord[P], P fmt.Stringer](evv E) Event {
	ev := EventRecord[P](evv)
	return Event{ID: ev.ID, Position: ev.Position.String(), Time: Time(ev.Time), Namespace: ev.Namespace, Key: ev.Key,
		Value: ev.Value, Sender: ev.Sender, Workflow: ev.Workflow, ExecutionID: ev.ExecutionID, Task: ev.TaskName,
		TaskExecutionID: ev.TaskExecutionID, SeqNum: ev.SeqNum, Broadcast: ev.Broadcast, Internal: ev.Internal}
}

// Map applies f to every element of xs.
func Map[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// Redacted is the text that replaces a secret.
const Redacted = "[redacted]"

// Redact returns w with its definition made safe to show to any caller:
// the values of every task's environment (WithEnv) replaced by Redacted and
// every operator described by its type and its public description (see
// aiflow.PublicDescriber: the fields it marks secret left out), or by its
// type alone when it has none, since operators' descriptions (commands,
// arguments, pod specifications) may hold secrets.
func Redact(w Workflow) Workflow {
	def, ok := w.Definition.(map[string]any)
	if !ok {
		return w
	}
	out := make(map[string]any, len(def))
	for k, v := range def {
		out[k] = v
	}
	if tasks, ok := def["tasks"].([]any); ok {
		rt := make([]any, len(tasks))
		for i, t := range tasks {
			rt[i] = redactTask(t)
		}
		out["tasks"] = rt
	}
	w.Definition = out
	return w
}

func redactTask(t any) any {
	m, ok := t.(map[string]any)
	if !ok {
		return t
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	if op, ok := m["operator"].(string); ok {
		pub, _ := m["operator_public"].(string)
		out["operator"] = PublicOperator(op, pub)
		delete(out, "operator_public")
	}
	if env, ok := m["env"].(map[string]any); ok {
		re := make(map[string]any, len(env))
		for k := range env {
			re[k] = Redacted
		}
		out["env"] = re
	}
	return out
}

// PublicOperator is what anyone may see of an operator: the type of its
// description desc, followed by its public description pub when it has one
// ("*operators.PythonOperator: script etl.py").
func PublicOperator(desc, pub string) string {
	if pub == "" {
		return OperatorType(desc)
	}
	return OperatorType(desc) + ": " + pub
}

// OperatorType returns the type part of an operator's description
// ("*operators.BashOperator" of "*operators.BashOperator: echo hi").
func OperatorType(desc string) string {
	typ, _, _ := strings.Cut(desc, ": ")
	return typ
}
