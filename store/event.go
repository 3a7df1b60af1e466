package store

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on what an event may carry. Backends enforce them on append with
// [ErrEventTooLarge] and [ErrInvalid].
const (
	// MaxEventValueBytes is the largest event value accepted: 64 KiB.
	MaxEventValueBytes = 64 << 10
	// MaxKeyBytes is the longest event key, sender or name accepted: 512 bytes.
	MaxKeyBytes = 512
)

// Position is the place of an event in the log. Events are read in Position
// order. In the Postgres store XID is the appending transaction's id and ID the
// row id, so that a transaction that commits late is never skipped by a reader
// that resumes after a position; the memory store sets XID equal to ID.
//
// The zero Position is before every event.
type Position struct {
	XID uint64
	ID  int64
}

// Less reports whether p comes before q in the log.
func (p Position) Less(q Position) bool {
	if p.XID != q.XID {
		return p.XID < q.XID
	}
	return p.ID < q.ID
}

// IsZero reports whether p is the zero Position (before every event).
func (p Position) IsZero() bool { return p.XID == 0 && p.ID == 0 }

// String formats p as "XID-ID", the form [ParsePosition] reads.
func (p Position) String() string {
	return strconv.FormatUint(p.XID, 10) + "-" + strconv.FormatInt(p.ID, 10)
}

// ParsePosition parses the "XID-ID" form written by [Position.String]. The
// empty string is the zero Position.
func ParsePosition(s string) (Position, error) {
	if s == "" {
		return Position{}, nil
	}
	xs, is, ok := strings.Cut(s, "-")
	if !ok {
		return Position{}, fmt.Errorf("%w: position %q: expected the form XID-ID, for example 812-45", ErrInvalid, s)
	}
	x, err1 := strconv.ParseUint(xs, 10, 64)
	i, err2 := strconv.ParseInt(is, 10, 64)
	if err1 != nil || err2 != nil || i < 0 {
		return Position{}, fmt.Errorf("%w: position %q: expected the form XID-ID with two non-negative integers, for example 812-45", ErrInvalid, s)
	}
	return Position{XID: x, ID: i}, nil
}

// EventKind tells user events from the library's own events.
type EventKind uint8

// The event kinds.
const (
	// KindUser is an event sent by a user, a task or an outside system.
	// User events belong to no partition: every partition may read them
	// (a consumer reads those whose key it applies, see
	// ConsumeParams.UserKeys).
	KindUser EventKind = iota
	// KindStatus is a task status change. It belongs to its execution's
	// partition (a workflow status event to its workflow's; see
	// [Placement.Event]).
	KindStatus
	// KindControl is a request to the engine (start or stop an execution or
	// a task, enable or disable a workflow, ...). It belongs to its
	// execution's partition when it names one, else to its workflow's (see
	// [Placement.Event]).
	KindControl
)

