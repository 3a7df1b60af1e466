package aiflow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/aiflow-go/aiflow/store"
)

// StartWorkflowOpts are the options of StartWorkflowExecution. A nil
// *StartWorkflowOpts means the defaults.
type StartWorkflowOpts struct {
	// Namespace of the workflow; "default" when empty.
	Namespace string
	// Input is the execution's input, for its tasks
	// (TaskContext.Input, the environment variable EnvInput), its
	// conditions (ConditionContext.Input) and the API (WorkflowExecution).
	// A string, often JSON; empty by default. It is stored with the
	// execution, so keep it small (at most MaxInputBytes): pass a reference
	// to larger data.
	Input string
	// IdempotencyKey, when set, makes the call act once: a second call with
	// the same key in the same namespace, within
	// Config.IdempotencyKeyRetention, returns the first call's execution id
	// and starts nothing, whatever its workflow. Retry a call whose answer
	// was lost with the same key. 1 to 255 bytes of text, such as a UUID;
	// empty means none.
	IdempotencyKey string
}

// MaxInputBytes is the largest StartWorkflowOpts.Input accepted (64 KiB).
const MaxInputBytes = 64 << 10

// StartWorkflowExecution starts an execution of a registered, enabled
// workflow and returns its id. The execution exists (in INIT) when the call
// returns; a running client starts it (RUNNING, its first tasks QUEUED)
// right after, exactly once. With opts.IdempotencyKey a retried call starts
// one execution.
func (c *Client) StartWorkflowExecution(ctx context.Context, workflow string, opts *StartWorkflowOpts) (int64, error) {
	if opts == nil {
		opts = &StartWorkflowOpts{}
	}
	ns := orDefault(opts.Namespace)
	if err := c.stoppedError("start workflow execution"); err != nil {
		return 0, err
	}
	if len(opts.Input) > MaxInputBytes {
		return 0, opError("start workflow execution", fmt.Errorf("%w: StartWorkflowOpts.Input is %d bytes: expected at most %d (MaxInputBytes): pass a reference to larger data", ErrInvalid, len(opts.Input), MaxInputBytes))
	}
	var idem store.IdempotencyKey
	if opts.IdempotencyKey != "" {
		idem = store.IdempotencyKey{Namespace: ns, Kind: store.IdempotencyStartExecution, Key: opts.IdempotencyKey}
		// A retry returns the first call's execution even if the workflow
		// was disabled since.
		id, ok, err := c.store.LookupIdempotencyKey(ctx, idem)
		if err != nil {
			return 0, opError("start workflow execution", err)
		}
		if ok {
			return id, nil
		}
	}
	w, err := c.getWorkflow(ctx, ns, workflow)
	if err != nil {
		return 0, opError("start workflow execution", err)
	}
	if !w.Enabled {
		return 0, opError("start workflow execution", fmt.Errorf("%w: %q in namespace %q: enable it first", store.ErrWorkflowDisabled, workflow, ns))
	}
	ids, err := c.store.AllocateExecutionIDs(ctx, 1)
	if err != nil {
		return 0, opError("start workflow execution", err)
	}
	data, _ := json.Marshal(store.StartExecutionData{RunType: store.RunManual, Input: opts.Input})
	rec := store.WorkflowExecutionRecord{ID: ids[0], Namespace: ns, Workflow: workflow, Version: w.Version, RunType: store.RunManual, Input: opts.Input}
	ev := store.Event{
		Kind: store.KindControl, Namespace: ns, Key: store.KeyStartExecution, Sender: store.SenderClient,
		Workflow: workflow, ExecutionID: ids[0], Data: data,
	}
	sctx, span := c.tel.sendSpan(ctx, &ev)
	if idem.Key != "" {
		id, replayed, err := c.store.CreateExecutionOnce(sctx, idem, rec, ev)
		c.tel.endSend(span, "start workflow execution", &ev, true, err)
		if err == nil && !replayed {
			c.tel.appended(ctx, []store.Event{ev})
		}
		return id, opError("start workflow execution", err)
	}
	_, err = c.store.CreateExecution(sctx, rec, ev)
	c.tel.endSend(span, "start workflow execution", &ev, true, err)
	if err != nil {
		return 0, opError("start workflow execution", err)
	}
	c.tel.appended(ctx, []store.Event{ev})
	return ids[0], nil
}

