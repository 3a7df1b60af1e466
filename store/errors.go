package store

import "errors"

// kindError is a sentinel that also matches a more general sentinel, so that
// errors.Is(ErrNamespaceNotFound, ErrNotFound) holds.
type kindError struct {
	msg    string
	parent error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.parent }

// General sentinels. Backends wrap them (or the specific ones below) with
// fmt.Errorf("%w: ...") and a message that names the value.
var (
	// ErrNotFound: the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a record with that identity exists already.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalid: an argument is malformed (empty name, reserved key, ...).
	ErrInvalid = errors.New("invalid argument")
	// ErrConflict: the operation does not fit the record's current state.
	ErrConflict = errors.New("conflict")
)

// Specific sentinels. Each matches its general sentinel with errors.Is.
var (
	ErrNamespaceNotFound     error = &kindError{"namespace not found", ErrNotFound}
	ErrWorkflowNotFound      error = &kindError{"workflow not found", ErrNotFound}
	ErrExecutionNotFound     error = &kindError{"workflow execution not found", ErrNotFound}
	ErrTaskNotFound          error = &kindError{"task not found", ErrNotFound}
	ErrTaskExecutionNotFound error = &kindError{"task execution not found", ErrNotFound}
	ErrScheduleNotFound      error = &kindError{"workflow schedule not found", ErrNotFound}
	ErrTriggerNotFound       error = &kindError{"workflow trigger not found", ErrNotFound}
	ErrNamespaceNotEmpty     error = &kindError{"namespace not empty", ErrConflict}
	ErrWorkflowDisabled      error = &kindError{"workflow disabled", ErrConflict}
	ErrExecutionFinished     error = &kindError{"workflow execution finished", ErrConflict}
	ErrEventTooLarge         error = &kindError{"event too large", ErrInvalid}
	// ErrNotOwner: the caller does not hold the partition's lease (another
	// client took it over); the unit of work was not committed.
	ErrNotOwner error = &kindError{"partition not owned", ErrConflict}
	// ErrStopped: the store or client has been stopped.
	ErrStopped = errors.New("stopped")
)
