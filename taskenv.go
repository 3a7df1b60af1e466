package aiflow

import "strings"

// TaskEnvMap returns the task's own environment (TaskEnviron) as a map from
// name to value: the context variables (AIFLOW_*) and the variables added
// with WithEnv, which win over context variables of the same name.
// Operators that set variables one by one (the containers of a Kubernetes
// pod) or expand references to them use it.
func (tc *TaskContext) TaskEnvMap() map[string]string {
	env := map[string]string{}
	for _, kv := range tc.TaskEnviron() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}
