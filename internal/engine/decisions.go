package engine

import (
	"slices"
	"time"

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
	if te == nil && ev != nil && e.dec.repeat(x, e.fx, task, rule, ev, o, reason) {
		return
	}
	d := store.Decision{
		ExecutionID: x.ID, Task: task, Rule: rule, Outcome: o, Reason: reason, Count: 1,
	}
	if ev != nil {
		d.EventID, d.EventKey, d.Time = ev.ID, ev.Key, ev.Time
		d.FirstEventID = ev.ID
	}
	if te != nil {
		d.TaskExecutionID, d.SeqNum = te.ID, te.Seq
	}
	e.dec.addFor(x, e.fx, &d)
}

// decisionFold bounds the decisions of a unit of work as they are made, as
// store.FoldDecisions would at its end: all start decisions, and of the
// others, runs of repeats counted in one (store.Decision.Repeats), the last
// store.DecisionsKept per (execution, task, rule), in the order of their
// latest evaluations. An evaluation that repeats the newest of its key
// updates that one's slot. An event that every one of many executions evaluates adds a
// decision per execution, so a unit of hundreds of events makes millions of
// decisions of which the store writes a fraction.
//
// The unit's decisions hold only what is kept: once a key has
// store.DecisionsKept, its next decision overwrites the slot of its oldest
// one, and compact puts the slots back in the order the decisions were made
// (each slot remembers when its decision was). An execution finds its keys
// through the rings it links to (Execution.fold), without a map; add, for
// decisions without an execution at hand, finds them through one.
type decisionFold struct {
	// gen identifies the unit of work: an Execution's links to rings are
	// valid only in the unit of their gen.
	gen uint64
	// rings are the keys that have decisions in this unit, and slots the
	// slots of each ring's decisions (apart: counting a repeat reads only
	// the ring).
	rings []decisionRing
	slots [][store.DecisionsKept]int32
	// byKey finds the rings of add's keys.
	byKey map[decisionKey]int32
	// seq numbers the unit's decisions in the order they were made; when
	// records seq<<32 | slot for each slot of the unit's decisions, in
	// slot order.
	seq  uint64
	when []uint64
	// moved is true once a slot was overwritten: the slots are then out of
	// order until compact.
	moved bool
	// evOf is, for each slot, the event (in events) of the evaluations
	// that repeat last counted in its decision (see repeat), or -1: the
	// decision's event is written at the unit's end (materialize), so that
	// counting a repeat writes no pointer. cur is the index in events of
	// curEv, the event being applied (nil: not in events yet).
	// pend is, for each slot, the evaluations repeat counted in its
	// decision, added to its Count at the unit's end too: counting a
	// repeat reads and writes nothing of the decision.
	evOf   []int32
	pend   []int32
	events []eventRef
	curEv  *store.Event
	cur    int32
	// last is the largest number of decisions of a unit so far: a unit
	// whose decisions outgrow their slice grows it to that at once, not by
	// doubling from nothing (an event that every one of many executions
	// evaluates makes a decision each in every unit it is in).
	last int
}

// eventRef is the event of decisions counted by repeat.
type eventRef struct {
	id   int64
	key  string
	time time.Time
}

// decisionRing holds the slots (decisionFold.slots) of the kept decisions of
// one key that do not start a task execution, oldest first from head.
type decisionRing struct {
	task string
	rule int
	// newest is the slot of the newest decision (when n > 0), and
	// outcome, reason and plain (no task execution) what
	// store.Decision.Repeats compares of it.
	outcome store.DecisionOutcome
	reason  string
	newest  int32
	n, head int32
	// next is the index of the next ring of the same execution, or -1.
	next  int32
	plain bool
}

// setNewest makes slot, holding d, the newest decision of the ring.
func (r *decisionRing) setNewest(slot int32, d *store.Decision) {
	r.newest, r.outcome, r.reason = slot, d.Outcome, d.Reason
	r.plain = d.TaskExecutionID == 0 && d.SeqNum == 0
}

// decisionKey identifies the rings of add.
type decisionKey struct {
	exec int64
	task string
	rule int
}

// foldLink is an Execution's link to its first ring of the unit gen.
type foldLink struct {
	gen  uint64
	ring int32
}

func (f *decisionFold) reset() {
	f.gen++
	clear(f.rings) // drop the task names
	f.rings = f.rings[:0]
	f.slots = f.slots[:0]
	if f.byKey == nil || len(f.byKey) > 0 {
		f.byKey = map[decisionKey]int32{}
	}
	f.seq = 0
	f.when = f.when[:0]
	f.evOf = f.evOf[:0]
	f.pend = f.pend[:0]
	clear(f.events) // drop the keys
	f.events = f.events[:0]
	f.curEv = nil
	f.moved = false
}

// applying tells the fold that a new event is being applied.
func (f *decisionFold) applying() { f.curEv = nil }

// materialize writes into each decision that repeat counted evaluations in
// their count, and the event of the last of them.
func (f *decisionFold) materialize(fx *store.Effects) {
	if len(f.events) == 0 {
		return
	}
	for slot, ref := range f.evOf {
		d := &fx.Decisions[slot]
		d.Count += int(f.pend[slot])
		if ref >= 0 {
			ev := &f.events[ref]
			d.EventID, d.EventKey, d.Time = ev.id, ev.key, ev.time
		}
	}
}

// end records the size of the unit's decisions for the next units.
func (f *decisionFold) end(fx *store.Effects) { f.last = max(f.last, len(fx.Decisions)) }

// add records d, dropping the oldest of its key beyond the bound.
func (f *decisionFold) add(fx *store.Effects, d store.Decision) {
	if d.Outcome.Starts() {
		f.push(fx, &d)
		return
	}
	k := decisionKey{d.ExecutionID, d.Task, d.Rule}
	r, ok := f.byKey[k]
	if !ok {
		r = f.newRing(d.Task, d.Rule, -1)
		f.byKey[k] = r
	}
	f.keep(fx, r, &d)
}

