package aiflow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"

	"github.com/aiflow-go/aiflow/store"
)

// Operator is what a task runs. Run starts the work and returns when it ends:
// a nil error is SUCCESS, an error (or a panic) is FAILED (or RETRYING when the
// task has attempts left). Run's context is cancelled when the task is
// stopped (STOP, RESTART, a stopped execution), when its timeout expires and
// when the client shuts down; Run must then return promptly.
//
// Operators should embed OperatorDefaults so that optional methods added to
// this package later have defaults.
type Operator interface {
	Run(ctx context.Context, tc *TaskContext) error
}

// Stopper is implemented by operators that need to act to stop their work
// (cancel a remote job, take a savepoint). When a running task is asked to
// stop, the client cancels Run's context and calls Stop with a context bounded
// by Config.StopGracePeriod, then waits for Run to return.
type Stopper interface {
	Stop(ctx context.Context, tc *TaskContext) error
}

// Describer is implemented by operators that can describe their
// configuration (a command line, a job name). The description is part of the
// workflow's definition: changing it makes a new workflow version.
type Describer interface {
	Describe() string
}

// PublicDescriber is implemented by operators that mark some fields of
// their configuration secret (a command, arguments, environment values,
// anything a credential may be written into) and can describe themselves
// without those fields. A workflow's definition is shown to anyone who may
// see the workflow (the dashboard of package aiflowui, the HTTP API of
// package aiflowhttp): there an operator is described by its type followed
// by its PublicDescribe, and an operator that does not implement
// PublicDescriber by its type alone, since its Describe may hold a secret.
// The public description is recorded with the definition but is not part of
// the workflow's version (Describe is).
type PublicDescriber interface {
	PublicDescribe() string
}

// Redacted is the text that stands for a secret value in public
// descriptions (PublicDescriber) and in views of workflow definitions.
const Redacted = "[redacted]"

// StreamingOperator is implemented by operators that know whether their work
// ends by itself; a streaming operator makes its task a streaming task (see
// Streaming).
type StreamingOperator interface {
	Streaming() bool
}

// Validator is implemented by operators that can check their configuration.
// Client.Register calls Validate for every task and reports an error as a
// problem of the task's declaration (a *DeclarationError), so a misconfigured
// operator is refused when the workflow is registered rather than failing
// when it runs.
type Validator interface {
	Validate() error
}

// Interrupted reports whether ctx, an operator's Run context, ended because
// the client is shutting down rather than because the task was asked to
// stop, timed out or lost its lease. An interrupted attempt ends RETRYING
// without counting as a failure and runs again, in this client once it is
// started again or in another one; operators that manage work outside the
// process (a Kubernetes pod) leave it running then so that the next attempt
// can adopt it.
func Interrupted(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), store.ErrStopped)
}

// OperatorDefaults gives an operator the default optional behaviour. Embed it.
type OperatorDefaults struct{}

// Stop does nothing: cancelling Run's context is enough.
func (OperatorDefaults) Stop(context.Context, *TaskContext) error { return nil }

// OperatorFunc adapts a function to the Operator interface.
type OperatorFunc func(ctx context.Context, tc *TaskContext) error

// Run calls f.
func (f OperatorFunc) Run(ctx context.Context, tc *TaskContext) error { return f(ctx, tc) }

func describeOperator(op Operator) string {
	if d, ok := op.(Describer); ok {
		return fmt.Sprintf("%T: %s", op, d.Describe())
	}
	return fmt.Sprintf("%T", op)
}

// publicOperator is what anyone may see of op: its type and its public
// description (PublicDescriber), or its type alone.
func publicOperator(op Operator) string {
	if d, ok := op.(PublicDescriber); ok {
		return fmt.Sprintf("%T: %s", op, d.PublicDescribe())
	}
	return fmt.Sprintf("%T", op)
}

func operatorStreams(op Operator) bool {
	s, ok := op.(StreamingOperator)
	return ok && s.Streaming()
}

// Environment variables every task process receives (see TaskContext.Environ).
const (
	EnvNamespace           = "AIFLOW_NAMESPACE"
	EnvWorkflow            = "AIFLOW_WORKFLOW"
	EnvWorkflowExecutionID = "AIFLOW_WORKFLOW_EXECUTION_ID"
	EnvTask                = "AIFLOW_TASK"
	EnvTaskExecutionID     = "AIFLOW_TASK_EXECUTION_ID"
	EnvSeqNum              = "AIFLOW_SEQ_NUM"
	EnvAttempt             = "AIFLOW_ATTEMPT"
	// EnvInput holds the workflow execution's input
	// (StartWorkflowOpts.Input); empty when it has none.
	EnvInput = "AIFLOW_INPUT"
)

// TaskContext is what an operator knows about the task execution it runs, and
// how it talks back: the task log, events, progress.
type TaskContext struct {
	Namespace       string
	Workflow        string
	ExecutionID     int64
	Task            string
	TaskExecutionID int64
	SeqNum          int
	// Attempt is 1 for the first attempt, 2 for the first retry, ...: the
	// fencing token of side effects outside the database (also in
	// AIFLOW_ATTEMPT). A newer attempt of the task execution starts only
	// once this one's lease and stop grace have passed; write output under
	// the attempt number, or check it before committing, and a stale
	// attempt can do no harm.
	Attempt int
	// Input is the workflow execution's input (StartWorkflowOpts.Input);
	// empty when it has none. Processes the task starts find it in the
	// environment variable EnvInput.
	Input string
	// Log is the task execution's log. Operators write their output here;
	// Client.ReadTaskLog reads it back. Output that cannot be stored (the
	// store or the log directory fails) is lost, and the loss is logged
	// through Config.Logger.
	Log io.Writer
	// Logger logs to the client's logger with the task's attributes.
	Logger *slog.Logger
	// Env holds the environment variables added by WithEnv.
	Env map[string]string
	// WorkDir is the working directory set by WithWorkDir (empty: the
	// operator's choice).
	WorkDir string

	client *Client
}

