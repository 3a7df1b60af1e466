package memory

import (
	"context"

	"github.com/aiflow-go/aiflow/store"
)

var _ store.LagReader = (*Store)(nil)

// PartitionLag returns, for every partition, the events after its position
// that it will read (at most store.LagCountLimit) and the time of the oldest.
func (s *Store) PartitionLag(_ context.Context) ([]store.PartitionLag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.PartitionLag, len(s.parts))
	for part, p := range s.parts {
		l := store.PartitionLag{Partition: part}
		for i := s.after(p.pos); i < len(s.events) && l.Events < store.LagCountLimit; i++ {
			ev := &s.events[i]
			if ev.Partition != -1 && ev.Partition != part {
				continue
			}
			if l.Events == 0 {
				l.Oldest = ev.Time
			}
			l.Events++
		}
		out[part] = l
	}
	return out, nil
}
