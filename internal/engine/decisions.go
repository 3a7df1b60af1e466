package engine

import (
	"slices"

	"github.com/aiflow-go/aiflow/store"
)

// Decisions: the engine records, as effects of the unit of work, why each
// task execution started and the outcome of every rule it evaluates (see
// store.Decision). Recording must stay cheap: a decision is a struct of
// fields the engine already holds, and its reason is a string that exists
// already (the rule's description, a note being written anyway) or a
// constant. The store bounds what it keeps (store.DecisionsKept).

// Reasons of the decisions taken without a rule.
const (
	reasonExecutionStart = "the execution started: the task has no START rule"
	reasonRequest        = "requested (start, stop or restart task event)"
	reasonPeriodicTick   = "periodic tick"
)

// decide records one decision about task t of x, made on ev.
func (e *Engine) decide(x *Execution, task string, rule int, ev *store.Event, o store.DecisionOutcome, reason string, te *TE) {
	d := store.Decision{
		ExecutionID: x.ID, Task: task, Rule: rule, Outcome: o, Reason: reason,
	}
	if ev != nil {
		d.EventID, d.EventKey, d.Time = ev.ID, ev.Key, ev.Time
	}
	if te != nil {
		d.TaskExecutionID, d.SeqNum = te.ID, te.Seq
	}
	e.dec.add(e.fx, d)
}

// decisionFold bounds the decisions of a unit of work as they are made, as
// store.FoldDecisions would at its end: all start decisions, and of the
// others the last store.DecisionsKept per (execution, task, rule), in their
// order. An event that every one of many executions evaluates adds a
// decision per execution, so without the bound a unit of hundreds of events
// held (and grew, copying) a slice of millions of decisions of which the
// store writes a fraction.
type decisionFold struct {
	// kept are the positions in the unit's decisions of the kept
	// decisions of each key that do not start a task execution, oldest
	// first.
	kept map[decisionKey][]int
	// dropped counts the decisions dropped but still in the slice,
	// marked by an empty outcome; the slice is compacted when they are
	// three quarters of it.
	dropped int
}

// decisionKey is what the bound of store.DecisionsKept applies to.
type decisionKey struct {
	exec int64
	task string
	rule int
}

func (f *decisionFold) reset() {
	if f.kept == nil || len(f.kept) > 0 {
		f.kept = map[decisionKey][]int{}
	}
	f.dropped = 0
}

// add appends d to fx's decisions, dropping the oldest of its key beyond
// the bound.
func (f *decisionFold) add(fx *store.Effects, d store.Decision) {
	if d.Outcome.Starts() {
		fx.Decisions = append(fx.Decisions, d)
		return
	}
	k := decisionKey{d.ExecutionID, d.Task, d.Rule}
	pos := f.kept[k]
	if len(pos) == store.DecisionsKept {
		fx.Decisions[pos[0]].Outcome = ""
		f.dropped++
		copy(pos, pos[1:])
		pos = pos[:len(pos)-1]
	}
	if pos == nil {
		pos = make([]int, 0, store.DecisionsKept)
	}
	f.kept[k] = append(pos, len(fx.Decisions))
	fx.Decisions = append(fx.Decisions, d)
	if f.dropped > 1024 && f.dropped > len(fx.Decisions)/4*3 {
		f.compact(fx)
	}
}

// compact removes the dropped decisions from fx and renumbers the kept
// positions.
func (f *decisionFold) compact(fx *store.Effects) {
	if f.dropped == 0 {
		return
	}
	out := fx.Decisions[:0]
	for _, d := range fx.Decisions {
		if d.Outcome == "" {
			continue
		}
		if !d.Outcome.Starts() {
			k := decisionKey{d.ExecutionID, d.Task, d.Rule}
			pos := f.kept[k]
			// The kept positions of k are renumbered in order: the first
			// one not renumbered yet is the one at or after len(out).
			for i := range pos {
				if pos[i] >= len(out) {
					pos[i] = len(out)
					break
				}
			}
		}
		out = append(out, d)
	}
	clear(fx.Decisions[len(out):])
	fx.Decisions = out
	f.dropped = 0
}

// decideAll records the same outcome for every rule of x's tasks that
// expects ev's key: the event reached none of them.
func (e *Engine) decideAll(x *Execution, ev *store.Event, o store.DecisionOutcome, reason string) {
	if x.def == nil {
		return
	}
	for _, ti := range x.def.keyTasks[ev.Key] {
		t := x.def.Tasks[ti]
		for ri := range t.Rules {
			if slices.Contains(t.Rules[ri].Keys, ev.Key) {
				e.decide(x, t.Name, ri+1, ev, o, reason, nil)
			}
		}
	}
}

// ruleReason is the reason of a decision made by what c names without a
// rule.
func (c cause) ruleReason() string {
	switch {
	case c.rule != 0:
		return ""
	case c.label != "":
		return c.label
	}
	return reasonRequest
}
