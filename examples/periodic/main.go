// Command periodic runs the seed system's periodic samples:
//
//   - a workflow with periodic tasks: task_1 runs every second
//     ("interval@0 0 0 1") and task_2 runs after each successful run of
//     task_1; task_3 runs every minute ("cron@*/1 * * * *") with task_4 after
//     it. The execution stays RUNNING: periodic tasks keep it alive.
//   - two periodic workflows, each started by a workflow schedule: one every
//     two seconds ("interval@0 0 0 2"), one every minute ("cron@*/1 * * * *").
//
// It stops after task_1 has run -ticks times and the interval workflow has run
// twice, then stops the periodic execution.
//
//	go run ./examples/periodic
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/examples/internal/exampleenv"
	"github.com/aiflow-go/aiflow/operators"
)

// PeriodicTasks declares the workflow with periodic tasks.
func PeriodicTasks() *aiflow.Workflow {
	wf := aiflow.NewWorkflow("periodic_task_workflow")
	task1 := wf.Task("task_1", operators.Bash("echo task_1 ran"), aiflow.Periodic("interval@0 0 0 1"))
	wf.Task("task_2", operators.Bash("echo task_2 ran after task_1")).StartAfter(task1)
	task3 := wf.Task("task_3", operators.Bash("echo task_3 ran"), aiflow.Periodic("cron@*/1 * * * *"))
	wf.Task("task_4", operators.Bash("echo task_4 ran after task_3")).StartAfter(task3)
	return wf
}

// ScheduledWorkflows declares the two workflows started by schedules.
func ScheduledWorkflows() []*aiflow.Workflow {
	every2s := aiflow.NewWorkflow("interval_workflow")
	every2s.Task("task", operators.Bash("echo started by a schedule every 2 seconds"))
	everyMinute := aiflow.NewWorkflow("cron_workflow")
	everyMinute.Task("task", operators.Bash("echo started by a schedule every minute"))
	return []*aiflow.Workflow{every2s, everyMinute}
}

func main() {
	ticks := flag.Int("ticks", 3, "stop after task_1 has run this many times")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *ticks); err != nil {
		fmt.Fprintln(os.Stderr, "periodic:", err)
		os.Exit(1)
	}
}

var errEnough = errors.New("enough")

func run(ctx context.Context, out io.Writer, ticks int) error {
	st, closeStore, err := exampleenv.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	client, err := aiflow.New(&aiflow.Config{Store: st})
	if err != nil {
		return err
	}
	periodic := PeriodicTasks()
	if err := client.Register(ctx, append(ScheduledWorkflows(), periodic)...); err != nil {
		return err
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	defer client.Stop(context.WithoutCancel(ctx))

	// The schedules live in the store: on Postgres they would outlive this
	// program, so it deletes them when it is done.
	for wf, expr := range map[string]string{"interval_workflow": "interval@0 0 0 2", "cron_workflow": "cron@*/1 * * * *"} {
		if _, err := client.AddWorkflowSchedule(ctx, wf, expr, nil); err != nil {
			return err
		}
		defer client.DeleteWorkflowSchedules(context.WithoutCancel(ctx), aiflow.DefaultNamespace, wf)
	}
	from, err := client.LastPosition(ctx)
	if err != nil {
		return err
	}
	id, err := client.StartWorkflowExecution(ctx, periodic.Name(), nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "started execution %d of %s\n", id, periodic.Name())

	task1Runs, intervalRuns := 0, 0
	err = client.ListenEvents(ctx, &aiflow.EventFilter{After: from}, func(ev aiflow.Event) error {
		switch {
		case ev.IsStatusChange() && ev.Value == string(aiflow.TaskSuccess):
			fmt.Fprintf(out, "%s: %s #%d succeeded\n", ev.Workflow, ev.TaskName, ev.SeqNum)
			if ev.ExecutionID == id && ev.TaskName == "task_1" {
				task1Runs++
			}
		case ev.IsWorkflowStatusChange() && ev.Value == string(aiflow.WorkflowRunning) && ev.ExecutionID != id:
			fmt.Fprintf(out, "%s: execution %d started by its schedule\n", ev.Workflow, ev.ExecutionID)
			if ev.Workflow == "interval_workflow" {
				intervalRuns++
			}
		}
		if task1Runs >= ticks && intervalRuns >= 2 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		return err
	}
	if err := client.StopWorkflowExecution(ctx, id); err != nil {
		return err
	}
	x, err := client.WaitWorkflowExecution(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "execution %d of %s: %s\n", id, periodic.Name(), x.Status)
	return nil
}
