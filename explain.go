package aiflow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

// Outcome is the outcome of one evaluation of a task rule, or the reason an
// event did not reach the rule. See the constants.
type Outcome string

// Starts reports whether the outcome created a task execution
// (OutcomeStarted or OutcomeRestarted).
func (o Outcome) Starts() bool { return store.DecisionOutcome(o).Starts() }

// The outcomes the engine records when it applies an event to an execution.
const (
	// OutcomeStarted: a new task execution was created.
	OutcomeStarted = Outcome(store.DecisionStarted)
	// OutcomeRestarted: the alive run was asked to stop and a new one was
	// created (dispatched once the old one has stopped).
	OutcomeRestarted = Outcome(store.DecisionRestarted)
	// OutcomeStopRequested: the alive run was asked to stop.
	OutcomeStopRequested = Outcome(store.DecisionStopRequested)
	// OutcomeNothingToStop: a STOP rule was met while no run was alive.
	OutcomeNothingToStop = Outcome(store.DecisionNothingToStop)
	// OutcomeConditionFalse: the condition was not met; the reason is the
	// condition's description (see [ConditionDescriber]).
	OutcomeConditionFalse = Outcome(store.DecisionConditionFalse)
	// OutcomeTaskAlive: the rule was met, but a run of the task was still
	// alive, so nothing started.
	OutcomeTaskAlive = Outcome(store.DecisionTaskAlive)
	// OutcomeWorkflowDisabled: the event was not applied because the
	// workflow was disabled.
	OutcomeWorkflowDisabled = Outcome(store.DecisionWorkflowDisabled)
	// OutcomeConditionFailed: the condition returned an error or panicked
	// until the event was skipped as poison; the reason is the error.
	OutcomeConditionFailed = Outcome(store.DecisionConditionFailed)
)

// The outcomes ExplainTask works out from the event log, for events that
// never reached the execution's rules (the engine records nothing then).
const (
	// OutcomeOtherExecution: the event, with a key a rule expects, was sent
	// to another execution of the namespace.
	OutcomeOtherExecution Outcome = "OTHER_EXECUTION"
	// OutcomeOtherNamespace: the event, with a key a rule expects, was sent
	// to another namespace.
	OutcomeOtherNamespace Outcome = "OTHER_NAMESPACE"
	// OutcomeKeyNotExpected: the event reached the execution but no rule of
	// the task expects its key.
	OutcomeKeyNotExpected Outcome = "KEY_NOT_EXPECTED"
	// OutcomeExecutionNotRunning: the event, with a key a rule expects, came
	// after the execution had finished.
	OutcomeExecutionNotRunning Outcome = "EXECUTION_NOT_RUNNING"
)

// ConditionDescriber is implemented by a Condition that can say in words
// what it waits for. When such a condition is not met, [Client.ExplainTask]
// shows Describe's text as the reason; other conditions are described by
// their type and expected keys. The built-in conditions describe themselves.
// Describe is called once, at registration.
type ConditionDescriber interface {
	Describe() string
}

// describeCondition returns the description of a condition recorded when
// it is not met.
func describeCondition(c Condition) string {
	switch v := c.(type) {
	case nil:
		return ""
	case ConditionDescriber:
		return v.Describe()
	case eventCondition:
		return fmt.Sprintf("an event with key %q", v.key)
	case taskStatusCondition:
		parts := make([]string, 0, len(v.want))
		for _, t := range v.sortedTasks() {
			parts = append(parts, taskName(t)+" "+string(v.want[t]))
		}
		return "the latest runs are " + strings.Join(parts, " and ")
	case anyOf:
		return "any of (" + describeAll(v.conds) + ")"
	case allOf:
		return "all of (" + describeAll(v.conds) + "), each met by its latest event"
	case funcCondition:
		return fmt.Sprintf("a condition on keys %s", strings.Join(quoteAll(v.keys), ", "))
	}
	return fmt.Sprintf("%T on keys %s", c, strings.Join(quoteAll(c.ExpectedKeys()), ", "))
}

func describeAll(conds []Condition) string {
	parts := make([]string, len(conds))
	for i, c := range conds {
		parts[i] = describeCondition(c)
	}
	return strings.Join(parts, "; ")
}

