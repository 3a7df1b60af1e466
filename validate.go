package aiflow

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aiflow-go/aiflow/store"
)

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
			if !r.action.Valid() {
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
