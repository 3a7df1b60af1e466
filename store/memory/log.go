package memory

import (
	"context"
	"slices"
	"sort"

	"github.com/aiflow-go/aiflow/store"
)

// AppendEvents appends events atomically.
func (s *Store) AppendEvents(_ context.Context, events []store.Event) ([]store.Event, error) {
	s.mu.Lock()
	out, err := s.appendLocked(events)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.notify()
	return out, nil
}

// appendLocked checks events and appends them; s.mu must be held.
func (s *Store) appendLocked(events []store.Event) ([]store.Event, error) {
	if err := s.checkEvents(events); err != nil {
		return nil, err
	}
	return s.appendChecked(events), nil
}

// checkEvents is the store's check of events before they are written: each
// passes store.ValidateEvent and names an existing namespace.
func (s *Store) checkEvents(events []store.Event) error {
	for i := range events {
		if err := store.ValidateEvent(&events[i]); err != nil {
			return err
		}
		if err := s.requireNamespace(events[i].Namespace); err != nil {
			return err
		}
	}
	return nil
}

// appendChecked appends events that passed checkEvents (or that the store
// built itself); s.mu must be held.
func (s *Store) appendChecked(events []store.Event) []store.Event {
	now := s.clock.Now()
	out := make([]store.Event, len(events))
	for i, ev := range events {
		s.nextEventID++
		ev.ID = s.nextEventID
		ev.Position = store.Position{XID: uint64(ev.ID), ID: ev.ID}
		ev.Time = now
		ev.Partition = s.placement().Event(&ev)
		ev.Data = slices.Clone(ev.Data)
		s.events = append(s.events, ev)
		out[i] = ev
	}
	return out
}

// after returns the index of the first event after pos.
func (s *Store) after(pos store.Position) int {
	return sort.Search(len(s.events), func(i int) bool { return pos.Less(s.events[i].Position) })
}

// ListEvents lists events in position order.
func (s *Store) ListEvents(_ context.Context, f store.EventFilter) ([]store.Event, store.Position, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := f.Limit
	if n <= 0 {
		n = store.DefaultListLimit
	}
	next := f.After
	var out []store.Event
	for i := s.after(f.After); i < len(s.events) && len(out) < n; i++ {
		ev := &s.events[i]
		next = ev.Position
		if f.Matches(ev) {
			c := *ev
			c.Data = slices.Clone(ev.Data)
			out = append(out, c)
		}
	}
	return out, next, nil
}

// LastPosition returns the position of the last event.
func (s *Store) LastPosition(context.Context) (store.Position, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events) == 0 {
		return store.Position{}, nil
	}
	return s.events[len(s.events)-1].Position, nil
}

// Subscribe returns a coalescing wake-up channel.
func (s *Store) Subscribe() (<-chan struct{}, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{}, 1)
	id := s.nextSub
	s.nextSub++
	s.subs[id] = ch
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
	}
}

func (s *Store) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
