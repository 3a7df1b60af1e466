// Package operators holds the built-in operators of AIFlow for Go, one file
// each: Func runs a Go function, Bash a shell command in its own process group.
//
// Every operator implements aiflow.Operator and embeds
// aiflow.OperatorDefaults. Operators that start processes give them the task's
// context in environment variables (AIFLOW_NAMESPACE, AIFLOW_WORKFLOW,
// AIFLOW_WORKFLOW_EXECUTION_ID, AIFLOW_TASK, AIFLOW_TASK_EXECUTION_ID,
// AIFLOW_SEQ_NUM, AIFLOW_ATTEMPT) and write their output to the task
// execution's log.
//
// Import rule: operators import the root package aiflow (for Operator and
// TaskContext) and the standard library; the root never imports operators.
package operators
