package operators

import (
	"strings"

	"github.com/aiflow-go/aiflow"
)

// expandTaskEnv returns args with every reference ${NAME} to a variable of
// the task's own environment (TaskContext.TaskEnviron: the AIFLOW_* context
// variables, such as ${AIFLOW_TASK_EXECUTION_ID}, and the task's WithEnv
// variables) replaced by its value. Nothing else changes: "$NAME" without
// braces, references to other variables (the client process's environment
// is not used, so ${HOME} or a secret stays as written) and a "${" without
// its "}" are kept literally; "$${" stands for a literal "${". Flink,
// SparkSubmit and Python apply it to their application arguments when a
// task execution starts, so that a job can be given its own run's context,
// for example its task execution id. (The Kubernetes operator needs no such
// thing: Kubernetes expands $(AIFLOW_TASK_EXECUTION_ID) in a container's
// command and arguments from the environment the operator sets.)
func expandTaskEnv(args []string, tc *aiflow.TaskContext) []string {
	if args == nil {
		return nil
	}
	env := tc.TaskEnvMap()
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = expandRefs(a, env)
	}
	return out
}

func expandRefs(s string, env map[string]string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
			continue
		case strings.HasPrefix(s[i:], "${"):
			if j := strings.IndexByte(s[i+2:], '}'); j >= 0 {
				if v, ok := env[s[i+2:i+2+j]]; ok {
					b.WriteString(v)
					i += 3 + j
					continue
				}
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}
