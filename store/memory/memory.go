// Package memory is the in-memory store of AIFlow for Go: the same semantics
// as the Postgres store, with maps behind a mutex, an in-memory event log and
// goroutines as workers. It keeps nothing across processes and is meant for
// unit tests, examples and trying the library out; use store/postgres in
// production.
//
// Import rule: this package imports only store, internal/startstop (its
// worker pool's lifecycle) and the standard library (plus clockwork for an
// injectable clock).
package memory

import (
	"context"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/aiflow-go/aiflow/store"
)

// PartitionsDefault is the number of partitions of a memory store.
const PartitionsDefault = 4

// Config configures a memory store. The zero value is ready to use.
type Config struct {
	// Partitions is the number of partitions; PartitionsDefault when zero.
	Partitions int
	// Clock gives time; the real clock when nil.
	Clock clockwork.Clock
	// MaxWorkers bounds the attempts running at once; 0 means no bound.
	MaxWorkers int
}

// Store is the in-memory store. Create it with New; Replica gives another
// client's view of the same data.
type Store struct {
	*state
	// workers runs the task attempts of the client using this view.
	workers *workers
}

// state is what the replicas of a memory store share.
type state struct {
	clock clockwork.Clock
	nPart int
	disp  *dispatcher

	mu          sync.Mutex
	namespaces  map[string]store.NamespaceRecord
	workflows   map[wfKey]*store.WorkflowRecord
	versions    map[wfKey][]store.WorkflowVersionRecord
	events      []store.Event
	execs       map[int64]*store.WorkflowExecutionRecord
	tes         map[int64]*store.TaskExecutionRecord
	nextEventID int64
	nextExecID  int64
	nextTEID    int64
	parts       []*partition
	owners      map[string]time.Time // owner -> last claim
	subs        map[int]chan struct{}
	nextSub     int
	logs        map[int64][]byte
	dispatched  map[dispatchKey]bool
	tm          *timerState
	// idem holds the results of calls made with an idempotency key.
	idem      map[store.IdempotencyKey]idemResult
	decisions decisionLog
}

type wfKey struct{ ns, name string }

type dispatchKey struct {
	te      int64
	attempt int
}

type partition struct {
	consuming  sync.Mutex // one unit of work at a time
	pos        store.Position
	version    int64
	owner      string
	leaseUntil time.Time
	snaps      map[string][]byte
}

var _ store.Store = (*Store)(nil)

// New returns an empty memory store with the default namespace.
func New(cfg *Config) *Store {
	if cfg == nil {
		cfg = &Config{}
	}
	n := cfg.Partitions
	if n <= 0 {
		n = PartitionsDefault
	}
	clock := cfg.Clock
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	s := &state{
		clock:      clock,
		nPart:      n,
		namespaces: map[string]store.NamespaceRecord{},
		workflows:  map[wfKey]*store.WorkflowRecord{},
		versions:   map[wfKey][]store.WorkflowVersionRecord{},
		execs:      map[int64]*store.WorkflowExecutionRecord{},
		tes:        map[int64]*store.TaskExecutionRecord{},
		owners:     map[string]time.Time{},
		subs:       map[int]chan struct{}{},
		logs:       map[int64][]byte{},
		dispatched: map[dispatchKey]bool{},
	}
	for range n {
		s.parts = append(s.parts, &partition{snaps: map[string][]byte{}})
	}
	s.namespaces[store.DefaultNamespace] = store.NamespaceRecord{Name: store.DefaultNamespace, CreatedAt: clock.Now()}
	s.disp = &dispatcher{clock: clock}
	st := &Store{state: s}
	st.workers = newWorkers(st, cfg.MaxWorkers)
	return st
}

// Replica returns another client's view of the same store, as a second
// process sharing a Postgres database would have: every record, the log and
// the partitions are shared, and it has task workers of its own. Dispatched
// attempts go to the started workers of all replicas in turn.
func (s *Store) Replica() *Store {
	r := &Store{state: s.state}
	r.workers = newWorkers(r, s.workers.max)
	return r
}

// Close stops this view's workers if they run. The store stays readable.
func (s *Store) Close() error {
	return s.workers.stop(context.Background())
}
