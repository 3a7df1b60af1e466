package aiflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

// compiledFor returns the definition a task execution runs: the version its
// workflow execution (x) began with when this client has it, else the
// latest.
func (c *Client) compiledFor(run *store.TaskRun, x *store.WorkflowExecutionRecord) *compiled {
	k := workflowKey{run.Namespace, run.Workflow}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v := c.versions[versionKey{k, x.Version}]; v != nil {
		return v
	}
	return c.workflows[k]
}

func (c *Client) runTask(ctx context.Context, run *store.TaskRun) error {
	// The execution gives the definition's version and the input.
	x, err := c.readExecution(ctx, run.ExecutionID)
	if err != nil {
		return fmt.Errorf("reading workflow execution %d: %w", run.ExecutionID, err)
	}
	cw := c.compiledFor(run, &x)
	if cw == nil {
		return fmt.Errorf("workflow %q (namespace %q) is not registered in client %q", run.Workflow, run.Namespace, c.cfg.ClientID)
	}
	t := cw.tasks[run.Task]
	if t == nil {
		return fmt.Errorf("task %q is not in workflow %q as registered in client %q", run.Task, run.Workflow, c.cfg.ClientID)
	}
	logger := c.log.With(slog.String("workflow", run.Workflow), slog.Int64("execution_id", run.ExecutionID),
		slog.String("task", run.Task), slog.Int("seq", run.SeqNum), slog.Int("attempt", run.Attempt))
	lw := newLogWriter(c.logs, &run.TaskExecutionRecord, logger)
	defer lw.Close()
	tc := &TaskContext{
		Namespace: run.Namespace, Workflow: run.Workflow, ExecutionID: run.ExecutionID, Task: run.Task,
		TaskExecutionID: run.ID, SeqNum: run.SeqNum, Attempt: run.Attempt, Input: x.Input, Log: lw, Logger: logger,
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
	opCtx, opSpan := c.operatorSpan(runCtx, "aiflow.operator.run", tc, t.op)
	go func() {
		err := runOperator(opCtx, t.op, tc)
		endSpan(opSpan, err)
		done <- err
	}()
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
		sctx, span := c.operatorSpan(sctx, "aiflow.operator.stop", tc, t.op)
		err := s.Stop(sctx, tc)
		endSpan(span, err)
		if err != nil {
			tc.Logger.Warn("operator Stop failed", slog.Any("error", err))
			fmt.Fprintf(lw, "aiflow: stopping the operator failed: %v\n", err)
		}
		cancel()
	}
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

// readExecution reads the execution of a task about to run. A failure of
// the store (a dropped connection, a restarting server) is not the task's:
// it is tried again, with backoff, until it succeeds, the store answers
// with one of its sentinel errors (not found) or ctx ends (the attempt's
// lease could no longer be kept, or it was stopped), which the store then
// takes for an interruption rather than the task's failure.
func (c *Client) readExecution(ctx context.Context, id int64) (store.WorkflowExecutionRecord, error) {
	delay := 20 * time.Millisecond
	for {
		x, err := c.store.GetExecution(ctx, id)
		if err == nil || storeAnswered(err) || ctx.Err() != nil {
			return x, err
		}
		c.log.WarnContext(ctx, "reading the execution of a task failed; trying again", slog.Int64("execution_id", id), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return x, err
		case <-c.clock.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// storeAnswered reports whether err is an answer of the store (one of its
// sentinel errors) rather than a failure to reach it.
func storeAnswered(err error) bool {
	for _, s := range []error{store.ErrNotFound, store.ErrAlreadyExists, store.ErrInvalid, store.ErrConflict, store.ErrStopped} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
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
