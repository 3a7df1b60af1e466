// Package decisionmodel is the reference the stores' tests check their
// "why" records against: what a store keeps of decisions applied one by
// one. Tests only; nothing in the library imports it.
package decisionmodel

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/aiflow-go/aiflow/store"
)

// Model keeps every start decision, and per (execution, task, rule) the last
// store.DecisionsKept runs of repeats, each counted in one decision. Its
// zero value is not ready: use New.
type Model struct {
	seq    int // numbers the evaluations: a store lists in the order of their latest
	starts map[int64][]entry
	rings  map[key][]entry
}

type key struct {
	exec int64
	task string
	rule int
}

type entry struct {
	last int
	d    store.Decision
}

// New returns an empty model.
func New() *Model {
	return &Model{starts: map[int64][]entry{}, rings: map[key][]entry{}}
}

// Apply records one decision as a store would once its unit of work commits.
func (m *Model) Apply(d store.Decision) {
	m.seq++
	d.Normalize()
	if d.Outcome.Starts() {
		m.starts[d.ExecutionID] = append(m.starts[d.ExecutionID], entry{m.seq, d})
		return
	}
	k := key{d.ExecutionID, d.Task, d.Rule}
	r := m.rings[k]
	if n := len(r); n > 0 && d.Repeats(&r[n-1].d) {
		r[n-1].d.Absorb(&d)
		r[n-1].last = m.seq
		return
	}
	r = append(r, entry{m.seq, d})
	if len(r) > store.DecisionsKept {
		r = r[1:]
	}
	m.rings[k] = r
}

// Want returns the decisions of execution x in the order a store lists them
// (by their latest evaluation), without ids; nil when there are none.
func (m *Model) Want(x int64) []store.Decision {
	all := append([]entry{}, m.starts[x]...)
	for k, r := range m.rings {
		if k.exec == x {
			all = append(all, r...)
		}
	}
	if len(all) == 0 {
		return nil
	}
	slices.SortFunc(all, func(a, b entry) int { return a.last - b.last })
	out := make([]store.Decision, len(all))
	for i, e := range all {
		out[i] = e.d
	}
	return out
}

// RandomDecision returns a decision of event (one of executions 1 to 4,
// tasks a and b, rules 0 to 2) whose outcome and reason often repeat the
// previous ones, taken now plus event milliseconds.
func RandomDecision(rng *rand.Rand, event int64, now time.Time) store.Decision {
	d := store.Decision{ExecutionID: int64(1 + rng.IntN(4)), Task: []string{"a", "b"}[rng.IntN(2)], Rule: rng.IntN(3),
		EventID: event, EventKey: []string{"k", "l"}[rng.IntN(2)], Time: now.Add(time.Duration(event) * time.Millisecond),
		Outcome: store.DecisionConditionFalse, Reason: []string{"r1", "r1", "r1", "r2"}[rng.IntN(4)], Count: 1, FirstEventID: event}
	switch rng.IntN(10) {
	case 0:
		d.Outcome, d.Reason, d.TaskExecutionID, d.SeqNum = store.DecisionStarted, "", event, 1
	case 1, 2:
		d.Outcome, d.Reason, d.TaskExecutionID, d.SeqNum = store.DecisionTaskAlive, "alive", int64(1+rng.IntN(2)), 1
	case 3:
		d.Outcome, d.Reason, d.TaskExecutionID, d.SeqNum = store.DecisionStopRequested, "", 1, 1
	}
	return d
}
