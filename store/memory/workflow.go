package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/aiflow-go/aiflow/store"
)

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
			delete(s.decisions.byX, id)
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
