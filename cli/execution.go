package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/view"
)

func executionTable(vs []view.Execution) writerTo {
	t := &table{header: []string{"ID", "NAMESPACE", "WORKFLOW", "STATUS", "RUN TYPE", "VERSION", "CREATED AT", "ENDED AT", "NOTE"}}
	for _, x := range vs {
		t.add(x.ID, x.Namespace, x.Workflow, x.Status, x.RunType, x.Version, x.CreatedAt, x.EndedAt, x.Note)
	}
	return t
}

func executionFields(x view.Execution) writerTo {
	var f fields
	f.add("ID", x.ID)
	f.add("NAMESPACE", x.Namespace)
	f.add("WORKFLOW", x.Workflow)
	f.add("VERSION", x.Version)
	f.add("STATUS", x.Status)
	f.add("RUN TYPE", x.RunType)
	f.add("NOTE", x.Note)
	if x.ScheduleID != 0 {
		f.add("SCHEDULE ID", x.ScheduleID)
	}
	if x.TriggerID != 0 {
		f.add("TRIGGER ID", x.TriggerID)
	}
	f.add("CREATED AT", x.CreatedAt)
	f.add("UPDATED AT", x.UpdatedAt)
	f.add("ENDED AT", x.EndedAt)
	if x.Input != "" {
		f.add("INPUT", x.Input)
	}
	return f
}

func (e *env) executionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workflow-execution",
		Short: "Start, stop, list, show and delete workflow executions",
		Long: `Start, stop, list, show and delete workflow executions. A start or stop is
an event in the log: the running application handles it exactly once.`,
	}
	var all, yes bool
	var input, startKey string
	var statuses []string
	var limit int
	var many startMany
	start := &cobra.Command{
		Use:   "start WORKFLOW",
		Short: "Start an execution of a workflow (or many: --count, --inputs) and print its id",
		Long: `Start an execution of a workflow and print its id. With --count N, start N
executions (each with --input), with --inputs FILE one execution per line of
FILE ("-": standard input), the line being its input; their ids are printed
one a line, in order. Many executions are started in transactions of up to
10,000 executions, much faster than one command per execution.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			many.input = input
			if err := many.check(startKey); many.wanted() && err != nil {
				return err
			}
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			if many.wanted() {
				return many.start(cmd.Context(), e, c, a[0])
			}
			id, err := c.StartWorkflowExecution(cmd.Context(), a[0], &aiflow.StartWorkflowOpts{Namespace: e.namespace, Input: input, IdempotencyKey: startKey})
			if err != nil {
				return err
			}
			return e.done(map[string]any{"id": id, "namespace": e.namespace, "workflow": a[0]}, "%d", id)
		}),
	}
	start.Flags().StringVar(&startKey, "idempotency-key", "", "start once: a retry with the same key prints the first call's execution and starts nothing")
	stop := &cobra.Command{
		Use:   "stop EXECUTION_ID",
		Short: "Stop a workflow execution: it becomes STOPPED and its alive tasks are stopped",
		Args:  args(cobra.ExactArgs(1)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			id, err := parseID("workflow execution id", a[0])
			if err != nil {
				return err
			}
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			if err := c.StopWorkflowExecution(cmd.Context(), id); err != nil {
				return err
			}
			return e.done(map[string]any{"stopping": id}, "stopping workflow execution %d", id)
		}),
	}
	stopAll := &cobra.Command{
		Use:   "stop-all WORKFLOW",
		Short: "Stop every alive execution of a workflow",
		Args:  args(cobra.ExactArgs(1)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			ids, err := c.StopWorkflowExecutions(cmd.Context(), e.namespace, a[0])
			if err != nil {
				return err
			}
			if ids == nil {
				ids = []int64{}
			}
			return e.done(map[string]any{"stopping": ids}, "stopping %d workflow execution(s) of %s: %v", len(ids), a[0], ids)
		}),
	}
	list := &cobra.Command{
		Use:   "list [WORKFLOW]",
		Short: "List the executions of a workflow (of every workflow of the namespace without one), newest first",
		Args:  args(cobra.MaximumNArgs(1)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			f := &aiflow.ExecutionFilter{Namespace: e.namespace, Limit: limit}
			if all {
				f.Namespace = ""
			}
			if len(a) == 1 {
				if _, err := c.GetWorkflow(cmd.Context(), e.namespace, a[0]); err != nil {
					return err
				}
				f.Workflow = a[0]
			}
			for _, s := range statuses {
				st := aiflow.WorkflowStatus(strings.ToUpper(s))
				switch st {
				case aiflow.WorkflowInit, aiflow.WorkflowRunning, aiflow.WorkflowSuccess, aiflow.WorkflowFailed, aiflow.WorkflowStopped:
				default:
					return usagef("--status %q: expected INIT, RUNNING, SUCCESS, FAILED or STOPPED", s)
				}
				f.Statuses = append(f.Statuses, st)
			}
			xs, err := c.ListWorkflowExecutions(cmd.Context(), f)
			if err != nil {
				return err
			}
			vs := view.Map(xs, view.NewExecution)
			return e.print(vs, func() writerTo { return executionTable(vs) })
		}),
	}
	list.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the executions of every namespace")
	list.Flags().StringSliceVar(&statuses, "status", nil, "only executions in these statuses (INIT, RUNNING, SUCCESS, FAILED, STOPPED)")
	list.Flags().IntVar(&limit, "limit", 0, "at most this many executions (0: 1000)")
	show := &cobra.Command{
		Use:   "show EXECUTION_ID",
		Short: "Show a workflow execution",
		Args:  args(cobra.ExactArgs(1)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			id, err := parseID("workflow execution id", a[0])
			if err != nil {
				return err
			}
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			x, err := c.GetWorkflowExecution(cmd.Context(), id)
			if err != nil {
				return err
			}
			v := view.NewExecution(*x)
			return e.print(v, func() writerTo { return executionFields(v) })
		}),
	}
	del := &cobra.Command{
		Use:   "delete EXECUTION_ID",
		Short: "Delete a finished workflow execution with its task executions and logs",
		Args:  args(cobra.ExactArgs(1)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			id, err := parseID("workflow execution id", a[0])
			if err != nil {
				return err
			}
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := c.GetWorkflowExecution(cmd.Context(), id); err != nil {
				return err
			}
			if err := e.confirm(yes, fmt.Sprintf("delete workflow execution %d", id)); err != nil {
				return err
			}
			if err := c.DeleteWorkflowExecution(cmd.Context(), id); err != nil {
				return err
			}
			return e.done(map[string]any{"deleted": id}, "deleted workflow execution %d", id)
		}),
	}
	del.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	start.Flags().StringVar(&input, "input", "", "the execution's input (a string, often JSON), which its tasks and conditions see")
	start.Flags().IntVar(&many.count, "count", 0, "start this many executions (each with --input) and print their ids, one a line")
	start.Flags().StringVar(&many.inputs, "inputs", "", `start one execution per line of this file ("-": standard input), the line being its input`)
	cmd.AddCommand(start, stop, stopAll, list, show, del)
	return cmd
}
