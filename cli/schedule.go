package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/view"
)

// idCommand is a command taking one id: show, pause, resume, delete. With a
// non-empty confirmVerb it checks that the id exists (exists) and asks for
// confirmation (or -y) before fn.
func (e *env) idCommand(use, what, short, confirmVerb string, exists func(context.Context, *aiflow.Client, int64) error,
	fn func(ctx context.Context, c *aiflow.Client, id int64) (any, writerTo, error)) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   use + " " + what,
		Short: short,
		Args:  args(cobra.ExactArgs(1)),
	}
	cmd.RunE = e.run(func(cmd *cobra.Command, a []string) error {
		id, err := parseID(strings.ToLower(strings.ReplaceAll(what, "_", " ")), a[0])
		if err != nil {
			return err
		}
		c, err := e.getClient(cmd.Context())
		if err != nil {
			return err
		}
		if confirmVerb != "" {
			if err := exists(cmd.Context(), c, id); err != nil {
				return err
			}
			if err := e.confirm(yes, fmt.Sprintf("%s %d", confirmVerb, id)); err != nil {
				return err
			}
		}
		v, tab, err := fn(cmd.Context(), c, id)
		if err != nil {
			return err
		}
		return e.print(v, func() writerTo { return tab })
	})
	if confirmVerb != "" {
		cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	}
	return cmd
}

// act is the outcome of an action: v for JSON and YAML, a message for tables.
func act(v any, err error, format string, a ...any) (any, writerTo, error) {
	return v, message(fmt.Sprintf(format, a...)), err
}

func scheduleFields(s view.Schedule) fields {
	var f fields
	f.add("ID", s.ID)
	f.add("NAMESPACE", s.Namespace)
	f.add("WORKFLOW", s.Workflow)
	f.add("EXPRESSION", s.Expression)
	f.add("TIME ZONE", s.TimeZone)
	f.add("PAUSED", s.Paused)
	f.add("OVERLAP", s.Overlap)
	f.add("CATCH UP", s.CatchUp)
	f.add("CREATED AT", s.CreatedAt)
	f.add("LAST FIRE AT", s.LastFireAt)
	return f
}

func (e *env) scheduleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workflow-schedule",
		Short: "Add, list, show, pause, resume and delete workflow schedules",
		Long: `Add, list, show, pause, resume and delete workflow schedules. An expression is
a 5-field crontab ("*/5 * * * *", also written "cron@*/5 * * * *"), a
descriptor (@yearly, @annually, @monthly, @weekly, @daily, @midnight,
@hourly), "@every <duration>" ("@every 5m") or
"interval@<days> <hours> <minutes> <seconds>".`,
	}
	var tz, overlap string
	var catchUp int
	add := &cobra.Command{
		Use:   "add WORKFLOW EXPRESSION",
		Short: "Add a schedule to a workflow and print it",
		Args:  args(cobra.ExactArgs(2)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			s, err := c.AddWorkflowSchedule(cmd.Context(), a[0], a[1], &aiflow.ScheduleOpts{
				Namespace: e.namespace, TimeZone: tz, Overlap: overlap, CatchUp: catchUp,
			})
			if err != nil {
				return err
			}
			v := view.NewSchedule(*s)
			return e.print(v, func() writerTo { return scheduleFields(v) })
		}),
	}
	add.Flags().StringVar(&tz, "time-zone", "", "IANA time zone of a cron expression (default UTC)")
	add.Flags().StringVar(&overlap, "overlap", "", "allow (default): every tick starts an execution; skip: not while one runs")
	add.Flags().IntVar(&catchUp, "catch-up", 0, "ticks missed while no client ran to fire when one is back (default 0: skip them)")
	var all bool
	list := &cobra.Command{
		Use:   "list [WORKFLOW]",
		Short: "List the schedules of a workflow (of every workflow of the namespace without one)",
		Args:  args(cobra.MaximumNArgs(1)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			ns, wf := e.namespace, ""
			if len(a) == 1 {
				if _, err := c.GetWorkflow(cmd.Context(), ns, a[0]); err != nil {
					return err
				}
				wf = a[0]
			} else if all {
				ns = ""
			}
			ss, err := c.ListWorkflowSchedules(cmd.Context(), ns, wf)
			if err != nil {
				return err
			}
			vs := view.Map(ss, view.NewSchedule)
			return e.print(vs, func() writerTo {
				t := &table{header: []string{"ID", "NAMESPACE", "WORKFLOW", "EXPRESSION", "TIME ZONE", "PAUSED", "OVERLAP", "LAST FIRE AT"}}
				for _, s := range vs {
					t.add(s.ID, s.Namespace, s.Workflow, s.Expression, s.TimeZone, s.Paused, s.Overlap, s.LastFireAt)
				}
				return t
			})
		}),
	}
	list.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the schedules of every namespace")
	var yes bool
	delAll := &cobra.Command{
		Use:   "delete-all WORKFLOW",
		Short: "Delete every schedule of a workflow",
		Args:  args(cobra.ExactArgs(1)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := c.GetWorkflow(cmd.Context(), e.namespace, a[0]); err != nil {
				return err
			}
			if err := e.confirm(yes, fmt.Sprintf("delete every schedule of workflow %q", a[0])); err != nil {
				return err
			}
			n, err := c.DeleteWorkflowSchedules(cmd.Context(), e.namespace, a[0])
			if err != nil {
				return err
			}
			return e.done(map[string]any{"deleted": n}, "deleted %d schedule(s) of workflow %s", n, a[0])
		}),
	}
	delAll.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.AddCommand(add, list,
		e.idCommand("show", "SCHEDULE_ID", "Show a workflow schedule", "", nil, func(ctx context.Context, c *aiflow.Client, id int64) (any, writerTo, error) {
			s, err := c.GetWorkflowSchedule(ctx, id)
			if err != nil {
				return nil, nil, err
			}
			v := view.NewSchedule(*s)
			return v, scheduleFields(v), nil
		}),
		e.idCommand("pause", "SCHEDULE_ID", "Pause a schedule: no ticks until it is resumed", "", nil, func(ctx context.Context, c *aiflow.Client, id int64) (any, writerTo, error) {
			return act(map[string]any{"paused": id}, c.PauseWorkflowSchedule(ctx, id), "paused workflow schedule %d", id)
		}),
		e.idCommand("resume", "SCHEDULE_ID", "Resume a paused schedule (ticks missed meanwhile are not fired)", "", nil, func(ctx context.Context, c *aiflow.Client, id int64) (any, writerTo, error) {
			return act(map[string]any{"resumed": id}, c.ResumeWorkflowSchedule(ctx, id), "resumed workflow schedule %d", id)
		}),
		e.idCommand("delete", "SCHEDULE_ID", "Delete a workflow schedule", "delete workflow schedule",
			func(ctx context.Context, c *aiflow.Client, id int64) error {
				_, err := c.GetWorkflowSchedule(ctx, id)
				return err
			},
			func(ctx context.Context, c *aiflow.Client, id int64) (any, writerTo, error) {
				return act(map[string]any{"deleted": id}, c.DeleteWorkflowSchedule(ctx, id), "deleted workflow schedule %d", id)
			}),
		delAll)
	return cmd
}