// StartWorkflowExecutionsOpts are the options of StartWorkflowExecutions. A
// nil *StartWorkflowExecutionsOpts means the defaults.
type StartWorkflowExecutionsOpts struct {
	// Namespace of the workflow; "default" when empty.
	Namespace string
}

// MaxStartExecutions is the most executions one StartWorkflowExecutions
// call starts (10,000): one call is one transaction, which holds back the
// readers of the event log while it runs. Start more in several calls.
const MaxStartExecutions = 10_000

// StartWorkflowExecutions starts len(inputs) executions of a registered,
// enabled workflow, the i-th with inputs[i] as its input (see
// StartWorkflowOpts.Input; "" for none, so make([]string, n) starts n
// executions without input), and returns their ids in the order of inputs.
// All of them are created in one store transaction, or none is: on an error
// nothing was started. Each exists (in INIT) when the call returns, and a
// running client starts each (RUNNING, its first tasks QUEUED) right after,
// exactly once, as StartWorkflowExecution does; it is much faster than as
// many calls of StartWorkflowExecution. inputs holds 1 to
// MaxStartExecutions inputs of at most MaxInputBytes each. There is no
// idempotency key: a call whose answer was lost may have started every
// execution; list them (ListWorkflowExecutions) before retrying.
func (c *Client) StartWorkflowExecutions(ctx context.Context, workflow string, inputs []string, opts *StartWorkflowExecutionsOpts) ([]int64, error) {
	const op = "start workflow executions"
	if opts == nil {
		opts = &StartWorkflowExecutionsOpts{}
	}
	ns := orDefault(opts.Namespace)
	if err := c.stoppedError(op); err != nil {
		return nil, err
	}
	if len(inputs) == 0 || len(inputs) > MaxStartExecutions {
		return nil, opError(op, fmt.Errorf("%w: inputs holds %d inputs: expected 1 to %d (MaxStartExecutions), one per execution", ErrInvalid, len(inputs), MaxStartExecutions))
	}
	for i, in := range inputs {
		if len(in) > MaxInputBytes {
			return nil, opError(op, fmt.Errorf("%w: inputs[%d] is %d bytes: expected at most %d (MaxInputBytes): pass a reference to larger data", ErrInvalid, i, len(in), MaxInputBytes))
		}
	}
	w, err := c.getWorkflow(ctx, ns, workflow)
	if err != nil {
		return nil, opError(op, err)
	}
	if !w.Enabled {
		return nil, opError(op, fmt.Errorf("%w: %q in namespace %q: enable it first", store.ErrWorkflowDisabled, workflow, ns))
	}
	ids, err := c.store.AllocateExecutionIDs(ctx, len(inputs))
	if err != nil {
		return nil, opError(op, err)
	}
	recs := make([]store.WorkflowExecutionRecord, len(inputs))
	evs := make([]store.Event, len(inputs))
	// One span for the call; every start event carries its trace context.
	first := store.Event{Namespace: ns, Key: store.KeyStartExecution}
	sctx, span := c.tel.sendSpan(ctx, &first)
	for i, in := range inputs {
		data, _ := json.Marshal(store.StartExecutionData{RunType: store.RunManual, Input: in})
		recs[i] = store.WorkflowExecutionRecord{ID: ids[i], Namespace: ns, Workflow: workflow, Version: w.Version, RunType: store.RunManual, Input: in}
		evs[i] = store.Event{
			Kind: store.KindControl, Namespace: ns, Key: store.KeyStartExecution, Sender: store.SenderClient,
			Workflow: workflow, ExecutionID: ids[i], Data: data, TraceParent: first.TraceParent,
		}
	}
	_, err = c.store.CreateExecutions(sctx, recs, evs)
	c.tel.endSend(span, op, &first, true, err)
	if err != nil {
		return nil, opError(op, err)
	}
	c.tel.appended(ctx, evs)
	return ids, nil
}

