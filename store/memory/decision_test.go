package memory

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow/internal/decisionmodel"
	"github.com/aiflow-go/aiflow/store"
)

// TestDecisionsCountRepeatsAsAModel records units of work of random
// decisions (few rings, outcomes and reasons that often repeat, units from
// empty to longer than a ring) and checks after each that every execution's
// decisions are those of a model that applies them one by one: the starts,
// and per ring the last store.DecisionsKept runs of repeats with their count,
// first and latest event, in the order of their latest evaluations. The
// Postgres store's test of the same name checks its rings against the same
// model.
func TestDecisionsCountRepeatsAsAModel(t *testing.T) {
	s := New(nil)
	rng := rand.New(rand.NewPCG(3, 4))
	m := decisionmodel.New()
	now := time.Now().UTC()
	var event int64
	for unit := range 30 {
		var ds []store.Decision
		for range []int{0, 1, 3, 10, 40, 120}[rng.IntN(6)] {
			event++
			d := decisionmodel.RandomDecision(rng, event, now)
			m.Apply(d)
			ds = append(ds, d)
		}
		s.mu.Lock()
		s.decisions.record(ds)
		s.mu.Unlock()
		for x := int64(1); x <= 4; x++ {
			got, err := s.ListDecisions(context.Background(), x, "")
			require.NoError(t, err)
			for i := range got {
				if i > 0 {
					require.Less(t, got[i-1].ID, got[i].ID, "unit %d, execution %d: in id order", unit, x)
				}
				got[i].ID = 0
			}
			want := m.Want(x)
			if len(want) == 0 {
				want = nil
			}
			require.Equal(t, want, got, "unit %d, execution %d", unit, x)
		}
	}
}
