package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/aiflow-go/aiflow/store"
)

type batch struct {
	s       *Store
	part    int
	pos     store.Position
	end     store.Position
	version int64
	events  []store.Event
}

func (b *batch) Partition() int           { return b.part }
func (b *batch) Position() store.Position { return b.pos }
func (b *batch) Version() int64           { return b.version }
func (b *batch) Events() []store.Event    { return b.events }
func (b *batch) End() store.Position      { return b.end }

func (b *batch) Snapshots(context.Context) ([]store.Snapshot, error) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	p := b.s.parts[b.part]
	keys := make([]string, 0, len(p.snaps))
	for k := range p.snaps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]store.Snapshot, len(keys))
	for i, k := range keys {
		out[i] = store.Snapshot{Key: k, Data: slices.Clone(p.snaps[k])}
	}
	return out, nil
}

// Consume runs one unit of work on a partition.
func (s *Store) Consume(ctx context.Context, params store.ConsumeParams, fn store.BatchFunc) (store.ConsumeResult, error) {
	if params.Partition < 0 || params.Partition >= s.nPart {
		return store.ConsumeResult{}, fmt.Errorf("%w: partition %d: expected 0 to %d", store.ErrInvalid, params.Partition, s.nPart-1)
	}
	max := params.MaxEvents
	if max <= 0 {
		max = store.DefaultMaxEvents
	}
	p := s.parts[params.Partition]
	p.consuming.Lock()
	defer p.consuming.Unlock()

	s.mu.Lock()
	if err := s.checkOwner(p, params); err != nil {
		s.mu.Unlock()
		return store.ConsumeResult{}, err
	}
	b := &batch{s: s, part: params.Partition, pos: p.pos, end: p.pos, version: p.version}
	more := false
	pl := s.placement()
	for i := s.after(p.pos); i < len(s.events); i++ {
		ev := &s.events[i]
		if ev.Partition != -1 && ev.Partition != params.Partition {
			continue
		}
		if ev.Partition == -1 && ev.Kind == store.KindUser && !params.ReadsUser(pl, ev) {
			if len(b.events) < max {
				b.end = ev.Position // skipped: consumed with the batch
			}
			continue
		}
		if len(b.events) == max {
			more = true
			break
		}
		c := *ev
		c.Data = slices.Clone(ev.Data)
		b.events = append(b.events, c)
		b.end = ev.Position
	}
	s.mu.Unlock()

	res := store.ConsumeResult{Events: len(b.events), More: more, Version: b.version}
	fx, err := fn(ctx, b)
	if err != nil {
		return res, err
	}
	if fx == nil {
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	s.mu.Lock()
	if err := s.checkOwner(p, params); err != nil {
		s.mu.Unlock()
		return res, err
	}
	appended, err := s.applyEffects(p, fx)
	if err != nil {
		s.mu.Unlock()
		return res, err
	}
	p.pos = fx.Position
	p.version++
	res.Version = p.version
	s.mu.Unlock()
	if appended {
		s.notify()
	}
	s.disp.kick()
	return res, nil
}

func (s *Store) checkOwner(p *partition, params store.ConsumeParams) error {
	if p.owner != params.Owner || !s.clock.Now().Before(p.leaseUntil) {
		return fmt.Errorf("%w: partition %d is held by %q, not %q", store.ErrNotOwner, params.Partition, p.owner, params.Owner)
	}
	return nil
}

// applyEffects writes a unit of work's effects. It validates first, so a
// failure changes nothing.
func (s *Store) applyEffects(p *partition, fx *store.Effects) (appended bool, err error) {
	if err := s.checkEvents(fx.Events); err != nil {
		return false, err
	}
	for _, x := range fx.NewExecutions {
		if cur, dup := s.execs[x.ID]; dup && cur.Status != store.WorkflowInit {
			return false, fmt.Errorf("%w: workflow execution %d", store.ErrAlreadyExists, x.ID)
		}
	}
	for _, te := range fx.NewTaskExecutions {
		if _, dup := s.tes[te.ID]; dup {
			return false, fmt.Errorf("%w: task execution %d", store.ErrAlreadyExists, te.ID)
		}
	}
	now := s.clock.Now()
	for _, x := range fx.NewExecutions {
		c := x
		if cur := s.execs[x.ID]; cur != nil {
			c.CreatedAt, c.Input = cur.CreatedAt, cur.Input
		}
		s.execs[x.ID] = &c
	}
	for _, u := range fx.ExecutionUpdates {
		if x := s.execs[u.ID]; x != nil {
			x.Status, x.UpdatedAt = u.Status, now
			if u.Note != "" {
				x.Note = u.Note
			}
			if !u.EndedAt.IsZero() {
				x.EndedAt = u.EndedAt
			}
		}
	}
	for _, te := range fx.NewTaskExecutions {
		c := te
		s.tes[te.ID] = &c
	}
	for _, n := range fx.TaskNotes {
		if te := s.tes[n.TaskExecutionID]; te != nil {
			te.Note, te.UpdatedAt = n.Note, now
		}
	}
	var out []store.Event
	for _, d := range fx.Dispatches {
		te := s.tes[d.TaskExecutionID]
		k := dispatchKey{d.TaskExecutionID, d.Attempt}
		if te == nil || s.dispatched[k] {
			continue
		}
		status, ok := store.DispatchStatus(te, d.Attempt)
		if !ok {
			continue // stopped or finished meanwhile
		}
		s.dispatched[k] = true
		te.Status, te.Attempt, te.UpdatedAt = status, d.Attempt, now
		s.disp.enqueue(job{te: te.ID, attempt: d.Attempt, notBefore: d.NotBefore})
	}
	for _, st := range fx.Stops {
		te := s.tes[st.TaskExecutionID]
		if te == nil {
			continue
		}
		tr := store.Stop(te, st.Reason)
		if tr.Action == store.StopIgnored {
			continue
		}
		te.Status, te.Attempt, te.UpdatedAt = tr.Status, tr.Attempt, now
		out = append(out, tr.Event)
		switch tr.Action {
		case store.StopNow:
			te.EndedAt = now
		case store.StopRunning:
			s.disp.cancelRunning(te.ID)
		}
	}
	for _, sn := range fx.Snapshots {
		if sn.Delete {
			delete(p.snaps, sn.Key)
		} else {
			p.snaps[sn.Key] = slices.Clone(sn.Data)
		}
	}
	s.decisions.record(fx.Decisions)
	all := append(slices.Clone(fx.Events), out...)
	if len(all) > 0 {
		s.appendChecked(all) // the engine's events were checked above; the status events are the store's own
		appended = true
	}
	return appended, nil
}
