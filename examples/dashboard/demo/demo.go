// Package demo declares the workflows that examples/dashboard runs, small
// equivalents of the quickstart, periodic and online_ml examples plus one
// that waits for an approval event, and keeps executions coming so that the
// dashboard has a living system to show. The browser tests use it too.
package demo

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/operators"
)

// Workflow names and event keys.
const (
	Quickstart = "quickstart_workflow"
	Periodic   = "periodic_task_workflow"
	Interval   = "interval_workflow"
	OnlineML   = "online_ml"
	Approval   = "approval"
	Report     = "nightly_report"
	// ReportRequestedKey starts a nightly_report through its trigger.
	ReportRequestedKey = "report_requested"
	ApprovedKey        = "approved"

	quickstartKey  = "key"
	dataPrepared   = "data_prepared"
	modelValidated = "model_validated"
	modelDeployed  = "model_deployed"
)

// Workflows returns the demo's workflows, in the default namespace.
func Workflows() []*aiflow.Workflow {
	return []*aiflow.Workflow{quickstart(), periodic(), interval(), onlineML(), approval(), report()}
}

// report is a batch job that sometimes needs a retry and sometimes fails,
// so that the dashboard has failures to show. Its password is an
// environment variable, which the dashboard names without its value.
func report() *aiflow.Workflow {
	wf := aiflow.NewWorkflow(Report)
	extract := wf.Task("extract", operators.Bash("echo extracted 1200 rows"),
		aiflow.WithEnv(map[string]string{"WAREHOUSE_PASSWORD": "not-shown-anywhere"}))
	transform := wf.Task("transform", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		fmt.Fprintf(tc.Log, "attempt %d: transforming 1200 rows\n", tc.Attempt)
		if tc.Attempt == 1 && rand.IntN(2) == 0 {
			return fmt.Errorf("lock timeout on table rows_staging")
		}
		return pause(ctx, 300*time.Millisecond)
	}), aiflow.WithRetry(aiflow.RetryPolicy{MaxAttempts: 2, InitialBackoff: 500 * time.Millisecond}))
	load := wf.Task("load", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		if rand.IntN(4) == 0 {
			fmt.Fprintln(tc.Log, "connecting to the warehouse: connection refused")
			return fmt.Errorf("warehouse: connection refused")
		}
		fmt.Fprintln(tc.Log, "loaded 1200 rows")
		return nil
	}))
	transform.StartAfter(extract)
	load.StartAfter(transform)
	return wf
}

// quickstart is the quickstart example's workflow: task3 after task1 and
// task2, task4 on the event task3 sends.
func quickstart() *aiflow.Workflow {
	wf := aiflow.NewWorkflow(Quickstart)
	task1 := wf.Task("task1", operators.Bash("echo I am the 1st task."))
	task2 := wf.Task("task2", operators.Bash("echo I am the 2nd task."))
	task3 := wf.Task("task3", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		fmt.Fprintf(tc.Log, "Sending event with key: %s\n", quickstartKey)
		_, err := tc.SendEvent(ctx, quickstartKey, "This is a custom message.")
		return err
	}))
	task4 := wf.Task("task4", operators.Bash("echo I am the 4th task."))
	task3.StartAfter(task1, task2)
	task4.OnEvent(quickstartKey, aiflow.ActionStart)
	return wf
}

// periodic is the periodic example's workflow of periodic tasks.
func periodic() *aiflow.Workflow {
	wf := aiflow.NewWorkflow(Periodic)
	task1 := wf.Task("task_1", operators.Bash("echo task_1 ran"), aiflow.Periodic("interval@0 0 0 20"))
	wf.Task("task_2", operators.Bash("echo task_2 ran after task_1")).StartAfter(task1)
	task3 := wf.Task("task_3", operators.Bash("echo task_3 ran"), aiflow.Periodic("cron@*/1 * * * *"))
	wf.Task("task_4", operators.Bash("echo task_4 ran after task_3")).StartAfter(task3)
	return wf
}

// interval is the periodic example's workflow started by a schedule.
func interval() *aiflow.Workflow {
	wf := aiflow.NewWorkflow(Interval)
	wf.Task("task", operators.Bash("echo started by a schedule"))
	return wf
}

