package cli

import (
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiflow-go/aiflow"
)

// pruneOutput is what "prune" prints in JSON and YAML.
type pruneOutput struct {
	DryRun bool `json:"dry_run" yaml:"dry_run"`
	// ExecutionsRetention and EventsRetention are the retentions applied
	// ("0 (kept)": kept forever).
	ExecutionsRetention string `json:"executions_retention" yaml:"executions_retention"`
	EventsRetention     string `json:"events_retention" yaml:"events_retention"`
	WorkflowExecutions  int64  `json:"workflow_executions" yaml:"workflow_executions"`
	TaskExecutions      int64  `json:"task_executions" yaml:"task_executions"`
	TaskLogs            int64  `json:"task_logs" yaml:"task_logs"`
	Decisions           int64  `json:"decisions" yaml:"decisions"`
	Events              int64  `json:"events" yaml:"events"`
}

func (e *env) pruneCmd() *cobra.Command {
	var dryRun, yes bool
	var executions, events string
	def := formatRetention(aiflow.RetentionDefault)
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Delete finished executions and events older than their retention (--dry-run: count them)",
		Long: `Delete, once, the finished workflow executions (with their task executions and
the task logs kept in the database) and the events older than their retention,
and print how many of each went. Applications running AIFlow do this by
themselves on their elected leader (aiflow.Config.Retention); this command is
for a one-off clean-up and, with --dry-run, for seeing what would go.

Never deleted, however old: an event that some partition has not consumed; a
workflow execution that is not finished, or one of whose task executions is
alive, with all its records. Deletion goes in small batches, each its own
short transaction. River's finished jobs are deleted by River's own job
cleaner in the running applications (postgres.Config.CompletedJobRetention).

A retention is a duration such as 30d, 12h or 90m; 0 keeps those records.`,
		Args: args(cobra.NoArgs),
	}
	cmd.RunE = e.run(func(cmd *cobra.Command, _ []string) error {
		r := &aiflow.Retention{}
		var err error
		if r.Executions, err = parseRetention("--executions", executions); err != nil {
			return err
		}
		if r.Events, err = parseRetention("--events", events); err != nil {
			return err
		}
		c, err := e.getClient(cmd.Context())
		if err != nil {
			return err
		}
		if !dryRun {
			if err := e.confirm(yes, "delete the records older than their retention"); err != nil {
				return err
			}
		}
		res, err := c.Prune(cmd.Context(), &aiflow.PruneOpts{DryRun: dryRun, Retention: r})
		if err != nil {
			return err
		}
		out := pruneOutput{
			DryRun: dryRun, ExecutionsRetention: formatRetention(r.Executions), EventsRetention: formatRetention(r.Events),
			WorkflowExecutions: res.WorkflowExecutions, TaskExecutions: res.TaskExecutions, TaskLogs: res.TaskLogs,
			Decisions: res.Decisions, Events: res.Events,
		}
		return e.print(out, func() writerTo {
			verb := "DELETED"
			if dryRun {
				verb = "WOULD DELETE"
			}
			t := &table{header: []string{"KIND", "RETENTION", verb}}
			t.add("workflow executions", out.ExecutionsRetention, res.WorkflowExecutions)
			t.add("task executions", out.ExecutionsRetention, res.TaskExecutions)
			t.add("task logs", out.ExecutionsRetention, res.TaskLogs)
			t.add("decisions", out.ExecutionsRetention, res.Decisions)
			t.add("events", out.EventsRetention, res.Events)
			return t
		})
	})
	f := cmd.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "count what would be deleted, delete nothing")
	f.BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	f.StringVar(&executions, "executions", def, "keep finished workflow executions (with their task executions and logs) this long after they ended; 0 keeps them")
	f.StringVar(&events, "events", def, "keep events this long after they were appended; 0 keeps them")
	return cmd
}

// parseRetention reads a retention: a Go duration (90m, 12h), a number of
// days (30d), or 0.
func parseRetention(flag, s string) (time.Duration, error) {
	v := strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.ParseFloat(days, 64); err == nil && n >= 0 && n <= 100*365 {
			return time.Duration(n * float64(24*time.Hour)), nil
		}
	} else if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return d, nil
	}
	return 0, usagef("%s %q: expected a duration such as 30d, 12h or 90m, or 0 to keep those records", flag, s)
}

// formatRetention writes d in whole days when it is a whole number of days.
func formatRetention(d time.Duration) string {
	if d == 0 {
		return "0 (kept)"
	}
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}
