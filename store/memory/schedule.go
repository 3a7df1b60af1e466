package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

type fireKey struct {
	key string
	at  int64 // UnixNano of the nominal time
}

// schedules and triggers live in these maps (guarded by s.mu).
type timerState struct {
	schedules   map[int64]*store.ScheduleRecord
	triggers    map[int64]*store.TriggerRecord
	fired       map[fireKey]time.Time // when each tick was recorded
	nextSchedID int64
	nextTrigID  int64
}

func (s *Store) timers() *timerState {
	if s.tm == nil {
		s.tm = &timerState{schedules: map[int64]*store.ScheduleRecord{}, triggers: map[int64]*store.TriggerRecord{}, fired: map[fireKey]time.Time{}}
	}
	return s.tm
}

// appendOne appends one event; s.mu must be held.
func (s *Store) appendOne(ev store.Event) error {
	_, err := s.appendLocked([]store.Event{ev})
	return err
}

// AddSchedule records a workflow schedule and appends its control event.
func (s *Store) AddSchedule(_ context.Context, rec store.ScheduleRecord, ev store.Event) (store.ScheduleRecord, error) {
	s.mu.Lock()
	if s.workflows[wfKey{rec.Namespace, rec.Workflow}] == nil {
		s.mu.Unlock()
		return rec, fmt.Errorf("%w: %q in namespace %q", store.ErrWorkflowNotFound, rec.Workflow, rec.Namespace)
	}
	tm := s.timers()
	tm.nextSchedID++
	now := s.clock.Now()
	rec.ID, rec.CreatedAt, rec.UpdatedAt, rec.LastFireAt = tm.nextSchedID, now, now, time.Time{}
	if err := s.appendOne(withSchedule(ev, rec.ID)); err != nil {
		tm.nextSchedID--
		s.mu.Unlock()
		return rec, err
	}
	c := rec
	tm.schedules[rec.ID] = &c
	s.mu.Unlock()
	s.notify()
	return rec, nil
}

// withSchedule puts a schedule id in a schedule_changed event's payload.
func withSchedule(ev store.Event, id int64) store.Event {
	if ev.Key == store.KeyScheduleChanged && len(ev.Data) == 0 {
		ev.Data = fmt.Appendf(nil, `{"schedule_id":%d}`, id)
	}
	return ev
}

// GetSchedule returns a schedule.
func (s *Store) GetSchedule(_ context.Context, id int64) (store.ScheduleRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.timers().schedules[id]
	if r == nil {
		return store.ScheduleRecord{}, fmt.Errorf("%w: id %d", store.ErrScheduleNotFound, id)
	}
	return *r, nil
}

