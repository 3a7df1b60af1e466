package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiflow-go/aiflow"
)

// replayCmd is "replay": Client.Replay.
func (e *env) replayCmd() *cobra.Command {
	var beginPos, endPos, beginTime, endTime string
	var maxEvents int
	cmd := &cobra.Command{
		Use:   "replay WORKFLOW",
		Short: "Replay a workflow's current definition over recorded events and show where it differs from what happened",
		Long: `Replay the definition of WORKFLOW that this program registers over a stretch of
the event log of its namespace, with the engine alone (no task runs, nothing is
written), and print the task runs it would have started, restarted and stopped
next to the runs that really happened, with their differences.

The definition is the one registered in the program that runs the command: an
application mounting the aiflow commands with its client (cli.Options.Client).
The plain aiflow binary registers no workflow and cannot replay.

A replay replays the executions whose start lies in the stretch, as they really
started; task statuses come from the record (run n of a task gets the statuses
run n really had), so a run that never happened stays QUEUED; stops take effect
at once.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			opts := &aiflow.ReplayOpts{Namespace: e.namespace, MaxEvents: maxEvents}
			var err error
			if opts.From, err = positionFlag("--begin-position", beginPos); err != nil {
				return err
			}
			if opts.To, err = positionFlag("--end-position", endPos); err != nil {
				return err
			}
			if opts.Since, err = timeFlag("--begin-time", beginTime); err != nil {
				return err
			}
			if opts.Until, err = timeFlag("--end-time", endTime); err != nil {
				return err
			}
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			rep, err := c.Replay(cmd.Context(), a[0], opts)
			if err != nil {
				return err
			}
			return e.print(rep, func() writerTo { return replayText(rep) })
		}),
	}
	fs := cmd.Flags()
	fs.StringVar(&beginPos, "begin-position", "", "replay the events after this position (XID-ID, as printed)")
	fs.StringVar(&endPos, "end-position", "", "replay the events up to this position, included")
	fs.StringVar(&beginTime, "begin-time", "", "replay the events appended at or after this time (RFC 3339, or 2006-01-02T15:04:05 local time, or 2006-01-02)")
	fs.StringVar(&endTime, "end-time", "", "replay the events appended before this time (same forms)")
	fs.IntVar(&maxEvents, "max-events", 0, fmt.Sprintf("read at most this many events (0: %d)", aiflow.ReplayMaxEventsDefault))
	return cmd
}

func positionFlag(name, s string) (aiflow.Position, error) {
	if s == "" {
		return aiflow.Position{}, nil
	}
	p, err := aiflow.ParsePosition(s)
	if err != nil {
		return p, usagef("%s: %v", name, err)
	}
	return p, nil
}

func timeFlag(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := parseTime(s)
	if err != nil {
		return t, usagef("%s %q: expected RFC 3339 (2024-05-01T10:00:00Z), 2024-05-01T10:00:00 (local time) or 2024-05-01", name, s)
	}
	return t, nil
}

// replayText is the table form of a replay report.
func replayText(rep *aiflow.ReplayReport) writerTo {
	var f fields
	f.add("WORKFLOW", fmt.Sprintf("%s/%s (version %s)", rep.Namespace, rep.Workflow, rep.Version))
	stretch := fmt.Sprintf("%d events", rep.Events)
	if rep.Events > 0 {
		stretch += fmt.Sprintf(" (%s to %s)", rep.First, rep.Last)
	}
	if rep.Truncated {
		stretch += ", stopped at --max-events"
	}
	f.add("REPLAYED", stretch)
	f.add("EXECUTIONS", len(rep.Executions))
	f.add("DIFFERENCES", rep.Differences)
	t := &table{header: []string{"EXECUTION", "TASK", "RUN", "REPLAYED", "RECORDED", "DIFFERENCE"}}
	for _, x := range rep.Executions {
		for _, r := range x.Runs {
			replayed, recorded := "-", "-"
			if r.Replayed != nil {
				replayed = fmt.Sprintf("event %d rule %d", r.Replayed.StartedBy.EventID, r.Replayed.StartedBy.Rule)
			}
			if r.Recorded != nil {
				recorded = fmt.Sprintf("%d %s", r.Recorded.TaskExecutionID, r.Recorded.Status)
			}
			t.add(x.ID, r.Task, r.SeqNum, replayed, recorded, r.Difference)
		}
	}
	return multi{f, t}
}
