package store

import (
	"context"
	"fmt"
	"time"
)

// Kinds of calls an idempotency key is scoped to: a key used to send an
// event does not stand for a start of an execution, and the other way round.
const (
	// IdempotencySendEvent scopes keys of calls that append one user event
	// (Client.SendEvent, the HTTP and CLI send, the SQL function
	// send_event); the recorded result is the event's id.
	IdempotencySendEvent = "send_event"
	// IdempotencyStartExecution scopes keys of calls that start a workflow
	// execution; the recorded result is the execution's id.
	IdempotencyStartExecution = "start_execution"
)

// MaxIdempotencyKeyBytes is the longest idempotency key accepted: 255 bytes.
const MaxIdempotencyKeyBytes = 255

// IdempotencyKey names a call that acts once: a second call with the same
// key, in the same namespace and of the same kind, returns the first call's
// result and writes nothing.
type IdempotencyKey struct {
	// Namespace the call acts in.
	Namespace string
	// Kind is IdempotencySendEvent or IdempotencyStartExecution.
	Kind string
	// Key is chosen by the caller (a UUID, a request id): 1 to 255 bytes of
	// UTF-8 text without NUL bytes.
	Key string
}

// ValidateIdempotencyKey checks the key chosen by a caller: 1 to
// MaxIdempotencyKeyBytes bytes of valid UTF-8 without NUL bytes.
func ValidateIdempotencyKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: idempotency key is empty: expected 1 to %d bytes of text, such as a UUID", ErrInvalid, MaxIdempotencyKeyBytes)
	case len(key) > MaxIdempotencyKeyBytes:
		return fmt.Errorf("%w: idempotency key %.40q... is %d bytes: expected at most %d", ErrInvalid, key, len(key), MaxIdempotencyKeyBytes)
	}
	return checkText("idempotency key", key)
}

// Idempotency records the results of calls made with an idempotency key.
// A key is honoured until it is pruned: callers prune keys older than their
// retention with PruneIdempotencyKeys.
type Idempotency interface {
	// LookupIdempotencyKey returns the result recorded for k (an event id
	// or an execution id, by k.Kind); ok is false when k is not recorded.
	LookupIdempotencyKey(ctx context.Context, k IdempotencyKey) (result int64, ok bool, err error)
	// AppendEventOnce appends ev (a user event in k.Namespace) and records
	// its id under k (k.Kind IdempotencySendEvent), atomically; when k is
	// recorded already it appends nothing and returns the recorded event
	// with replayed true. Concurrent calls with one key append one event.
	AppendEventOnce(ctx context.Context, k IdempotencyKey, ev Event) (out Event, replayed bool, err error)
	// CreateExecutionOnce does what CreateExecution does and records
	// rec.ID under k (k.Kind IdempotencyStartExecution), atomically; when
	// k is recorded already it writes nothing and returns the recorded
	// execution id with replayed true.
	CreateExecutionOnce(ctx context.Context, k IdempotencyKey, rec WorkflowExecutionRecord, ev Event) (id int64, replayed bool, err error)
	// PruneIdempotencyKeys forgets the keys recorded before before, in
	// small batches (short transactions), and returns how many it deleted.
	PruneIdempotencyKeys(ctx context.Context, before time.Time) (int, error)
}

// CheckIdempotencyKey checks k for a call of kind in namespace: the kind and
// namespace match and the key passes ValidateIdempotencyKey.
func CheckIdempotencyKey(k IdempotencyKey, kind, namespace string) error {
	if k.Kind != kind || k.Namespace != namespace {
		return fmt.Errorf("%w: idempotency key of kind %q in namespace %q: expected kind %q in the call's namespace %q",
			ErrInvalid, k.Kind, k.Namespace, kind, namespace)
	}
	return ValidateIdempotencyKey(k.Key)
}