// ListSchedules lists schedules by id.
func (s *Store) ListSchedules(_ context.Context, ns, wf string) ([]store.ScheduleRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.ScheduleRecord
	for _, r := range s.timers().schedules {
		if (ns == "" || r.Namespace == ns) && (wf == "" || r.Workflow == wf) {
			out = append(out, *r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// SetSchedulePaused pauses or resumes a schedule.
func (s *Store) SetSchedulePaused(_ context.Context, id int64, paused bool, ev store.Event) error {
	s.mu.Lock()
	r := s.timers().schedules[id]
	if r == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: id %d", store.ErrScheduleNotFound, id)
	}
	if err := s.appendOne(withSchedule(ev, id)); err != nil {
		s.mu.Unlock()
		return err
	}
	now := s.clock.Now()
	if r.Paused && !paused {
		r.ResumedAt = now
	}
	r.Paused, r.UpdatedAt = paused, now
	s.mu.Unlock()
	s.notify()
	return nil
}

// DeleteSchedule deletes a schedule.
func (s *Store) DeleteSchedule(_ context.Context, id int64, ev store.Event) error {
	s.mu.Lock()
	tm := s.timers()
	if tm.schedules[id] == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: id %d", store.ErrScheduleNotFound, id)
	}
	if err := s.appendOne(withSchedule(ev, id)); err != nil {
		s.mu.Unlock()
		return err
	}
	delete(tm.schedules, id)
	s.mu.Unlock()
	s.notify()
	return nil
}

// FireTimer records a tick once and appends its event.
func (s *Store) FireTimer(_ context.Context, f store.Firing) (bool, error) {
	s.mu.Lock()
	tm := s.timers()
	k := fireKey{f.Key, f.At.UnixNano()}
	if _, ok := tm.fired[k]; ok {
		s.mu.Unlock()
		return false, nil
	}
	var sched *store.ScheduleRecord
	if f.ScheduleID != 0 {
		sched = tm.schedules[f.ScheduleID]
		if sched == nil || sched.Paused || !f.At.After(sched.ResumedAt) {
			s.mu.Unlock()
			return false, nil
		}
	}
	if err := s.appendOne(f.Event); err != nil {
		s.mu.Unlock()
		return false, err
	}
	tm.fired[k] = s.clock.Now()
	if sched != nil && f.At.After(sched.LastFireAt) {
		sched.LastFireAt = f.At
	}
	s.mu.Unlock()
	s.notify()
	return true, nil
}

// PruneFirings deletes the firing records made at least minAge ago (by the
// store's clock), except the keep[key] latest (at least one) of each key of
// keep.
func (s *Store) PruneFirings(_ context.Context, keep map[string]int, minAge time.Duration) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tm := s.timers()
	cutoff := s.clock.Now().Add(-minAge)
	byKey := map[string][]int64{}
	for k := range tm.fired {
		byKey[k.key] = append(byKey[k.key], k.at)
	}
	n := 0
	for key, ats := range byKey {
		slices.Sort(ats)
		kept := 0
		if c, ok := keep[key]; ok {
			kept = max(c, 1)
		}
		for _, at := range ats[:max(len(ats)-kept, 0)] {
			k := fireKey{key, at}
			if !tm.fired[k].After(cutoff) {
				delete(tm.fired, k)
				n++
			}
		}
	}
	return n, nil
}

// UpsertTrigger records a trigger by (namespace, workflow, name).
func (s *Store) UpsertTrigger(_ context.Context, rec store.TriggerRecord, ev func(store.TriggerRecord) store.Event) (store.TriggerRecord, bool, error) {
	s.mu.Lock()
	if s.workflows[wfKey{rec.Namespace, rec.Workflow}] == nil {
		s.mu.Unlock()
		return rec, false, fmt.Errorf("%w: %q in namespace %q", store.ErrWorkflowNotFound, rec.Workflow, rec.Namespace)
	}
	tm := s.timers()
	for _, t := range tm.triggers {
		if t.Namespace == rec.Namespace && t.Workflow == rec.Workflow && t.Name == rec.Name {
			out := *t
			out.Keys = slices.Clone(t.Keys)
			s.mu.Unlock()
			return out, false, nil
		}
	}
	tm.nextTrigID++
	now := s.clock.Now()
	rec.ID, rec.CreatedAt, rec.UpdatedAt, rec.Paused = tm.nextTrigID, now, now, false
	rec.Keys = slices.Clone(rec.Keys)
	if err := s.appendOne(ev(rec)); err != nil {
		tm.nextTrigID--
		s.mu.Unlock()
		return rec, false, err
	}
	c := rec
	tm.triggers[rec.ID] = &c
	s.mu.Unlock()
	s.notify()
	return rec, true, nil
}

// GetTrigger returns a trigger.
func (s *Store) GetTrigger(_ context.Context, id int64) (store.TriggerRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.timers().triggers[id]
	if t == nil {
		return store.TriggerRecord{}, fmt.Errorf("%w: id %d", store.ErrTriggerNotFound, id)
	}
	out := *t
	out.Keys = slices.Clone(t.Keys)
	return out, nil
}

// ListTriggers lists triggers by id.
func (s *Store) ListTriggers(_ context.Context, ns, wf string) ([]store.TriggerRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.TriggerRecord
	for _, t := range s.timers().triggers {
		if (ns == "" || t.Namespace == ns) && (wf == "" || t.Workflow == wf) {
			c := *t
			c.Keys = slices.Clone(t.Keys)
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// SetTriggerPaused pauses or resumes a trigger.
func (s *Store) SetTriggerPaused(_ context.Context, id int64, paused bool, ev store.Event) error {
	s.mu.Lock()
	t := s.timers().triggers[id]
	if t == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: id %d", store.ErrTriggerNotFound, id)
	}
	if err := s.appendOne(ev); err != nil {
		s.mu.Unlock()
		return err
	}
	t.Paused, t.UpdatedAt = paused, s.clock.Now()
	s.mu.Unlock()
	s.notify()
	return nil
}

// DeleteTrigger deletes a trigger.
func (s *Store) DeleteTrigger(_ context.Context, id int64, ev store.Event) error {
	s.mu.Lock()
	tm := s.timers()
	if tm.triggers[id] == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: id %d", store.ErrTriggerNotFound, id)
	}
	if err := s.appendOne(ev); err != nil {
		s.mu.Unlock()
		return err
	}
	delete(tm.triggers, id)
	s.mu.Unlock()
	s.notify()
	return nil
}

// Elect makes every client of a memory store the leader: they share one
// process, and the store's firing records keep each tick single.
func (s *Store) Elect(ctx context.Context, _ string) (<-chan bool, error) {
	ch := make(chan bool, 2) // room for both transitions: never blocks
	ch <- true
	go func() {
		<-ctx.Done()
		ch <- false
		close(ch)
	}()
	return ch, nil
}
