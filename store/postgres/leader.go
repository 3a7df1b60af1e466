package postgres

import (
	"context"

	"github.com/aiflow-go/aiflow/internal/leader"
)

// Elect campaigns for owner in the "timers" role (a lease of its own,
// separate from the reaper's) until ctx ends; see internal/leader for the
// lease and its trust window. The channel gets true on election and false on
// losing it, and is closed once ctx ends and the lease has been given up
// (closing means not leading; a final false is sent when there is room).
func (s *Store) Elect(ctx context.Context, owner string) (<-chan bool, error) {
	el, err := leader.New(leader.Config{
		Pool: s.pool, Table: s.schema + ".aiflow_leader", Name: "timers", ID: owner, TTL: s.cfg.LeaderTTL, Logger: s.cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	transitions, unsubscribe := el.Subscribe()
	if err := el.Start(ctx); err != nil {
		unsubscribe()
		return nil, err
	}
	out := make(chan bool, 1)
	go func() {
		defer close(out)
		defer unsubscribe()
		leading := false
		for {
			select {
			case <-ctx.Done():
				stopCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ResignTimeout)
				_ = el.Stop(stopCtx) // resigns, so another client leads at once
				cancel()
				if leading { // best effort: the close says it too
					select {
					case out <- false:
					default:
					}
				}
				return
			case tr := <-transitions:
				if tr.Leader == leading {
					continue
				}
				leading = tr.Leader
				select {
				case out <- leading:
				case <-ctx.Done():
				}
			}
		}
	}()
	return out, nil
}
