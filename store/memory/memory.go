// Package memory is the in-memory store of AIFlow for Go: the same semantics
// as the Postgres store, with maps behind a mutex, an in-memory event log and
// goroutines as workers. It keeps nothing across processes and is meant for
// unit tests, examples and trying the library out; use store/postgres in
// production.
//
// Import rule: this package imports only store and the standard library
// (plus clockwork for an injectable clock).
package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"
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

// ---- namespaces ----

// AddNamespace adds a namespace.
func (s *Store) AddNamespace(_ context.Context, name string) error {
	if err := store.ValidateName("namespace", name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.namespaces[name]; ok {
		return fmt.Errorf("%w: namespace %q", store.ErrAlreadyExists, name)
	}
	s.namespaces[name] = store.NamespaceRecord{Name: name, CreatedAt: s.clock.Now()}
	return nil
}

// ListNamespaces lists namespaces by name.
func (s *Store) ListNamespaces(context.Context) ([]store.NamespaceRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.NamespaceRecord, 0, len(s.namespaces))
	for _, n := range s.namespaces {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DeleteNamespace deletes an empty namespace other than default.
func (s *Store) DeleteNamespace(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.namespaces[name]; !ok {
		return fmt.Errorf("%w: %q", store.ErrNamespaceNotFound, name)
	}
	if name == store.DefaultNamespace {
		return fmt.Errorf("%w: namespace %q cannot be deleted", store.ErrConflict, name)
	}
	for k := range s.workflows {
		if k.ns == name {
			return fmt.Errorf("%w: namespace %q still has workflow %q: delete its workflows first", store.ErrNamespaceNotEmpty, name, k.name)
		}
	}
	delete(s.namespaces, name)
	return nil
}

func (s *Store) requireNamespace(name string) error {
	if _, ok := s.namespaces[name]; !ok {
		return fmt.Errorf("%w: %q: add it with Client.AddNamespace or \"aiflow namespace add %s\"", store.ErrNamespaceNotFound, name, name)
	}
	return nil
}

// ---- workflows ----

// RegisterWorkflow records a definition.
func (s *Store) RegisterWorkflow(_ context.Context, rec store.WorkflowRecord) (store.WorkflowRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.requireNamespace(rec.Namespace); err != nil {
		return store.WorkflowRecord{}, err
	}
	now := s.clock.Now()
	k := wfKey{rec.Namespace, rec.Name}
	cur := s.workflows[k]
	if cur == nil {
		rec.Enabled = true
		rec.CreatedAt = now
		rec.UpdatedAt = now
		rec.Partition = store.PartitionOf(rec.Namespace, rec.Name, s.nPart)
		cp := rec
		s.workflows[k] = &cp
		cur = &cp
	}
	known := slices.ContainsFunc(s.versions[k], func(v store.WorkflowVersionRecord) bool { return v.Version == rec.Version })
	if !known {
		s.versions[k] = append(s.versions[k], store.WorkflowVersionRecord{
			Namespace: rec.Namespace, Workflow: rec.Name, Version: rec.Version, Definition: rec.Definition, CreatedAt: now,
		})
	}
	if cur.Version != rec.Version {
		cur.Version, cur.Definition, cur.UpdatedAt = rec.Version, rec.Definition, now
	}
	return *cur, nil
}

// GetWorkflow returns a workflow.
func (s *Store) GetWorkflow(_ context.Context, ns, name string) (store.WorkflowRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.workflows[wfKey{ns, name}]
	if w == nil {
		return store.WorkflowRecord{}, fmt.Errorf("%w: %q in namespace %q", store.ErrWorkflowNotFound, name, ns)
	}
	return *w, nil
}

// ListWorkflows lists workflows by namespace and name.
func (s *Store) ListWorkflows(_ context.Context, ns string) ([]store.WorkflowRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.WorkflowRecord
	for k, w := range s.workflows {
		if ns == "" || k.ns == ns {
			out = append(out, *w)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// ListWorkflowVersions lists a workflow's versions, oldest first.
func (s *Store) ListWorkflowVersions(_ context.Context, ns, name string) ([]store.WorkflowVersionRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.workflows[wfKey{ns, name}] == nil {
		return nil, fmt.Errorf("%w: %q in namespace %q", store.ErrWorkflowNotFound, name, ns)
	}
	return slices.Clone(s.versions[wfKey{ns, name}]), nil
}

// SetWorkflowEnabled sets the flag and appends the control event.
func (s *Store) SetWorkflowEnabled(_ context.Context, ns, name string, enabled bool, ev store.Event) error {
	s.mu.Lock()
	w := s.workflows[wfKey{ns, name}]
	if w == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q in namespace %q", store.ErrWorkflowNotFound, name, ns)
	}
	w.Enabled = enabled
	w.UpdatedAt = s.clock.Now()
	if _, err := s.appendLocked([]store.Event{ev}); err != nil {
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()
	s.notify()
	return nil
}

// DeleteWorkflow removes a workflow and its records.
func (s *Store) DeleteWorkflow(_ context.Context, ns, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := wfKey{ns, name}
	if s.workflows[k] == nil {
		return fmt.Errorf("%w: %q in namespace %q", store.ErrWorkflowNotFound, name, ns)
	}
	for _, x := range s.execs {
		if x.Namespace == ns && x.Workflow == name && !x.Status.Finished() {
			return fmt.Errorf("%w: workflow %q has execution %d %s: stop it first", store.ErrConflict, name, x.ID, x.Status)
		}
	}
	for id, x := range s.execs {
		if x.Namespace == ns && x.Workflow == name {
			delete(s.execs, id)
		}
	}
	for id, te := range s.tes {
		if te.Namespace == ns && te.Workflow == name {
			delete(s.tes, id)
			delete(s.logs, id)
		}
	}
	delete(s.workflows, k)
	delete(s.versions, k)
	return nil
}

// ---- executions ----

// DeleteExecution removes a finished execution, its task executions and
// their logs.
func (s *Store) DeleteExecution(_ context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.execs[id]
	if x == nil {
		return fmt.Errorf("%w: id %d", store.ErrExecutionNotFound, id)
	}
	if !x.Status.Finished() {
		return fmt.Errorf("%w: workflow execution %d is %s: stop it first", store.ErrConflict, id, x.Status)
	}
	for _, te := range s.tes {
		if te.ExecutionID == id && !te.Status.Finished() {
			return fmt.Errorf("%w: workflow execution %d: task execution %d (%s #%d) is %s: wait for it to finish",
				store.ErrConflict, id, te.ID, te.Task, te.SeqNum, te.Status)
		}
	}
	for teID, te := range s.tes {
		if te.ExecutionID == id {
			delete(s.tes, teID)
			delete(s.logs, teID)
		}
	}
	delete(s.execs, id)
	return nil
}

// CreateExecution inserts an INIT execution and its start event.
func (s *Store) CreateExecution(_ context.Context, rec store.WorkflowExecutionRecord, ev store.Event) (store.Event, error) {
	s.mu.Lock()
	if s.workflows[wfKey{rec.Namespace, rec.Workflow}] == nil {
		s.mu.Unlock()
		return store.Event{}, fmt.Errorf("%w: %q in namespace %q", store.ErrWorkflowNotFound, rec.Workflow, rec.Namespace)
	}
	if _, dup := s.execs[rec.ID]; dup {
		s.mu.Unlock()
		return store.Event{}, fmt.Errorf("%w: workflow execution %d", store.ErrAlreadyExists, rec.ID)
	}
	out, err := s.appendLocked([]store.Event{ev})
	if err != nil {
		s.mu.Unlock()
		return store.Event{}, err
	}
	now := s.clock.Now()
	rec.Status, rec.CreatedAt, rec.UpdatedAt = store.WorkflowInit, now, now
	s.execs[rec.ID] = &rec
	s.mu.Unlock()
	s.notify()
	return out[0], nil
}

// AllocateExecutionIDs reserves ids.
func (s *Store) AllocateExecutionIDs(_ context.Context, n int) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int64, n)
	for i := range out {
		s.nextExecID++
		out[i] = s.nextExecID
	}
	return out, nil
}

// AllocateTaskExecutionIDs reserves ids.
func (s *Store) AllocateTaskExecutionIDs(_ context.Context, n int) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int64, n)
	for i := range out {
		s.nextTEID++
		out[i] = s.nextTEID
	}
	return out, nil
}

// GetExecution returns a workflow execution.
func (s *Store) GetExecution(_ context.Context, id int64) (store.WorkflowExecutionRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.execs[id]
	if x == nil {
		return store.WorkflowExecutionRecord{}, fmt.Errorf("%w: id %d", store.ErrExecutionNotFound, id)
	}
	return *x, nil
}

// ListExecutions lists workflow executions, newest first.
func (s *Store) ListExecutions(_ context.Context, f store.ExecutionFilter) ([]store.WorkflowExecutionRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.WorkflowExecutionRecord
	for _, x := range s.execs {
		if (f.Namespace == "" || x.Namespace == f.Namespace) && (f.Workflow == "" || x.Workflow == f.Workflow) &&
			(len(f.Statuses) == 0 || slices.Contains(f.Statuses, x.Status)) {
			out = append(out, *x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return limit(out, f.Limit), nil
}

// GetTaskExecution returns a task execution.
func (s *Store) GetTaskExecution(_ context.Context, id int64) (store.TaskExecutionRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	te := s.tes[id]
	if te == nil {
		return store.TaskExecutionRecord{}, fmt.Errorf("%w: id %d", store.ErrTaskExecutionNotFound, id)
	}
	return cloneTE(te), nil
}

// ListTaskExecutions lists task executions by id.
func (s *Store) ListTaskExecutions(_ context.Context, f store.TaskExecutionFilter) ([]store.TaskExecutionRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.TaskExecutionRecord
	for _, te := range s.tes {
		if (f.ExecutionID == 0 || te.ExecutionID == f.ExecutionID) && (f.Namespace == "" || te.Namespace == f.Namespace) &&
			(f.Workflow == "" || te.Workflow == f.Workflow) && (f.Task == "" || te.Task == f.Task) &&
			(len(f.Statuses) == 0 || slices.Contains(f.Statuses, te.Status)) {
			out = append(out, cloneTE(te))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return limit(out, f.Limit), nil
}

func cloneTE(te *store.TaskExecutionRecord) store.TaskExecutionRecord {
	c := *te
	if te.Metrics != nil {
		c.Metrics = make(map[string]float64, len(te.Metrics))
		for k, v := range te.Metrics {
			c.Metrics[k] = v
		}
	}
	return c
}

func limit[T any](s []T, n int) []T {
	if n <= 0 {
		n = store.DefaultListLimit
	}
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ---- task logs ----

// AppendTaskLog appends to a task execution's log.
func (s *Store) AppendTaskLog(_ context.Context, id int64, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs[id] = append(s.logs[id], data...)
	return nil
}

// PruneTaskLogs deletes the logs of task executions that finished before
// endedBefore or no longer exist.
func (s *Store) PruneTaskLogs(_ context.Context, endedBefore time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id := range s.logs {
		if te := s.tes[id]; te == nil || (te.Status.Finished() && te.EndedAt.Before(endedBefore)) {
			delete(s.logs, id)
			n++
		}
	}
	return n, nil
}

// ReadTaskLog reads a task execution's log from offset.
func (s *Store) ReadTaskLog(_ context.Context, id int64, offset int64, n int) ([]byte, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tes[id] == nil {
		return nil, offset, fmt.Errorf("%w: id %d", store.ErrTaskExecutionNotFound, id)
	}
	buf := s.logs[id]
	if offset < 0 || offset > int64(len(buf)) {
		offset = int64(len(buf))
	}
	end := int64(len(buf))
	if n > 0 && offset+int64(n) < end {
		end = offset + int64(n)
	}
	return slices.Clone(buf[offset:end]), end, nil
}