// StopWorkflowExecution stops a workflow execution: it becomes STOPPED and
// its alive tasks are stopped. It fails with ErrExecutionFinished if the
// execution has already finished.
func (c *Client) StopWorkflowExecution(ctx context.Context, id int64) error {
	if err := c.stoppedError("stop workflow execution"); err != nil {
		return err
	}
	x, err := c.aliveExecution(ctx, id)
	if err != nil {
		return opError("stop workflow execution", err)
	}
	ev := store.Event{Kind: store.KindControl, Namespace: x.Namespace, Key: store.KeyStopExecution, Sender: store.SenderClient,
		Workflow: x.Workflow, ExecutionID: x.ID}
	_, err = c.append(ctx, "stop workflow execution", ev)
	return err
}

// StopWorkflowExecutions stops every alive execution of a workflow (as
// StopWorkflowExecution does for each) and returns their ids, oldest first.
// Executions that finish meanwhile are skipped.
func (c *Client) StopWorkflowExecutions(ctx context.Context, namespace, workflow string) ([]int64, error) {
	if err := c.stoppedError("stop workflow executions"); err != nil {
		return nil, err
	}
	op := "stop workflow executions"
	ns := orDefault(namespace)
	if _, err := c.getWorkflow(ctx, ns, workflow); err != nil {
		return nil, opError(op, err)
	}
	var stopped []int64
	for {
		xs, err := c.store.ListExecutions(ctx, store.ExecutionFilter{
			Namespace: ns, Workflow: workflow, Statuses: []store.WorkflowStatus{store.WorkflowInit, store.WorkflowRunning},
		})
		if err != nil {
			return stopped, opError(op, err)
		}
		n := 0
		for i := len(xs) - 1; i >= 0; i-- {
			x := xs[i]
			if slices.Contains(stopped, x.ID) {
				continue
			}
			ev := store.Event{Kind: store.KindControl, Namespace: x.Namespace, Key: store.KeyStopExecution, Sender: store.SenderClient,
				Workflow: x.Workflow, ExecutionID: x.ID}
			if _, err := c.append(ctx, op, ev); err != nil {
				return stopped, err
			}
			stopped = append(stopped, x.ID)
			n++
		}
		// A list is bounded (store.DefaultListLimit): look again until a
		// list holds nothing new.
		if n == 0 || len(xs) < store.DefaultListLimit {
			return stopped, nil
		}
	}
}

// DeleteWorkflowExecution deletes a finished workflow execution, its task
// executions and their logs from the store; its events stay in the log. It
// fails with ErrConflict while the execution or one of its tasks is alive.
func (c *Client) DeleteWorkflowExecution(ctx context.Context, id int64) error {
	if err := c.stoppedError("delete workflow execution"); err != nil {
		return err
	}
	return opError("delete workflow execution", c.store.DeleteExecution(ctx, id))
}

func (c *Client) aliveExecution(ctx context.Context, id int64) (store.WorkflowExecutionRecord, error) {
	x, err := c.store.GetExecution(ctx, id)
	if err != nil {
		return x, err
	}
	if x.Status.Finished() {
		return x, fmt.Errorf("%w: workflow execution %d is %s", store.ErrExecutionFinished, id, x.Status)
	}
	return x, nil
}

// GetWorkflowExecution returns a workflow execution.
func (c *Client) GetWorkflowExecution(ctx context.Context, id int64) (*WorkflowExecution, error) {
	if err := c.stoppedError("get workflow execution"); err != nil {
		return nil, err
	}
	x, err := c.store.GetExecution(ctx, id)
	if err != nil {
		return nil, opError("get workflow execution", err)
	}
	return ptr(executionFromStore(x)), nil
}

// ListWorkflowExecutions lists workflow executions, newest first. It fails
// with ErrNamespaceNotFound when filter.Namespace does not exist.
func (c *Client) ListWorkflowExecutions(ctx context.Context, filter *ExecutionFilter) ([]WorkflowExecution, error) {
	if err := c.stoppedError("list workflow executions"); err != nil {
		return nil, err
	}
	if filter == nil {
		filter = &ExecutionFilter{}
	}
	if err := c.requireNamespace(ctx, filter.Namespace); err != nil {
		return nil, opError("list workflow executions", err)
	}
	xs, err := c.store.ListExecutions(ctx, filter.toStore())
	return convertAll(xs, executionFromStore), opError("list workflow executions", err)
}