// String returns "user", "status" or "control".
func (k EventKind) String() string {
	switch k {
	case KindUser:
		return "user"
	case KindStatus:
		return "status"
	case KindControl:
		return "control"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseEventKind parses the form written by [EventKind.String].
func ParseEventKind(s string) (EventKind, error) {
	switch s {
	case "user":
		return KindUser, nil
	case "status":
		return KindStatus, nil
	case "control":
		return KindControl, nil
	}
	return 0, fmt.Errorf("%w: event kind %q: expected user, status or control", ErrInvalid, s)
}

// Event is one entry of the event log.
type Event struct {
	// ID is assigned by the store on append; unique and increasing in
	// append order (not in commit order: use Position for reading).
	ID int64
	// Position is assigned by the store on append.
	Position Position
	// Time is assigned by the store on append.
	Time time.Time

	Kind      EventKind
	Namespace string
	Key       string
	Value     string
	Sender    string

	// Context. Workflow and ExecutionID are set for events about, or sent
	// from inside, a workflow execution; TaskName, TaskExecutionID and
	// SeqNum when they come from (or are about) a task execution. A user
	// event with an ExecutionID (and not Broadcast) reaches that execution
	// only, and only if Workflow is empty or the execution's workflow: the
	// consumers read it in the partition that Workflow places the execution
	// in ([Placement.Target]).
	Workflow        string
	ExecutionID     int64
	TaskName        string
	TaskExecutionID int64
	SeqNum          int

	// Broadcast marks an event sent from inside a task to its whole
	// namespace rather than to its own execution.
	Broadcast bool

	// Data carries the JSON payload of status and control events.
	Data []byte

	// Partition is computed by the store on append ([Placement.Event]): the
	// execution's or the workflow's partition for status and control events,
	// -1 for user events.
	Partition int

	// TraceParent is the W3C trace context (a "traceparent" header value,
	// "00-<trace id>-<span id>-<flags>") of the operation that sent the
	// event, empty when it was sent outside a trace. The task executions
	// the event starts carry it on, so their spans join that trace.
	TraceParent string
}

// Keys of the library's own events. User keys may not start with
// [ReservedKeyPrefix].
const (
	ReservedKeyPrefix = "aiflow."

	KeyStartExecution  = "aiflow.start_execution"
	KeyStopExecution   = "aiflow.stop_execution"
	KeyStartTask       = "aiflow.start_task"
	KeyStopTask        = "aiflow.stop_task"
	KeyRestartTask     = "aiflow.restart_task"
	KeyEnableWorkflow  = "aiflow.enable_workflow"
	KeyDisableWorkflow = "aiflow.disable_workflow"
	KeyPoisonEvent     = "aiflow.poison_event"

	statusKeyPrefix         = "aiflow.task_status."
	workflowStatusKeyPrefix = "aiflow.workflow_status."
)

// WorkflowStatusKey is the key of the status events of workflow's
// executions: "aiflow.workflow_status.<workflow>". The engine appends one when
// an execution starts running and one when it finishes; Value is the status.
func WorkflowStatusKey(workflow string) string { return workflowStatusKeyPrefix + workflow }

// IsWorkflowStatusKey reports whether key is the key of a workflow status
// event.
func IsWorkflowStatusKey(key string) bool { return strings.HasPrefix(key, workflowStatusKeyPrefix) }

// StatusKey is the key of the status events of task in workflow:
// "aiflow.task_status.<workflow>.<task>". Task status conditions expect it.
func StatusKey(workflow, task string) string {
	return statusKeyPrefix + workflow + "." + task
}

// IsStatusKey reports whether key is the key of a status event.
func IsStatusKey(key string) bool { return strings.HasPrefix(key, statusKeyPrefix) }

// PartitionOf returns the partition of workflow name in namespace among n
// partitions. It never changes for a given n.
func PartitionOf(namespace, workflow string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(namespace))
	h.Write([]byte{0})
	h.Write([]byte(workflow))
	return int(h.Sum32() % uint32(n))
}

// EventFilter selects events to list. Zero fields select everything.
type EventFilter struct {
	Namespace   string
	Keys        []string
	Sender      string
	ExecutionID int64
	Kinds       []EventKind
	// After selects events strictly after this position.
	After Position
	// Since selects events appended at or after this time.
	Since time.Time
	// Limit bounds the number of events returned; 0 means 1000.
	Limit int
}

// DefaultListLimit is the number of records a List call returns when its
// filter sets no limit.
const DefaultListLimit = 1000

// ValidateEvent checks what every backend checks before appending an event:
// a valid namespace name (see [ValidateName]) and a key, names within [MaxKeyBytes], a value within
// [MaxEventValueBytes], key, value and sender in valid UTF-8 without NUL
// bytes (Postgres text cannot hold them), and no reserved key on a user
// event. It does not check that the namespace exists.
//
// It is the one check of an event's form, made once, where events enter the
// log: a store calls it in AppendEvents (and its variants) and on the events
// of a unit of work before it writes anything. The client, the HTTP API, the
// CLI and the engine rely on it and do not check again.
func ValidateEvent(ev *Event) error {
	if err := checkText("key", ev.Key); err != nil {
		return err
	}
	if err := checkText("value", ev.Value); err != nil {
		return fmt.Errorf("%w (event %.40q)", err, ev.Key)
	}
	if err := checkText("sender", ev.Sender); err != nil {
		return fmt.Errorf("%w (event %.40q)", err, ev.Key)
	}
	switch {
	case ev.Namespace == "":
		return fmt.Errorf("%w: event namespace is empty: expected the name of an existing namespace, such as %q", ErrInvalid, DefaultNamespace)
	case ValidateName("namespace", ev.Namespace) != nil:
		return ValidateName("namespace", ev.Namespace)
	case ev.Key == "":
		return fmt.Errorf("%w: event key is empty in namespace %q: expected a non-empty key", ErrInvalid, ev.Namespace)
	case len(ev.Key) > MaxKeyBytes:
		return fmt.Errorf("%w: event key %.40q... is %d bytes: expected at most %d", ErrInvalid, ev.Key, len(ev.Key), MaxKeyBytes)
	case len(ev.Sender) > MaxKeyBytes:
		return fmt.Errorf("%w: event sender is %d bytes: expected at most %d", ErrInvalid, len(ev.Sender), MaxKeyBytes)
	case len(ev.Value) > MaxEventValueBytes:
		return fmt.Errorf("%w: event %q: value is %d bytes: expected at most %d (64 KiB); store large payloads elsewhere and send a reference",
			ErrEventTooLarge, ev.Key, len(ev.Value), MaxEventValueBytes)
	case ev.Kind == KindUser && strings.HasPrefix(ev.Key, ReservedKeyPrefix):
		return fmt.Errorf("%w: event key %q: keys starting with %q are reserved for the library", ErrInvalid, ev.Key, ReservedKeyPrefix)
	case ev.TraceParent != "" && !ValidTraceParent(ev.TraceParent):
		return fmt.Errorf("%w: event %q: traceparent %.80q: expected a W3C traceparent, 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>",
			ErrInvalid, ev.Key, ev.TraceParent)
	}
	return nil
}

// ValidTraceParent reports whether s has the form of a W3C traceparent:
// "vv-<32 hex>-<16 hex>-ff" in lower-case hexadecimal (the form the SQL
// function send_event accepts too).
//
// It runs on every event appended with a trace context (each task status
// event carries its task's), so it checks eight bytes at a time: 7 ns
// where a loop over the bytes took 60 to 170.
func ValidTraceParent(s string) bool {
	if len(s) != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	// The trace id is s[3:35], the span id s[36:52].
	ids := hexDigits8(word(s[3:11])) & hexDigits8(word(s[11:19])) & hexDigits8(word(s[19:27])) &
		hexDigits8(word(s[27:35])) & hexDigits8(word(s[36:44])) & hexDigits8(word(s[44:52]))
	return ids == high8 && hexByte(s[0]) && hexByte(s[1]) && hexByte(s[53]) && hexByte(s[54])
}

// high8 is the high bit of each of eight bytes.
const high8 = 0x8080808080808080

// word returns the first eight bytes of s as one word, the first byte
// lowest.
func word(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// hexDigits8 returns x, eight bytes, with the high bit of each byte set
// when the byte is a lower-case hexadecimal digit and all others clear. For
// a byte b under 0x80, b + 0x80 - c has its high bit set when b >= c and
// carries into no other byte; a byte of 0x80 or more is no digit (whatever
// it carries into the next byte does not matter: not all are digits).
func hexDigits8(x uint64) uint64 {
	const ones = 0x0101010101010101
	atLeast := func(c uint64) uint64 { return (x + (0x80-c)*ones) & high8 }
	return (atLeast('0')&^atLeast('9'+1) | atLeast('a')&^atLeast('f'+1)) &^ (x & high8)
}

// hexByte reports whether c is a lower-case hexadecimal digit.
func hexByte(c byte) bool { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') }

// checkText rejects strings that are not valid UTF-8 or contain NUL bytes.
func checkText(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: event %s %.40q is not valid UTF-8: expected text (encode binary data, for example in base64)", ErrInvalid, what, s)
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fmt.Errorf("%w: event %s %.40q has a NUL byte at %d: expected text without NUL bytes", ErrInvalid, what, s, i)
	}
	return nil
}

// EventPartition is the partition an appended event belongs to in a store
// that does not spread executions: its workflow's for status and control
// events, -1 (every partition) otherwise. A store that spreads them uses
// [Placement.Event].
func EventPartition(ev *Event, partitions int) int {
	if ev.Kind != KindUser && ev.Workflow != "" {
		return PartitionOf(ev.Namespace, ev.Workflow, partitions)
	}
	return -1
}

// Matches reports whether ev passes filter (ignoring After and Limit).
func (f *EventFilter) Matches(ev *Event) bool {
	if f.Namespace != "" && ev.Namespace != f.Namespace {
		return false
	}
	if len(f.Keys) > 0 && !slices.Contains(f.Keys, ev.Key) {
		return false
	}
	if f.Sender != "" && ev.Sender != f.Sender {
		return false
	}
	if f.ExecutionID != 0 && ev.ExecutionID != f.ExecutionID {
		return false
	}
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, ev.Kind) {
		return false
	}
	if !f.Since.IsZero() && ev.Time.Before(f.Since) {
		return false
	}
	return true
}

// KeySet is an immutable set of user event keys, each in a namespace: the
// user events a partition's consumer applies (see ConsumeParams.UserKeys).
// The nil *KeySet holds every key.
type KeySet struct {
	pairs      map[[2]string]struct{}
	hashes     map[uint32]struct{}
	namespaces []string
	keys       []string
}

// NewKeySet returns the set of the (namespace, key) pairs given.
func NewKeySet(pairs [][2]string) *KeySet {
	s := &KeySet{pairs: make(map[[2]string]struct{}, len(pairs)), hashes: make(map[uint32]struct{}, len(pairs))}
	for _, p := range pairs {
		if _, dup := s.pairs[p]; dup {
			continue
		}
		s.pairs[p] = struct{}{}
		s.hashes[UserKeyHash(p[0], p[1])] = struct{}{}
		s.namespaces = append(s.namespaces, p[0])
		s.keys = append(s.keys, p[1])
	}
	slices.Sort(s.namespaces)
	s.namespaces = slices.Compact(s.namespaces)
	slices.Sort(s.keys)
	s.keys = slices.Compact(s.keys)
	return s
}

// With returns the set of s's pairs and pairs; the nil set (every key)
// stays nil.
func (s *KeySet) With(pairs [][2]string) *KeySet {
	if s == nil {
		return nil
	}
	all := make([][2]string, 0, len(s.pairs)+len(pairs))
	for p := range s.pairs {
		all = append(all, p)
	}
	return NewKeySet(append(all, pairs...))
}

// Has reports whether the set holds key in namespace; the nil set holds
// every key.
func (s *KeySet) Has(namespace, key string) bool {
	if s == nil {
		return true
	}
	_, ok := s.pairs[[2]string{namespace, key}]
	return ok
}

// HasHash reports whether the set may hold a pair of [UserKeyHash] h (hashes
// collide: true may be wrong, false never is); the nil set holds every key.
func (s *KeySet) HasHash(h uint32) bool {
	if s == nil {
		return true
	}
	_, ok := s.hashes[h]
	return ok
}

// Len is the number of pairs in the set (0 for the nil set, which holds
// every key).
func (s *KeySet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.pairs)
}

// Namespaces returns the distinct namespaces of the set's pairs, sorted. The
// result must not be modified.
func (s *KeySet) Namespaces() []string {
	if s == nil {
		return nil
	}
	return s.namespaces
}

// Keys returns the distinct keys of the set's pairs (whatever their
// namespace), sorted. The result must not be modified.
func (s *KeySet) Keys() []string {
	if s == nil {
		return nil
	}
	return s.keys
}

// UserKeyHash is the hash of a user event's namespace and key that wake-up
// notifications carry: the first 32 bits of the MD5 digest of
// "<namespace>/<key>" (a namespace name holds no '/'), which SQL computes
// as ('x' || left(md5(namespace || '/' || key), 8))::bit(32)::int.
func UserKeyHash(namespace, key string) uint32 {
	h := md5.New()
	h.Write([]byte(namespace))
	h.Write([]byte{'/'})
	h.Write([]byte(key))
	var sum [md5.Size]byte
	return binary.BigEndian.Uint32(h.Sum(sum[:0]))
}
