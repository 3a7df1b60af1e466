package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/aiflow-go/aiflow/store"
)

// DeleteExecution removes a finished execution, its task executions, their
// logs and dispatch records, and its decisions.
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
			s.dropTaskExecutionLocked(teID)
		}
	}
	delete(s.execs, id)
	delete(s.decisions.byX, id)
	return nil
}

// CreateExecution inserts an INIT execution and its start event.
func (s *Store) CreateExecution(_ context.Context, rec store.WorkflowExecutionRecord, ev store.Event) (store.Event, error) {
	s.mu.Lock()
	out, err := s.createExecutionLocked(rec, ev)
	s.mu.Unlock()
	if err != nil {
		return store.Event{}, err
	}
	s.notify()
	return out, nil
}

// CreateExecutions inserts INIT executions and their start events, all or
// none.
func (s *Store) CreateExecutions(_ context.Context, recs []store.WorkflowExecutionRecord, evs []store.Event) ([]store.Event, error) {
	if len(recs) != len(evs) {
		return nil, fmt.Errorf("%w: %d executions and %d start events: expected one event per execution", store.ErrInvalid, len(recs), len(evs))
	}
	s.mu.Lock()
	seen := make(map[int64]bool, len(recs))
	for _, rec := range recs {
		if s.workflows[wfKey{rec.Namespace, rec.Workflow}] == nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: %q in namespace %q", store.ErrWorkflowNotFound, rec.Workflow, rec.Namespace)
		}
		if _, dup := s.execs[rec.ID]; dup || seen[rec.ID] {
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: workflow execution %d", store.ErrAlreadyExists, rec.ID)
		}
		seen[rec.ID] = true
	}
	out, err := s.appendLocked(evs)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	now := s.clock.Now()
	for _, rec := range recs {
		rec.Status, rec.CreatedAt, rec.UpdatedAt = store.WorkflowInit, now, now
		s.execs[rec.ID] = &rec
	}
	s.mu.Unlock()
	s.notify()
	return out, nil
}

// createExecutionLocked inserts an INIT execution and appends its start
// event; s.mu must be held.
func (s *Store) createExecutionLocked(rec store.WorkflowExecutionRecord, ev store.Event) (store.Event, error) {
	if s.workflows[wfKey{rec.Namespace, rec.Workflow}] == nil {
		return store.Event{}, fmt.Errorf("%w: %q in namespace %q", store.ErrWorkflowNotFound, rec.Workflow, rec.Namespace)
	}
	if _, dup := s.execs[rec.ID]; dup {
		return store.Event{}, fmt.Errorf("%w: workflow execution %d", store.ErrAlreadyExists, rec.ID)
	}
	out, err := s.appendLocked([]store.Event{ev})
	if err != nil {
		return store.Event{}, err
	}
	now := s.clock.Now()
	rec.Status, rec.CreatedAt, rec.UpdatedAt = store.WorkflowInit, now, now
	s.execs[rec.ID] = &rec
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
			(len(f.Statuses) == 0 || slices.Contains(f.Statuses, x.Status)) &&
			(f.BeforeID == 0 || x.ID < f.BeforeID) && (f.CreatedAfter.IsZero() || !x.CreatedAt.Before(f.CreatedAfter)) &&
			(f.CreatedBefore.IsZero() || x.CreatedAt.Before(f.CreatedBefore)) {
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

// ListTaskExecutions lists task executions by execution id, then id.
func (s *Store) ListTaskExecutions(_ context.Context, f store.TaskExecutionFilter) ([]store.TaskExecutionRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.TaskExecutionRecord
	for _, te := range s.tes {
		if (f.ExecutionID == 0 || te.ExecutionID == f.ExecutionID) && (f.Namespace == "" || te.Namespace == f.Namespace) &&
			(f.Workflow == "" || te.Workflow == f.Workflow) && (f.Task == "" || te.Task == f.Task) &&
			(f.SeqNum == 0 || te.SeqNum == f.SeqNum) &&
			(len(f.Statuses) == 0 || slices.Contains(f.Statuses, te.Status)) {
			out = append(out, cloneTE(te))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ExecutionID != out[j].ExecutionID {
			return out[i].ExecutionID < out[j].ExecutionID
		}
		return out[i].ID < out[j].ID
	})
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