// WaitWorkflowExecution waits until a workflow execution has finished and
// returns it, or returns ctx's error.
func (c *Client) WaitWorkflowExecution(ctx context.Context, id int64) (*WorkflowExecution, error) {
	if err := c.stoppedError("wait workflow execution"); err != nil {
		return nil, err
	}
	wake, unsubscribe := c.store.Subscribe()
	defer unsubscribe()
	for {
		x, err := c.store.GetExecution(ctx, id)
		if err != nil {
			return nil, opError("wait workflow execution", err)
		}
		if x.Status.Finished() {
			return ptr(executionFromStore(x)), nil
		}
		select {
		case <-ctx.Done():
			return nil, opError("wait workflow execution "+strconv.FormatInt(id, 10), ctx.Err())
		case <-wake:
		case <-c.clock.After(c.cfg.PollInterval):
		}
	}
}

// StartTaskExecution starts a task in a running workflow execution, as a
// START rule would: it is ignored (and the latest task execution's Note says
// so) while the task is alive.
func (c *Client) StartTaskExecution(ctx context.Context, executionID int64, task string) error {
	if err := c.stoppedError("start task execution"); err != nil {
		return err
	}
	return c.taskRequest(ctx, "start task execution", store.KeyStartTask, executionID, task)
}

// StopTaskExecution stops the alive execution of a task, as a STOP rule
// would; a no-op when none is alive.
func (c *Client) StopTaskExecution(ctx context.Context, executionID int64, task string) error {
	if err := c.stoppedError("stop task execution"); err != nil {
		return err
	}
	return c.taskRequest(ctx, "stop task execution", store.KeyStopTask, executionID, task)
}

// RestartTaskExecution restarts a task, as a RESTART rule would: the alive
// execution is stopped and a new one starts once it has stopped.
func (c *Client) RestartTaskExecution(ctx context.Context, executionID int64, task string) error {
	if err := c.stoppedError("restart task execution"); err != nil {
		return err
	}
	return c.taskRequest(ctx, "restart task execution", store.KeyRestartTask, executionID, task)
}

func (c *Client) taskRequest(ctx context.Context, op, key string, executionID int64, task string) error {
	x, err := c.aliveExecution(ctx, executionID)
	if err != nil {
		return opError(op, err)
	}
	w, err := c.store.GetWorkflow(ctx, x.Namespace, x.Workflow)
	if err != nil {
		return opError(op, err)
	}
	if !slices.Contains(definitionTasks(w.Definition), task) {
		return opError(op, fmt.Errorf("%w: %q is not a task of workflow %q (tasks: %v)", store.ErrTaskNotFound, task, x.Workflow, definitionTasks(w.Definition)))
	}
	ev := store.Event{Kind: store.KindControl, Namespace: x.Namespace, Key: key, Sender: store.SenderClient,
		Workflow: x.Workflow, ExecutionID: x.ID, TaskName: task}
	_, err = c.append(ctx, op, ev)
	return err
}

// definitionTasks lists the task names of a recorded definition.
func definitionTasks(def []byte) []string {
	var d struct {
		Tasks []struct {
			Name string `json:"name"`
		} `json:"tasks"`
	}
	_ = json.Unmarshal(def, &d)
	out := make([]string, len(d.Tasks))
	for i, t := range d.Tasks {
		out[i] = t.Name
	}
	return out
}

// GetTaskExecution returns a task execution.
func (c *Client) GetTaskExecution(ctx context.Context, id int64) (*TaskExecution, error) {
	if err := c.stoppedError("get task execution"); err != nil {
		return nil, err
	}
	te, err := c.store.GetTaskExecution(ctx, id)
	if err != nil {
		return nil, opError("get task execution", err)
	}
	return ptr(taskExecutionFromStore(te)), nil
}

// ListTaskExecutions lists task executions by id.
func (c *Client) ListTaskExecutions(ctx context.Context, filter *TaskExecutionFilter) ([]TaskExecution, error) {
	if err := c.stoppedError("list task executions"); err != nil {
		return nil, err
	}
	if filter == nil {
		filter = &TaskExecutionFilter{}
	}
	tes, err := c.store.ListTaskExecutions(ctx, filter.toStore())
	return convertAll(tes, taskExecutionFromStore), opError("list task executions", err)
}
