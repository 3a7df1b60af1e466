package aiflow

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/aiflow-go/aiflow/internal/engine"
	"github.com/aiflow-go/aiflow/store"
)

// TaskStatus is the status of a task execution. See the constants.
type TaskStatus = store.TaskStatus

// The task statuses. INIT, QUEUED, RUNNING, RETRYING and STOPPING are alive;
// SUCCESS, FAILED and STOPPED are finished and final.
const (
	TaskInit     = store.TaskInit
	TaskQueued   = store.TaskQueued
	TaskRunning  = store.TaskRunning
	TaskSuccess  = store.TaskSuccess
	TaskFailed   = store.TaskFailed
	TaskStopping = store.TaskStopping
	TaskStopped  = store.TaskStopped
	TaskRetrying = store.TaskRetrying
)

// WorkflowStatus is the status of a workflow execution. See the constants.
type WorkflowStatus = store.WorkflowStatus

// The workflow execution statuses. SUCCESS, FAILED and STOPPED are final.
const (
	WorkflowInit    = store.WorkflowInit
	WorkflowRunning = store.WorkflowRunning
	WorkflowSuccess = store.WorkflowSuccess
	WorkflowFailed  = store.WorkflowFailed
	WorkflowStopped = store.WorkflowStopped
)

// RunType says what started a workflow execution: MANUAL, PERIODIC or EVENT.
type RunType = store.RunType