// Evaluation is one decision of the engine about a task: a rule evaluated
// on an event (Rule > 0), or a start without a rule (Rule 0: the
// execution's start, a request, a periodic tick).
type Evaluation struct {
	// Rule is the 1-based index of the rule in the task's declaration; 0
	// when no rule decided.
	Rule     int       `json:"rule"`
	EventID  int64     `json:"event_id"`
	EventKey string    `json:"event_key"`
	Time     time.Time `json:"time"`
	Outcome  Outcome   `json:"outcome"`
	// Reason says more: the condition's description when it was false,
	// the run that was still alive, the poison error.
	Reason string `json:"reason,omitempty"`
	// TaskExecutionID and SeqNum name the run started, or the alive run
	// concerned (0 when none).
	TaskExecutionID int64 `json:"task_execution_id,omitempty"`
	SeqNum          int   `json:"seq_num,omitempty"`
	// Count is the number of evaluations in a row with this outcome,
	// reason and run (1 for a single one; a start, restart or stop request
	// always counts 1): the engine counts an evaluation that repeats the
	// rule's previous one in it. EventID, EventKey and Time are then those
	// of the latest, FirstEventID that of the first (0 when Count is 1).
	Count        int   `json:"count"`
	FirstEventID int64 `json:"first_event_id,omitempty"`
}

// RunExplanation is one run (task execution) of the task and what started
// it.
type RunExplanation struct {
	TaskExecutionID int64      `json:"task_execution_id"`
	SeqNum          int        `json:"seq_num"`
	Status          TaskStatus `json:"status"`
	// StartedBy is the decision that created the run; nil when none was
	// recorded (a run older than the store's decisions).
	StartedBy *Evaluation `json:"started_by,omitempty"`
}

// RuleExplanation is one rule of the task and its latest evaluations.
type RuleExplanation struct {
	// Rule is the 1-based index of the rule in the task's declaration.
	Rule int `json:"rule"`
	// Action is START, STOP or RESTART; Kind how the rule was declared
	// (start_after, on_event, on_task_status, on_condition).
	Action string `json:"action"`
	Kind   string `json:"kind"`
	// Keys are the event keys the rule expects.
	Keys []string `json:"keys"`
	// Evaluations are the latest decisions of the rule, oldest first (by
	// their latest evaluation): at most store.DecisionsKept that started
	// nothing, each a run of repeats (see Evaluation.Count), and every
	// start.
	Evaluations []Evaluation `json:"evaluations"`
}

// MissedEvent is an event that did not reach the task's rules, and why.
type MissedEvent struct {
	EventID     int64     `json:"event_id"`
	Key         string    `json:"key"`
	Namespace   string    `json:"namespace"`
	ExecutionID int64     `json:"execution_id,omitempty"`
	Time        time.Time `json:"time"`
	Outcome     Outcome   `json:"outcome"`
	Reason      string    `json:"reason"`
}

// TaskExplanation answers "why did this task (not) start?" for one task of
// a workflow execution: its runs and what started each, the latest
// evaluations of each of its rules with their outcomes, and the recent
// events that did not reach its rules. See [Client.ExplainTask].
type TaskExplanation struct {
	ExecutionID     int64          `json:"execution_id"`
	Namespace       string         `json:"namespace"`
	Workflow        string         `json:"workflow"`
	Version         string         `json:"version"`
	Task            string         `json:"task"`
	ExecutionStatus WorkflowStatus `json:"execution_status"`
	// WorkflowEnabled is the workflow's flag now.
	WorkflowEnabled bool              `json:"workflow_enabled"`
	Runs            []RunExplanation  `json:"runs"`
	Rules           []RuleExplanation `json:"rules"`
	// Other are the decisions taken without a rule: the execution's start,
	// requests, periodic ticks.
	Other []Evaluation `json:"other,omitempty"`
	// Missed are recent events that did not reach the rules (see
	// ExplainTask), oldest first.
	Missed []MissedEvent `json:"missed,omitempty"`
	// Summary says in one line what the rest shows.
	Summary string `json:"summary"`
}

// Bounds of ExplainTask's look into the event log.
const (
	// ExplainScanLimit is the number of user events, from the execution's
	// creation on, that ExplainTask reads to find the events that missed
	// the task's rules.
	ExplainScanLimit = 10000
	// ExplainMissedLimit is the number of missed events ExplainTask
	// returns per outcome (the latest ones).
	ExplainMissedLimit = 20
)