// addFor is add for a decision about x, whose rings x links to.
func (f *decisionFold) addFor(x *Execution, fx *store.Effects, d *store.Decision) {
	if d.Outcome.Starts() {
		f.push(fx, d)
		return
	}
	if x.fold.gen != f.gen {
		x.fold = foldLink{gen: f.gen, ring: -1}
	}
	r := x.fold.ring
	for r >= 0 && (f.rings[r].rule != d.Rule || f.rings[r].task != d.Task) {
		r = f.rings[r].next
	}
	if r < 0 {
		r = f.newRing(d.Task, d.Rule, x.fold.ring)
		x.fold.ring = r
	}
	f.keep(fx, r, d)
}

// repeat counts a decision about x made on ev without a task execution in
// the newest decision of its ring when it repeats that one
// (store.Decision.Repeats), as addFor would, and reports whether it did:
// a condition that every execution evaluates on every event, never met,
// takes this path, without building the decision.
func (f *decisionFold) repeat(x *Execution, fx *store.Effects, task string, rule int, ev *store.Event, o store.DecisionOutcome, reason string) bool {
	if x.fold.gen != f.gen || o.Starts() || o == store.DecisionStopRequested {
		return false
	}
	r := x.fold.ring
	for r >= 0 && (f.rings[r].rule != rule || f.rings[r].task != task) {
		r = f.rings[r].next
	}
	if r < 0 {
		return false
	}
	ring := &f.rings[r]
	if ring.n == 0 || !ring.plain || ring.outcome != o || ring.reason != reason {
		return false
	}
	// Decision.Absorb of the decision decide would build (no id, as the
	// newest's, and a count of 1), its count and event written at the
	// unit's end.
	slot := ring.newest
	if f.curEv != ev || f.events[f.cur].id != ev.ID {
		f.events = append(f.events, eventRef{ev.ID, ev.Key, ev.Time})
		f.curEv, f.cur = ev, int32(len(f.events)-1)
	}
	f.evOf[slot] = f.cur
	f.pend[slot]++
	f.when[slot] = f.seq<<32 | uint64(slot)
	f.seq++
	f.moved = true
	return true
}

func (f *decisionFold) newRing(task string, rule int, next int32) int32 {
	f.rings = append(f.rings, decisionRing{task: task, rule: rule, next: next})
	f.slots = append(f.slots, [store.DecisionsKept]int32{})
	return int32(len(f.rings) - 1)
}

// push appends d in a new slot.
func (f *decisionFold) push(fx *store.Effects, d *store.Decision) int32 {
	d.Normalize()
	slot := len(fx.Decisions)
	if slot == cap(fx.Decisions) && slot < f.last {
		fx.Decisions = slices.Grow(fx.Decisions, f.last-slot)
		f.when = slices.Grow(f.when, f.last-len(f.when))
		f.evOf = slices.Grow(f.evOf, f.last-len(f.evOf))
		f.pend = slices.Grow(f.pend, f.last-len(f.pend))
	}
	fx.Decisions = append(fx.Decisions, *d)
	f.evOf = append(f.evOf, -1)
	f.pend = append(f.pend, 0)
	f.when = append(f.when, f.seq<<32|uint64(slot))
	f.seq++
	return int32(slot)
}

// keep records d in ring r: counted in the ring's newest decision when it
// repeats it, else in a new slot, or in that of the ring's oldest decision
// when the ring is full.
func (f *decisionFold) keep(fx *store.Effects, r int32, d *store.Decision) {
	ring, slots := &f.rings[r], &f.slots[r]
	d.Normalize()
	if ring.n > 0 {
		// The decision's Count may lack what repeat counted (pend): Absorb
		// adds to it.
		slot := ring.newest
		if newest := &fx.Decisions[slot]; d.Repeats(newest) {
			newest.Absorb(d)
			f.evOf[slot] = -1
			f.when[slot] = f.seq<<32 | uint64(slot)
			f.seq++
			f.moved = true
			return
		}
	}
	if ring.n < store.DecisionsKept {
		slot := f.push(fx, d)
		slots[(ring.head+ring.n)%store.DecisionsKept] = slot
		ring.n++
		ring.setNewest(slot, d)
		return
	}
	// The oldest slot takes d, and its place in the ring becomes the
	// newest when the head moves past it.
	slot := slots[ring.head]
	ring.head = (ring.head + 1) % store.DecisionsKept
	fx.Decisions[slot] = *d
	ring.setNewest(slot, d)
	f.evOf[slot], f.pend[slot] = -1, 0
	f.when[slot] = f.seq<<32 | uint64(slot)
	f.seq++
	f.moved = true
}

// compact puts fx's decisions in the order they were made; the fold is
// then to be reset.
func (f *decisionFold) compact(fx *store.Effects) {
	if !f.moved {
		return
	}
	// when is not read again before the next unit's reset.
	slices.Sort(f.when)
	out := make([]store.Decision, len(fx.Decisions))
	for i, w := range f.when {
		out[i] = fx.Decisions[uint32(w)]
	}
	fx.Decisions = out
	f.moved = false
}

// decideAll records the same outcome for every rule of x's tasks that
// expects ev's key: the event reached none of them.
func (e *Engine) decideAll(x *Execution, ev *store.Event, o store.DecisionOutcome, reason string) {
	if x.def == nil {
		return
	}
	for _, kr := range x.def.keyRules[ev.Key] {
		e.decide(x, x.def.Tasks[kr.task].Name, int(kr.rule)+1, ev, o, reason, nil)
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
