package postgres

import (
	"context"

	"github.com/aiflow-go/aiflow/internal/leader"
	"github.com/aiflow-go/aiflow/internal/startstop"
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
	out := make(chan bool, 1)
	// The campaign runs until ctx ends (Elect's caller stops it so), then
	// resigns; nothing else stops it.
	var campaign startstop.Service
	err = campaign.StartInit(ctx, el.Start, func(ctx context.Context) {
		defer close(out)
		defer unsubscribe()
		s.relayElection(ctx, el, transitions, out)
	})
	if err != nil {
		unsubscribe()
		return nil, err
	}
	return out, nil
}

// relayElection sends el's transitions to out until ctx ends, then stops el
// (resigning, so another client leads at once).
func (s *Store) relayElection(ctx context.Context, el *leader.Elector, transitions <-chan leader.Transition, out chan<- bool) {
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
}
