package memory

import (
	"context"
	"sort"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

// idemResult is the recorded result of a call made with an idempotency key.
type idemResult struct {
	id int64
	at time.Time
}

// lookupLocked returns the result recorded for k; s.mu must be held.
func (s *Store) lookupLocked(k store.IdempotencyKey) (int64, bool) {
	r, ok := s.idem[k]
	return r.id, ok
}

// recordLocked records id under k; s.mu must be held.
func (s *Store) recordLocked(k store.IdempotencyKey, id int64) {
	if s.idem == nil {
		s.idem = map[store.IdempotencyKey]idemResult{}
	}
	s.idem[k] = idemResult{id: id, at: s.clock.Now()}
}

// LookupIdempotencyKey returns the result recorded for k.
func (s *Store) LookupIdempotencyKey(_ context.Context, k store.IdempotencyKey) (int64, bool, error) {
	if err := store.ValidateIdempotencyKey(k.Key); err != nil {
		return 0, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.lookupLocked(k)
	return id, ok, nil
}

// AppendEventOnce appends ev unless k is recorded; then it returns the
// recorded event.
func (s *Store) AppendEventOnce(_ context.Context, k store.IdempotencyKey, ev store.Event) (store.Event, bool, error) {
	if err := store.CheckIdempotencyKey(k, store.IdempotencySendEvent, ev.Namespace); err != nil {
		return store.Event{}, false, err
	}
	s.mu.Lock()
	if id, ok := s.lookupLocked(k); ok {
		out := s.eventLocked(id, ev)
		s.mu.Unlock()
		return out, true, nil
	}
	out, err := s.appendLocked([]store.Event{ev})
	if err == nil {
		s.recordLocked(k, out[0].ID)
	}
	s.mu.Unlock()
	if err != nil {
		return store.Event{}, false, err
	}
	s.notify()
	return out[0], false, nil
}

// eventLocked returns the event with id; if it is no longer in the log, req
// with the id. s.mu must be held.
func (s *Store) eventLocked(id int64, req store.Event) store.Event {
	i := sort.Search(len(s.events), func(i int) bool { return s.events[i].ID >= id })
	if i < len(s.events) && s.events[i].ID == id {
		return s.events[i]
	}
	req.ID = id
	return req
}

// CreateExecutionOnce creates the execution unless k is recorded; then it
// returns the recorded execution id.
func (s *Store) CreateExecutionOnce(_ context.Context, k store.IdempotencyKey, rec store.WorkflowExecutionRecord, ev store.Event) (int64, bool, error) {
	if err := store.CheckIdempotencyKey(k, store.IdempotencyStartExecution, rec.Namespace); err != nil {
		return 0, false, err
	}
	s.mu.Lock()
	if id, ok := s.lookupLocked(k); ok {
		s.mu.Unlock()
		return id, true, nil
	}
	_, err := s.createExecutionLocked(rec, ev)
	if err == nil {
		s.recordLocked(k, rec.ID)
	}
	s.mu.Unlock()
	if err != nil {
		return 0, false, err
	}
	s.notify()
	return rec.ID, false, nil
}

// PruneIdempotencyKeys forgets the keys recorded before before.
func (s *Store) PruneIdempotencyKeys(_ context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, r := range s.idem {
		if r.at.Before(before) {
			delete(s.idem, k)
			n++
		}
	}
	return n, nil
}
