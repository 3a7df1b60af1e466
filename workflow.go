package aiflow

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

// DefaultNamespace is the namespace of workflows and events that name none. It
// always exists.
const DefaultNamespace = store.DefaultNamespace

// Workflow is a declaration of tasks and their rules. Build it with
// NewWorkflow and Workflow.Task; the builder methods only record, and
// Client.Register checks everything at once.
type Workflow struct {
	name      string
	namespace string
	tasks     []*Task
}

// WorkflowOption configures a workflow.
type WorkflowOption func(*Workflow)

// WithNamespace puts the workflow in a namespace ("default" when not given).
// The namespace must exist when the workflow is registered.
func WithNamespace(namespace string) WorkflowOption {
	return func(w *Workflow) { w.namespace = namespace }
}

// NewWorkflow declares a workflow named name.
func NewWorkflow(name string, opts ...WorkflowOption) *Workflow {
	w := &Workflow{name: name, namespace: DefaultNamespace}
	for _, o := range opts {
		if o != nil {
			o(w)
		}
	}
	return w
}

// Name returns the workflow's name.
func (w *Workflow) Name() string { return w.name }

// Namespace returns the workflow's namespace.
func (w *Workflow) Namespace() string { return w.namespace }

// Tasks returns the workflow's tasks in declaration order.
func (w *Workflow) Tasks() []*Task { return slices.Clone(w.tasks) }

// Task adds a task named name that runs op, and returns it so rules can be
// added. Tasks with no START rule start when an execution starts.
func (w *Workflow) Task(name string, op Operator, opts ...TaskOption) *Task {
	t := &Task{wf: w, name: name, op: op}
	for _, o := range opts {
		if o != nil {
			o(t)
		}
	}
	w.tasks = append(w.tasks, t)
	return t
}

// Task is a task of a workflow: an operator plus rules.
type Task struct {
	wf        *Workflow
	name      string
	op        Operator
	rules     []*rule
	retry     RetryPolicy
	timeout   time.Duration
	streaming bool
	env       map[string]string
	workDir   string
	optErrs   []string
	// periodic is the schedule expression of a periodic task.
	periodic   string
	periodicTZ string
	// opDesc is publicOperator(op), built on first use (publicOp).
	opDescOnce sync.Once
	opDesc     string
}

// Name returns the task's name.
func (t *Task) Name() string { return t.name }

// Workflow returns the task's workflow.
func (t *Task) Workflow() *Workflow { return t.wf }

// TaskOption configures a task.
type TaskOption func(*Task)

// RetryPolicy retries a failed task execution. A retried task execution shows
// RETRYING between attempts.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts; 1 (no retry) when zero.
	MaxAttempts int
	// InitialBackoff is the delay before the second attempt; the delay
	// doubles after each failure up to MaxBackoff. Zero means no delay.
	InitialBackoff time.Duration
	// MaxBackoff caps the delay; 10 minutes when zero.
	MaxBackoff time.Duration
}

// backoff returns the delay after failures failed attempts.
func (p RetryPolicy) backoff(failures int) time.Duration {
	if p.InitialBackoff <= 0 || failures < 1 {
		return 0
	}
	max := p.MaxBackoff
	if max <= 0 {
		max = 10 * time.Minute
	}
	d := float64(p.InitialBackoff) * math.Pow(2, float64(failures-1))
	if d > float64(max) {
		return max
	}
	return time.Duration(d)
}

// WithRetry retries the task's failed executions under policy.
func WithRetry(policy RetryPolicy) TaskOption {
	return func(t *Task) {
		if policy.MaxAttempts < 0 {
			t.optErrs = append(t.optErrs, fmt.Sprintf("WithRetry: MaxAttempts is %d: expected 1 or more (or 0 for the default, 1)", policy.MaxAttempts))
		}
		if policy.InitialBackoff < 0 || policy.MaxBackoff < 0 {
			t.optErrs = append(t.optErrs, "WithRetry: backoffs must not be negative")
		}
		t.retry = policy
	}
}

// WithTimeout fails an attempt of the task that runs longer than d (its
// context is cancelled). Zero means no timeout.
func WithTimeout(d time.Duration) TaskOption {
	return func(t *Task) {
		if d < 0 {
			t.optErrs = append(t.optErrs, fmt.Sprintf("WithTimeout: %s: expected a positive duration, or 0 for none", d))
		}
		t.timeout = d
	}
}

// Streaming marks a task that runs until it is stopped (a stream consumer,
// a model server). The Postgres store runs streaming tasks in a queue of
// their own, with no job timeout, under a lease renewed by heartbeats.
func Streaming() TaskOption { return func(t *Task) { t.streaming = true } }

// WithEnv adds environment variables for the processes the task's operator
// starts (operators.Bash, operators.Python, ...).
func WithEnv(env map[string]string) TaskOption {
	return func(t *Task) {
		if t.env == nil {
			t.env = map[string]string{}
		}
		for k, v := range env {
			t.env[k] = v
		}
	}
}

// WithWorkDir sets the working directory of the processes the task's
// operator starts.
func WithWorkDir(dir string) TaskOption { return func(t *Task) { t.workDir = dir } }
