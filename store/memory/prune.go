package memory

import (
	"context"

	"github.com/aiflow-go/aiflow/store"
)

// Prune deletes the events and finished executions that p selects, with the
// same rules as the Postgres store: an event goes once every partition that
// reads it has consumed it, an execution once it and all its task executions
// have finished. The memory store holds everything in one mutex, so it
// prunes in one pass (p.BatchSize is ignored).
func (s *Store) Prune(ctx context.Context, p store.PruneParams) (store.PruneResult, error) {
	if err := ctx.Err(); err != nil {
		return store.PruneResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var res store.PruneResult
	if !p.ExecutionsBefore.IsZero() {
		res.Add(s.pruneExecutionsLocked(p))
	}
	if !p.EventsBefore.IsZero() {
		res.Events = s.pruneEventsLocked(p)
	}
	return res, nil
}

// consumedLocked reports whether every partition that reads ev has consumed
// it; s.mu must be held.
func (s *Store) consumedLocked(ev *store.Event) bool {
	if ev.Partition >= 0 {
		return !s.parts[ev.Partition].pos.Less(ev.Position)
	}
	for _, part := range s.parts {
		if part.pos.Less(ev.Position) {
			return false
		}
	}
	return true
}

func (s *Store) pruneEventsLocked(p store.PruneParams) int64 {
	keep := s.events[:0:0]
	var n int64
	for i := range s.events {
		ev := &s.events[i]
		if ev.Time.Before(p.EventsBefore) && s.consumedLocked(ev) {
			n++
			continue
		}
		if !p.DryRun {
			keep = append(keep, *ev)
		}
	}
	if !p.DryRun && n > 0 {
		s.events = keep
	}
	return n
}

func (s *Store) pruneExecutionsLocked(p store.PruneParams) store.PruneResult {
	var res store.PruneResult
	tesOf := map[int64][]int64{}
	alive := map[int64]bool{}
	for id, te := range s.tes {
		tesOf[te.ExecutionID] = append(tesOf[te.ExecutionID], id)
		if !te.Status.Finished() {
			alive[te.ExecutionID] = true
		}
	}
	for id, x := range s.execs {
		ended := x.EndedAt
		if ended.IsZero() {
			ended = x.UpdatedAt
		}
		if !x.Status.Finished() || alive[id] || !ended.Before(p.ExecutionsBefore) {
			continue
		}
		res.WorkflowExecutions++
		for _, teID := range tesOf[id] {
			res.TaskExecutions++
			if _, ok := s.logs[teID]; ok {
				res.TaskLogs++
			}
			if p.DryRun {
				continue
			}
			s.dropTaskExecutionLocked(teID)
		}
		res.Decisions += int64(len(s.decisions.byX[id]))
		if !p.DryRun {
			delete(s.execs, id)
			delete(s.decisions.byX, id)
		}
	}
	return res
}

// dropTaskExecutionLocked deletes a task execution with its log and
// dispatch records; s.mu must be held.
func (s *Store) dropTaskExecutionLocked(teID int64) {
	if te := s.tes[teID]; te != nil {
		for a := 0; a <= te.Attempt; a++ {
			delete(s.dispatched, dispatchKey{teID, a})
		}
	}
	delete(s.tes, teID)
	delete(s.logs, teID)
}