func triggerFields(t view.Trigger) fields {
	var f fields
	f.add("ID", t.ID)
	f.add("NAMESPACE", t.Namespace)
	f.add("WORKFLOW", t.Workflow)
	f.add("NAME", t.Name)
	f.add("KEYS", fmt.Sprint(t.Keys))
	f.add("PAUSED", t.Paused)
	f.add("CREATED AT", t.CreatedAt)
	f.add("UPDATED AT", t.UpdatedAt)
	return f
}

func (e *env) triggerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workflow-trigger",
		Short: "List, show, pause, resume and delete workflow triggers",
		Long: `List, show, pause, resume and delete workflow triggers. Triggers are Go
conditions added by the applications (Client.AddWorkflowTrigger); these
commands show and steer them.`,
	}
	var all, yes bool
	list := &cobra.Command{
		Use:   "list [WORKFLOW]",
		Short: "List the triggers of a workflow (of every workflow of the namespace without one)",
		Args:  args(cobra.MaximumNArgs(1)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			ns, wf := e.namespace, ""
			if len(a) == 1 {
				if _, err := c.GetWorkflow(cmd.Context(), ns, a[0]); err != nil {
					return err
				}
				wf = a[0]
			} else if all {
				ns = ""
			}
			ts, err := c.ListWorkflowTriggers(cmd.Context(), ns, wf)
			if err != nil {
				return err
			}
			vs := view.Map(ts, view.NewTrigger)
			return e.print(vs, func() writerTo {
				t := &table{header: []string{"ID", "NAMESPACE", "WORKFLOW", "NAME", "KEYS", "PAUSED", "CREATED AT"}}
				for _, tr := range vs {
					t.add(tr.ID, tr.Namespace, tr.Workflow, tr.Name, fmt.Sprint(tr.Keys), tr.Paused, tr.CreatedAt)
				}
				return t
			})
		}),
	}
	list.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the triggers of every namespace")
	delAll := &cobra.Command{
		Use:   "delete-all WORKFLOW",
		Short: "Delete every trigger of a workflow",
		Args:  args(cobra.ExactArgs(1)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := c.GetWorkflow(cmd.Context(), e.namespace, a[0]); err != nil {
				return err
			}
			if err := e.confirm(yes, fmt.Sprintf("delete every trigger of workflow %q", a[0])); err != nil {
				return err
			}
			n, err := c.DeleteWorkflowTriggers(cmd.Context(), e.namespace, a[0])
			if err != nil {
				return err
			}
			return e.done(map[string]any{"deleted": n}, "deleted %d trigger(s) of workflow %s", n, a[0])
		}),
	}
	delAll.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.AddCommand(list,
		e.idCommand("show", "TRIGGER_ID", "Show a workflow trigger", "", nil, func(ctx context.Context, c *aiflow.Client, id int64) (any, writerTo, error) {
			t, err := c.GetWorkflowTrigger(ctx, id)
			if err != nil {
				return nil, nil, err
			}
			v := view.NewTrigger(*t)
			return v, triggerFields(v), nil
		}),
		e.idCommand("pause", "TRIGGER_ID", "Pause a trigger: it is not evaluated until it is resumed", "", nil, func(ctx context.Context, c *aiflow.Client, id int64) (any, writerTo, error) {
			return act(map[string]any{"paused": id}, c.PauseWorkflowTrigger(ctx, id), "paused workflow trigger %d", id)
		}),
		e.idCommand("resume", "TRIGGER_ID", "Resume a paused trigger", "", nil, func(ctx context.Context, c *aiflow.Client, id int64) (any, writerTo, error) {
			return act(map[string]any{"resumed": id}, c.ResumeWorkflowTrigger(ctx, id), "resumed workflow trigger %d", id)
		}),
		e.idCommand("delete", "TRIGGER_ID", "Delete a workflow trigger", "delete workflow trigger",
			func(ctx context.Context, c *aiflow.Client, id int64) error {
				_, err := c.GetWorkflowTrigger(ctx, id)
				return err
			},
			func(ctx context.Context, c *aiflow.Client, id int64) (any, writerTo, error) {
				return act(map[string]any{"deleted": id}, c.DeleteWorkflowTrigger(ctx, id), "deleted workflow trigger %d", id)
			}),
		delAll)
	return cmd
}