// ExplainTask says why a task of a workflow execution started, or did not
// start or restart:
//
//   - Runs: each run of the task and the decision that created it (the
//     event and the rule, or the execution's start, a request, a periodic
//     tick);
//   - Rules: each rule of the task (as the execution's definition version
//     recorded it) with its latest evaluations, as the engine recorded them
//     when it decided: the condition was false (with the condition's
//     description), the task was still alive, the workflow was disabled,
//     the condition failed (poison), or what it started or stopped;
//   - Missed: recent events that never reached the rules, worked out now
//     from the event log (the engine records nothing for them): an event
//     with an expected key sent to another execution or namespace or after
//     the execution finished, and events that reached the execution with a
//     key no rule of the task expects. It reads at most ExplainScanLimit
//     user events from the execution's creation on.
//
// The engine keeps store.DecisionsKept evaluations per rule that started
// nothing (evaluations in a row with the same outcome and reason counted in
// one: Evaluation.Count), every start, and deletes them with the execution. It fails with
// ErrExecutionNotFound or ErrTaskNotFound.
func (c *Client) ExplainTask(ctx context.Context, executionID int64, task string) (*TaskExplanation, error) {
	const op = "explain task"
	x, err := c.store.GetExecution(ctx, executionID)
	if err != nil {
		return nil, opError(op, err)
	}
	w, err := c.store.GetWorkflow(ctx, x.Namespace, x.Workflow)
	if err != nil {
		return nil, opError(op, err)
	}
	def := w.Definition
	if x.Version != "" && x.Version != w.Version {
		if vs, err := c.store.ListWorkflowVersions(ctx, x.Namespace, x.Workflow); err == nil {
			for _, v := range vs {
				if v.Version == x.Version {
					def = v.Definition
				}
			}
		}
	}
	rules, names := definitionRules(def, task)
	if rules == nil {
		return nil, opError(op, fmt.Errorf("%w: %q is not a task of workflow %q (tasks: %v)", store.ErrTaskNotFound, task, x.Workflow, names))
	}
	ex := &TaskExplanation{
		ExecutionID: x.ID, Namespace: x.Namespace, Workflow: x.Workflow, Version: x.Version, Task: task,
		ExecutionStatus: WorkflowStatus(x.Status), WorkflowEnabled: w.Enabled, Runs: []RunExplanation{}, Rules: []RuleExplanation{},
	}
	for i, r := range rules {
		ex.Rules = append(ex.Rules, RuleExplanation{Rule: i + 1, Action: r.Action, Kind: r.Kind, Keys: r.keys(x.Workflow), Evaluations: []Evaluation{}})
	}
	// The task executions first: a decision that started one is committed
	// with it, so every run read has its start decision.
	tes, err := c.store.ListTaskExecutions(ctx, store.TaskExecutionFilter{ExecutionID: x.ID, Task: task})
	if err != nil {
		return nil, opError(op, err)
	}
	ds, err := c.store.ListDecisions(ctx, x.ID, task)
	if err != nil {
		return nil, opError(op, err)
	}
	started := map[int64]*Evaluation{}
	for _, d := range ds {
		ev := evaluationOf(d)
		if d.Outcome.Starts() {
			e := ev
			started[d.TaskExecutionID] = &e
		}
		if d.Rule >= 1 && d.Rule <= len(ex.Rules) {
			ex.Rules[d.Rule-1].Evaluations = append(ex.Rules[d.Rule-1].Evaluations, ev)
		} else {
			ex.Other = append(ex.Other, ev)
		}
	}
	for _, te := range tes {
		ex.Runs = append(ex.Runs, RunExplanation{TaskExecutionID: te.ID, SeqNum: te.SeqNum, Status: TaskStatus(te.Status), StartedBy: started[te.ID]})
	}
	if ex.Missed, err = c.missedEvents(ctx, &x, ex.Rules); err != nil {
		return nil, opError(op, err)
	}
	ex.Summary = ex.summarize()
	return ex, nil
}

