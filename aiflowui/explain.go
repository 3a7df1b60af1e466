package aiflowui

import (
	"context"
	"fmt"
	"strings"

	"github.com/aiflow-go/aiflow"
)

// Explanation says why a task of an execution did, or did not, start.
type Explanation struct {
	// Summary is one sentence.
	Summary string
	// Details are more lines (the rules it waits for, the last decision).
	Details []string
}

// TaskState is what an Explainer knows about one task of an execution.
type TaskState struct {
	Execution *aiflow.WorkflowExecution
	Task      string
	// Rules describe the task's rules in words, in declaration order.
	Rules []string
	// Runs are the task's executions in this workflow execution, oldest
	// first.
	Runs []aiflow.TaskExecution
}

// Explainer says why each task of an execution did or did not start. The
// dashboard calls it for every task of the execution page; an application
// may plug in a richer source (the engine's own account of its decisions)
// through Options.Explainer.
type Explainer interface {
	Explain(ctx context.Context, s TaskState) (Explanation, error)
}

// NotesExplainer explains from what the store keeps: the latest task
// execution's Note (the engine's last decision about the task, such as an
// ignored START), its status and error, and the task's rules.
type NotesExplainer struct{}

// Explain implements Explainer.
func (NotesExplainer) Explain(_ context.Context, s TaskState) (Explanation, error) {
	var e Explanation
	if len(s.Runs) == 0 {
		switch {
		case len(s.Rules) == 0:
			e.Summary = "Not started yet: a task without start rules starts with the execution."
		case s.Execution != nil && s.Execution.Status.Finished():
			e.Summary = "Never started: none of its rules was met before the execution ended."
		default:
			e.Summary = "Not started: waiting for one of its rules."
		}
		e.Details = append(e.Details, s.Rules...)
		return e, nil
	}
	last := s.Runs[len(s.Runs)-1]
	switch last.Status {
	case aiflow.TaskSuccess:
		e.Summary = fmt.Sprintf("Run #%d succeeded.", last.SeqNum)
	case aiflow.TaskFailed:
		e.Summary = fmt.Sprintf("Run #%d failed after %d attempt(s).", last.SeqNum, last.Attempt)
	case aiflow.TaskRetrying:
		e.Summary = fmt.Sprintf("Run #%d is waiting to retry (attempt %d of %d failed).", last.SeqNum, last.Failures, last.MaxAttempts)
	case aiflow.TaskStopped, aiflow.TaskStopping:
		e.Summary = fmt.Sprintf("Run #%d was stopped.", last.SeqNum)
	default:
		e.Summary = fmt.Sprintf("Run #%d is %s.", last.SeqNum, strings.ToLower(string(last.Status)))
	}
	if len(s.Runs) > 1 {
		e.Summary += fmt.Sprintf(" Started %d times in this execution.", len(s.Runs))
	}
	if last.Note != "" {
		e.Details = append(e.Details, "Last decision: "+last.Note)
	}
	if last.Error != "" {
		e.Details = append(e.Details, "Error: "+last.Error)
	}
	if len(s.Rules) > 0 {
		e.Details = append(e.Details, "Rules: "+strings.Join(s.Rules, "; "))
	} else {
		e.Details = append(e.Details, "No start rule: it started with the execution.")
	}
	return e, nil
}

// DecisionsExplainer explains from the decisions the engine records
// (Client.ExplainTask): the engine's summary, the latest evaluation of each
// rule with its outcome, and the latest events that missed the task's rules.
// Each call reads up to aiflow.ExplainScanLimit events of the log, for every
// task shown and every refresh of an execution's page: prefer it where
// executions see few events, or raise Options.RefreshInterval. When the
// engine has nothing to say (an execution older than its records, an
// error), it falls back to NotesExplainer.
type DecisionsExplainer struct {
	Client *aiflow.Client
}

// decisionsShown bounds the missed events listed per task.
const decisionsShown = 3

// Explain implements Explainer.
func (e DecisionsExplainer) Explain(ctx context.Context, s TaskState) (Explanation, error) {
	if e.Client == nil || s.Execution == nil {
		return NotesExplainer{}.Explain(ctx, s)
	}
	te, err := e.Client.ExplainTask(ctx, s.Execution.ID, s.Task)
	if err != nil || te.Summary == "" {
		return NotesExplainer{}.Explain(ctx, s)
	}
	out := Explanation{Summary: te.Summary}
	for _, r := range te.Rules {
		line := fmt.Sprintf("Rule %d (%s, %s", r.Rule, strings.ToLower(r.Action), strings.ReplaceAll(r.Kind, "_", " "))
		if len(r.Keys) > 0 {
			line += " " + quoteAll(r.Keys)
		}
		line += ")"
		if n := len(r.Evaluations); n > 0 {
			ev := r.Evaluations[n-1]
			line += fmt.Sprintf(": last on %q (event %d): %s", ev.EventKey, ev.EventID, outcome(ev.Outcome))
			if ev.Count > 1 {
				line += fmt.Sprintf(" (%d times in a row since event %d)", ev.Count, ev.FirstEventID)
			}
			if ev.Reason != "" {
				line += ": " + ev.Reason
			}
		} else {
			line += ": not evaluated yet"
		}
		out.Details = append(out.Details, line)
	}
	for _, m := range te.Missed[max(0, len(te.Missed)-decisionsShown):] {
		out.Details = append(out.Details, fmt.Sprintf("Event %q (%d) missed the rules: %s", m.Key, m.EventID, m.Reason))
	}
	return out, nil
}

// outcome is an outcome in words ("condition false").
func outcome(o aiflow.Outcome) string {
	return strings.ReplaceAll(strings.ToLower(string(o)), "_", " ")
}
