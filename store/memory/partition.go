package memory

import (
	"context"
	"sort"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

// Partitions returns the number of partitions.
func (s *Store) Partitions() int { return s.nPart }

// Placement spreads every workflow execution over the partitions (see
// store.Placement): a memory store has no executions from before. It
// implements store.Consumer.
func (s *Store) Placement() store.Placement { return s.placement() }

func (s *state) placement() store.Placement {
	return store.Placement{Partitions: s.nPart, SpreadFrom: 1}
}

// ClaimPartitions renews and balances owner's leases.
func (s *Store) ClaimPartitions(_ context.Context, owner string, ttl time.Duration) ([]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.owners[owner] = now
	live := 0
	for o, seen := range s.owners {
		if now.Sub(seen) <= ttl {
			live++
		} else {
			delete(s.owners, o)
		}
	}
	share := (s.nPart + live - 1) / live
	var mine []int
	for i, p := range s.parts {
		if p.owner == owner && now.Before(p.leaseUntil) {
			mine = append(mine, i)
		}
	}
	// Give back partitions above the share, highest first.
	for len(mine) > share {
		last := mine[len(mine)-1]
		s.parts[last].owner = ""
		mine = mine[:len(mine)-1]
	}
	for i, p := range s.parts {
		if len(mine) >= share {
			break
		}
		if p.owner == "" || !now.Before(p.leaseUntil) {
			p.owner = owner
			mine = append(mine, i)
		}
	}
	for _, i := range mine {
		s.parts[i].leaseUntil = now.Add(ttl)
	}
	sort.Ints(mine)
	return mine, nil
}

// ReleasePartitions gives up owner's leases.
func (s *Store) ReleasePartitions(_ context.Context, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.parts {
		if p.owner == owner {
			p.owner = ""
		}
	}
	delete(s.owners, owner)
	return nil
}
