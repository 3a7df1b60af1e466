package memory

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

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