// onlineML has the shape of the online_ml example: a streaming task that
// prepares data, training on each dataset, validation after training,
// deployment of validated models, and a streaming task that predicts.
func onlineML() *aiflow.Workflow {
	wf := aiflow.NewWorkflow(OnlineML)
	wf.Task("pre_processing", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		t := time.NewTicker(6 * time.Second)
		defer t.Stop()
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			fmt.Fprintf(tc.Log, "prepared dataset-%d (500 samples)\n", n)
			if _, err := tc.SendEvent(ctx, dataPrepared, fmt.Sprintf("dataset-%d", n)); err != nil {
				return nil
			}
		}
	}), aiflow.Streaming())
	training := wf.Task("training", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		fmt.Fprintf(tc.Log, "training model-%d\n", tc.SeqNum)
		return pause(ctx, 700*time.Millisecond)
	}))
	training.OnEvent(dataPrepared, aiflow.ActionStart)
	validating := wf.Task("validating", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		acc := 0.8 + rand.Float64()/5
		fmt.Fprintf(tc.Log, "model-%d: accuracy %.3f\n", tc.SeqNum, acc)
		if err := tc.ReportMetrics(ctx, map[string]float64{"accuracy": acc}); err != nil {
			return err
		}
		if acc < 0.88 {
			fmt.Fprintln(tc.Log, "not better than the deployed model: keeping it")
			return nil
		}
		_, err := tc.SendEvent(ctx, modelValidated, fmt.Sprintf("model-%d", tc.SeqNum))
		return err
	}))
	validating.StartAfter(training)
	deploying := wf.Task("deploying", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		fmt.Fprintln(tc.Log, "deploying the validated model")
		_, err := tc.SendEvent(ctx, modelDeployed, "ok")
		return err
	}))
	deploying.OnEvent(modelValidated, aiflow.ActionStart)
	wf.Task("predicting", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		_ = tc.ReportStatus(ctx, "serving")
		err := tc.ListenEvents(ctx, []string{modelDeployed}, func(ev aiflow.Event) error {
			fmt.Fprintf(tc.Log, "loaded the model deployed at %s\n", ev.Time.Format(time.TimeOnly))
			return nil
		})
		if ctx.Err() != nil {
			return nil
		}
		return err
	}), aiflow.Streaming())
	return wf
}

// approval prepares, then waits for a person to send the event "approved".
func approval() *aiflow.Workflow {
	wf := aiflow.NewWorkflow(Approval)
	prepare := wf.Task("prepare", operators.Bash("echo release notes drafted"))
	publish := wf.Task("publish", operators.Func(func(ctx context.Context, tc *aiflow.TaskContext) error {
		fmt.Fprintln(tc.Log, "publishing the approved release")
		return nil
	}))
	publish.OnEvent(ApprovedKey, aiflow.ActionStart)
	wf.Task("announce", operators.Bash("echo announced")).StartAfter(publish)
	_ = prepare
	return wf
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Setup registers the workflows on a client that is not started yet.
func Setup(ctx context.Context, c *aiflow.Client) error {
	return c.Register(ctx, Workflows()...)
}

// Populate, on a started client, adds the schedule of interval_workflow
// (every 10 seconds) unless it has one and the trigger of nightly_report,
// and starts one execution each of online_ml, the
// periodic workflow and approval.
func Populate(ctx context.Context, c *aiflow.Client) error {
	scheds, err := c.ListWorkflowSchedules(ctx, aiflow.DefaultNamespace, Interval)
	if err != nil {
		return err
	}
	if len(scheds) == 0 { // a store kept from an earlier run has it already
		if _, err := c.AddWorkflowSchedule(ctx, Interval, "interval@0 0 0 10", nil); err != nil {
			return err
		}
	}
	// An event "report_requested" starts a nightly_report.
	if _, err := c.AddWorkflowTrigger(ctx, Report, "on_request", aiflow.EventCondition(ReportRequestedKey), nil); err != nil {
		return err
	}
	for _, wf := range []string{OnlineML, Periodic, Approval} {
		if _, err := c.StartWorkflowExecution(ctx, wf, nil); err != nil {
			return err
		}
	}
	return nil
}

// Keep starts an execution of the quickstart workflow every interval, and
// one of nightly_report every other, until ctx ends.
func Keep(ctx context.Context, c *aiflow.Client, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	odd := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		wfs := []string{Quickstart}
		if odd = !odd; odd {
			wfs = append(wfs, Report)
		}
		for _, wf := range wfs {
			if _, err := c.StartWorkflowExecution(ctx, wf, nil); err != nil && ctx.Err() == nil {
				logger.Warn("dashboard demo: starting an execution failed", "workflow", wf, "error", err)
			}
		}
	}
}