// The run types.
const (
	RunManual   = store.RunManual
	RunPeriodic = store.RunPeriodic
	RunEvent    = store.RunEvent
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

// ---- registration ----

// compiled is a validated workflow, ready for the engine and the store.
type compiled struct {
	wf     *Workflow
	def    *engine.Definition
	record store.WorkflowRecord
	tasks  map[string]*Task
}

// validate checks a workflow declaration and returns every problem.
func (w *Workflow) validate() []error {
	var errs []error
	add := func(task, format string, args ...any) {
		errs = append(errs, &DeclarationError{Namespace: w.namespace, Workflow: w.name, Task: task, Problem: fmt.Sprintf(format, args...)})
	}
	if err := store.ValidateName("workflow", w.name); err != nil {
		add("", "%s", trimSentinel(err))
	}
	if err := store.ValidateName("namespace", w.namespace); err != nil {
		add("", "%s", trimSentinel(err))
	}
	if len(w.tasks) == 0 {
		add("", "it has no tasks: expected at least one (Workflow.Task)")
	}
	// ownStatusKeys are the status keys a rule of this workflow can see:
	// status events reach only their own execution.
	ownStatusKeys := map[string]bool{}
	for _, t := range w.tasks {
		ownStatusKeys[store.StatusKey(w.name, t.name)] = true
	}
	// malformed holds the rules with a problem; the check for tasks that
	// can never start skips them, so that one mistake is reported once.
	malformed := map[*rule]bool{}
	seen := map[string]bool{}
	for _, t := range w.tasks {
		if err := store.ValidateName("task", t.name); err != nil {
			add(t.name, "%s", trimSentinel(err))
		} else if seen[t.name] {
			add(t.name, "duplicate task name: each task of a workflow needs its own name")
		}
		seen[t.name] = true
		if t.op == nil {
			add(t.name, "operator is nil: expected an Operator such as operators.Bash(...) or operators.Func(...)")
		} else if v, ok := t.op.(Validator); ok {
			if err := v.Validate(); err != nil {
				add(t.name, "operator: %v", err)
			}
		}
		for _, msg := range t.optErrs {
			add(t.name, "%s", msg)
		}
		for i, r := range t.rules {
			before := len(errs)
			where := fmt.Sprintf("rule %d (%s)", i+1, r.describe()["kind"])
			if !r.action.valid() {
				add(t.name, "%s: action %d: expected ActionStart, ActionStop or ActionRestart", where, r.action)
			}
			switch r.kind {
			case ruleOnEvent:
				checkKey(add, t.name, where, r.key)
			case ruleStartAfter, ruleOnTaskStatus:
				if len(r.upstream) == 0 {
					add(t.name, "%s: no upstream task: expected at least one task", where)
				}
				for _, u := range r.sortedUpstream() {
					if p := w.foreignTask(u); p != "" {
						add(t.name, "%s: upstream %s", where, p)
					}
					if s := r.upstream[u]; !s.Valid() {
						add(t.name, "%s: status %q: expected one of %s", where, s, statusList())
					}
				}
			case ruleOnCondition:
				if r.cond == nil {
					add(t.name, "%s: condition is nil", where)
					break
				}
				// The tasks read by TaskStatusConditions, nested or not.
				badKeys := map[string]bool{}
				for _, sc := range statusConditions(r.cond) {
					if len(sc.want) == 0 {
						add(t.name, "%s: TaskStatusCondition lists no task: expected at least one task of workflow %q", where, w.name)
					}
					for _, u := range sc.sortedTasks() {
						if p := w.foreignTask(u); p != "" {
							add(t.name, "%s: TaskStatusCondition: %s", where, p)
							if u != nil && u.wf != nil {
								badKeys[store.StatusKey(u.wf.name, u.name)] = true
							}
						}
						if s := sc.want[u]; !s.Valid() {
							add(t.name, "%s: TaskStatusCondition: task %q: status %q: expected one of %s", where, taskName(u), s, statusList())
						}
					}
				}
				keys := r.cond.ExpectedKeys()
				if len(keys) == 0 && len(errs) == before {
					add(t.name, "%s: condition %T expects no event keys: expected at least one key, or it would never be evaluated", where, r.cond)
				}
				for _, k := range keys {
					switch {
					case !store.IsStatusKey(k):
						checkKey(add, t.name, where, k)
					case !ownStatusKeys[k] && !badKeys[k]:
						add(t.name, "%s: condition %T expects status key %q, which names no task of workflow %q: expected %q followed by one of its tasks (status events reach only their own execution)",
							where, r.cond, k, w.name, store.StatusKey(w.name, ""))
					}
				}
				checkNested(add, t.name, where, r.cond)
			}
			if len(errs) > before {
				malformed[r] = true
			}
		}
	}
	// Always look for tasks that can never start, so that registration
	// reports every problem at once; malformed rules are left out.
	errs = append(errs, w.checkStartable(malformed)...)
	return errs
}

// foreignTask says what is wrong with u as a task that a rule of w depends
// on, or "" if it is a task of w.
func (w *Workflow) foreignTask(u *Task) string {
	switch {
	case u == nil:
		return "task is nil: expected a task returned by Workflow.Task"
	case u.wf != w:
		owner := "no workflow"
		if u.wf != nil {
			owner = "workflow " + quote(u.wf.name)
		}
		return fmt.Sprintf("task %q belongs to %s: rules may only depend on tasks of the same workflow", u.name, owner)
	case !slices.Contains(w.tasks, u):
		return fmt.Sprintf("task %q was not added to workflow %q", u.name, w.name)
	}
	return ""
}

func checkKey(add func(string, string, ...any), task, where, key string) {
	if p := keyProblem(key); p != "" {
		add(task, "%s: %s", where, p)
	}
}

// keyProblem says what is wrong with an expected event key, or "".
func keyProblem(key string) string {
	switch {
	case key == "":
		return "event key is empty: expected a non-empty key"
	case len(key) > store.MaxKeyBytes:
		return fmt.Sprintf("event key is %d bytes: expected at most %d", len(key), store.MaxKeyBytes)
	case strings.HasPrefix(key, store.ReservedKeyPrefix):
		return fmt.Sprintf("event key %q: keys starting with %q are reserved for the library", key, store.ReservedKeyPrefix)
	}
	return ""
}

func checkNested(add func(string, string, ...any), task, where string, c Condition) {
	for _, sub := range subConditions(c) {
		if sub == nil {
			add(task, "%s: a nested condition is nil", where)
			continue
		}
		checkNested(add, task, where, sub)
	}
}

func statusList() string {
	parts := make([]string, len(store.TaskStatuses))
	for i, s := range store.TaskStatuses {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}

// trimSentinel drops the "invalid argument: " prefix of store validation
// errors, which DeclarationError replaces.
func trimSentinel(err error) string {
	return strings.TrimPrefix(err.Error(), store.ErrInvalid.Error()+": ")
}

// checkStartable finds tasks that can never start: every START (or RESTART)
// rule they have waits only on the statuses of tasks that can never start
// themselves, as in a cycle of StartAfter rules. Malformed rules (already
// reported) count as able to start, so that they add no second error.
func (w *Workflow) checkStartable(malformed map[*rule]bool) []error {
	byKey := map[string]*Task{}
	for _, t := range w.tasks {
		if k := store.StatusKey(w.name, t.name); byKey[k] == nil {
			byKey[k] = t
		}
	}
	can := map[*Task]bool{}
	for changed := true; changed; {
		changed = false
		for _, t := range w.tasks {
			if can[t] {
				continue
			}
			if t.canStart(can, malformed, byKey) {
				can[t] = true
				changed = true
			}
		}
	}
	var errs []error
	for _, t := range w.tasks {
		if can[t] {
			continue
		}
		var waits []string
		for _, r := range t.rules {
			if r.action == ActionStart || r.action == ActionRestart {
				for _, u := range r.waitsOn(byKey) {
					if !can[u] && !slices.Contains(waits, u.name) {
						waits = append(waits, u.name)
					}
				}
			}
		}
		slices.Sort(waits)
		errs = append(errs, &DeclarationError{Namespace: w.namespace, Workflow: w.name, Task: t.name,
			Problem: fmt.Sprintf("it can never start: its start rules wait on %s, which can never start either (a cycle of StartAfter/OnTaskStatus rules or task status conditions)", strings.Join(quoteAll(waits), ", "))})
	}
	return errs
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = quote(v)
	}
	return out
}

// canStart reports whether t can start given the tasks known to be able to.
func (t *Task) canStart(can map[*Task]bool, malformed map[*rule]bool, byKey map[string]*Task) bool {
	hasStart := false
	for _, r := range t.rules {
		if r.action == ActionStart {
			hasStart = true
		}
	}
	if !hasStart {
		return true // starts with the execution
	}
	for _, r := range t.rules {
		if r.action != ActionStart && r.action != ActionRestart {
			continue
		}
		if malformed[r] {
			return true
		}
		switch r.kind {
		case ruleOnEvent:
			return true
		case ruleStartAfter, ruleOnTaskStatus:
			if allCan(can, r.upstream) {
				return true
			}
		case ruleOnCondition:
			if sc, ok := r.cond.(taskStatusCondition); ok {
				// Met only once every listed task has run.
				if allCan(can, sc.want) {
					return true
				}
				continue
			}
			// Other conditions may be met by any event they expect: an
			// event from outside, or a status change of a task that can
			// start.
			for _, k := range r.cond.ExpectedKeys() {
				if !store.IsStatusKey(k) || can[byKey[k]] {
					return true
				}
			}
		}
	}
	return false
}

func allCan(can map[*Task]bool, tasks map[*Task]TaskStatus) bool {
	for u := range tasks {
		if !can[u] {
			return false
		}
	}
	return true
}

// waitsOn lists the tasks whose statuses a rule waits on, by name.
func (r *rule) waitsOn(byKey map[string]*Task) []*Task {
	switch r.kind {
	case ruleStartAfter, ruleOnTaskStatus:
		return r.sortedUpstream()
	case ruleOnCondition:
		if r.cond == nil {
			return nil
		}
		var out []*Task
		for _, k := range r.cond.ExpectedKeys() {
			if u := byKey[k]; u != nil && !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
		return out
	}
	return nil
}

// compile validates w and builds what the engine and the store need.
func (w *Workflow) compile() (*compiled, error) {
	if errs := w.validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	def := &engine.Definition{Namespace: w.namespace, Name: w.name}
	tasks := map[string]*Task{}
	desc := map[string]any{"namespace": w.namespace, "name": w.name}
	var taskDescs []any
	for _, t := range w.tasks {
		tasks[t.name] = t
		et := &engine.Task{
			Name: t.name, Timeout: t.timeout, Streaming: t.streaming || operatorStreams(t.op),
			Periodic: t.periodic != "", PeriodicExpr: t.periodic, PeriodicTZ: t.periodicTZ,
			Retry: engine.RetryPolicy{MaxAttempts: t.retry.MaxAttempts, Backoff: t.retry.backoff},
		}
		var ruleDescs []any
		for i, r := range t.rules {
			cond := assignStateNames(r.cond, fmt.Sprintf("%s.%d", t.name, i+1))
			et.Rules = append(et.Rules, engine.Rule{
				Action: engine.Action(r.action), Keys: slices.Clone(cond.ExpectedKeys()), Cond: compileCondition(cond),
			})
			ruleDescs = append(ruleDescs, r.describe())
		}
		def.Tasks = append(def.Tasks, et)
		td := map[string]any{
			"name": t.name, "operator": describeOperator(t.op), "rules": ruleDescs,
			"max_attempts": et.Retry.MaxAttempts, "timeout": t.timeout.String(), "streaming": et.Streaming,
		}
		if t.retry.InitialBackoff > 0 {
			td["backoff"] = t.retry.InitialBackoff.String() + ".." + t.retry.MaxBackoff.String()
		}
		if t.periodic != "" {
			td["periodic"] = t.periodic
			if t.periodicTZ != "" {
				td["periodic_tz"] = t.periodicTZ
			}
		}
		if len(t.env) > 0 {
			td["env"] = t.env
		}
		if t.workDir != "" {
			td["work_dir"] = t.workDir
		}
		taskDescs = append(taskDescs, td)
	}
	desc["tasks"] = taskDescs
	js, err := json.Marshal(desc)
	if err != nil {
		return nil, fmt.Errorf("aiflow: workflow %q: describing: %w", w.name, err)
	}
	sum := sha256.Sum256(js)
	def.Version = hex.EncodeToString(sum[:6])
	if err := engine.Compile(def); err != nil {
		return nil, err
	}
	return &compiled{
		wf: w, def: def, tasks: tasks,
		record: store.WorkflowRecord{Namespace: w.namespace, Name: w.name, Version: def.Version, Definition: js},
	}, nil
}
