package memory

import (
	"context"
	"fmt"
	"sort"

	"github.com/aiflow-go/aiflow/store"
)

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
