package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/view"
)

// whyCmd is "task-execution why": Client.ExplainTask.
func (e *env) whyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "why EXECUTION_ID TASK",
		Short: "Explain why a task of a workflow execution started, or did not start or restart",
		Long: `Explain why a task of a workflow execution started, or did not start or restart:
which event and rule started each of its runs, the latest evaluations of each
of its rules with their outcome and reason (the condition was false, the task
was still alive, the workflow was disabled, the condition failed), and recent
events that did not reach its rules (sent to another execution or namespace,
after the execution ended, or with a key no rule of the task expects).`,
		Args: args(cobra.ExactArgs(2)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			id, err := parseID("workflow execution id", a[0])
			if err != nil {
				return err
			}
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			ex, err := c.ExplainTask(cmd.Context(), id, a[1])
			if err != nil {
				return err
			}
			return e.print(ex, func() writerTo { return explanationText(ex) })
		}),
	}
}

// explanationText is the table form of an explanation.
func explanationText(ex *aiflow.TaskExplanation) writerTo {
	var f fields
	f.add("EXECUTION", fmt.Sprintf("%d (%s/%s, version %s, %s)", ex.ExecutionID, ex.Namespace, ex.Workflow, ex.Version, ex.ExecutionStatus))
	f.add("TASK", ex.Task)
	f.add("SUMMARY", ex.Summary)
	out := multi{f}
	runs := &table{header: []string{"RUN", "TASK EXECUTION", "STATUS", "STARTED BY"}}
	for _, r := range ex.Runs {
		runs.add(r.SeqNum, r.TaskExecutionID, r.Status, startedBy(r.StartedBy))
	}
	out = append(out, message("RUNS"), runs)
	for _, r := range ex.Rules {
		head := fmt.Sprintf("RULE %d: %s %s on %s", r.Rule, r.Kind, r.Action, strings.Join(r.Keys, ", "))
		t := evaluationTable(r.Evaluations)
		out = append(out, message(head), t)
	}
	if len(ex.Other) > 0 {
		out = append(out, message("WITHOUT A RULE"), evaluationTable(ex.Other))
	}
	if len(ex.Missed) > 0 {
		t := &table{header: []string{"EVENT", "KEY", "NAMESPACE", "EXECUTION", "TIME", "OUTCOME", "REASON"}}
		for _, m := range ex.Missed {
			t.add(m.EventID, m.Key, m.Namespace, m.ExecutionID, view.Time(m.Time), string(m.Outcome), m.Reason)
		}
		out = append(out, message("EVENTS THAT DID NOT REACH THE RULES"), t)
	}
	return out
}

func evaluationTable(evs []aiflow.Evaluation) *table {
	t := &table{header: []string{"EVENT", "KEY", "TIME", "OUTCOME", "TIMES", "RUN", "REASON"}}
	for _, ev := range evs {
		run := "-"
		if ev.SeqNum > 0 {
			run = fmt.Sprintf("#%d", ev.SeqNum)
		}
		times := "1"
		if ev.Count > 1 {
			times = fmt.Sprintf("%d since event %d", ev.Count, ev.FirstEventID)
		}
		t.add(ev.EventID, ev.EventKey, view.Time(ev.Time), string(ev.Outcome), times, run, ev.Reason)
	}
	return t
}

func startedBy(ev *aiflow.Evaluation) string {
	switch {
	case ev == nil:
		return "unknown (not recorded)"
	case ev.Rule > 0:
		return fmt.Sprintf("rule %d on event %d (%s): %s", ev.Rule, ev.EventID, ev.EventKey, ev.Outcome)
	}
	return fmt.Sprintf("event %d (%s): %s", ev.EventID, ev.EventKey, ev.Reason)
}