// Environ returns the environment for a process started by the task: the
// client process's environment, the task's context variables (AIFLOW_*) and
// the variables added with WithEnv, in that order of precedence (later wins).
func (tc *TaskContext) Environ() []string {
	return append(os.Environ(), tc.TaskEnviron()...)
}

// TaskEnviron returns the task's own environment, without the client
// process's: the context variables (AIFLOW_*), sorted, then the variables
// added with WithEnv, sorted (later wins). Operators that start work
// elsewhere (a Kubernetes pod) give it these.
func (tc *TaskContext) TaskEnviron() []string {
	ctxVars := map[string]string{
		EnvNamespace:           tc.Namespace,
		EnvWorkflow:            tc.Workflow,
		EnvWorkflowExecutionID: strconv.FormatInt(tc.ExecutionID, 10),
		EnvTask:                tc.Task,
		EnvTaskExecutionID:     strconv.FormatInt(tc.TaskExecutionID, 10),
		EnvSeqNum:              strconv.Itoa(tc.SeqNum),
		EnvAttempt:             strconv.Itoa(tc.Attempt),
		EnvInput:               tc.Input,
	}
	env := make([]string, 0, len(ctxVars)+len(tc.Env))
	for _, k := range slices.Sorted(maps.Keys(ctxVars)) {
		env = append(env, k+"="+ctxVars[k])
	}
	for _, k := range slices.Sorted(maps.Keys(tc.Env)) {
		env = append(env, k+"="+tc.Env[k])
	}
	return env
}

// SendEvent sends a user event from this task. By default it reaches only the
// task's own workflow execution (and the namespace's workflow triggers); set
// opts.ToNamespace to reach every execution in the namespace whose rules
// expect the key. opts may set Sender (the task's "<execution>_<task>_<seq>"
// by default); its Namespace, ExecutionID and TaskExecutionID must be left
// zero or name this task's own. A nil opts means the defaults.
func (tc *TaskContext) SendEvent(ctx context.Context, key, value string, opts *SendEventOpts) (*Event, error) {
	var o SendEventOpts
	if opts != nil {
		o = *opts
	}
	switch {
	case o.Namespace != "" && o.Namespace != tc.Namespace:
		return nil, opError("send event", fmt.Errorf("%w: SendEventOpts.Namespace %q: a task sends in its own namespace %q: leave it empty", ErrInvalid, o.Namespace, tc.Namespace))
	case o.ExecutionID != 0 && o.ExecutionID != tc.ExecutionID:
		return nil, opError("send event", fmt.Errorf("%w: SendEventOpts.ExecutionID %d: a task sends from its own workflow execution %d: leave it zero", ErrInvalid, o.ExecutionID, tc.ExecutionID))
	case o.TaskExecutionID != 0 && o.TaskExecutionID != tc.TaskExecutionID:
		return nil, opError("send event", fmt.Errorf("%w: SendEventOpts.TaskExecutionID %d: a task sends as itself (%d): leave it zero", ErrInvalid, o.TaskExecutionID, tc.TaskExecutionID))
	}
	ev := store.Event{
		Kind: store.KindUser, Namespace: tc.Namespace, Key: key, Value: value,
		Sender: cmp.Or(o.Sender, tc.sender()), Workflow: tc.Workflow, ExecutionID: tc.ExecutionID,
		TaskName: tc.Task, TaskExecutionID: tc.TaskExecutionID, SeqNum: tc.SeqNum, Broadcast: o.ToNamespace,
	}
	return tc.client.append(ctx, "send event", ev)
}

// sender names a task execution as an event sender: "<execution>_<task>_<seq>".
func (tc *TaskContext) sender() string { return taskSender(tc.ExecutionID, tc.Task, tc.SeqNum) }

func taskSender(executionID int64, task string, seq int) string {
	return strconv.FormatInt(executionID, 10) + "_" + task + "_" + strconv.Itoa(seq)
}

// ListenEvents calls fn with every event of the task's namespace with one of
// keys (any key when empty) appended after the call, until ctx ends or fn
// returns an error. A streaming task uses it to react to events, as the
// seed's predicting task reloads its model on "model_deployed".
func (tc *TaskContext) ListenEvents(ctx context.Context, keys []string, fn func(Event) error) error {
	from, err := tc.client.store.LastPosition(ctx)
	if err != nil {
		return opError("listen events", err)
	}
	return tc.client.ListenEvents(ctx, &EventFilter{Namespace: tc.Namespace, Keys: keys, UserOnly: true, After: Position(from)}, fn)
}

// ReportStatus records a short status message that GetTaskExecution shows.
func (tc *TaskContext) ReportStatus(ctx context.Context, msg string) error {
	return tc.client.store.ReportProgress(ctx, tc.TaskExecutionID, tc.Attempt, store.Report{StatusMessage: msg})
}

// ReportMetrics records metrics that GetTaskExecution shows; keys are merged.
func (tc *TaskContext) ReportMetrics(ctx context.Context, metrics map[string]float64) error {
	return tc.client.store.ReportProgress(ctx, tc.TaskExecutionID, tc.Attempt, store.Report{Metrics: metrics})
}
