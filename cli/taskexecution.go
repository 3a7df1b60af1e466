package cli

// aiflow task-execution: list, show, start, stop and restart task
// executions, and read their logs.

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/internal/view"
)

func (e *env) taskExecutionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "task-execution",
		Short: "List, show, start, stop, explain and read the logs of task executions",
	}
	var task string
	list := &cobra.Command{
		Use:   "list EXECUTION_ID",
		Short: "List the task executions of a workflow execution",
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
			tes, err := c.ListTaskExecutions(cmd.Context(), &aiflow.TaskExecutionFilter{ExecutionID: id, Task: task})
			if err != nil {
				return err
			}
			vs := view.Map(tes, view.NewTaskExecution)
			return e.print(vs, func() writerTo {
				t := &table{header: []string{"ID", "TASK", "SEQ", "STATUS", "ATTEMPT", "STARTED AT", "ENDED AT", "ERROR", "NOTE"}}
				for _, te := range vs {
					t.add(te.ID, te.Task, te.SeqNum, te.Status, te.Attempt, te.StartedAt, te.EndedAt, te.Error, te.Note)
				}
				return t
			})
		}),
	}
	list.Flags().StringVar(&task, "task", "", "only the executions of this task")
	show := &cobra.Command{
		Use:   "show TASK_EXECUTION_ID",
		Short: "Show a task execution",
		Args:  args(cobra.ExactArgs(1)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			id, err := parseID("task execution id", a[0])
			if err != nil {
				return err
			}
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			te, err := c.GetTaskExecution(cmd.Context(), id)
			if err != nil {
				return err
			}
			v := view.NewTaskExecution(*te)
			return e.print(v, func() writerTo {
				var f fields
				f.add("ID", v.ID)
				f.add("EXECUTION ID", v.ExecutionID)
				f.add("NAMESPACE", v.Namespace)
				f.add("WORKFLOW", v.Workflow)
				f.add("TASK", v.Task)
				f.add("SEQ", v.SeqNum)
				f.add("STATUS", v.Status)
				f.add("ATTEMPT", fmt.Sprintf("%d of %d (%d failed)", v.Attempt, v.MaxAttempts, v.Failures))
				if v.Interruptions > 0 {
					f.add("INTERRUPTIONS", fmt.Sprintf("%d (workers lost; %d run again at most)", v.Interruptions, v.MaxInterruptions))
				}
				f.add("STREAMING", v.Streaming)
				f.add("TIMEOUT", v.Timeout)
				f.add("ERROR", v.Error)
				f.add("NOTE", v.Note)
				f.add("STATUS MESSAGE", v.StatusMessage)
				if len(v.Metrics) > 0 {
					f.add("METRICS", fmt.Sprint(v.Metrics))
				}
				f.add("CREATED AT", v.CreatedAt)
				f.add("STARTED AT", v.StartedAt)
				f.add("ENDED AT", v.EndedAt)
				return f
			})
		}),
	}
	action := func(use, short string, do func(c *aiflow.Client, cmd *cobra.Command, id int64, task string) error, past string) *cobra.Command {
		return &cobra.Command{
			Use:   use + " EXECUTION_ID TASK",
			Short: short,
			Args:  args(cobra.ExactArgs(2)),
			RunE: e.run(func(cmd *cobra.Command, a []string) error {
				id, err := parseID("workflow execution id", a[0])
				if err != nil {
					return err
				}
				c, err := e.getClient(cmd.Context())
				if err != nil {
					return err
				}
				if err := do(c, cmd, id, a[1]); err != nil {
					return err
				}
				return e.done(map[string]any{"execution_id": id, "task": a[1], "requested": use}, "%s task %s of workflow execution %d", past, a[1], id)
			}),
		}
	}
	var follow bool
	var offset int64
	logs := &cobra.Command{
		Use:   "logs TASK_EXECUTION_ID",
		Short: "Print the log of a task execution (with -f, until it has finished)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: e.run(func(cmd *cobra.Command, a []string) error {
			id, err := parseID("task execution id", a[0])
			if err != nil {
				return err
			}
			c, err := e.getClient(cmd.Context())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if _, err := c.GetTaskExecution(ctx, id); err != nil {
				return err
			}
			for {
				// Read the status first: once finished, a last read gets
				// everything.
				te, err := c.GetTaskExecution(ctx, id)
				if err != nil {
					return err
				}
				data, next, err := c.ReadTaskLog(ctx, id, offset, 0)
				if err != nil {
					return err
				}
				if _, err := e.opts.Stdout.Write(data); err != nil {
					return err
				}
				offset = next
				if !follow || te.Status.Finished() {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(500 * time.Millisecond):
				}
			}
		}),
	}
	logs.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output until the task execution has finished")
	logs.Flags().Int64Var(&offset, "offset", 0, "start at this byte offset")
	cmd.AddCommand(list, show, e.whyCmd(),
		action("start", "Start a task in a running workflow execution (ignored while the task is alive)",
			func(c *aiflow.Client, cmd *cobra.Command, id int64, task string) error {
				return c.StartTaskExecution(cmd.Context(), id, task)
			}, "starting"),
		action("stop", "Stop the alive execution of a task (a no-op when none is alive)",
			func(c *aiflow.Client, cmd *cobra.Command, id int64, task string) error {
				return c.StopTaskExecution(cmd.Context(), id, task)
			}, "stopping"),
		action("restart", "Restart a task: stop its alive execution and start a new one",
			func(c *aiflow.Client, cmd *cobra.Command, id int64, task string) error {
				return c.RestartTaskExecution(cmd.Context(), id, task)
			}, "restarting"),
		logs)
	return cmd
}
