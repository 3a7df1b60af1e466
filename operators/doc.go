// Package operators holds the built-in operators of AIFlow for Go, one file
// each: Func runs a Go function; Bash a shell command and Python a script or
// module, each in its own process group; Flink submits a Flink job with the
// flink command line and follows it; SparkSubmit and SparkSQL run
// spark-submit and spark-sql. Operators with many parameters take a Config
// struct whose zero fields mean the documented defaults; a misconfigured
// operator is refused when its workflow is registered (aiflow.Validator).
//
// The Kubernetes operator, which runs a task as a pod or a batch/v1 Job with
// client-go, is a Go module of its own, so that programs that do not use it
// neither compile client-go nor carry it in their module graph:
//
//	go get github.com/aiflow-go/aiflow/operators/kubernetes
//
// and use kubernetes.Pod from package
// github.com/aiflow-go/aiflow/operators/kubernetes.
//
// Every operator implements aiflow.Operator and embeds
// aiflow.OperatorDefaults. Operators that start processes give them the task's
// context in environment variables (AIFLOW_NAMESPACE, AIFLOW_WORKFLOW,
// AIFLOW_WORKFLOW_EXECUTION_ID, AIFLOW_TASK, AIFLOW_TASK_EXECUTION_ID,
// AIFLOW_SEQ_NUM, AIFLOW_ATTEMPT) and write their output to the task
// execution's log.
//
// Secrets: each operator marks secret the fields of its configuration that
// a credential may be written into (commands, SQL, arguments, options,
// environment values) and describes itself without them
// (aiflow.PublicDescriber); that public description is what the dashboard
// and the HTTP API show, beside the operator's type. Bash marks its whole
// command secret and is shown by its type alone. Pass credentials with the
// task's WithEnv, whose values are never shown, and refer to them (${NAME}
// in arguments, $NAME in a Bash command).
//
// Import rule: operators import the root package aiflow (for Operator and
// TaskContext) and the standard library, nothing else; the root never imports
// operators.
package operators
