package aiflow

import (
	"context"
	"fmt"
	"log/slog"
	goruntime "runtime"

	"github.com/aiflow-go/aiflow/store"
)

// compiledFor returns the definition a task execution runs: the version its
// workflow execution began with (run.Version) when this client has it, else
// the latest.
func (c *Client) compiledFor(run *store.TaskRun) *compiled {
	k := workflowKey{run.Namespace, run.Workflow}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v := c.versions[versionKey{k, run.Version}]; v != nil {
		return v
	}
	return c.workflows[k]
}

// taskOf returns the task a task execution runs, in the definition
// compiledFor returns, or an error naming what this client lacks.
func (c *Client) taskOf(run *store.TaskRun) (*Task, error) {
	// The store read the execution's version and input with the attempt.
	cw := c.compiledFor(run)
	if cw == nil {
		return nil, fmt.Errorf("workflow %q (namespace %q) is not registered in client %q", run.Workflow, run.Namespace, c.cfg.ClientID)
	}
	t := cw.tasks[run.Task]
	if t == nil {
		return nil, fmt.Errorf("task %q is not in workflow %q as registered in client %q", run.Task, run.Workflow, c.cfg.ClientID)
	}
	return t, nil
}

// runTask runs an attempt of run, a task execution of t, and records its
// start (a.started) once the operator's goroutine has begun.
func (c *Client) runTask(ctx context.Context, run *store.TaskRun, t *Task, a *attempt) error {
	logger := c.log.With(slog.String("workflow", run.Workflow), slog.Int64("execution_id", run.ExecutionID),
		slog.String("task", run.Task), slog.Int("seq", run.SeqNum), slog.Int("attempt", run.Attempt))
	lw := newLogWriter(c.logs, &run.TaskExecutionRecord, logger)
	defer lw.Close()
	tc := &TaskContext{
		Namespace: run.Namespace, Workflow: run.Workflow, ExecutionID: run.ExecutionID, Task: run.Task,
		TaskExecutionID: run.ID, SeqNum: run.SeqNum, Attempt: run.Attempt, Input: run.Input, Log: lw, Logger: logger,
		Env: t.env, WorkDir: t.workDir, client: c,
	}
	runCtx := ctx
	var errTimeout error
	if run.Timeout > 0 {
		errTimeout = fmt.Errorf("the attempt timed out after %s", run.Timeout)
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, run.Timeout, errTimeout)
		defer cancel()
	}
	done := make(chan error, 1)
	go func() { done <- runOperator(runCtx, t.op, tc) }()
	// Go's scheduler runs the goroutine just made on this processor once
	// this one blocks or yields (unless another processor takes it first):
	// yield, so that the operator starts before the attempt's telemetry is
	// recorded rather than after it (measured: BenchmarkTelemetryCost).
	goruntime.Gosched()
	a.started()
	select {
	case err := <-done:
		if errTimeout != nil && context.Cause(runCtx) == errTimeout {
			return errTimeout
		}
		return err
	case <-runCtx.Done():
	}
	grace := c.cfg.StopGracePeriod
	if s, ok := t.op.(Stopper); ok {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		sctx, span := c.operatorStopSpan(sctx, tc, t)
		err := s.Stop(sctx, tc)
		endSpan(span, err)
		if err != nil {
			tc.Logger.Warn("operator Stop failed", slog.Any("error", err))
			fmt.Fprintf(lw, "aiflow: stopping the operator failed: %v\n", err)
		}
		cancel()
	}
	var err error
	select {
	case err = <-done:
	case <-c.clock.After(grace):
		err = fmt.Errorf("the operator did not return within %s after its context was cancelled", grace)
		tc.Logger.Error("operator ignored cancellation", slog.Any("error", err))
	}
	if errTimeout != nil && context.Cause(runCtx) == errTimeout {
		return errTimeout
	}
	if err == nil {
		err = context.Cause(runCtx)
	}
	return err
}

// runOperator calls op.Run and turns a panic into an error.
func runOperator(ctx context.Context, op Operator, tc *TaskContext) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("operator panicked: %v", r)
		}
	}()
	return op.Run(ctx, tc)
}
