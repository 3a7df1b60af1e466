package aiflowtest

import "github.com/aiflow-go/aiflow"

// Decision is what a condition decided about one event.
type Decision struct {
	// Event is the event.
	Event aiflow.Event
	// Expected reports whether the condition expects the event's key; when
	// it does not, the condition was not evaluated.
	Expected bool
	// Met is the condition's answer (false when not expected or on error).
	Met bool
	// Err is the error IsMet returned, or its panic as an error; the state
	// is then left as it was before the event.
	Err error
}

// ConditionResult is the outcome of RunCondition.
type ConditionResult struct {
	// Decisions holds one Decision per event, in order.
	Decisions []Decision
	// State is the condition's state after the last event: the JSON of
	// each named state (aiflow.ValueState), the built-in conditions' own
	// included (their names start with "aiflow.").
	State map[string][]byte
}

// Met returns the events that met the condition, in order.
func (r *ConditionResult) Met() []aiflow.Event {
	var out []aiflow.Event
	for _, d := range r.Decisions {
		if d.Met {
			out = append(out, d.Event)
		}
	}
	return out
}

// RunCondition evaluates cond against events in order, as a task rule of
// one workflow execution would (aiflow.ConditionRun), and returns its
// decision on each and its state afterwards. opts sets what the
// condition's context reports (namespace, workflow, task statuses); nil
// means the defaults.
func RunCondition(cond aiflow.Condition, events []aiflow.Event, opts *aiflow.ConditionRunOpts) *ConditionResult {
	run := aiflow.NewConditionRun(cond, opts)
	out := &ConditionResult{Decisions: make([]Decision, len(events))}
	for i, ev := range events {
		expected, met, err := run.Apply(ev)
		out.Decisions[i] = Decision{Event: ev, Expected: expected, Met: met, Err: err}
	}
	out.State = run.State()
	return out
}
