package aiflow

import (
	"strings"

	"github.com/aiflow-go/aiflow/store"
)

// Errors returned by the library. Match them with errors.Is; messages add the
// offending value and what was expected.
//
//	situation                                         sentinel
//	a record does not exist                           ErrNotFound
//	  the namespace does not exist                      ErrNamespaceNotFound
//	  the workflow is not registered                    ErrWorkflowNotFound
//	  the workflow execution does not exist             ErrExecutionNotFound
//	  the task is not in the workflow                   ErrTaskNotFound
//	  the task execution does not exist                 ErrTaskExecutionNotFound
//	a name, key, value or option is malformed         ErrInvalid
//	  an event value is over the size limit             ErrEventTooLarge
//	  a workflow declaration is wrong                   ErrInvalidWorkflow
//	a record exists already                           ErrAlreadyExists
//	the call does not fit the current state           ErrConflict
//	  the namespace still has workflows                 ErrNamespaceNotEmpty
//	  the workflow is disabled                          ErrWorkflowDisabled
//	  the workflow execution has finished               ErrExecutionFinished
//	the client was stopped (every call after Stop)    ErrStopped
var (
	ErrNotFound              = store.ErrNotFound
	ErrNamespaceNotFound     = store.ErrNamespaceNotFound
	ErrWorkflowNotFound      = store.ErrWorkflowNotFound
	ErrExecutionNotFound     = store.ErrExecutionNotFound
	ErrTaskNotFound          = store.ErrTaskNotFound
	ErrTaskExecutionNotFound = store.ErrTaskExecutionNotFound
	ErrInvalid               = store.ErrInvalid
	ErrEventTooLarge         = store.ErrEventTooLarge
	ErrAlreadyExists         = store.ErrAlreadyExists
	ErrConflict              = store.ErrConflict
	ErrNamespaceNotEmpty     = store.ErrNamespaceNotEmpty
	ErrWorkflowDisabled      = store.ErrWorkflowDisabled
	ErrExecutionFinished     = store.ErrExecutionFinished
	ErrStopped               = store.ErrStopped

	// ErrInvalidWorkflow matches every problem in a workflow declaration
	// found by registration. It also matches ErrInvalid.
	ErrInvalidWorkflow error = &invalidWorkflow{}
)

type invalidWorkflow struct{}

func (*invalidWorkflow) Error() string { return "invalid workflow" }
func (*invalidWorkflow) Unwrap() error { return ErrInvalid }

// DeclarationError is one problem in a workflow declaration. Registration
// returns every problem at once, joined with errors.Join; each matches
// ErrInvalidWorkflow.
type DeclarationError struct {
	// Namespace and Workflow name the workflow; Workflow is empty for a nil
	// workflow.
	Namespace string
	Workflow  string
	// Task is empty for problems of the workflow itself.
	Task string
	// Problem says what is wrong and what was expected.
	Problem string
}

// Error formats the problem with the workflow and task it concerns.
func (e *DeclarationError) Error() string {
	var b strings.Builder
	b.WriteString("aiflow: workflow ")
	b.WriteString(quote(e.Workflow))
	if e.Namespace != "" && e.Namespace != store.DefaultNamespace {
		b.WriteString(" (namespace " + quote(e.Namespace) + ")")
	}
	if e.Task != "" {
		b.WriteString(" task " + quote(e.Task))
	}
	b.WriteString(": ")
	b.WriteString(e.Problem)
	return b.String()
}

// Is makes DeclarationError match ErrInvalidWorkflow and ErrInvalid.
func (e *DeclarationError) Is(target error) bool {
	return target == ErrInvalidWorkflow || target == ErrInvalid
}

func quote(s string) string { return "\"" + s + "\"" }

// opError prefixes an operation's error with "aiflow: <op>: ".
func opError(op string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Op: op, Err: err}
}

// OpError is an error of a client operation. Match its cause with errors.Is
// (ErrNotFound, ErrConflict, ...) or errors.As.
type OpError struct {
	// Op names the operation, such as "start workflow execution".
	Op string
	// Err is the cause.
	Err error
}

// Error returns "aiflow: <op>: <cause>".
func (e *OpError) Error() string { return "aiflow: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the cause, so errors.Is and errors.As see through OpError.
func (e *OpError) Unwrap() error { return e.Err }