// missedEvents reads the user events from x's creation on and returns those
// that did not reach the rules, the latest ExplainMissedLimit per outcome.
func (c *Client) missedEvents(ctx context.Context, x *store.WorkflowExecutionRecord, rules []RuleExplanation) ([]MissedEvent, error) {
	expected := map[string]bool{}
	var keys []string
	for _, r := range rules {
		for _, k := range r.Keys {
			if !expected[k] {
				expected[k] = true
				if !store.IsStatusKey(k) {
					keys = append(keys, k)
				}
			}
		}
	}
	slices.Sort(keys)
	byOutcome := map[Outcome][]MissedEvent{}
	add := func(ev *store.Event, o Outcome, reason string) {
		list := append(byOutcome[o], MissedEvent{EventID: ev.ID, Key: ev.Key, Namespace: ev.Namespace, ExecutionID: ev.ExecutionID,
			Time: ev.Time, Outcome: o, Reason: reason})
		if len(list) > ExplainMissedLimit {
			list = list[1:]
		}
		byOutcome[o] = list
	}
	f := store.EventFilter{Kinds: []store.EventKind{store.KindUser}, Since: x.CreatedAt}
	for read := 0; read < ExplainScanLimit; {
		f.Limit = min(store.DefaultListLimit, ExplainScanLimit-read)
		evs, next, err := c.store.ListEvents(ctx, f)
		if err != nil {
			return nil, err
		}
		for i := range evs {
			ev := &evs[i]
			reaches := ev.Namespace == x.Namespace && (ev.ExecutionID == 0 || ev.ExecutionID == x.ID || ev.Broadcast)
			switch {
			case !expected[ev.Key]:
				if reaches && (x.EndedAt.IsZero() || !ev.Time.After(x.EndedAt)) {
					add(ev, OutcomeKeyNotExpected, fmt.Sprintf("no rule of the task expects key %q (expected: %s)", ev.Key, strings.Join(quoteAll(keys), ", ")))
				}
			case ev.Namespace != x.Namespace:
				add(ev, OutcomeOtherNamespace, fmt.Sprintf("sent to namespace %q, not %q", ev.Namespace, x.Namespace))
			case !reaches:
				add(ev, OutcomeOtherExecution, fmt.Sprintf("sent to execution %d only", ev.ExecutionID))
			case !x.EndedAt.IsZero() && ev.Time.After(x.EndedAt):
				add(ev, OutcomeExecutionNotRunning, fmt.Sprintf("the execution had ended %s at %s", x.Status, x.EndedAt.UTC().Format(time.RFC3339Nano)))
			}
		}
		read += len(evs)
		if len(evs) == 0 || next == f.After {
			break
		}
		f.After = next
	}
	var out []MissedEvent
	for _, list := range byOutcome {
		out = append(out, list...)
	}
	slices.SortFunc(out, func(a, b MissedEvent) int { return int(a.EventID - b.EventID) })
	return out, nil
}

// summarize says in one line what the explanation shows.
func (ex *TaskExplanation) summarize() string {
	var b strings.Builder
	if n := len(ex.Runs); n == 0 {
		b.WriteString("the task never started")
	} else {
		last := ex.Runs[n-1]
		fmt.Fprintf(&b, "the task ran %d time(s); run #%d is %s", n, last.SeqNum, last.Status)
		if s := last.StartedBy; s != nil {
			if s.Rule > 0 {
				fmt.Fprintf(&b, ", started by rule %d on event %d (%s)", s.Rule, s.EventID, s.EventKey)
			} else {
				fmt.Fprintf(&b, ", started on event %d (%s): %s", s.EventID, s.EventKey, s.Reason)
			}
		}
	}
	var latest *Evaluation
	for i := range ex.Rules {
		if evs := ex.Rules[i].Evaluations; len(evs) > 0 {
			if e := &evs[len(evs)-1]; latest == nil || e.EventID > latest.EventID {
				latest = e
			}
		}
	}
	if latest != nil && !latest.Outcome.Starts() {
		fmt.Fprintf(&b, "; latest evaluation: rule %d on event %d: %s", latest.Rule, latest.EventID, latest.Outcome)
		if latest.Reason != "" {
			b.WriteString(" (" + latest.Reason + ")")
		}
	}
	if ex.ExecutionStatus != WorkflowRunning {
		fmt.Fprintf(&b, "; the execution is %s", ex.ExecutionStatus)
	}
	if !ex.WorkflowEnabled {
		b.WriteString("; the workflow is disabled")
	}
	return b.String()
}

// definitionRuleJS is a rule as the recorded definition describes it (see
// rule.describe).
type definitionRuleJS struct {
	Action    string            `json:"action"`
	Kind      string            `json:"kind"`
	Key       string            `json:"key"`
	Keys      []string          `json:"keys"`
	Upstream  map[string]string `json:"upstream"`
	Condition string            `json:"condition"`
}

// keys returns the event keys the rule expects.
func (r definitionRuleJS) keys(workflow string) []string {
	switch r.Kind {
	case "on_event":
		return []string{r.Key}
	case "start_after", "on_task_status":
		out := make([]string, 0, len(r.Upstream))
		for u := range r.Upstream {
			out = append(out, store.StatusKey(workflow, u))
		}
		slices.Sort(out)
		return out
	}
	return append([]string{}, r.Keys...)
}

// definitionRules returns the rules of task in a recorded definition (nil
// when the task is not there) and the definition's task names.
func definitionRules(def []byte, task string) ([]definitionRuleJS, []string) {
	var d struct {
		Tasks []struct {
			Name  string             `json:"name"`
			Rules []definitionRuleJS `json:"rules"`
		} `json:"tasks"`
	}
	_ = json.Unmarshal(def, &d)
	var names []string
	var rules []definitionRuleJS
	for _, t := range d.Tasks {
		names = append(names, t.Name)
		if t.Name == task {
			rules = t.Rules
			if rules == nil {
				rules = []definitionRuleJS{}
			}
		}
	}
	return rules, names
}
